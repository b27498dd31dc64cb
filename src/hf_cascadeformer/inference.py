"""Scores of whole datasets: multi-clip test-time augmentation and score-level fusion of several models.

Test-time augmentation (TTA) classifies every clip under a fixed set of views and averages the scores. A view
is a temporal crop of the clip's valid frames (frames with a person present) and/or a rotation about the vertical
(y) axis of a 3D clip; the checkpoint's feature extractor then preprocesses each view as it does any clip:

    from hf_cascadeformer.inference import default_tta_views, predict_with_tta

    probabilities = predict_with_tta(model, extractor, clips, views=default_tta_views())  # (clips, classes)

:func:`random_tta_views` draws a set of views from a seed instead (the same seed gives the same views).

Score-level fusion (the multi-stream ensembles of skeleton papers, e.g. joint + bone + motion models) adds the
per-model scores with weights: :func:`fuse_scores` on score arrays, :func:`ensemble_predictions` from models and a
dataset. CTR-GCN's ensemble script adds the streams' raw network outputs (logits) with weights; here the default is
to add softmax probabilities, which does not let a model with larger logits outvote the others, and
``scores="logits"`` reproduces CTR-GCN's rule. Weights are normalised to sum to 1, so fused probabilities stay
probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from .data.features import LABEL_COLUMN, SKELETON_COLUMN
from .data.transforms import present_slots, rotate_about_centre
from .metrics import classification_metrics

SCORE_KINDS = ("softmax", "logits")


@dataclass(frozen=True)
class TTAView:
    """One test-time view of a clip.

    Attributes:
        crop_ratio: share of the clip's valid frames kept (1.0: all of them).
        crop_position: where the window sits among the valid frames, 0.0 (start) to 1.0 (end); 0.5 is centred.
        rotation_y: rotation about the vertical (y) axis, radians, about the clip's centre (3D clips only).
    """

    crop_ratio: float = 1.0
    crop_position: float = 0.5
    rotation_y: float = 0.0

    def __post_init__(self):
        if not 0 < self.crop_ratio <= 1:
            raise ValueError(f"crop_ratio must be in (0, 1], got {self.crop_ratio}")
        if not 0 <= self.crop_position <= 1:
            raise ValueError(f"crop_position must be in [0, 1], got {self.crop_position}")

    @property
    def is_identity(self) -> bool:
        return self.crop_ratio == 1.0 and self.rotation_y == 0.0

    def __call__(self, clip: np.ndarray) -> np.ndarray:
        """The view of one clip `(frames, persons, joints, channels)`."""
        clip = np.asarray(clip, dtype=np.float32)
        if self.crop_ratio < 1.0:
            valid = np.flatnonzero(present_slots(clip).any(axis=1))
            first, last = (int(valid[0]), int(valid[-1])) if len(valid) else (0, len(clip) - 1)
            valid_length = last - first + 1
            length = int(np.clip(round(self.crop_ratio * valid_length), 1, valid_length))
            start = first + int(round(self.crop_position * (valid_length - length)))
            clip = clip[start : start + length]
        if self.rotation_y != 0.0:
            if clip.shape[-1] < 3:
                raise ValueError("rotations about the vertical axis need 3D clips; use crop-only views for 2D clips")
            clip = rotate_about_centre(clip, {"y": self.rotation_y})
        return clip


IDENTITY_VIEWS: tuple[TTAView, ...] = (TTAView(),)


def default_tta_views(
    crop_ratio: float = 0.8, rotations_radians: Sequence[float] = (), num_crops: int = 3
) -> tuple[TTAView, ...]:
    """The fixed view set: the whole clip, `num_crops` windows of `crop_ratio` of the valid frames spread from
    start to end, and the whole clip turned by each of `rotations_radians` about the vertical axis (3D only).

    The defaults give 4 views (whole, start, middle, end). A feature extractor with `facing_joints` turns every
    clip to face the camera, which undoes rotations about the vertical axis: use crops only with such models.
    """
    if num_crops < 0:
        raise ValueError(f"num_crops must be at least 0, got {num_crops}")
    positions = [0.5] if num_crops == 1 else list(np.linspace(0.0, 1.0, num_crops))
    views = [TTAView()]
    views += [TTAView(crop_ratio=crop_ratio, crop_position=float(p)) for p in positions[:num_crops]]
    views += [TTAView(rotation_y=float(angle)) for angle in rotations_radians if angle != 0.0]
    return tuple(views)


def random_tta_views(
    num_views: int,
    seed: int,
    crop_ratio: tuple[float, float] = (0.7, 1.0),
    max_rotation_radians: float = 0.0,
) -> tuple[TTAView, ...]:
    """`num_views` views drawn from `np.random.default_rng(seed)`: crop ratio uniform in `crop_ratio`, position
    uniform, rotation uniform in ±`max_rotation_radians` (0: none). The first view is always the whole clip."""
    if num_views < 1:
        raise ValueError(f"num_views must be at least 1, got {num_views}")
    low, high = crop_ratio
    if not 0 < low <= high <= 1:
        raise ValueError(f"crop_ratio must satisfy 0 < low <= high <= 1, got {crop_ratio}")
    rng = np.random.default_rng(seed)
    views = [TTAView()]
    for _ in range(num_views - 1):
        ratio, position = float(rng.uniform(low, high)), float(rng.uniform(0.0, 1.0))
        angle = float(rng.uniform(-max_rotation_radians, max_rotation_radians)) if max_rotation_radians else 0.0
        views.append(TTAView(crop_ratio=ratio, crop_position=position, rotation_y=angle))
    return tuple(views)


def _check_kind(scores: str) -> None:
    if scores not in SCORE_KINDS:
        raise ValueError(f"scores must be one of {SCORE_KINDS}, got {scores!r}")


@torch.inference_mode()
def predict_with_tta(
    model: Any,
    extractor: Any,
    clips: Sequence[np.ndarray],
    views: Sequence[TTAView] = IDENTITY_VIEWS,
    *,
    batch_size: int = 64,
    scores: str = "softmax",
    bf16: bool = False,
) -> np.ndarray:
    """Class scores `(clips, classes)` of `clips` (each `(frames, persons, joints, channels)`), averaged over
    `views`: softmax probabilities (`scores="softmax"`) or logits (`"logits"`).

    With the identity view alone (the default), this is the model's plain prediction. Deterministic: views are
    fixed (see :func:`random_tta_views` for seeded random ones) and the model runs in eval mode.
    """
    _check_kind(scores)
    if not views:
        raise ValueError("views is empty: pass at least one TTAView (IDENTITY_VIEWS for plain prediction)")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    was_training = model.training
    model.eval()
    device = model.device
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    outputs = []
    try:
        for start in range(0, len(clips), batch_size):
            batch = [np.asarray(clip, dtype=np.float32) for clip in clips[start : start + batch_size]]
            total = None
            for view in views:
                viewed = batch if view.is_identity else [view(clip) for clip in batch]
                inputs = extractor(viewed, return_tensors="pt")
                with autocast:
                    logits = model(**{k: v.to(device) for k, v in inputs.items()}).logits.float()
                value = logits.softmax(-1) if scores == "softmax" else logits
                total = value if total is None else total + value
            outputs.append((total / len(views)).cpu().numpy())
    finally:
        model.train(was_training)
    if not outputs:
        raise ValueError("no clips to predict")
    return np.concatenate(outputs)


def predict_dataset(
    model: Any,
    extractor: Any,
    dataset: Any,
    views: Sequence[TTAView] = IDENTITY_VIEWS,
    **options: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and labels of every row of a skeleton dataset split (the package's columns): see
    :func:`predict_with_tta` for `views` and the options."""
    rows = dataset.with_format("numpy")
    chunk = 512  # read Arrow in chunks: the whole split's clips need not be in memory at once
    scores, labels = [], []
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        scores.append(predict_with_tta(model, extractor, list(part[SKELETON_COLUMN]), views, **options))
        labels.append(np.asarray(part[LABEL_COLUMN], dtype=np.int64))
    if not scores:
        raise ValueError("the split is empty")
    return np.concatenate(scores), np.concatenate(labels)


def fuse_scores(scores: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """The weighted mean of per-model score arrays `(clips, classes)` (weights default to equal)."""
    if not scores:
        raise ValueError("no scores to fuse")
    shapes = {np.shape(s) for s in scores}
    if len(shapes) != 1:
        raise ValueError(f"score arrays differ in shape: {sorted(shapes)}")
    weights = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(scores),):
        raise ValueError(f"got {len(weights)} weights for {len(scores)} models")
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum, got {weights.tolist()}")
    weights = weights / weights.sum()
    return sum(w * np.asarray(s, dtype=np.float64) for w, s in zip(weights, scores, strict=True))


@dataclass
class EnsembleResult:
    """What :func:`ensemble_predictions` returns: per-model and fused scores and metrics."""

    names: list[str]
    weights: list[float]
    scores: list[np.ndarray]
    fused: np.ndarray
    labels: np.ndarray
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-ready: names, weights and every metric (no score arrays)."""
        result = asdict(self)
        for key in ("scores", "fused", "labels"):
            result.pop(key)
        return result


def ensemble_predictions(
    models: Sequence[tuple[Any, Any]] | Mapping[str, tuple[Any, Any]],
    dataset: Any,
    *,
    weights: Sequence[float] | None = None,
    views: Sequence[TTAView] = IDENTITY_VIEWS,
    scores: str = "softmax",
    batch_size: int = 64,
    bf16: bool = False,
) -> EnsembleResult:
    """Score-level fusion of separately trained models (or streams) on one dataset split.

    Args:
        models: `(model, feature_extractor)` pairs, or a mapping name -> pair; each model preprocesses with its own
            extractor, so models of different inputs (joint, bone, motion streams; other frame counts) combine.
        dataset: a split with the package's `skeleton` and `label` columns; its class names must be the models'.
        weights: one per model (normalised to sum 1); default equal.
        views: test-time views applied to every model (default: none, the plain prediction).
        scores: what is added, `"softmax"` probabilities (default) or `"logits"` (CTR-GCN's rule).

    Returns an :class:`EnsembleResult` with each model's metrics (`metrics[name]`) and the fusion's
    (`metrics["ensemble"]`), as :func:`hf_cascadeformer.metrics.classification_metrics` computes them.
    """
    _check_kind(scores)
    named = dict(models) if isinstance(models, Mapping) else {f"model_{i}": pair for i, pair in enumerate(models)}
    if not named:
        raise ValueError("no models to ensemble")
    class_names = list(dataset.features[LABEL_COLUMN].names) if LABEL_COLUMN in dataset.features else None
    for name, (model, _) in named.items():
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        if class_names is not None and labels != class_names:
            raise ValueError(
                f"{name}: its {len(labels)} labels ({', '.join(labels[:3])}, ...) are not the dataset's "
                f"{len(class_names)} classes ({', '.join(class_names[:3])}, ...) in the same order"
            )
    weight_list = [1.0] * len(named) if weights is None else [float(w) for w in weights]
    fuse_scores([np.zeros((1, 1))] * len(named), weight_list)  # bad weights fail before any prediction
    per_model, labels = [], None
    for model, extractor in named.values():
        model_scores, labels = predict_dataset(
            model, extractor, dataset, views, batch_size=batch_size, scores=scores, bf16=bf16
        )
        per_model.append(model_scores)
    fused = fuse_scores(per_model, weight_list)
    metrics = {name: classification_metrics(s, labels) for name, s in zip(named, per_model, strict=True)}
    metrics["ensemble"] = classification_metrics(fused, labels, per_class=True)
    total = sum(weight_list)
    return EnsembleResult(
        names=list(named),
        weights=[w / total for w in weight_list],
        scores=per_model,
        fused=fused,
        labels=labels,
        metrics=metrics,
    )


__all__ = [
    "IDENTITY_VIEWS",
    "SCORE_KINDS",
    "EnsembleResult",
    "TTAView",
    "default_tta_views",
    "ensemble_predictions",
    "fuse_scores",
    "predict_dataset",
    "predict_with_tta",
    "random_tta_views",
]
