"""examples/recipe.py in smoke mode on a handful of real clips: every stage runs and writes what it promises."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import load_example


def copy_raw_files(source, target, names):
    target.mkdir(parents=True)
    for name in names:
        shutil.copy(source / name, target / name)
    return target


@pytest.mark.slow
def test_nucla_recipe_smoke_on_the_cross_view_validation_protocol(tmp_path, shared_data):
    names = sorted(p.name for p in (shared_data / "nucla" / "all_sqe").glob("*.json"))[::25]
    raw = copy_raw_files(shared_data / "nucla" / "all_sqe", tmp_path / "raw" / "all_sqe", names)
    output = tmp_path / "run"
    summary = load_example("recipe").main(
        ["nucla", "--raw-dir", str(raw.parent), "--output-dir", str(output), "--validate", "--smoke"]
    )
    # View 1 trains, view 2 validates: no clip of one view lands in the other split.
    splits = __import__("datasets").load_from_disk(str(output / "splits"))
    assert set(splits["train"]["view"]) == {1} and set(splits["validation"]["view"]) == {2}
    assert summary["pretraining"] == "masked_joint" and summary["model"]["frame_embedding"] == "linear"
    assert set(summary["seconds"]) == {"data", "pretrain", "finetune", "evaluate", "total"}
    metrics = json.loads((output / "model" / "metrics_validation.json").read_text())
    assert metrics["num_clips"] == len(splits["validation"])
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["accuracy"] == summary["metrics"]["validation"]["accuracy"]
    assert (output / "model" / "confusion_validation.png").stat().st_size > 1000
    assert "CascadeFormer" in (output / "model" / "README.md").read_text()
    assert (output / "pretrain" / "model.safetensors").is_file()


@pytest.mark.slow
def test_penn_action_recipe_smoke_final_protocol_with_gfp_and_the_plain_head(tmp_path, shared_data):
    names = sorted(p.name for p in (shared_data / "penn_action" / "labels").glob("*.mat"))[::40]
    raw = copy_raw_files(shared_data / "penn_action" / "labels", tmp_path / "raw" / "labels", names)
    output = tmp_path / "run"
    args = ["penn-action", "--raw-dir", str(raw.parent), "--output-dir", str(output), "--smoke"]
    summary = load_example("recipe").main([*args, "--objective", "gfp", "--no-cascade", "--variant", "1.2"])
    # The final protocol trains on every training clip and keeps the last model: no validation split exists.
    assert summary["protocol"] == "final (all training clips)" and set(summary["clips"]) == {"train"}
    assert summary["metrics"] == {}  # the training files hold no test clip
    config = json.loads((output / "model" / "config.json").read_text())
    assert config["token_layout"] == "joint_segment" and config["use_cascade"] is False
    assert config["frame_embedding"] == "spatial_attention" and config["num_channels"] == 2
    assert json.loads((output / "pretrain" / "config.json").read_text())["pretraining_objective"] == "gfp"
