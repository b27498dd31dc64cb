"""Shared fixtures: where the real benchmark files live, and how their absence is handled."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from hub_server import hub_server_fixture  # noqa: F401  (registers the hub_server fixture)

from hf_cascadeformer import CascadeFormerConfig

REPO_ROOT = Path(__file__).resolve().parents[1]

# Under pytest-xdist (one worker per core, pyproject's addopts) each worker and the processes its tests start compute
# on one thread: workers with a thread per core each would oversubscribe the cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


# The tests' small model: 5 joints x 3 channels, up to 2 persons and 24 frames, width 16, one layer of 2 heads.
TINY_CONFIG: dict[str, Any] = {
    "num_joints": 5,
    "num_channels": 3,
    "num_persons": 2,
    "max_frames": 24,
    "hidden_size": 16,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "num_labels": 3,
}


def tiny_config(**overrides: Any) -> CascadeFormerConfig:
    """A config small enough for unit tests (`TINY_CONFIG`), with `overrides` of any field (class names given as
    `id2label` replace the class count)."""
    settings = {**TINY_CONFIG, **overrides}
    if "id2label" in overrides and "num_labels" not in overrides:
        del settings["num_labels"]
    return CascadeFormerConfig(**settings)


def shared_data_root() -> Path:
    """The real raw benchmark files (never committed): ``$HF_CASCADEFORMER_DATA``, else ``../shared/data``."""
    return Path(os.environ.get("HF_CASCADEFORMER_DATA", REPO_ROOT.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder; skips outside CI when absent, fails in CI (``CI=true``) where it must be present."""
    root = shared_data_root()
    if not root.is_dir():
        message = f"real benchmark files not found at {root} (set HF_CASCADEFORMER_DATA)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root


# The start of a script run with `python -c` in a fresh interpreter where importing hf_cascadeformer fails, as in an
# environment without the package: what loading a checkpoint's remote code must work in.
WITHOUT_PACKAGE = """
import importlib.abc, json, sys

class BlockPackage(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "hf_cascadeformer" or name.startswith("hf_cascadeformer."):
            raise ImportError("hf_cascadeformer is deliberately not importable here")
        return None

sys.meta_path.insert(0, BlockPackage())
"""


def run_without_package(script: str, *args: str | Path, modules_cache: Path) -> dict[str, Any]:
    """Run `WITHOUT_PACKAGE + script` offline in a fresh interpreter (remote code cached in `modules_cache`) and
    return the JSON object its last output line prints."""
    env = {**os.environ, "HF_MODULES_CACHE": str(modules_cache), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_PACKAGE + script, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def load_example(name: str) -> ModuleType:
    """Import `examples/<name>.py` as a module (by path: `evaluate` would otherwise be the HF library)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", REPO_ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deal the tests round-robin into one run of tests per xdist worker, slow end-to-end tests first, so that
    pyproject's `--dist worksteal` (which hands each worker an equal consecutive share) starts every worker on its
    share of the long tests and the short ones fill in after them, instead of a few long tests ending the run on one
    core while the other idles."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    slow_first = sorted(items, key=lambda item: item.get_closest_marker("slow") is None)
    items[:] = [item for share in range(workers) for item in slow_first[share::workers]]
