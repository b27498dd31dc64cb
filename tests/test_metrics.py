"""The offline classification metrics agree with hand-computed values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from hf_cascadeformer.metrics import (
    METRIC_PATH,
    classification_metrics,
    compute_metrics,
    confusion_matrix,
    load_metric,
    top_k_accuracy,
)


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


def test_mean_class_accuracy_and_per_class_recall_by_hand():
    # 4 classes, unbalanced: class 0 has 4 clips (3 right), class 1 has 1 (right), class 2 has 3 (1 right),
    # class 3 has none (it is predicted once, wrongly).
    labels = np.array([0, 0, 0, 0, 1, 2, 2, 2])
    predictions = np.array([0, 0, 0, 3, 1, 2, 0, 1])
    logits = np.full((8, 4), -1.0)
    logits[np.arange(8), predictions] = 2.0
    logits[np.arange(8), (predictions + 1) % 4] = 1.0  # the runner-up: the label for clips 3 (3->0) and 7 (1->2)
    metrics = classification_metrics(logits, labels, per_class=True)
    assert metrics["accuracy"] == pytest.approx(5 / 8)
    # Recall per class: 3/4, 1/1, 1/3, and class 3 has no samples (0, left out of the mean).
    assert metrics["per_class_recall"] == pytest.approx([3 / 4, 1.0, 1 / 3, 0.0])
    assert metrics["mean_class_accuracy"] == pytest.approx((3 / 4 + 1 + 1 / 3) / 3)
    # Top-2: clips 3 (label 0, runner-up 0) and 7 (label 2, runner-up 2) become right; clip 6 (label 2) does not.
    assert top_k_accuracy(logits, labels, 2) == pytest.approx(7 / 8)
    # Precision per class: 3/4 (0 predicted 4 times), 1/2, 1/1, 0/1; weights 4/8, 1/8, 3/8, 0.
    assert metrics["precision_weighted"] == pytest.approx(4 / 8 * 3 / 4 + 1 / 8 * 1 / 2 + 3 / 8 * 1)
    assert metrics["recall_weighted"] == pytest.approx(5 / 8)  # the weighted recall is the accuracy
    assert metrics["confusion_matrix"] == [[3, 0, 0, 1], [0, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0]]
    assert "per_class_recall" not in classification_metrics(logits, labels)


@pytest.mark.slow
def test_the_evaluate_module_loads_by_path_offline_even_beside_an_evaluate_py(tmp_path):
    # A fresh interpreter with the Hub unreachable and evaluate offline, running a script whose folder holds an
    # evaluate.py (as examples/ does): the module comes from the package folder, through the real library.
    folder = tmp_path / "scripts"
    folder.mkdir()
    (folder / "evaluate.py").write_text("SHADOW = True\n")
    (folder / "run.py").write_text(
        textwrap.dedent(
            """
            import json
            from hf_cascadeformer.metrics import compute_metrics, load_metric
            metrics = compute_metrics(([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]], [1, 1, 1]))
            print(json.dumps({"module": type(load_metric()).__module__, **metrics}))
            """
        )
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_EVALUATE_OFFLINE": "1",
        "HF_ENDPOINT": "http://127.0.0.1:9",  # nothing listens there: any request would fail
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_MODULES_CACHE": str(tmp_path / "modules"),
    }
    result = subprocess.run(
        [sys.executable, str(folder / "run.py")], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["module"].startswith("evaluate_modules.")  # the copy evaluate.load made of the shipped script
    assert metrics["accuracy"] == pytest.approx(2 / 3) and metrics["mean_class_accuracy"] == pytest.approx(2 / 3)
    assert (METRIC_PATH / "skeleton_classification.py").is_file() and (METRIC_PATH / "README.md").is_file()


def test_compute_metrics_goes_through_the_evaluate_module():
    metric = load_metric()
    assert type(metric).__name__ == "SkeletonClassification" and metric.name == "skeleton_classification"
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(50, 7)), rng.integers(0, 7, 50)
    direct = metric.compute(predictions=logits.astype(np.float32), references=labels)
    assert compute_metrics((logits, labels)) == pytest.approx(direct)
