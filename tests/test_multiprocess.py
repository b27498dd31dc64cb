"""Two data-parallel processes on CPU (gloo), launched exactly as users do with `accelerate launch`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import REPO_ROOT
from safetensors.torch import load_file

from hf_cascadeformer.training import evaluation

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
    evaluated = evaluation.main(["--model", str(output), "--no-plot"])
    assert evaluated["num_clips"] == 192
    assert evaluated["accuracy"] == pytest.approx(results["test_accuracy"])


@pytest.mark.slow
def test_pretraining_on_two_processes_matches_one_process_with_the_same_global_batch(tmp_path):
    # Dropout off: it is the one source of randomness that depends on the process (masks come from per-clip noise).
    config = tmp_path / "no_dropout.json"
    config.write_text(json.dumps({"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}))
    common = ["--max-steps", "3", "--log-every", "1", "--num-frames", "16", "--config", str(config)]
    two, one = tmp_path / "two", tmp_path / "one"
    launch("pretrain.py", [*common, "--output-dir", str(two), "--batch-size", "8"])
    summary = json.loads((two / "pretrain_summary.json").read_text())
    assert summary["processes"] == 2 and summary["clips_per_step"] == 16
    first, second = summary["parameter_checksums"]
    assert first == second  # both ranks ran every step and ended with the same parameters
    log = [json.loads(line) for line in (two / "pretrain_log.jsonl").read_text().splitlines()]
    assert [record["step"] for record in log] == [1, 2, 3]
    assert all("reconstruction" in record for record in log)
    assert (two / "model.safetensors").is_file() and (two / "preprocessor_config.json").is_file()

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT / "src")}
    command = [sys.executable, str(REPO_ROOT / "examples" / "pretrain.py"), *common, "--output-dir", str(one)]
    result = subprocess.run([*command, "--batch-size", "16"], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-5000:]
    # Embedded clips have one or two persons, so the ranks mask different numbers of tokens: the script weights
    # each rank's loss by its share, and the trajectory is the single-process one up to float summation order.
    single, parallel = load_file(one / "model.safetensors"), load_file(two / "model.safetensors")
    assert single.keys() == parallel.keys()
    for name in single:
        torch.testing.assert_close(parallel[name], single[name], rtol=0, atol=5e-6, msg=name)
    single_log = [json.loads(line) for line in (one / "pretrain_log.jsonl").read_text().splitlines()]
    for one_process, two_processes in zip(single_log, log, strict=True):
        assert two_processes["lr"] == pytest.approx(one_process["lr"])  # the schedule counts global steps
        assert two_processes["loss"] == pytest.approx(one_process["loss"], rel=1e-5)
    # Adam moves every weight by about the learning rate (1e-3) per step: 2e-6 is far below one step's change.
