"""Skeleton action classification metrics as an `evaluate` module: top-1 and top-5 accuracy, mean class accuracy,
support-weighted precision, recall and F1, and (on request) per-class recall and the confusion matrix.

Shipped inside hf-cascadeformer and loaded by path, so nothing is downloaded:

    import evaluate
    from hf_cascadeformer.metrics import METRIC_PATH

    metric = evaluate.load(str(METRIC_PATH))
    metric.compute(predictions=logits, references=labels)  # logits (samples, classes), labels (samples,)

Self-contained (numpy, datasets, evaluate): `evaluate` copies this file alone into its modules cache.
"""

from __future__ import annotations

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """Top-1 and top-5 accuracy, mean class accuracy (the mean of the per-class recalls), and
precision, recall and F1 per class averaged with the classes' support as weights (scikit-learn's "weighted"
average, `zero_division=0`), as the CascadeFormer paper and the skeleton literature report them."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: scores (logits or probabilities) of shape (samples, classes); the highest is the prediction.
    references: the true class of each sample, 0-based.
    num_classes: the number of classes (default: the width of `predictions`).
    top_k: the k of the top-k accuracy reported as `top{k}_accuracy` (default 5; capped at the number of classes).
    per_class: also return `per_class_recall` (a list, one entry per class; 0 for classes without samples) and
        `confusion_matrix` (true classes on rows, predictions on columns).
Returns:
    accuracy, top5_accuracy, mean_class_accuracy, precision_weighted, recall_weighted, f1_weighted: fractions.
    Mean class accuracy averages over the classes with at least one sample.
"""


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


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SkeletonClassification(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("int64")}
            ),
        )

    def _compute(
        self, predictions, references, num_classes: int | None = None, top_k: int = 5, per_class: bool = False
    ) -> dict:
        return classification_scores(predictions, references, num_classes, top_k, per_class)
