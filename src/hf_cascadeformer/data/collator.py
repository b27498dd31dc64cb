"""Batching dataset rows into model inputs with the model's own feature extractor."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from transformers import TrainerCallback

from ..feature_extraction_cascadeformer import CascadeFormerFeatureExtractor
from .features import LABEL_COLUMN, SKELETON_COLUMN


class SkeletonCollator:
    """Collates rows of a skeleton dataset (`skeleton` (frames, persons, joints, channels) and `label`) into
    `skeletons`, `attention_mask` and `labels` tensors.

    Resampling, padding, centring and person selection are the feature extractor's, so training sees exactly the
    preprocessing that a saved checkpoint applies at inference. Use it as `data_collator` of `transformers.Trainer`
    (with `remove_unused_columns=False`: Trainer would otherwise drop the `skeleton` column, which the model's
    forward does not name; `model_inputs.prepare_model_inputs` is the path for Trainer's defaults) or as
    `collate_fn` of a `DataLoader`, on a dataset in numpy format
    (`dataset.with_format("numpy")`: about 25x faster to read than the python lists `with_transform` receives).

    Training augmentation belongs to the training split only: wrap it in `AugmentedDataset`.
    """

    def __init__(
        self,
        feature_extractor: CascadeFormerFeatureExtractor,
        num_frames: int | None = None,
        include_labels: bool = True,
    ):
        self.feature_extractor = feature_extractor
        self.num_frames = num_frames
        self.include_labels = include_labels

    def __call__(self, rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]) -> dict[str, torch.Tensor]:
        """Collate a list of rows, or a batch as a dict of columns (what `dataset[indices]` returns)."""
        first = rows if isinstance(rows, Mapping) else rows[0] if len(rows) else {}
        if first and SKELETON_COLUMN not in first:
            # Trainer's default `remove_unused_columns=True` drops `skeleton` (the model takes `skeletons`).
            raise ValueError(
                f"the batch has no {SKELETON_COLUMN!r} column (it has {', '.join(first)}): with Trainer, pass "
                "remove_unused_columns=False, or prepare the inputs once with data.model_inputs.prepare_model_inputs"
            )
        if isinstance(rows, Mapping):
            clips, labels = rows[SKELETON_COLUMN], rows.get(LABEL_COLUMN)
        else:
            clips = [row[SKELETON_COLUMN] for row in rows]
            labels = [row[LABEL_COLUMN] for row in rows] if rows and LABEL_COLUMN in rows[0] else None
        if len(clips) == 0:
            raise ValueError("cannot collate an empty batch")
        clips = [np.asarray(clip, dtype=np.float32) for clip in clips]
        batch = self.feature_extractor(clips, return_tensors="pt", num_frames=self.num_frames)
        inputs = {"skeletons": batch["skeletons"], "attention_mask": batch["attention_mask"]}
        if self.include_labels and labels is not None:
            inputs["labels"] = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        return inputs


class AugmentedDataset(torch.utils.data.Dataset):
    """A numpy-formatted skeleton dataset whose clips are augmented on every read (for the training split).

    Each clip's augmentation is a pure function of ``(seed, epoch, index)``: the generator handed to the transform
    is seeded from those three numbers only. So a run resumed from a checkpoint augments every clip exactly as the
    uninterrupted run did, whatever was read before, in whichever process or batch. A draw from torch's global
    generator (the earlier design) is not enough: `Trainer` restores that generator only after it has fetched the
    first batch following a resume (transformers/trainer.py, `_run_epoch`), so that batch was augmented differently.

    The epoch comes from :meth:`set_epoch`, which accelerate's data loader calls on its dataset at each epoch in a
    single process; :class:`AugmentationEpochCallback` also calls it from `Trainer`'s `on_epoch_begin`, because a
    resumed or multi-process loader wraps its batch sampler and then does not forward the epoch. With a plain
    `DataLoader`, call ``set_epoch(epoch)`` before each epoch (as with `DistributedSampler`), else every epoch
    repeats the augmentation of epoch 0 (persistent data-loader workers keep their own copy and miss it too; the
    default, non-persistent workers copy the dataset at each epoch). Reads go through `__getitems__`, so a batch is
    fetched from Arrow in one call.

    With ``views=k`` a batch read of ``n`` clips returns ``k * n`` rows, view-major: the ``n`` clips augmented once,
    then the same clips augmented again with independent draws, and so on (what a consistency loss between views
    of a clip reads; `finetuning.augmentation_consistency`). Each view is a function of ``(seed, epoch, index,
    view)``.
    """

    def __init__(
        self,
        dataset: Any,
        transform: Callable[[np.ndarray, np.random.Generator], np.ndarray],
        seed: int | None = None,
        views: int = 1,
    ):
        if views < 1:
            raise ValueError(f"views must be at least 1, got {views}")
        self.dataset = dataset
        self.transform = transform
        # Default: the seed `transformers.set_seed` / `torch.manual_seed` gave torch, so a script that seeds first
        # gets a different augmentation per seed without passing it twice.
        self.seed = int(torch.initial_seed() if seed is None else seed) % 2**63
        self.epoch = 0
        self.views = views

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def clip_rng(self, index: int, view: int = 0) -> np.random.Generator:
        """The generator that augments view `view` of clip `index` in the current epoch."""
        entropy = [self.seed, self.epoch, int(index)] + ([view] if self.views > 1 else [])
        return np.random.default_rng(np.random.SeedSequence(entropy))

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        columns = self.dataset[list(indices)]
        rows = [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
        clips = [np.asarray(row[SKELETON_COLUMN], dtype=np.float32) for row in rows]
        return [
            {**row, SKELETON_COLUMN: self.transform(clip, self.clip_rng(index, view))}
            for view in range(self.views)
            for index, row, clip in zip(indices, rows, clips, strict=True)
        ]

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Clip `index` in its first view."""
        return self.__getitems__([index])[0]


class AugmentationEpochCallback(TrainerCallback):
    """Tells an :class:`AugmentedDataset` the epoch at the start of each of `Trainer`'s epochs, resumed ones too.

    `state.epoch` is the fractional epoch of the last step taken (``epoch + steps / steps_in_epoch``, exactly the
    next integer after an epoch's last step, and the checkpoint's value after a resume), so its floor is the epoch
    about to run.
    """

    def __init__(self, dataset: AugmentedDataset):
        self.dataset = dataset

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.dataset.set_epoch(math.floor(state.epoch or 0))
