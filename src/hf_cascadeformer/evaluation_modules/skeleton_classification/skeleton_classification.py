"""Skeleton action classification metrics as an `evaluate` module: top-1 and top-5 accuracy, mean class accuracy,
support-weighted precision, recall and F1, and (on request) per-class recall and the confusion matrix.

Shipped inside hf-cascadeformer and loaded by path, so nothing is downloaded:

    import evaluate
    from hf_cascadeformer.metrics import METRIC_PATH

    metric = evaluate.load(str(METRIC_PATH))
    metric.compute(predictions=logits, references=labels)  # logits (samples, classes), labels (samples,)

`evaluate` copies this file alone into its modules cache; the computation is the package's
(:func:`hf_cascadeformer.metrics.classification_scores`, plain numpy), which is installed wherever this file is.
"""

from __future__ import annotations

import datasets
import evaluate

from hf_cascadeformer.metrics import classification_scores

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
