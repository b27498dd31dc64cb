"""The offline classification metrics agree with hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from hf_cascadeformer.metrics import classification_metrics, compute_metrics, confusion_matrix, top_k_accuracy


def test_metrics_on_a_hand_computed_example():
    labels = np.array([0, 0, 1, 1, 2, 2])
    predictions = np.array([0, 1, 1, 1, 2, 0])
    logits = np.eye(3)[predictions]
    metrics = classification_metrics(logits, labels)
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    # Per class: precision 1/2, 2/3, 1; recall 1/2, 1, 1/2; support 2 each -> weighted means.
    assert metrics["precision_weighted"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert metrics["recall_weighted"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    f1 = [2 * p * r / (p + r) for p, r in ((1 / 2, 1 / 2), (2 / 3, 1), (1, 1 / 2))]
    assert metrics["f1_weighted"] == pytest.approx(sum(f1) / 3)
    assert metrics["top5_accuracy"] == 1.0  # fewer than 5 classes: every label is in the top 5
    assert confusion_matrix(labels, predictions, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_top_k_and_the_trainer_entry_point():
    logits = np.array([[0.1, 0.5, 0.4, 0.0, 0.0, 0.0], [0.9, 0.0, 0.05, 0.05, 0.0, 0.0]])
    labels = np.array([2, 3])
    assert top_k_accuracy(logits, labels, 1) == 0.0
    assert top_k_accuracy(logits, labels, 2) == 0.5
    assert top_k_accuracy(logits, labels, 3) == 1.0
    assert compute_metrics((logits, labels))["accuracy"] == 0.0


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="expected logits"):
        classification_metrics(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match="zero samples"):
        classification_metrics(np.zeros((0, 3)), np.zeros(0))
