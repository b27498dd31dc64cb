"""Classification metrics as the CascadeFormer paper reports them, through the package's own `evaluate` module.

The module (`evaluation_modules/skeleton_classification/`) ships inside the package and `evaluate.load` reads it
by path, so nothing is downloaded (`evaluate.load("accuracy")` would fetch its script from the Hub).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .evaluation_modules.skeleton_classification.skeleton_classification import confusion_matrix, top_k_accuracy

METRIC_PATH = Path(str(resources.files("hf_cascadeformer").joinpath("evaluation_modules", "skeleton_classification")))
"""The folder of the `evaluate` module: `evaluate.load(str(METRIC_PATH))`."""


@functools.cache
def load_metric() -> Any:
    """The package's `evaluate` metric, loaded by path and kept in memory (no cache files, no network)."""
    import evaluate

    return evaluate.load(str(METRIC_PATH), keep_in_memory=True)


def classification_metrics(
    logits: np.ndarray, labels: np.ndarray, num_classes: int | None = None, per_class: bool = False
) -> dict[str, Any]:
    """Top-1 and top-5 accuracy, mean class accuracy and support-weighted precision, recall and F1 (fractions).

    Classes never predicted have precision 0 (scikit-learn's `zero_division=0` convention). With `per_class`, also
    `per_class_recall` (one entry per class) and `confusion_matrix` (true classes on rows).
    """
    logits = np.asarray(logits, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(
            f"expected logits (samples, classes) and labels (samples,), got {logits.shape}, {labels.shape}"
        )
    if len(labels) == 0:
        raise ValueError("cannot compute metrics on zero samples")
    return load_metric().compute(predictions=logits, references=labels, num_classes=num_classes, per_class=per_class)


def compute_metrics(eval_prediction: object) -> dict[str, float]:
    """`compute_metrics` for `transformers.Trainer`: takes an `EvalPrediction` (or a (logits, labels) pair)."""
    logits, labels = _unpack(eval_prediction)
    return classification_metrics(logits, labels)


def _unpack(eval_prediction: object) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(eval_prediction, Sequence) and len(eval_prediction) == 2:
        logits, labels = eval_prediction
    else:
        logits, labels = eval_prediction.predictions, eval_prediction.label_ids
    if isinstance(logits, tuple):  # models that also return pooled features
        logits = logits[0]
    return np.asarray(logits), np.asarray(labels)


__all__ = [
    "METRIC_PATH",
    "classification_metrics",
    "compute_metrics",
    "confusion_matrix",
    "load_metric",
    "top_k_accuracy",
]
