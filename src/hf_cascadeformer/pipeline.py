"""The `skeleton-action-recognition` pipeline: skeleton clips or clip files in, top-k action names out.

    from transformers import pipeline
    import hf_cascadeformer  # registers the task

    classify = pipeline("skeleton-action-recognition", model="runs/finetune")
    classify("S001C003P008R002A058.skeleton", top_k=3)
    # [{'label': 'handshake', 'score': 0.91}, {'label': 'hug', 'score': 0.05}, ...]
    classify([clip_a, clip_b, "clip.npy"], batch_size=8)  # a batch: one list of predictions per input

An input is a numpy array or tensor `(frames, joints, channels)` / `(frames, persons, joints, channels)`, a list of
frames, a dict with a `skeleton` entry (a row of the package's datasets), or a path to any file
:func:`hf_cascadeformer.io.load_clip` reads (NTU `.skeleton`, N-UCLA JSON, Penn Action `.mat`, `.npy`, `.npz`, JSON).
A list of inputs (or an array of rank 5) is a batch. Every clip goes through the checkpoint's own feature extractor;
a checkpoint saved without one gets the extractor its config implies.

This file travels with classifier checkpoints as remote code (see :func:`hf_cascadeformer.hub.add_pipeline_code`),
so `pipeline(TASK, model=folder, trust_remote_code=True)` also works where the package is not installed; it
imports only numpy, torch, transformers and the flat feature extractor file. Without the package, clip files are
read only as `.npy` / `.npz` (the benchmark formats need the package's readers).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from transformers import AutoModelForSequenceClassification, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.pipelines.pt_utils import PipelineDataset, PipelineIterator

from .feature_extraction_cascadeformer import CascadeFormerFeatureExtractor, as_clip

TASK = "skeleton-action-recognition"


class SkeletonActionRecognitionPipeline(Pipeline):
    """Skeleton-based action recognition with any `AutoModelForSequenceClassification` skeleton checkpoint.

    Call parameters:
        top_k (`int`, defaults to 5): how many actions to return per clip (at most the number of labels).
        num_frames (`int`, *optional*): frames per clip fed to the model, instead of the feature extractor's.
        batch_size (`int`, *optional*): clips per forward pass when the input is a list.

    Returns, per clip, a list of `{"label": str, "score": float}` sorted by decreasing probability (softmax over
    every label of the model); a batch returns one such list per input.
    """

    _load_processor = False
    _load_image_processor = False
    _load_video_processor = False
    _load_tokenizer = False
    # Optional: a checkpoint without preprocessor_config.json falls back to the extractor its config implies.
    _load_feature_extractor = None

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.feature_extractor is None:
            if self.model.config.model_type not in ("cascadeformer", "cascadeformer_ensemble"):
                raise ValueError(
                    f"the {TASK} pipeline needs a feature extractor for a {self.model.config.model_type!r} model; "
                    "pass feature_extractor=..."
                )
            try:
                self.feature_extractor = CascadeFormerFeatureExtractor.from_model_config(self.model.config)
            except ValueError as error:  # a config naming a skeleton layout: its root joint is not in the config
                raise ValueError(f"{error}; or pass feature_extractor=... to the {TASK} pipeline") from None

    def _sanitize_parameters(self, top_k: int | None = None, num_frames: int | None = None, **unused: Any):
        if unused:
            raise TypeError(f"unexpected {TASK} pipeline arguments: {', '.join(sorted(unused))}")
        preprocess_params = {}
        if num_frames is not None:
            preprocess_params["num_frames"] = int(num_frames)
        postprocess_params = {}
        if top_k is not None:
            if int(top_k) < 1:
                raise ValueError(f"top_k must be at least 1, got {top_k}")
            postprocess_params["top_k"] = int(top_k)
        return preprocess_params, {}, postprocess_params

    def __call__(self, inputs: Any, **kwargs: Any) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
        """Classify one clip (see the module docstring for the accepted inputs) or a batch of clips."""
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        if isinstance(inputs, torch.Tensor):
            inputs = inputs.detach().cpu().numpy()
        if isinstance(inputs, np.ndarray) and inputs.ndim == 5:
            inputs = list(inputs)
        elif isinstance(inputs, list) and inputs and np.ndim(inputs[0]) == 2:
            inputs = np.asarray(inputs, dtype=np.float32)  # a list of frames is one clip, not a batch
        elif isinstance(inputs, list) and not inputs:
            return []
        return super().__call__(inputs, **kwargs)

    # ------------------------------------------------------------------------------------------------------------

    def read_clip(self, item: Any) -> tuple[np.ndarray, str]:
        """One input -> `(frames, persons, joints, channels)` float32 and a name for messages."""
        if isinstance(item, (str, Path)):
            return read_clip_file(item, max_persons=max(2, self.feature_extractor.num_persons)), str(item)
        if isinstance(item, Mapping):
            if "skeleton" not in item:
                raise ValueError(f"a dict input needs a 'skeleton' entry, got keys {sorted(item)}")
            source = str(item.get("sample_id", "clip"))
            return as_clip(_to_numpy(item["skeleton"]), source), source
        return as_clip(_to_numpy(item), "clip"), "clip"

    def preprocess(self, inputs: Any, num_frames: int | None = None) -> dict[str, torch.Tensor]:
        clip, source = self.read_clip(inputs)
        extractor = self.feature_extractor
        joints, channels = clip.shape[2:]
        expected = (getattr(extractor, "num_joints", joints), getattr(extractor, "num_channels", channels))
        if (joints, channels) != expected:
            raise ValueError(
                f"{source}: the clip has {joints} joints x {channels} channels, but the model expects "
                f"{expected[0]} joints x {expected[1]} channels"
            )
        max_frames = getattr(extractor, "max_frames", len(clip))
        if num_frames is None and getattr(extractor, "num_frames", 0) is None and len(clip) > max_frames:
            num_frames = max_frames  # too long for "pad to the longest clip": keep evenly spaced frames
        features = extractor(clip, num_frames=num_frames, return_tensors="pt")
        if self.dtype is not None:
            features = features.to(self.dtype)  # casts floating point tensors only
        return dict(features)

    def _forward(self, model_inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"logits": self.model(**model_inputs).logits}

    def postprocess(self, model_outputs: dict[str, torch.Tensor], top_k: int = 5) -> list[dict[str, Any]]:
        probabilities = model_outputs["logits"][0].float().softmax(-1)
        if not torch.isfinite(probabilities).all():
            # Inputs are bounded (MAX_ABS_COORDINATE), so only broken weights get here; never return a NaN score.
            raise ValueError("the model returned NaN or infinite logits (are its weights finite?)")
        scores, ids = probabilities.topk(min(top_k, probabilities.numel()))
        id2label = self.model.config.id2label
        return [{"label": id2label[i], "score": s} for s, i in zip(scores.tolist(), ids.tolist(), strict=True)]

    def get_iterator(
        self, inputs, num_workers: int, batch_size: int, preprocess_params, forward_params, postprocess_params
    ):
        # As the base class, with a collate function that pads clips of different lengths (num_frames=None) along
        # the frame axis; the base one pads axis 1, the persons.
        if isinstance(inputs, list):
            dataset = PipelineDataset(inputs, self.preprocess, preprocess_params)
        else:
            dataset = PipelineIterator(inputs, self.preprocess, preprocess_params)
            num_workers = min(num_workers, 1)
        loader = DataLoader(dataset, num_workers=num_workers, batch_size=batch_size, collate_fn=collate_model_inputs)
        model_iterator = PipelineIterator(loader, self.forward, forward_params, loader_batch_size=batch_size)
        return PipelineIterator(model_iterator, self.postprocess, postprocess_params)


def collate_model_inputs(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Concatenate preprocessed clips `(1, persons, frames, joints, channels)`, padding frames to the longest."""
    length = max(item["attention_mask"].shape[1] for item in items)
    first = items[0]["skeletons"]
    skeletons = first.new_zeros((len(items), first.shape[1], length, *first.shape[3:]))
    attention_mask = items[0]["attention_mask"].new_zeros((len(items), length))
    for index, item in enumerate(items):
        frames = item["attention_mask"].shape[1]
        skeletons[index, :, :frames] = item["skeletons"][0]
        attention_mask[index, :frames] = item["attention_mask"][0]
    return {"skeletons": skeletons, "attention_mask": attention_mask}


def read_clip_file(path: str | Path, max_persons: int = 2) -> np.ndarray:
    """A clip file as `(frames, persons, joints, channels)` float32: every format of
    :func:`hf_cascadeformer.io.load_clip` when the package is installed, else `.npy` / `.npz` only."""
    try:
        # Absolute and inside `try`: transformers copies relative imports with the remote code and checks the
        # others are installed (transformers/dynamic_module_utils.py), and the readers are not flat files.
        from hf_cascadeformer.io import load_clip
    except ImportError:
        return _read_numpy_clip(Path(path))
    return load_clip(path, max_persons=max_persons)[0]


def _read_numpy_clip(path: Path) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise ValueError(
            f"{path}: reading {suffix or 'suffix-less'} files needs the hf-cascadeformer package "
            "(pip install hf-cascadeformer); without it, pass .npy / .npz files or arrays"
        )
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    loaded = np.load(path, allow_pickle=False)
    if isinstance(loaded, np.ndarray):
        return as_clip(loaded, path)
    with loaded:
        names = list(loaded.files)
        if "skeleton" not in names and len(names) != 1:
            raise ValueError(f"{path}: holds {len(names)} arrays {names}; name the clip 'skeleton'")
        return as_clip(loaded["skeleton" if "skeleton" in names else names[0]], path)


def _to_numpy(data: Any) -> Any:
    return data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else data


def register_pipeline() -> None:
    """Register the task with `transformers.pipeline` (done when `hf_cascadeformer` is imported)."""
    if TASK in PIPELINE_REGISTRY.get_supported_tasks():
        return  # registering twice would log an "overwriting" warning
    PIPELINE_REGISTRY.register_pipeline(
        TASK,
        pipeline_class=SkeletonActionRecognitionPipeline,
        pt_model=AutoModelForSequenceClassification,
    )


if __package__ == "hf_cascadeformer":
    # Only the installed package registers the task for every checkpoint; a checkpoint's copy of this file (remote
    # code) is reached through that checkpoint's `custom_pipelines` instead.
    register_pipeline()

__all__ = ["TASK", "SkeletonActionRecognitionPipeline", "collate_model_inputs", "read_clip_file", "register_pipeline"]
