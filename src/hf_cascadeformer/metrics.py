"""Classification metrics as the CascadeFormer paper reports them, through the package's own `evaluate` module.

The module (`evaluation_modules/skeleton_classification/`) ships inside the package and `evaluate.load` reads it
by path, so nothing is downloaded (`evaluate.load("accuracy")` would fetch its script from the Hub). The module
computes with :func:`classification_scores` below (numpy); importing this file does not import `evaluate`.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

METRIC_PATH = Path(str(resources.files("hf_cascadeformer").joinpath("evaluation_modules", "skeleton_classification")))
"""The folder of the `evaluate` module: `evaluate.load(str(METRIC_PATH))`."""


def top_k_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Share of samples whose label is among the k highest scores (k is capped at the number of classes)."""
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts with true labels on rows and predictions on columns."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def classification_scores(
    scores: np.ndarray, labels: np.ndarray, num_classes: int | None = None, top_k: int = 5, per_class: bool = False
) -> dict:
    """The metrics of the module docstring from arrays; raises `ValueError` on shapes that do not match."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if scores.ndim != 2 or labels.shape != (scores.shape[0],):
        raise ValueError(
            f"expected predictions (samples, classes) and references (samples,), got {scores.shape}, {labels.shape}"
        )
    if len(labels) == 0:
        raise ValueError("cannot compute metrics on zero samples")
    num_classes = num_classes or scores.shape[1]
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"references must be class indices in [0, {num_classes}), got {labels.min()}..{labels.max()}")
    predictions = scores.argmax(axis=1)
    matrix = confusion_matrix(labels, predictions, num_classes)
    true_positives = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0)
    support = matrix.sum(axis=1)
    precision = np.divide(true_positives, predicted, out=np.zeros(num_classes), where=predicted > 0)
    recall = np.divide(true_positives, support, out=np.zeros(num_classes), where=support > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros(num_classes), where=denominator > 0)
    weights = support / support.sum()
    results = {
        "accuracy": float((predictions == labels).mean()),
        f"top{top_k}_accuracy": top_k_accuracy(scores, labels, top_k),
        "mean_class_accuracy": float(recall[support > 0].mean()),
        "precision_weighted": float((precision * weights).sum()),
        "recall_weighted": float((recall * weights).sum()),
        "f1_weighted": float((f1 * weights).sum()),
    }
    if per_class:
        results["per_class_recall"] = recall.tolist()
        results["confusion_matrix"] = matrix.tolist()
    return results


def _evaluate_library() -> Any:
    """The `evaluate` library, even when a file named `evaluate.py` shadows it on `sys.path`.

    `python examples/finetune.py` puts `examples/` first on `sys.path`, and `examples/evaluate.py` (or any user's
    own `evaluate.py` beside their script) would be imported instead of the library.
    """
    module = sys.modules.get("evaluate")
    if module is not None and hasattr(module, "load"):
        return module
    shadow = sys.modules.pop("evaluate", None)
    saved = sys.path[:]
    sys.path[:] = [entry for entry in saved if not (Path(entry or ".") / "evaluate.py").is_file()]
    try:
        return importlib.import_module("evaluate")
    finally:
        sys.path[:] = saved
        if shadow is not None and sys.modules.get("evaluate") is None:
            sys.modules["evaluate"] = shadow


@functools.cache
def load_metric() -> Any:
    """The package's `evaluate` metric, loaded by path and kept in memory (no cache files, no network)."""
    return _evaluate_library().load(str(METRIC_PATH), keep_in_memory=True)


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
    "classification_scores",
    "compute_metrics",
    "confusion_matrix",
    "load_metric",
    "top_k_accuracy",
]
