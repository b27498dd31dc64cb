"""The benchmark recipes (`hf_cascadeformer.training.run_recipe`) in smoke mode on a handful of real clips: every
stage runs and writes what it promises."""

from __future__ import annotations

import json
import shutil

import datasets
import numpy as np
import pytest
import scipy.io
import torch
from huggingface_hub import HfApi
from safetensors.torch import load_file
from transformers import AutoFeatureExtractor, AutoModelForSequenceClassification

from hf_cascadeformer import CascadeFormerConfig, CascadeFormerForMaskedSkeletonModeling
from hf_cascadeformer.configuration_cascadeformer import PRETRAINING_OBJECTIVES
from hf_cascadeformer.data.errors import UserInputError
from hf_cascadeformer.inference import default_tta_views, ensemble_predictions
from hf_cascadeformer.modeling_cascadeformer_objectives import PRETRAINING_OBJECTIVE_CLASSES
from hf_cascadeformer.training import recipe_runner
from hf_cascadeformer.training.arguments import RecipeArguments
from hf_cascadeformer.training.recipes import BENCHMARK_RECIPES


def copy_raw_files(source, target, names):
    target.mkdir(parents=True)
    for name in names:
        shutil.copy(source / name, target / name)
    return target


@pytest.mark.slow
def test_nucla_recipe_smoke_on_the_cross_view_validation_protocol(tmp_path, shared_data, hub_server, monkeypatch):
    names = sorted(p.name for p in (shared_data / "nucla" / "all_sqe").glob("*.json"))[::25]
    raw = copy_raw_files(shared_data / "nucla" / "all_sqe", tmp_path / "raw" / "all_sqe", names)
    output = tmp_path / "run"
    args = ["nucla", "--raw-dir", str(raw.parent), "--validate", "--smoke"]  # the recipe as shipped
    summary = recipe_runner.main([*args, "--output-dir", str(output)])
    # View 1 trains, view 2 validates: no clip of one view lands in the other split.
    splits = datasets.load_from_disk(str(output / "splits"))
    assert set(splits["train"]["view"]) == {1} and set(splits["validation"]["view"]) == {2}
    assert summary["pretraining"] == "masked_joint" and summary["model"]["frame_embedding"] == "linear"
    assert set(summary["seconds"]) == {"data", "pretrain", "finetune", "evaluate", "total"}
    assert summary["synthetic_clips"] == 0 and not (output / "pretraining_splits").exists()
    assert summary["pretrain_epochs"] == 480  # the recipe's (smoke mode stops after two steps)
    metrics = json.loads((output / "model" / "metrics_validation.json").read_text())
    assert metrics["num_clips"] == len(splits["validation"])
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["accuracy"] == summary["metrics"]["validation"]["accuracy"]
    assert (output / "model" / "confusion_validation.png").stat().st_size > 1000
    assert "CascadeFormer" in (output / "model" / "README.md").read_text()
    assert (output / "pretrain" / "model.safetensors").is_file()
    # Fine-tuning compares two augmentations of each clip (the recipe's consistency loss).
    assert summary["consistency_weight"] == 12.0
    assert json.loads((output / "model" / "training_args.json").read_text())["consistency_weight"] == 12.0
    # Pretraining prepared the clips as fine-tuning did: the recipe's centring on joint 0, not the layout's joint 1.
    pretrained, finetuned = (
        json.loads((output / stage / "preprocessor_config.json").read_text()) for stage in ("pretrain", "model")
    )
    fields = ("root_joint", "scale_normalization", "num_frames")
    assert [pretrained[f] for f in fields] == [finetuned[f] for f in fields] == [0, True, 32]

    # Deterministic given the seed: a second run prints the same accuracy and ends with the same weights. It runs in
    # the same folder after an interrupted fine-tuning (checkpoints, no results): the recipe restarts its stages.
    first = load_file(output / "model" / "model.safetensors")
    assert any((output / "model").glob("checkpoint-*"))
    for name in ("eval_results.json", "model.safetensors"):
        (output / "model" / name).unlink()
    again = recipe_runner.main([*args, "--output-dir", str(output)])
    assert again["metrics"] == summary["metrics"]
    second = load_file(output / "model" / "model.safetensors")
    assert first.keys() == second.keys() and all(torch.equal(first[name], second[name]) for name in first)

    # Reusing that run's encoder skips pretraining and reaches the same model: fine-tuning depends on the seed only.
    # The folder holds an earlier run's model config, which would describe a model this run does not build.
    (tmp_path / "reuse").mkdir()
    shutil.copy(output / "model_config.json", tmp_path / "reuse")
    reused = recipe_runner.main(
        [*args, "--output-dir", str(tmp_path / "reuse"), "--pretrained-model", str(output / "pretrain")]
    )
    assert reused["metrics"] == summary["metrics"] and reused["pretrained_model"] == str(output / "pretrain")
    assert reused["pretraining"] is None and "pretrain" not in reused["seconds"]
    assert reused["model"] == summary["model"] and not (tmp_path / "reuse" / "pretrain").exists()
    assert not (tmp_path / "reuse" / "model_config.json").exists()
    third = load_file(tmp_path / "reuse" / "model" / "model.safetensors")
    assert all(torch.equal(first[name], third[name]) for name in first)

    # An ensemble of two in the first run's folder: member 0 trains with seed 0 * 2 + 0, so it is that run's model;
    # member 1 with seed 1. The single model's encoder goes; `model/` is now one checkpoint holding both members,
    # pushed to the (local stand-in) Hub as such.
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    monkeypatch.setenv("HF_TOKEN", "hf_dummy_test_token")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    ensemble = recipe_runner.main(
        [*args, "--output-dir", str(output), "--ensemble-size", "2", "--push-to-hub", "test-user/nucla-ensemble"]
    )
    pushed = HfApi(endpoint=hub_server.url).list_repo_files("test-user/nucla-ensemble")
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md", "pipeline.py"} <= set(pushed)
    assert not any(name.startswith("members") for name in pushed)
    assert ensemble["ensemble_size"] == 2 and ensemble["member_seeds"] == [0, 1]
    assert set(ensemble["seconds"]) == {"data", "pretrain", "finetune", "fuse", "evaluate", "total"}
    assert not (output / "pretrain").exists() and (output / "members" / "1" / "pretrain" / "config.json").is_file()
    member0, fused = (load_file(output / folder / "model.safetensors") for folder in ("members/0/model", "model"))
    assert all(
        torch.equal(first[name], member0[name]) and torch.equal(first[name], fused[f"members.0.{name}"])
        for name in first
    )
    member1 = load_file(output / "members" / "1" / "model" / "model.safetensors")
    assert not torch.equal(member1["classifier.layers.0.weight"], first["classifier.layers.0.weight"])
    # Its validation figure is the score fusion of the two members' checkpoints, as `cascadeformer ensemble` has it.
    validation = datasets.load_from_disk(str(output / "splits"))["validation"].with_format("numpy")
    pairs = [
        (
            AutoModelForSequenceClassification.from_pretrained(folder).eval(),
            AutoFeatureExtractor.from_pretrained(folder),
        )
        for folder in (output / "members" / "0" / "model", output / "members" / "1" / "model")
    ]
    fusion = ensemble_predictions(pairs, validation, views=default_tta_views())
    assert ensemble["metrics"]["validation"]["accuracy"] == pytest.approx(fusion.metrics["ensemble"]["accuracy"])
    assert "ensemble of 2 classifiers" in (output / "model" / "README.md").read_text()
    with pytest.raises(UserInputError, match="--ensemble-size would not apply"):
        recipe_runner.main(
            [
                *args,
                "--output-dir",
                str(tmp_path / "reuse"),
                "--pretrained-model",
                str(output / "members" / "0" / "pretrain"),
                "--ensemble-size",
                "2",
            ]
        )


@pytest.mark.slow
def test_penn_action_recipe_smoke_final_protocol_with_gfp_and_the_plain_head(tmp_path, shared_data):
    names = sorted(p.name for p in (shared_data / "penn_action" / "labels").glob("*.mat"))[::40]
    raw = copy_raw_files(shared_data / "penn_action" / "labels", tmp_path / "raw" / "labels", names)
    # The official test files are kept outside the team: stand some in by flipping the `train` flag of copies.
    for name in names[::4]:
        annotation = scipy.io.loadmat(raw / name)
        annotation["train"] = np.array([[-1]])
        scipy.io.savemat(raw / f"9{name}", {k: v for k, v in annotation.items() if not k.startswith("__")})
    output = tmp_path / "run"
    overrides = tmp_path / "ablation.json"  # `--config`: model fields over the recipe's
    overrides.write_text(json.dumps({"hidden_dropout_prob": 0.25, "num_attention_heads": 2}))
    args = ["penn-action", "--raw-dir", str(raw.parent), "--output-dir", str(output), "--smoke"]
    args += ["--config", str(overrides)]
    summary = recipe_runner.main(
        [*args, "--objective", "gfp", "--no-cascade", "--variant", "1.2", "--consistency-weight", "1.5"]
        + ["--pretrain-augmentation", "default", "--synthetic-clips", "40"]
    )
    # The final protocol trains on every training clip, keeps the last model and evaluates on the test split.
    assert summary["protocol"] == "final (all training clips)" and set(summary["clips"]) == {"train", "test"}
    assert summary["clips"]["test"] == len(names[::4])
    metrics = json.loads((output / "model" / "metrics_test.json").read_text())
    assert metrics["accuracy"] == summary["metrics"]["test"]["accuracy"]
    assert (output / "model" / "confusion_test.png").is_file()
    config = json.loads((output / "model" / "config.json").read_text())
    assert config["token_layout"] == "joint_segment" and config["use_cascade"] is False
    assert summary["consistency_weight"] == 1.5  # Penn Action's recipe has none; the flag sets one
    assert json.loads((output / "model" / "training_args.json").read_text())["consistency_weight"] == 1.5
    assert config["frame_embedding"] == "spatial_attention" and config["num_channels"] == 2
    assert config["hidden_dropout_prob"] == 0.25 and config["num_attention_heads"] == 2
    assert summary["model"]["hidden_dropout_prob"] == 0.25
    assert json.loads((output / "pretrain" / "config.json").read_text())["pretraining_objective"] == "gfp"
    assert summary["pretrain_augmentation"] == "default"
    # Pretraining saw the training clips and (in smoke mode, 16 of) the synthetic corpus on Penn's layout, unlabelled.
    pretraining = datasets.load_from_disk(str(output / "pretraining_splits"))["train"]
    assert summary["synthetic_clips"] == 16 and len(pretraining) == summary["clips"]["train"] + 16
    assert pretraining["label"][-16:] == [-1] * 16 and "synthetic" in summary["seconds"]
    assert pretraining.features["skeleton"].shape == (None, 1, 13, 2)
    assert np.asarray(pretraining[-1]["visibility"]).min() == 1  # every synthetic joint is seen


def test_a_negative_synthetic_clip_count_is_refused_before_the_build(tmp_path):
    args = RecipeArguments("nucla", str(tmp_path / "raw"), str(tmp_path / "run"), synthetic_clips=-3)
    with pytest.raises(ValueError, match="--synthetic-clips must be 0 or more, got -3"):
        recipe_runner.run_recipe(args)
    assert not (tmp_path / "run" / "data").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--pretrain-epochs", "10", "--objective", "gfp"],
            "--objective, --pretrain-epochs would not apply: drop them",
        ),
        (["--no-pretraining"], "--no-pretraining would not apply: drop it"),
    ],
)
def test_a_reused_encoder_refuses_the_flags_of_the_stage_it_replaces(tmp_path, flags, message):
    encoder = tmp_path / "pretrain"
    encoder.mkdir()
    earlier = tmp_path / "run" / "recipe_summary.json"  # an earlier run's, which a refused command leaves alone
    earlier.parent.mkdir()
    earlier.write_text("{}")
    args = ["nucla", "--raw-dir", str(tmp_path / "raw"), "--output-dir", str(tmp_path / "run")]
    with pytest.raises(UserInputError, match=message):
        recipe_runner.main([*args, "--pretrained-model", str(encoder), *flags])
    with pytest.raises(UserInputError, match="--pretrained-model .*missing: no such checkpoint folder"):
        recipe_runner.main([*args, "--pretrained-model", str(tmp_path / "missing")])
    assert sorted(p.name for p in earlier.parent.iterdir()) == ["recipe_summary.json"]  # no build, nothing removed


def test_validation_protocols_split_the_training_clips_as_data():
    recipe = recipe_runner
    views = [1, 1, 2, 2, 1, 2, 1, 2, 1, 2]
    subjects = [1, 8, 2, 9, 7, 10, 3, 4, 10, 5]
    clips = datasets.Dataset.from_dict(
        {"view": views, "subject": subjects, "label": [0, 1] * 5},
        features=datasets.Features(
            {
                "view": datasets.Value("int32"),
                "subject": datasets.Value("int32"),
                "label": datasets.ClassLabel(names=["a", "b"]),
            }
        ),
    )
    nucla = BENCHMARK_RECIPES["nucla"]
    assert recipe.validation_protocol(nucla, None) == "view1-view2"  # the protocol the settings were chosen on
    forward = recipe.validation_splits("view1-view2", clips, seed=0)
    assert set(forward["train"]["view"]) == {1} and set(forward["validation"]["view"]) == {2}
    reverse = recipe.validation_splits("view2-view1", clips, seed=0)
    assert len(reverse["train"]) == 5 and set(reverse["validation"]["view"]) == {1}
    subject = recipe.validation_splits(recipe.validation_protocol(nucla, "cross-subject"), clips, seed=0)
    assert sorted(subject["train"]["subject"]) == [1, 2, 3, 4, 5, 7]
    assert sorted(subject["validation"]["subject"]) == [8, 9, 10, 10]
    with pytest.raises(SystemExit, match="does not apply"):
        recipe.validation_protocol(BENCHMARK_RECIPES["penn-action"], "cross-subject")  # Penn Action has no subject ids


@pytest.mark.parametrize("objective", PRETRAINING_OBJECTIVES)
@pytest.mark.parametrize("benchmark", sorted(BENCHMARK_RECIPES))
def test_every_objective_gets_the_token_layout_it_masks(benchmark, objective):
    # The recipe takes the token layout from the objective's class (`--objective mamp` used to be refused and
    # would have been given frame tokens); the fields must build a pretraining model that computes a loss.
    args = RecipeArguments(benchmark=benchmark, raw_dir="unused", output_dir="unused", objective=objective)
    fields = recipe_runner.model_fields(args, BENCHMARK_RECIPES[benchmark])
    assert fields.get("token_layout", "frame") == PRETRAINING_OBJECTIVE_CLASSES[objective].token_layout
    num_joints, channels = (13, 2) if benchmark == "penn-action" else (20, 3)
    small = {"hidden_size": 32, "intermediate_size": 64, "decoder_hidden_size": 32, "num_attention_heads": 2}
    shape = {"num_joints": num_joints, "num_channels": channels}
    config = CascadeFormerConfig(**{**fields, **small, **shape, "pretraining_objective": objective})
    model = CascadeFormerForMaskedSkeletonModeling(config)
    skeletons = torch.randn(2, 1, 16, num_joints, channels)  # (batch, persons, frames, joints, channels)
    loss = model(skeletons=skeletons, attention_mask=torch.ones(2, 16, dtype=torch.long)).loss
    assert torch.isfinite(loss) and loss > 0
    no_pretraining = RecipeArguments(
        benchmark=benchmark, raw_dir="unused", output_dir="unused", objective=objective, no_pretraining=True
    )
    assert "token_layout" not in recipe_runner.model_fields(no_pretraining, BENCHMARK_RECIPES[benchmark])
