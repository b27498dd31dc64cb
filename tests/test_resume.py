"""Resume exactness as a property: a training run killed (SIGKILL) at a checkpoint and resumed ends bit for bit where
the uninterrupted run ends (weights, optimizer state, logs), for fine-tuning with the default augmentation and data
loader settings and for pretraining (with and without augmentation), killed at two different steps.

The runs go through the command line (`python -m hf_cascadeformer.cli finetune|pretrain ...`), the entry point that
stays put whatever module the training loops live in.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO_ROOT
from safetensors.torch import load_file

from hf_cascadeformer.training.common import latest_complete_checkpoint

# 54 training clips (a tenth of the embedded training split) at batch 16: 4 steps per epoch, so 10 steps cross two
# epoch boundaries and a resume at step 6 lands mid-epoch 1 (where the augmentation's epoch must be restored).
FINETUNE = [
    "--max-steps", "10", "--eval-steps", "2", "--label-fraction", "0.1", "--validation-fraction", "0.1",
    "--batch-size", "16", "--num-frames", "24",
]  # fmt: skip
PRETRAIN = [
    "--max-steps", "8", "--checkpoint-every", "2", "--keep-checkpoints", "2", "--batch-size", "8",
    "--num-frames", "16", "--log-every", "1",
]  # fmt: skip


def _launch(command: str, args: list[str], **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "hf_cascadeformer.cli", command, *args], env=env, text=True, cwd=REPO_ROOT, **kwargs
    )


def _kill_after(process: subprocess.Popen, marker: Path) -> None:
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert process.poll() is None, f"the run ended before {marker} was written"
        assert time.monotonic() < deadline, f"no {marker} within 300 s"
        time.sleep(0.005)  # a small model takes a few ms a step: poll often, so the kill lands near the marker
    process.send_signal(signal.SIGKILL)
    process.wait()


def _assert_same_tensors(expected: dict, actual: dict, what: str) -> None:
    assert expected.keys() == actual.keys(), what
    for name, tensor in expected.items():
        if isinstance(tensor, dict):
            _assert_same_tensors(tensor, actual[name], f"{what}.{name}")
        elif isinstance(tensor, torch.Tensor):
            torch.testing.assert_close(actual[name], tensor, rtol=0, atol=0, msg=f"{what}.{name}")
        else:
            assert actual[name] == tensor, f"{what}.{name}"


def _optimizer_state(path: Path) -> dict:
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {"state": state["state"], "param_groups": {str(i): g for i, g in enumerate(state["param_groups"])}}


def _trainer_log(run: Path) -> list[dict]:
    """The training and evaluation records of a run's final checkpoint, without wall-clock figures."""
    history = json.loads((run / "checkpoint-10" / "trainer_state.json").read_text())["log_history"]
    return [{k: v for k, v in record.items() if "runtime" not in k and "per_second" not in k} for record in history]


@pytest.mark.slow
@pytest.mark.parametrize("objective", [[], ["--consistency-weight", "12"]], ids=["cross-entropy", "consistency"])
def test_fine_tuning_with_augmentation_resumes_bit_for_bit_wherever_it_is_killed(tmp_path, objective):
    # With the consistency loss every batch reads two augmentations of each clip (the N-UCLA recipe's training).
    finetune = [*FINETUNE, *objective]
    reference, run, finished = tmp_path / "reference", tmp_path / "killed", tmp_path / "finished"
    uninterrupted = _launch("finetune", ["--output-dir", str(reference), *finetune], stdout=subprocess.DEVNULL)
    # Killed after its step-2 checkpoint, resumed, killed again after step 6 (mid-epoch 1), resumed to the end.
    victim = _launch("finetune", ["--output-dir", str(run), *finetune], stdout=-3, stderr=-3)
    for kill_step in (2, 6):
        _kill_after(victim, run / f"checkpoint-{kill_step}" / "trainer_state.json")
        assert not (run / "model.safetensors").exists()  # nothing looks finished
        victim = _launch("finetune", ["--output-dir", str(run), *finetune, "--resume-from-checkpoint"], stdout=-1)
    assert uninterrupted.wait(timeout=600) == 0
    # Meanwhile, a copy of the finished reference run is resumed from its final checkpoint (step 10, mid-epoch 2):
    # it must train nothing more, where Trainer alone would take a step 11.
    shutil.copytree(reference, finished)
    again = _launch("finetune", ["--output-dir", str(finished), *finetune, "--resume-from-checkpoint"], stdout=-1)
    output, _ = victim.communicate(timeout=600)
    assert victim.returncode == 0
    assert f"resuming from {run}/checkpoint-" in output
    # The selected (best) model, the last checkpoint's weights and optimizer state, and every logged number.
    _assert_same_tensors(load_file(reference / "model.safetensors"), load_file(run / "model.safetensors"), "model")
    last = "checkpoint-10"
    _assert_same_tensors(
        load_file(reference / last / "model.safetensors"), load_file(run / last / "model.safetensors"), last
    )
    _assert_same_tensors(
        _optimizer_state(reference / last / "optimizer.pt"), _optimizer_state(run / last / "optimizer.pt"), "optimizer"
    )
    assert _trainer_log(run) == _trainer_log(reference)
    assert _without_timings(run / "eval_results.json") == _without_timings(reference / "eval_results.json")

    output, _ = again.communicate(timeout=600)
    assert again.returncode == 0 and f"resuming from {finished}/checkpoint-10" in output
    checkpoints = sorted(p.name for p in reference.glob("checkpoint-*"))
    assert sorted(p.name for p in finished.glob("checkpoint-*")) == checkpoints and last in checkpoints
    _assert_same_tensors(load_file(reference / "model.safetensors"), load_file(finished / "model.safetensors"), "final")
    assert _without_timings(finished / "eval_results.json") == _without_timings(reference / "eval_results.json")


def _without_timings(path: Path) -> dict:
    timings = ("runtime", "per_second", "_time")
    return {k: v for k, v in json.loads(path.read_text()).items() if not any(t in k for t in timings)}


def _pretrain_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "pretrain_log.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("augmentation", [[], ["--augmentation", "default"]], ids=["plain", "augmented"])
def test_pretraining_resumes_bit_for_bit_wherever_it_is_killed(tmp_path, augmentation):
    reference, run = tmp_path / "reference", tmp_path / "killed"
    settings = [*PRETRAIN, *augmentation]
    uninterrupted = _launch("pretrain", ["--output-dir", str(reference), *settings], stdout=subprocess.DEVNULL)
    victim = _launch("pretrain", ["--output-dir", str(run), *settings], stdout=-3, stderr=-3)
    for kill_step in (2, 4):
        _kill_after(victim, run / f"checkpoint-{kill_step}" / "pretrain_state.json")
        assert not (run / "model.safetensors").exists()
        # What the killed run may have logged after its newest checkpoint (the kill can land a checkpoint later than
        # the marker's): the resumed run logs those steps anew.
        newest = int(latest_complete_checkpoint(run, "pretrain_state.json").name.removeprefix("checkpoint-"))
        with (run / "pretrain_log.jsonl").open("a") as log:
            log.write(json.dumps({"step": newest + 1, "loss": 123.0}) + "\n")
        victim = _launch("pretrain", ["--output-dir", str(run), *settings, "--resume-from-checkpoint"], stdout=-1)
    output, _ = victim.communicate(timeout=600)
    assert victim.returncode == 0 and "resumed from" in output
    assert uninterrupted.wait(timeout=600) == 0
    _assert_same_tensors(load_file(reference / "model.safetensors"), load_file(run / "model.safetensors"), "model")
    # The last checkpoint (step 6) was written after the second resume: its weights and optimizer state match too.
    assert sorted(p.name for p in run.glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-6"]
    last = run / "checkpoint-6"
    _assert_same_tensors(
        load_file(reference / "checkpoint-6" / "model.safetensors"),
        load_file(last / "model.safetensors"),
        "checkpoint-6",
    )
    _assert_same_tensors(
        _optimizer_state(reference / "checkpoint-6" / "optimizer.bin"),
        _optimizer_state(last / "optimizer.bin"),
        "optimizer",
    )
    assert _pretrain_log(run) == _pretrain_log(reference)
    assert [record["step"] for record in _pretrain_log(reference)] == list(range(1, 9))
