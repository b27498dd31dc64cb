"""Classification metrics as the CascadeFormer paper reports them, in plain numpy so they work offline.

`evaluate.load("accuracy")` downloads its metric script; these need nothing but the predictions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def top_k_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Share of samples whose label is among the k highest scores (k is capped at the number of classes)."""
    k = min(k, logits.shape[1])
    top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts with true labels on rows and predictions on columns."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def classification_metrics(logits: np.ndarray, labels: np.ndarray, num_classes: int | None = None) -> dict[str, float]:
    """Top-1 and top-5 accuracy and support-weighted precision, recall and F1 (as in the paper's tables).

    Classes never predicted have precision 0 (scikit-learn's `zero_division=0` convention).
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(
            f"expected logits (samples, classes) and labels (samples,), got {logits.shape}, {labels.shape}"
        )
    if len(labels) == 0:
        raise ValueError("cannot compute metrics on zero samples")
    num_classes = num_classes or logits.shape[1]
    predictions = logits.argmax(axis=1)
    matrix = confusion_matrix(labels, predictions, num_classes)
    true_positives = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0)
    support = matrix.sum(axis=1)
    precision = np.divide(true_positives, predicted, out=np.zeros(num_classes), where=predicted > 0)
    recall = np.divide(true_positives, support, out=np.zeros(num_classes), where=support > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros(num_classes), where=denominator > 0)
    weights = support / support.sum()
    return {
        "accuracy": float((predictions == labels).mean()),
        "top5_accuracy": top_k_accuracy(logits, labels, 5),
        "precision_weighted": float((precision * weights).sum()),
        "recall_weighted": float((recall * weights).sum()),
        "f1_weighted": float((f1 * weights).sum()),
    }


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
