"""Test-time augmentation and score-level fusion: views, determinism, equality with plain prediction, metrics."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pytest
import torch

from hf_cascadeformer import CascadeFormerConfig, CascadeFormerFeatureExtractor, CascadeFormerForSequenceClassification
from hf_cascadeformer.cli import main
from hf_cascadeformer.data.builders import save_dataset_dict
from hf_cascadeformer.data.features import skeleton_features
from hf_cascadeformer.inference import (
    IDENTITY_VIEWS,
    TTAView,
    default_tta_views,
    ensemble_predictions,
    fuse_scores,
    predict_dataset,
    predict_with_tta,
    random_tta_views,
)
from hf_cascadeformer.metrics import classification_metrics

NAMES = ["wave", "clap", "sit", "jump"]


def tiny_classifier(seed: int, num_frames: int = 8, names=NAMES):
    torch.manual_seed(seed)
    config = CascadeFormerConfig(
        num_joints=5,
        max_frames=16,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        id2label=dict(enumerate(names)),
        label2id={name: i for i, name in enumerate(names)},
    )
    model = CascadeFormerForSequenceClassification(config).eval()
    with torch.no_grad():  # spread the logits, so views change the scores visibly
        model.classifier.apply(lambda m: m.weight.mul_(20) if isinstance(m, torch.nn.Linear) else None)
    return model, CascadeFormerFeatureExtractor.from_model_config(config, num_frames=num_frames, root_joint=0)


def random_clips(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(int(rng.integers(6, 14)), 1, 5, 3)).astype(np.float32) for _ in range(count)]


def tiny_dataset(count: int = 20) -> datasets.Dataset:
    clips = random_clips(count, seed=1)
    rows = {
        "skeleton": clips,
        "label": [i % len(NAMES) for i in range(count)],
        "sample_id": [f"clip{i}" for i in range(count)],
        "num_frames": [len(c) for c in clips],
        "num_persons": [1] * count,
    }
    return datasets.Dataset.from_dict(rows, features=skeleton_features(NAMES, 1, 5, 3))


def test_views_crop_the_valid_frames_and_rotate_about_the_vertical_axis():
    clip = np.zeros((12, 1, 5, 3), np.float32)
    clip[2:10] = np.arange(8, dtype=np.float32)[:, None, None, None] + 1  # frames 2..9 valid, values 1..8
    start = TTAView(crop_ratio=0.5, crop_position=0.0)(clip)
    end = TTAView(crop_ratio=0.5, crop_position=1.0)(clip)
    middle = TTAView(crop_ratio=0.5)(clip)
    assert start[:, 0, 0, 0].tolist() == [1, 2, 3, 4] and end[:, 0, 0, 0].tolist() == [5, 6, 7, 8]
    assert middle[:, 0, 0, 0].tolist() == [3, 4, 5, 6]
    np.testing.assert_array_equal(TTAView()(clip), clip)

    rng = np.random.default_rng(0)
    body = rng.normal(size=(6, 2, 5, 3)).astype(np.float32)
    body[:, 1] = 0  # an absent second person
    turned = TTAView(rotation_y=np.pi / 2)(body)
    assert turned.shape == body.shape and not turned[:, 1].any()
    np.testing.assert_allclose(turned[:, 0, :, 1], body[:, 0, :, 1], atol=1e-6)  # heights unchanged
    centred = body[:, 0] - body[:, 0].reshape(-1, 3).mean(0)
    turned_centred = turned[:, 0] - turned[:, 0].reshape(-1, 3).mean(0)
    # A quarter turn about y: x' = z, z' = -x (about the centre).
    np.testing.assert_allclose(turned_centred[..., 0], centred[..., 2], atol=1e-5)
    np.testing.assert_allclose(turned_centred[..., 2], -centred[..., 0], atol=1e-5)
    with pytest.raises(ValueError, match="need 3D clips"):
        TTAView(rotation_y=0.1)(np.ones((4, 1, 13, 2), np.float32))
    with pytest.raises(ValueError, match="crop_ratio"):
        TTAView(crop_ratio=0.0)


def test_view_sets():
    views = default_tta_views()
    assert len(views) == 4 and views[0] == TTAView()
    assert [v.crop_position for v in views[1:]] == [0.0, 0.5, 1.0]
    assert len(default_tta_views(rotations_radians=(-0.3, 0.0, 0.3))) == 6
    assert default_tta_views(num_crops=0) == IDENTITY_VIEWS
    first, again, other = random_tta_views(5, seed=3), random_tta_views(5, seed=3), random_tta_views(5, seed=4)
    assert first == again and first != other  # deterministic given the seed
    assert len(first) == 5 and first[0] == TTAView() and all(0.7 <= v.crop_ratio <= 1.0 for v in first)
    assert all(v.rotation_y == 0.0 for v in first)
    assert any(v.rotation_y != 0.0 for v in random_tta_views(5, seed=3, max_rotation_radians=0.5))


def test_identity_tta_is_the_plain_prediction_and_views_average():
    model, extractor = tiny_classifier(0)
    clips = random_clips(7)
    with torch.no_grad():
        logits = model(**extractor(clips, return_tensors="pt")).logits.numpy()
    plain_logits = predict_with_tta(model, extractor, clips, scores="logits", batch_size=3)
    np.testing.assert_allclose(plain_logits, logits, rtol=1e-5, atol=1e-5)
    plain = predict_with_tta(model, extractor, clips)
    assert plain.shape == (7, 4)
    np.testing.assert_allclose(plain, torch.tensor(logits).softmax(-1).numpy(), rtol=1e-5, atol=1e-6)

    views = default_tta_views(rotations_radians=(0.4,))
    tta = predict_with_tta(model, extractor, clips, views, batch_size=4)
    assert tta.shape == (7, 4)
    np.testing.assert_allclose(tta.sum(1), 1.0, rtol=1e-5)
    each = [predict_with_tta(model, extractor, [view(c) for c in clips]) for view in views]
    np.testing.assert_allclose(tta, np.mean(each, axis=0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(tta, plain, atol=1e-3)  # the views do change the scores
    np.testing.assert_array_equal(tta, predict_with_tta(model, extractor, clips, views, batch_size=4))
    np.testing.assert_allclose(tta, predict_with_tta(model, extractor, clips, views, batch_size=7), atol=1e-6)


def test_fuse_scores_by_hand():
    a = np.array([[0.6, 0.4], [0.2, 0.8]])
    b = np.array([[0.1, 0.9], [0.3, 0.7]])
    np.testing.assert_allclose(fuse_scores([a, b]), [[0.35, 0.65], [0.25, 0.75]])
    np.testing.assert_allclose(fuse_scores([a, b], [3, 1]), [[0.475, 0.525], [0.225, 0.775]])
    with pytest.raises(ValueError, match="got 1 weights for 2 models"):
        fuse_scores([a, b], [1])
    with pytest.raises(ValueError, match="differ in shape"):
        fuse_scores([a, b[:1]])
    with pytest.raises(ValueError, match="non-negative"):
        fuse_scores([a, b], [1, -1])


def test_ensemble_of_two_models():
    dataset = tiny_dataset()
    first, second = tiny_classifier(0), tiny_classifier(1, num_frames=12)
    result = ensemble_predictions({"joint": first, "bone": second}, dataset, weights=[2, 1])
    assert result.names == ["joint", "bone"] and result.weights == pytest.approx([2 / 3, 1 / 3])
    scores_first, labels = predict_dataset(*first, dataset)
    scores_second, _ = predict_dataset(*second, dataset)
    np.testing.assert_array_equal(labels, [i % 4 for i in range(20)])
    np.testing.assert_allclose(result.fused, (2 * scores_first + scores_second) / 3, atol=1e-6)
    assert result.metrics["joint"] == pytest.approx(classification_metrics(scores_first, labels))
    fused_metrics = classification_metrics(result.fused, labels, per_class=True)
    assert result.metrics["ensemble"] == fused_metrics
    assert len(result.metrics["ensemble"]["per_class_recall"]) == 4
    logits = ensemble_predictions([first, second], dataset, scores="logits")
    assert logits.names == ["model_0", "model_1"] and not np.allclose(logits.fused.sum(1), 1.0)

    with pytest.raises(ValueError, match="are not the dataset's 4 classes"):
        ensemble_predictions([first, tiny_classifier(2, names=["a", "b", "c", "d"])], dataset)
    with pytest.raises(ValueError, match="got 3 weights for 2 models"):
        ensemble_predictions([first, second], dataset, weights=[1, 1, 1])


@pytest.mark.slow
def test_ensemble_command(tmp_path, capsys):
    folder = save_dataset_dict(datasets.DatasetDict({"train": tiny_dataset(4), "test": tiny_dataset()}), tmp_path / "d")
    checkpoints = []
    for seed in (0, 1):
        model, extractor = tiny_classifier(seed)
        model.save_pretrained(tmp_path / f"m{seed}")
        extractor.save_pretrained(tmp_path / f"m{seed}")
        checkpoints.append(str(tmp_path / f"m{seed}"))
    output = tmp_path / "fusion.json"
    command = ["ensemble", *checkpoints, "--dataset", str(folder), "--weights", "2", "1", "--tta", "-o", str(output)]
    assert main(command) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    saved = json.loads(output.read_text())
    assert saved["num_clips"] == 20 and saved["weights"] == pytest.approx([2 / 3, 1 / 3])
    assert len(saved["tta_views"]) == 4 and saved["scores"] == "softmax"
    pairs = [tiny_classifier(0), tiny_classifier(1)]
    expected = ensemble_predictions(pairs, tiny_dataset(), weights=[2, 1], views=default_tta_views())
    assert saved["metrics"]["ensemble"]["accuracy"] == pytest.approx(expected.metrics["ensemble"]["accuracy"])
    assert saved["metrics"]["ensemble"]["per_class_recall"] == pytest.approx(
        expected.metrics["ensemble"]["per_class_recall"]
    )
    assert "ensemble" in printed and f"wrote {output}" in printed

    assert main(["ensemble", checkpoints[0], "--dataset", str(folder), "--weights", "1", "2"]) == 2
    assert capsys.readouterr().err.strip() == "cascadeformer ensemble: error: --weights: got 2 weights for 1 models"
    assert main(["ensemble", checkpoints[0], "--dataset", str(folder), "--split", "val"]) == 2
    assert "split 'val' not in" in capsys.readouterr().err
