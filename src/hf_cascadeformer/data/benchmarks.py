"""Every benchmark the package builds, by name: the registry behind ``dataset_scripts/`` and ``cascadeformer prepare``.

Each entry is the :class:`~hf_cascadeformer.data.builders.Benchmark` its own module exports (skeleton layout, classes,
protocols, provenance, how its raw files are read); adding a benchmark means writing ``data/<benchmark>.py`` with its
parser and entry, and listing the entry here.
"""

from __future__ import annotations

from .benchmark import Benchmark
from .ntu import NTU60_BENCHMARK, NTU120_BENCHMARK
from .nucla import NUCLA_BENCHMARK
from .penn_action import PENN_ACTION_BENCHMARK
from .pku_mmd import PKU_MMD_BENCHMARK

BENCHMARKS: dict[str, Benchmark] = {
    benchmark.name: benchmark
    for benchmark in (NUCLA_BENCHMARK, PENN_ACTION_BENCHMARK, NTU60_BENCHMARK, NTU120_BENCHMARK, PKU_MMD_BENCHMARK)
}


def get_benchmark(name: str) -> Benchmark:
    """The benchmark registered as ``name``; a ``KeyError`` with a one-line message naming the known ones."""
    if name not in BENCHMARKS:
        raise KeyError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]
