"""Every shipped Accelerate config meant for CPUs starts the number of processes it claims."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from conftest import REPO_ROOT

CONFIGS = REPO_ROOT / "examples" / "accelerate"
CPU_CONFIGS = sorted(path.name for path in CONFIGS.glob("cpu*.yaml"))


def test_the_cpu_configs_are_found():
    assert CPU_CONFIGS == ["cpu.yaml", "cpu_2proc.yaml"]


@pytest.mark.slow
@pytest.mark.parametrize("name", CPU_CONFIGS)
def test_cpu_config_starts_the_processes_it_claims(tmp_path, name):
    claimed = yaml.safe_load((CONFIGS / name).read_text())["num_processes"]
    output = tmp_path / "run"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / name)]
    command += [str(REPO_ROOT / "examples" / "pretrain.py"), "--output_dir", str(output), "--max_steps", "2"]
    command += ["--batch_size", "4", "--num_frames", "8", "--log_every", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT / "src")}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads((output / "pretrain_summary.json").read_text())
    # The world size the run saw, and one weight checksum gathered from every rank.
    assert summary["processes"] == claimed and len(summary["parameter_checksums"]) == claimed
    assert summary["clips_per_step"] == 4 * claimed
    assert len(set(summary["parameter_checksums"])) == 1  # data-parallel ranks end with the same weights
