"""Ensemble checkpoints: separately trained classifiers of one architecture, fused by averaging probabilities."""

from __future__ import annotations

import textwrap

import pytest
import torch
from conftest import run_without_package
from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForSequenceClassification, pipeline

from hf_cascadeformer import (
    CascadeFormerConfig,
    CascadeFormerEnsembleConfig,
    CascadeFormerEnsembleForSequenceClassification,
    CascadeFormerFeatureExtractor,
    CascadeFormerForSequenceClassification,
)
from hf_cascadeformer.hub import add_pipeline_code, render_model_card

LABELS = {0: "wave", 1: "clap", 2: "sit", 3: "jump"}


def small_config(**overrides) -> CascadeFormerConfig:
    fields = dict(num_joints=5, max_frames=16, hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    fields.update(id2label=LABELS, label2id={name: index for index, name in LABELS.items()})
    return CascadeFormerConfig(**{**fields, **overrides})


def trained_members(count: int = 3, **overrides) -> list[CascadeFormerForSequenceClassification]:
    members = []
    for seed in range(count):
        torch.manual_seed(seed)  # stands in for separate training: different weights, one architecture
        members.append(CascadeFormerForSequenceClassification(small_config(**overrides)).eval())
    return members


def test_the_ensemble_averages_its_members_probabilities():
    members = trained_members()
    ensemble = CascadeFormerEnsembleForSequenceClassification.from_members(members).eval()
    clips = torch.randn(6, 9, 5, 3)
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    with torch.no_grad():
        expected = torch.stack([member(clips).logits.softmax(-1) for member in members]).mean(0)
        output = ensemble(clips, labels=labels)
    torch.testing.assert_close(output.logits.softmax(-1), expected)
    torch.testing.assert_close(output.logits.exp(), expected)  # the logits are log-probabilities
    torch.testing.assert_close(output.loss, -expected[torch.arange(6), labels].log().mean())
    assert ensemble.config.ensemble_size == 3 and ensemble.config.id2label == LABELS
    # The fused prediction is not simply one member's: the members disagree on these clips.
    assert len({tuple(member(clips).logits.argmax(-1).tolist()) for member in members}) > 1
    with torch.no_grad():
        loss, logits = ensemble(clips, labels=labels, return_dict=False)
    torch.testing.assert_close(logits, output.logits)
    torch.testing.assert_close(loss, output.loss)


def test_an_ensemble_checkpoint_loads_with_the_auto_classes_and_the_pipeline(tmp_path):
    members = trained_members()
    ensemble = CascadeFormerEnsembleForSequenceClassification.from_members(members).eval()
    ensemble.save_pretrained(tmp_path / "ensemble")
    CascadeFormerFeatureExtractor.from_model_config(members[0].config, num_frames=8, root_joint=0).save_pretrained(
        tmp_path / "ensemble"
    )
    add_pipeline_code(tmp_path / "ensemble")
    assert type(AutoConfig.from_pretrained(tmp_path / "ensemble")) is CascadeFormerEnsembleConfig
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "ensemble").eval()
    assert type(loaded) is CascadeFormerEnsembleForSequenceClassification
    extractor = AutoFeatureExtractor.from_pretrained(tmp_path / "ensemble")
    clip = torch.randn(11, 5, 3).numpy()
    inputs = extractor(clip, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, ensemble(**inputs).logits)
        probabilities = ensemble(**inputs).logits.softmax(-1)[0]
    classify = pipeline("skeleton-action-recognition", model=str(tmp_path / "ensemble"), device="cpu")
    top = classify(clip, top_k=4)
    assert [entry["label"] for entry in top] == [LABELS[int(i)] for i in probabilities.argsort(descending=True)]
    assert top[0]["score"] == pytest.approx(float(probabilities.max()), abs=1e-6)
    card = render_model_card(loaded.config, model_name="ensemble", num_parameters=loaded.num_parameters())
    assert "| 16 / 2 / 1 + 1, ensemble of 3 |" in card
    assert f"| parameters | {3 * members[0].num_parameters():,} |" in card


def test_trainer_predicts_and_scores_an_ensemble_as_any_classifier(tmp_path):
    from transformers import Trainer, TrainingArguments

    from hf_cascadeformer.metrics import compute_metrics

    ensemble = CascadeFormerEnsembleForSequenceClassification.from_members(trained_members()).eval()
    clips, labels = torch.randn(8, 9, 5, 3), torch.arange(8) % 4
    data = [{"skeletons": clip, "labels": int(label)} for clip, label in zip(clips, labels, strict=True)]
    arguments = TrainingArguments(output_dir=str(tmp_path), report_to=[], per_device_eval_batch_size=3, use_cpu=True)
    prediction = Trainer(model=ensemble, args=arguments, compute_metrics=compute_metrics).predict(data)
    with torch.no_grad():
        expected = ensemble(clips).logits
    torch.testing.assert_close(torch.from_numpy(prediction.predictions), expected)
    assert prediction.metrics["test_accuracy"] == pytest.approx((expected.argmax(-1) == labels).float().mean().item())


def test_members_must_share_one_architecture():
    members = trained_members(2)
    members.append(trained_members(1, hidden_size=32)[0])
    with pytest.raises(ValueError, match="ensemble member 2 differs from member 0 in hidden_size"):
        CascadeFormerEnsembleForSequenceClassification.from_members(members)
    with pytest.raises(ValueError, match="at least one member"):
        CascadeFormerEnsembleForSequenceClassification.from_members([])
    for size in (0, True, 2.5):
        with pytest.raises(ValueError, match="ensemble_size must be a positive integer"):
            CascadeFormerEnsembleConfig(ensemble_size=size)


# An environment without the package: the checkpoint's own copies of the modeling files build the ensemble.
LOADER = textwrap.dedent(
    """
    import torch
    from transformers import AutoModelForSequenceClassification

    path, clips_file = sys.argv[1], sys.argv[2]
    try:
        import hf_cascadeformer  # noqa: F401
        raise SystemExit("the package should not be importable in this test")
    except ImportError:
        pass
    model = AutoModelForSequenceClassification.from_pretrained(path, trust_remote_code=True).eval()
    with torch.no_grad():
        logits = model(torch.load(clips_file, weights_only=True)).logits
    print(json.dumps({"class": type(model).__name__, "module": type(model).__module__, "logits": logits.tolist()}))
    """
)


@pytest.mark.slow
def test_an_ensemble_checkpoint_loads_as_remote_code_without_the_package(tmp_path):
    ensemble = CascadeFormerEnsembleForSequenceClassification.from_members(trained_members()).eval()
    ensemble.save_pretrained(tmp_path / "ensemble")
    clips = torch.randn(2, 6, 5, 3)
    torch.save(clips, tmp_path / "clips.pt")
    remote = run_without_package(
        LOADER, tmp_path / "ensemble", tmp_path / "clips.pt", modules_cache=tmp_path / "modules"
    )
    assert remote["class"] == "CascadeFormerEnsembleForSequenceClassification"
    assert remote["module"].startswith("transformers_modules.")  # the checkpoint's copy
    with torch.no_grad():
        torch.testing.assert_close(torch.tensor(remote["logits"]), ensemble(clips).logits, rtol=1e-5, atol=1e-5)
