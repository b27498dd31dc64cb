"""What a benchmark is, as data: a :class:`Benchmark` (skeleton layout, classes, protocols, provenance, how to plan
a build) and the :class:`BuildPlan` its ``plan`` returns for a raw folder. Each ``data/<benchmark>.py`` exports its
entries, ``data/benchmarks.py`` lists them and ``data/builders.py`` runs the plans.

Light on purpose (no ``datasets`` import): the benchmark modules are also the raw-format parsers, which reading one
clip (``cascadeformer predict``) should not make slow to import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .skeletons import SkeletonLayout

if TYPE_CHECKING:
    import datasets

Clip = tuple[np.ndarray, dict[str, Any]]
ClipLoader = Callable[[Any], "Clip | list[Clip]"]
SplitRule = Callable[[Mapping[str, Any]], "str | None"]


class BuildError(Exception):
    """A build cannot go on because of its input (no raw files, wrong folder, ``strict`` and a bad file, ...).

    The command-line interface prints its message as one line, without a traceback.
    """


def find_raw_files(raw_dir: str | Path, pattern: str, subdirs: Sequence[str] = ()) -> list[Path]:
    """The files matching ``pattern`` in ``raw_dir``, or else in its sub-folders ``subdirs``, sorted by name.

    Accepts both a dataset's root and its inner folder: with ``subdirs=("labels",)`` either ``penn_action/``
    or ``penn_action/labels/`` works. ``subdirs`` may be glob patterns (``"*/nturgb+d_skeletons"``); files of
    all matching sub-folders are merged, and a file name found twice is an error (the clip would enter twice).
    Raises :class:`BuildError` when the folder is missing or holds no matching file.
    """
    raw_dir = Path(raw_dir).expanduser()
    if not raw_dir.is_dir():
        raise BuildError(f"raw directory {raw_dir} does not exist or is not a folder")
    files = [path for path in raw_dir.glob(pattern) if path.is_file()]
    if not files:
        for subdir in subdirs:
            for folder in sorted(raw_dir.glob(subdir)):
                files.extend(path for path in folder.glob(pattern) if path.is_file())
    if not files:
        where = f"{raw_dir}" + (f" or its sub-folders {', '.join(subdirs)}" if subdirs else "")
        raise BuildError(f"no {pattern} files found in {where}")
    files.sort(key=lambda path: (path.name, str(path)))
    duplicates = [b for a, b in zip(files, files[1:], strict=False) if a.name == b.name]
    if duplicates:
        raise BuildError(f"{duplicates[0].name} occurs more than once under {raw_dir} (e.g. {duplicates[0]})")
    return files


@dataclass(frozen=True)
class BuildPlan:
    """What a build reads and how: the raw items, the loader, the split rule and the features."""

    items: list[Any]
    load_fn: ClipLoader
    split_fn: SplitRule
    features: datasets.Features
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: its skeleton layout, classes, protocols (configurations), provenance and how to plan a build."""

    name: str
    title: str
    layout: SkeletonLayout  # joints, bones, flip pairs, root; a build records its name in the features
    class_names: tuple[str, ...]
    configs: Mapping[str, str]  # configuration name -> the protocol in words
    raw_folder: str  # the folder the script expects, in words (for --help)
    homepage: str
    license: str  # Hub licence id
    license_text: str
    citation: str
    plan: Callable[..., BuildPlan]  # (raw_dir, config, **options) -> BuildPlan
    columns: Mapping[str, str] = field(default_factory=dict)  # metadata column -> meaning, for the card
    test_split_note: str = ""  # why a split can be empty, printed when it is

    @property
    def default_config(self) -> str:
        return next(iter(self.configs))
