"""Two data-parallel processes on CPU (gloo), launched exactly as users do with `accelerate launch`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT, load_example

ACCELERATE = [sys.executable, "-m", "accelerate.commands.launch"]
# `--cpu --num_processes 2` would silently run one process on a CPU-only machine; --multi_gpu runs two gloo ranks.
TWO_PROCESSES = ["--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no"]
TWO_PROCESSES += ["--dynamo_backend", "no", "--main_process_port", "0"]


def launch(script: str, args: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT / "src")}
    command = [*ACCELERATE, *TWO_PROCESSES, str(REPO_ROOT / "examples" / script), *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


@pytest.mark.slow
def test_trainer_fine_tuning_runs_on_two_processes(tmp_path):
    output = tmp_path / "run"
    args = ["--output-dir", str(output), "--max-steps", "4", "--eval-steps", "2", "--batch-size", "8"]
    launch("finetune.py", [*args, "--num-frames", "24", "--no-augmentation"])
    results = json.loads((output / "eval_results.json").read_text())
    assert results["world_size"] == 2
    state = json.loads((output / "checkpoint-4" / "trainer_state.json").read_text())
    # 540 training clips, 8 per process and step on 2 processes: 34 steps per epoch (68 on one process).
    assert state["epoch"] == pytest.approx(4 / 34)

    # Predictions gathered from both ranks cover the whole test split once: the single-process evaluation of the
    # saved model gives the same metrics.
    evaluated = load_example("evaluate").main(["--model", str(output), "--no-plot"])
    assert evaluated["num_clips"] == 192
    assert evaluated["accuracy"] == pytest.approx(results["test_accuracy"])


@pytest.mark.slow
def test_pretraining_runs_on_two_processes_with_identical_weights(tmp_path):
    output = tmp_path / "pretrain"
    launch("pretrain.py", ["--output-dir", str(output), "--max-steps", "3", "--batch-size", "8", "--log-every", "1"])
    summary = json.loads((output / "pretrain_summary.json").read_text())
    assert summary["processes"] == 2 and summary["clips_per_step"] == 16
    first, second = summary["parameter_checksums"]
    assert first == second  # both ranks ran every step and ended with the same parameters
    log = [json.loads(line) for line in (output / "pretrain_log.jsonl").read_text().splitlines()]
    assert [record["step"] for record in log] == [1, 2, 3]
    assert all("reconstruction" in record for record in log)
    assert (output / "model.safetensors").is_file() and (output / "preprocessor_config.json").is_file()
