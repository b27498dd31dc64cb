"""Model and dataset cards: metadata through huggingface_hub's card classes, parsed back as the Hub reads it."""

from __future__ import annotations

import pytest
from conftest import tiny_config
from huggingface_hub import DatasetCard, ModelCard

from hf_cascadeformer import CascadeFormerConfig
from hf_cascadeformer.data.builders import BENCHMARKS, card_with_metadata, dataset_card_data
from hf_cascadeformer.hub import hub_id, render_model_card, render_pretraining_card, write_model_card

METRICS = {
    "accuracy": 0.8123,
    "top5_accuracy": 0.9876,
    "mean_class_accuracy": 0.7999,
    "precision_weighted": 0.8,
    "recall_weighted": 0.8123,
    "f1_weighted": 0.79,
}


def card_config(**overrides) -> CascadeFormerConfig:
    """N-UCLA's skeleton size and classes on the shared tiny model."""
    return tiny_config(num_joints=20, num_persons=1, max_frames=32, num_labels=10, **overrides)


def test_classifier_card_metadata_parses_back(tmp_path):
    card = render_model_card(
        card_config(),
        model_name="cascadeformer-nucla",
        repo_id="org/cascadeformer-nucla",
        num_parameters=12345,
        preset="nucla-1.0",
        dataset={"name": "N-UCLA", "id": "org/nucla", "config": "xview", "split": "test"},
        training="Fine-tuned for 3 steps.",
        metrics=METRICS,
        base_model="org/cascadeformer-nucla-pretrained",
    )
    path = write_model_card(tmp_path, card)
    loaded = ModelCard.load(path)
    data = loaded.data
    assert data.base_model == "org/cascadeformer-nucla-pretrained"
    assert data.datasets == ["org/nucla"]
    assert data.library_name == "transformers" and data.license == "mit"
    assert "skeleton-action-recognition" in data.tags
    assert data.model_name == "cascadeformer-nucla"
    results = {result.metric_type: result for result in data.eval_results}
    assert set(results) == set(METRICS)
    top1 = results["accuracy"]
    assert top1.metric_value == 81.23 and top1.metric_name == "Top-1 accuracy"
    assert (top1.dataset_type, top1.dataset_name, top1.dataset_config, top1.dataset_split) == (
        "org/nucla",
        "N-UCLA",
        "xview",
        "test",
    )
    assert results["mean_class_accuracy"].metric_value == 79.99
    assert top1.task_type == "skeleton-action-recognition"
    # The body is the template, filled.
    assert "| Top-1 accuracy | 81.23 |" in loaded.text and "12,345" in loaded.text and "{{" not in loaded.text
    assert 'from_pretrained("org/cascadeformer-nucla")' in loaded.text


def test_local_paths_stay_out_of_the_metadata(tmp_path):
    pretrained = tmp_path / "runs" / "pretrain"
    pretrained.mkdir(parents=True)
    card = render_model_card(
        card_config(),
        model_name="finetune",
        dataset={"name": "embedded", "id": "embedded", "split": "test"},
        metrics={"accuracy": 0.5},
        base_model=str(pretrained),
    )
    data = ModelCard(card).data
    # A local folder or the embedded dataset is not a Hub id: the Hub would reject it as base_model / datasets.
    assert data.base_model is None and data.datasets is None
    assert [result.metric_type for result in data.eval_results] == ["accuracy"]
    unevaluated = ModelCard(render_model_card(card_config(), model_name="x")).data
    assert unevaluated.eval_results is None and "Not evaluated yet." in render_model_card(card_config(), model_name="x")


def test_hub_id():
    assert hub_id("org/name") == "org/name"
    assert hub_id("embedded") is None and hub_id("./runs/x") is None and hub_id("/abs/path") is None
    assert hub_id("a/b/c") is None and hub_id(None) is None
    assert hub_id("bert-base-uncased") is None  # legacy single-segment ids are not used by this package


def test_pretraining_card_parses_back(tmp_path):
    card = render_pretraining_card(
        card_config(pretraining_objective="gfp", token_layout="joint_segment", segment_length=4),
        model_name="gfp-ntu60",
        repo_id="org/gfp-ntu60",
        num_parameters=999,
        dataset={"name": "NTU RGB+D 60", "id": "org/ntu60", "config": "xsub"},
        training="40 epochs of GFP.",
        results={"train_loss": 0.4123, "eval_loss": 0.5},
    )
    loaded = ModelCard.load(write_model_card(tmp_path, card))
    assert loaded.data.datasets == ["org/ntu60"]
    assert loaded.data.pipeline_tag == "feature-extraction"
    assert "masked-skeleton-modeling" in loaded.data.tags
    assert loaded.data.eval_results is None  # losses are not benchmark results
    assert "| train_loss | 0.4123 |" in loaded.text and "(gfp)" in loaded.text and "joint_segment" in loaded.text
    assert "NTU RGB+D 60 (configuration `xsub`)" in loaded.text and "{{" not in loaded.text


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_dataset_card_metadata(name):
    benchmark = BENCHMARKS[name]
    card = DatasetCard(card_with_metadata(benchmark, "# body\n"))
    assert card.data.license == benchmark.license
    assert card.data.pretty_name == benchmark.title
    assert card.data.task_categories == ["video-classification"]
    assert {"skeleton", "action-recognition", "hf-cascadeformer"} <= set(card.data.tags)
    assert card.text.strip() == "# body"
    assert dataset_card_data(benchmark).to_dict() == card.data.to_dict()
