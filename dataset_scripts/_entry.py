"""The entry point every script of this folder shares: run the package's dataset command line
(``hf_cascadeformer/data/dataset_cli.py``) for one benchmark, from the installed package or, in a source checkout
that is not installed, from its ``src/``."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path


def run(benchmark: str, argv: Sequence[str] | None = None) -> int:
    """Build ``benchmark`` as ``argv`` (default: the command line) says; returns the exit code."""
    if importlib.util.find_spec("hf_cascadeformer") is None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from hf_cascadeformer.data.dataset_cli import run_cli

    return run_cli(benchmark, argv)
