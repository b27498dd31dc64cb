"""Pretraining (`hf_cascadeformer.training.pretrain`, and examples/pretrain.py over it): replacing a finished run,
the console, and the saved pretraining model (resuming: test_resume.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import REPO_ROOT
from transformers import AutoModelForPreTraining, AutoModelForSequenceClassification

import hf_cascadeformer  # noqa: F401  (registers the Auto classes)
from hf_cascadeformer.training import pretraining

PRETRAIN = REPO_ROOT / "examples" / "pretrain.py"


def _run(args: list[str], **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    return subprocess.Popen([sys.executable, str(PRETRAIN), *args], env=env, text=True, **kwargs)


def _log(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "pretrain_log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_a_fresh_run_replaces_a_finished_run_and_refuses_an_unfinished_one(tmp_path):
    pretrain = pretraining
    common = ["--output-dir", str(tmp_path), "--batch-size", "8", "--num-frames", "16", "--log-every", "1"]
    pretrain.main([*common, "--max-steps", "4", "--checkpoint-every", "2"])
    assert (tmp_path / "checkpoint-2").is_dir()

    # Run again in the same folder: nothing of the finished run is mixed into the new one.
    pretrain.main([*common, "--max-steps", "2", "--checkpoint-every", "1"])
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-1"]
    assert [record["step"] for record in _log(tmp_path)] == [1, 2]
    assert json.loads((tmp_path / "pretrain_summary.json").read_text())["steps"] == 2

    # An unfinished run's checkpoints are what --resume-from-checkpoint needs: a fresh run stops instead.
    (tmp_path / "pretrain_summary.json").unlink()
    with pytest.raises(SystemExit, match=r"unfinished run \(checkpoint-1\).*--resume-from-checkpoint"):
        pretrain.main([*common, "--max-steps", "2"])
    assert (tmp_path / "checkpoint-1" / "pretrain_state.json").is_file()


@pytest.mark.slow
def test_pretrained_checkpoint_loads_for_pretraining_and_fine_tuning(tmp_path):
    run = _run(["--output-dir", str(tmp_path), "--max-steps", "2", "--batch-size", "8", "--num-frames", "16"])
    assert run.wait(timeout=600) == 0
    summary = json.loads((tmp_path / "pretrain_summary.json").read_text())
    assert summary["processes"] == 1 and summary["steps"] == 2
    pretrained = AutoModelForPreTraining.from_pretrained(tmp_path)
    classifier = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    for name, tensor in pretrained.cascadeformer.state_dict().items():
        torch.testing.assert_close(classifier.cascadeformer.state_dict()[name], tensor, rtol=0, atol=0)
    assert classifier.config.id2label[0] == "wave right hand"


@pytest.mark.slow
def test_augmented_pretraining_sees_other_clips_and_is_deterministic(tmp_path):
    common = [
        "--batch-size",
        "8",
        "--num-frames",
        "16",
        "--log-every",
        "1",
        "--max-steps",
        "3",
        "--checkpoint-every",
        "9",
    ]
    runs = {name: tmp_path / name for name in ("plain", "augmented", "augmented-again", "recipe-augmentation")}
    pretraining.main([*common, "--output-dir", str(runs["plain"])])
    pretraining.main([*common, "--output-dir", str(runs["augmented"]), "--augmentation", "default"])
    pretraining.main([*common, "--output-dir", str(runs["augmented-again"]), "--augmentation", "default"])
    pretraining.main([*common, "--output-dir", str(runs["recipe-augmentation"]), "--augmentation", "nucla-cpu"])
    losses = {name: [record["loss"] for record in _log(run)] for name, run in runs.items()}
    # Same initialisation, data order and masks: only the clips differ, so the first step's loss already does.
    assert losses["augmented"][0] != losses["plain"][0]
    assert losses["recipe-augmentation"][0] not in (losses["plain"][0], losses["augmented"][0])
    assert losses["augmented-again"] == losses["augmented"]
    weights = [
        AutoModelForPreTraining.from_pretrained(runs[name]).state_dict() for name in ("augmented", "augmented-again")
    ]
    for name, tensor in weights[0].items():
        torch.testing.assert_close(weights[1][name], tensor, rtol=0, atol=0)
