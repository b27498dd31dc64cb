"""Shared fixtures: where the real benchmark files live, and how their absence is handled."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hub_server import hub_server_fixture  # noqa: F401  (registers the hub_server fixture)

REPO_ROOT = Path(__file__).resolve().parents[1]


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


def load_example(name: str) -> ModuleType:
    """Import `examples/<name>.py` as a module (by path: `evaluate` would otherwise be the HF library)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", REPO_ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module
