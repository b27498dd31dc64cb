"""Pretraining (`hf_cascadeformer.training.pretrain`, and examples/pretrain.py over it): checkpoints, resuming
after SIGKILL, and the saved pretraining model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import REPO_ROOT
from safetensors.torch import load_file
from transformers import AutoModelForPreTraining, AutoModelForSequenceClassification

import hf_cascadeformer  # noqa: F401  (registers the Auto classes)
from hf_cascadeformer.training import pretraining

PRETRAIN = REPO_ROOT / "examples" / "pretrain.py"
COMMON = ["--max-steps", "8", "--checkpoint-every", "3", "--batch-size", "8", "--num-frames", "16", "--log-every", "2"]


def _run(args: list[str], **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    return subprocess.Popen([sys.executable, str(PRETRAIN), *args], env=env, text=True, **kwargs)


@pytest.mark.slow
def test_pretraining_resumes_after_sigkill_to_the_same_weights(tmp_path):
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    uninterrupted = _run(
        ["--output-dir", str(reference), *COMMON], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    victim = _run(["--output-dir", str(interrupted), *COMMON], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (interrupted / "checkpoint-3" / "pretrain_state.json").exists():
        assert victim.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.1)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not (interrupted / "model.safetensors").exists()  # nothing looks finished
    # What the killed run may have logged after its checkpoint (it usually dies first): the resumed run logs it anew.
    with (interrupted / "pretrain_log.jsonl").open("a") as log:
        log.write(json.dumps({"step": 4, "loss": 123.0}) + "\n")

    resumed = _run(["--output-dir", str(interrupted), *COMMON, "--resume-from-checkpoint"], stdout=subprocess.PIPE)
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0
    assert uninterrupted.wait(timeout=600) == 0
    assert "resumed from" in output
    expected, actual = load_file(reference / "model.safetensors"), load_file(interrupted / "model.safetensors")
    assert expected.keys() == actual.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(actual[name], tensor, rtol=0, atol=0, msg=name)
    # Checkpoints are complete folders only; at most --keep-checkpoints (2) of them remain.
    assert sorted(p.name for p in interrupted.glob("checkpoint-*")) == ["checkpoint-3", "checkpoint-6"]
    # Every step is logged once, and as the uninterrupted run logged it.
    assert _log(interrupted) == _log(reference)
    assert [record["step"] for record in _log(reference)] == [2, 4, 6, 8]


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
