"""Turn a benchmark's raw files into a ``datasets.DatasetDict``: the machinery every dataset script shares.

The flow is the same for every benchmark:

1. :func:`find_raw_files` lists the raw files (given the dataset root or its inner folder);
2. :func:`build_dataset_dict` parses them in worker processes, routes each clip to ``train`` or ``test`` with
   the protocol's rule and writes Arrow files, collecting malformed files instead of stopping (unless
   ``strict``);
3. :func:`save_dataset_dict` writes the result and its dataset card next to the output folder and renames it
   into place only when complete, so an interrupted build never leaves a folder that loads as a whole dataset;
4. :func:`push_dataset_dict` publishes one protocol as a configuration of a Hub dataset repository;
5. :func:`load_benchmark` is the one call training code uses to get the ``DatasetDict`` back, from a local
   folder or from the Hub.

:data:`BENCHMARKS` describes each benchmark as data (classes, protocols, licence, citation, how its raw files
are found and read) and :func:`run_cli` is the command-line interface of the scripts in ``dataset_scripts/``.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from datasets.arrow_writer import ArrowWriter
from huggingface_hub import DatasetCard, DatasetCardData

from ..hub import is_local_reference
from .errors import SkeletonFileError, UserInputError
from .features import LABEL_COLUMN, SKELETON_COLUMN, skeleton_features
from .ntu import (
    NTU60_ACTIONS,
    NTU120_ACTIONS,
    NTU_NUM_JOINTS,
    load_ntu_clip,
    ntu_split,
    read_missing_skeleton_list,
)
from .nucla import NUCLA_ACTIONS, NUCLA_NUM_CHANNELS, NUCLA_NUM_JOINTS, load_nucla_clip, nucla_split
from .penn_action import PENN_ACTIONS, PENN_JOINTS, PENN_NUM_CHANNELS, load_penn_clip, penn_split
from .pku_mmd import (
    PKU_MMD_I_ACTIONS,
    PKU_MMD_II_ACTIONS,
    PKU_MMD_NUM_JOINTS,
    PKU_MMD_NUM_PERSONS,
    cut_pku_instances,
    read_pku_labels,
    read_pku_skeleton,
    read_pku_split,
)

SPLITS = ("train", "test")
CARD_FILENAME = "README.md"
# Marks the hidden sibling folders a build works in; a leftover one (killed build) is removed by the next run.
PARTIAL_MARKER = ".partial-"

Clip = tuple[np.ndarray, dict[str, Any]]
ClipLoader = Callable[[Any], "Clip | list[Clip]"]
SplitRule = Callable[[Mapping[str, Any]], "str | None"]


class BuildError(Exception):
    """A build cannot go on because of its input (no raw files, wrong folder, ``strict`` and a bad file, ...).

    The command-line interface prints its message as one line, without a traceback.
    """


# ----------------------------------------------------------------------------------------------------
# Finding raw files


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


# ----------------------------------------------------------------------------------------------------
# Parsing in worker processes


def _load_item(load_fn: ClipLoader, item: Any) -> tuple[str, Any]:
    """Run ``load_fn`` on one item: ``("ok", clips)``, ``("bad", message)`` or ``("crash", traceback)``.

    Errors travel as strings: :class:`SkeletonFileError` cannot be pickled back from a worker, and a crash
    (a bug, not a bad file) keeps its traceback for the main process to show.
    """
    try:
        result = load_fn(item)
    except (SkeletonFileError, OSError) as exc:
        return "bad", str(exc)
    except Exception:
        return "crash", traceback.format_exc()
    return "ok", [result] if isinstance(result, tuple) else list(result)


def _load_chunk(load_fn: ClipLoader, chunk: Sequence[Any]) -> list[tuple[str, Any]]:
    return [_load_item(load_fn, item) for item in chunk]


def _iter_loaded(
    items: Sequence[Any], load_fn: ClipLoader, num_proc: int, chunk_size: int
) -> Iterator[tuple[Any, tuple[str, Any]]]:
    """Yield ``(item, outcome)`` in the order of ``items``, parsing in ``num_proc`` processes.

    At most a few chunks per worker are in flight, so parsed clips never pile up in memory when writing is
    slower than parsing; the order of the output (and so of the dataset) does not depend on ``num_proc``.
    """
    if num_proc <= 1 or len(items) <= chunk_size:
        for item in items:
            yield item, _load_item(load_fn, item)
        return
    chunks = [items[start : start + chunk_size] for start in range(0, len(items), chunk_size)]
    with multiprocessing.get_context().Pool(num_proc) as pool:
        pending: collections.deque = collections.deque()
        next_chunk = 0
        while pending or next_chunk < len(chunks):
            while next_chunk < len(chunks) and len(pending) < 4 * num_proc:
                chunk = chunks[next_chunk]
                pending.append((chunk, pool.apply_async(_load_chunk, (load_fn, chunk))))
                next_chunk += 1
            chunk, result = pending.popleft()
            yield from zip(chunk, result.get(), strict=True)


def _row(clip: np.ndarray, meta: Mapping[str, Any], features: datasets.Features) -> dict[str, Any]:
    missing = [name for name in features if name != SKELETON_COLUMN and name not in meta]
    if missing:
        raise ValueError(f"the loader's metadata has no {', '.join(missing)} (needed by the features)")
    row = {name: meta[name] for name in features if name != SKELETON_COLUMN}
    row[SKELETON_COLUMN] = clip
    return row


def build_dataset_dict(
    items: Sequence[Any],
    load_fn: ClipLoader,
    split_fn: SplitRule,
    features: datasets.Features,
    *,
    num_proc: int = 1,
    strict: bool = False,
    work_dir: str | Path | None = None,
    info: datasets.DatasetInfo | None = None,
    splits: Sequence[str] = SPLITS,
    chunk_size: int = 16,
    progress: bool | None = None,
) -> tuple[datasets.DatasetDict, list[tuple[str, str]]]:
    """Parse ``items`` into a ``DatasetDict`` with one dataset per split.

    Args:
        items: What ``load_fn`` reads, usually raw file paths; the dataset keeps their order.
        load_fn: item -> ``(clip, metadata)`` or a list of them (an untrimmed sequence gives several clips).
            It must be picklable (a module-level function or a ``functools.partial`` of one) when
            ``num_proc > 1``. The metadata must hold every column of ``features`` but the skeleton, ``label``
            0-based.
        split_fn: metadata -> ``"train"``, ``"test"`` or ``None`` (the clip is in no split of the protocol).
        features: The dataset's features (see :func:`~hf_cascadeformer.data.features.skeleton_features`).
        num_proc: Worker processes parsing files; 1 parses in this process.
        strict: Stop with :class:`BuildError` at the first malformed file instead of collecting it.
        work_dir: Folder for the Arrow files the returned datasets map; a fresh temporary folder if ``None``
            (the caller removes it when done).
        info: Description, citation, licence, ... stored with every split.
        splits: The splits to create, every one of them even when it receives no clip.
        chunk_size: Items sent to a worker at a time.
        progress: Show a progress bar; ``None`` shows it only on a terminal.

    Returns:
        The ``DatasetDict`` and the malformed files as ``(file, error message)`` pairs, in item order.
    """
    from tqdm.auto import tqdm

    work_dir = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="hf-cascadeformer-build-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    paths = {split: work_dir / f"{split}.arrow" for split in splits}
    writers = {split: ArrowWriter(features=features, path=str(paths[split])) for split in splits}
    bad_files: list[tuple[str, str]] = []
    try:
        with tqdm(
            total=len(items), unit="file", desc="Parsing", disable=None if progress is None else not progress
        ) as bar:
            for item, (status, payload) in _iter_loaded(items, load_fn, num_proc, chunk_size):
                bar.update()
                if status == "crash":
                    raise RuntimeError(f"reading {item} failed unexpectedly:\n{payload}")
                if status == "bad":
                    if strict:
                        raise BuildError(f"{payload} (stopped at the first malformed file because of strict mode)")
                    bad_files.append((str(item), payload))
                    continue
                for clip, meta in payload:
                    split = split_fn(meta)
                    if split is None:
                        continue
                    if split not in writers:
                        raise ValueError(f"split rule returned {split!r}; expected one of {', '.join(splits)}")
                    writers[split].write(_row(clip, meta, features))
        for writer in writers.values():
            writer.finalize()
    finally:
        for writer in writers.values():
            writer.close()
    dataset_dict = datasets.DatasetDict(
        {split: datasets.Dataset.from_file(str(paths[split]), info=_copy_info(info, features)) for split in splits}
    )
    return dataset_dict, bad_files


def _copy_info(info: datasets.DatasetInfo | None, features: datasets.Features) -> datasets.DatasetInfo:
    copied = info.copy() if info is not None else datasets.DatasetInfo()
    copied.features = features
    return copied


# ----------------------------------------------------------------------------------------------------
# Saving, publishing and loading


def _is_dataset_folder(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file()


_SPLIT_FILE = re.compile(r"(data-\d+-of-\d+\.arrow|dataset_info\.json|state\.json)")


def _foreign_entries(output_dir: Path) -> list[Path]:
    """What in a saved dataset folder a build did not write: anything besides ``dataset_dict.json``, the card and
    the split folders it lists (holding only ``save_to_disk``'s shards and JSON files). A rebuild replaces the
    folder as a whole, so it must not hold anything else (a raw folder placed inside it, notes, ...)."""
    try:
        splits = json.loads((output_dir / "dataset_dict.json").read_text(encoding="utf-8"))["splits"]
        splits = {str(split) for split in splits}
    except (OSError, ValueError, KeyError, TypeError):
        return [output_dir / "dataset_dict.json"]  # unreadable: not something a build is known to have written
    foreign = []
    for entry in sorted(output_dir.iterdir()):
        if entry.name in ("dataset_dict.json", CARD_FILENAME) and entry.is_file():
            continue
        if entry.name in splits and entry.is_dir() and not entry.is_symlink():
            foreign += [
                item for item in sorted(entry.iterdir()) if not (_SPLIT_FILE.fullmatch(item.name) and item.is_file())
            ]
            continue
        foreign.append(entry)
    return foreign


def _remove_stale_partials(output_dir: Path) -> list[Path]:
    """Remove the work folders a killed build left next to ``output_dir``; they are never loadable output."""
    prefix = f".{output_dir.name}{PARTIAL_MARKER}"
    removed = [entry for entry in output_dir.parent.iterdir() if entry.name.startswith(prefix) and entry.is_dir()]
    for stale in removed:
        shutil.rmtree(stale, ignore_errors=True)
    return removed


@contextmanager
def _staging_area(output_dir: Path) -> Iterator[Path]:
    """A hidden work folder beside ``output_dir`` (same file system, so the final rename is atomic)."""
    if output_dir.exists() and not (
        output_dir.is_dir() and (_is_dataset_folder(output_dir) or not any(output_dir.iterdir()))
    ):
        raise BuildError(f"{output_dir} exists and is not a dataset folder; refusing to replace it")
    if _is_dataset_folder(output_dir) and (foreign := _foreign_entries(output_dir)):
        names = ", ".join(str(path.relative_to(output_dir)) for path in foreign[:3])
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        raise BuildError(
            f"{output_dir} holds {names}{more}, which no build wrote; a rebuild replaces the whole folder, so move "
            "them out or choose another output folder"
        )
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(output_dir)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}{PARTIAL_MARKER}", dir=output_dir.parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(dataset_dict: datasets.DatasetDict, staging: Path, output_dir: Path, card: str | None) -> None:
    complete = staging / "dataset"
    # save_to_disk writes no shard for an empty split, and load_from_disk then fails: ask for one empty shard.
    num_shards = {split: 1 for split, dataset in dataset_dict.items() if len(dataset) == 0}
    dataset_dict.save_to_disk(str(complete), num_shards=num_shards or None)
    if card is not None:
        (complete / CARD_FILENAME).write_text(card, encoding="utf-8")
    if output_dir.exists():
        # The previous output moves into the staging folder and goes away with it.
        output_dir.rename(staging / "previous")
    complete.rename(output_dir)


def save_dataset_dict(dataset_dict: datasets.DatasetDict, output_dir: str | Path, card: str | None = None) -> Path:
    """Write ``dataset_dict`` (and the dataset card ``README.md``) to ``output_dir``, atomically.

    Everything is written into a hidden sibling folder first and renamed into place only when complete, so an
    interrupted save leaves no half-written folder under ``output_dir``; an existing dataset folder there is
    replaced. A folder that exists but is not a saved dataset (nor empty) is never replaced.
    """
    output_dir = Path(output_dir).expanduser().absolute()
    with _staging_area(output_dir) as staging:
        _publish(dataset_dict, staging, output_dir, card)
    return output_dir


def build_and_save(
    items: Sequence[Any],
    load_fn: ClipLoader,
    split_fn: SplitRule,
    features: datasets.Features,
    output_dir: str | Path,
    *,
    card: Callable[[datasets.DatasetDict], str] | str | None = None,
    **build_kwargs: Any,
) -> tuple[datasets.DatasetDict, list[tuple[str, str]]]:
    """:func:`build_dataset_dict` then :func:`save_dataset_dict`, with the Arrow work files beside the output.

    ``card`` is the dataset card, or a function of the built ``DatasetDict`` that renders it. Returns the
    saved ``DatasetDict`` (loaded back from ``output_dir``) and the malformed files. Raises
    :class:`BuildError` when no clip at all could be read; nothing is written then.
    """
    output_dir = Path(output_dir).expanduser().absolute()
    with _staging_area(output_dir) as staging:
        dataset_dict, bad_files = build_dataset_dict(
            items, load_fn, split_fn, features, work_dir=staging / "arrow", **build_kwargs
        )
        if sum(len(dataset) for dataset in dataset_dict.values()) == 0:
            raise BuildError(f"no clip could be read from the {len(items)} raw files; nothing was written")
        text = card(dataset_dict) if callable(card) else card
        _publish(dataset_dict, staging, output_dir, text)
        del dataset_dict  # drop the memory maps of the work files before the staging folder goes
    return datasets.load_from_disk(str(output_dir)), bad_files


def split_counts(dataset_dict: Mapping[str, datasets.Dataset]) -> dict[str, int]:
    """Number of clips per split."""
    return {split: len(dataset) for split, dataset in dataset_dict.items()}


def class_counts(dataset: datasets.Dataset) -> np.ndarray:
    """Clips per class (index = label) of one split, read from the label column only."""
    names = dataset.features[LABEL_COLUMN].names
    labels = dataset.data.column(LABEL_COLUMN).to_numpy()
    return np.bincount(labels, minlength=len(names))


def push_dataset_dict(
    dataset_dict: datasets.DatasetDict,
    repo_id: str,
    config_name: str,
    render_card: Callable[[Mapping[str, Mapping[str, int]]], str] | None = None,
    *,
    token: str | None = None,
    private: bool | None = None,
    card_data: DatasetCardData | None = None,
) -> None:
    """Upload one protocol as configuration ``config_name`` of the Hub dataset ``repo_id`` (Parquet shards).

    Empty splits are left out (the Hub cannot hold a split without a file). ``render_card`` receives the split
    counts of every configuration now in the repository and returns the card's Markdown body; the YAML header
    that ``push_to_hub`` maintains (``configs``, ``dataset_info``) is kept, so ``load_dataset(repo_id,
    config_name)`` keeps working for every configuration; ``card_data`` (licence, tags, ...) is merged into it.
    """
    from datasets.info import DatasetInfosDict

    non_empty = datasets.DatasetDict({split: ds for split, ds in dataset_dict.items() if len(ds) > 0})
    if not non_empty:
        raise BuildError("every split is empty; nothing to push")
    non_empty.push_to_hub(repo_id, config_name=config_name, token=token, private=private)
    if render_card is None:
        return
    card = DatasetCard.load(repo_id, repo_type="dataset", token=token)
    counts = {
        name: {split: info.splits[split].num_examples for split in info.splits}
        for name, info in DatasetInfosDict.from_dataset_card_data(card.data).items()
        if info.splits
    }
    counts.setdefault(config_name, split_counts(non_empty))
    for key, value in (card_data.to_dict() if card_data is not None else {}).items():
        card.data[key] = value
    card.text = "\n" + render_card(counts)
    card.push_to_hub(repo_id, repo_type="dataset", token=token, commit_message=f"Update the card ({config_name})")


def load_benchmark(path_or_repo_id: str | Path, config_name: str | None = None, **kwargs: Any) -> datasets.DatasetDict:
    """The ``DatasetDict`` (``train`` / ``test``) of a built benchmark: the call training code uses.

    A local folder written by a dataset script is loaded with ``load_from_disk`` (it holds one protocol; a
    ``config_name`` that disagrees with it is an error); anything else is a Hub repository id, loaded with
    ``datasets.load_dataset(repo_id, config_name)`` (``kwargs`` go there).
    """
    path = Path(path_or_repo_id).expanduser()
    if path.exists():
        if not _is_dataset_folder(path):
            raise UserInputError(
                f"{path} is not a folder written by a dataset script (no dataset_dict.json); build one from raw "
                "files with `cascadeformer prepare BENCHMARK --raw-dir RAW --output-dir OUT`"
            )
        dataset_dict = datasets.load_from_disk(str(path))
        built_config = next(iter(dataset_dict.values())).info.config_name if dataset_dict else None
        if config_name is not None and built_config is not None and config_name != built_config:
            raise ValueError(f"{path} holds configuration {built_config!r}, not {config_name!r}")
        return dataset_dict
    if is_local_reference(path_or_repo_id):  # a path, not an ``org/name`` repository id
        raise UserInputError(f"{path}: no such dataset folder")
    text = str(path_or_repo_id)
    return datasets.load_dataset(text, config_name, **kwargs)


# ----------------------------------------------------------------------------------------------------
# The benchmarks, as data


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
    """One benchmark: its classes, protocols (configurations), provenance and how to plan a build."""

    name: str
    title: str
    class_names: tuple[str, ...]
    configs: Mapping[str, str]  # configuration name -> the protocol in words
    raw_layout: str  # the folder the script expects, in words (for --help)
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


_INT = datasets.Value("int32")
_STRING = datasets.Value("string")


def _nucla_plan(raw_dir: Path, config: str) -> BuildPlan:
    return BuildPlan(
        items=find_raw_files(raw_dir, "*.json", subdirs=("all_sqe",)),
        load_fn=load_nucla_clip,
        split_fn=functools.partial(nucla_split, protocol=config),
        features=skeleton_features(
            NUCLA_ACTIONS,
            1,
            NUCLA_NUM_JOINTS,
            NUCLA_NUM_CHANNELS,
            {"subject": _INT, "take": _INT, "view": _INT},
        ),
    )


def _penn_plan(raw_dir: Path, config: str) -> BuildPlan:
    return BuildPlan(
        items=find_raw_files(raw_dir, "*.mat", subdirs=("labels",)),
        load_fn=load_penn_clip,
        split_fn=functools.partial(penn_split, protocol=config),
        features=skeleton_features(
            PENN_ACTIONS,
            1,
            len(PENN_JOINTS),
            PENN_NUM_CHANNELS,
            {
                "pose": _STRING,
                "image_height": _INT,
                "image_width": _INT,
                "visibility": datasets.Array2D(shape=(None, len(PENN_JOINTS)), dtype="uint8"),
            },
        ),
    )


_NTU_NAME = re.compile(r"S(\d{3})C\d{3}P\d{3}R\d{3}A(\d{3})")
# NTU-60 is the first 17 setups and the first 60 actions of NTU-120.
_NTU60_MAX_SETUP, _NTU60_MAX_ACTION = 17, 60


def load_ntu_row(path: str | Path, max_persons: int = 2) -> Clip:
    """:func:`~hf_cascadeformer.data.ntu.load_ntu_clip` with the 0-based ``label`` a dataset row needs."""
    path = Path(path)
    if not _NTU_NAME.fullmatch(path.name.removesuffix(".skeleton")):
        raise SkeletonFileError(path, "file name is not an NTU sample name like S001C003P008R002A058.skeleton")
    clip, meta = load_ntu_clip(path, max_persons)
    meta["label"] = meta["action"] - 1
    return clip, meta


def _ntu_plan(benchmark: str, raw_dir: Path, config: str, missing_list: str | Path | None = None) -> BuildPlan:
    items = find_raw_files(raw_dir, "*.skeleton", subdirs=("nturgb+d_skeletons", "*/nturgb+d_skeletons"))
    notes = []
    if benchmark == "ntu60":
        kept = []
        for path in items:
            match = _NTU_NAME.fullmatch(path.name.removesuffix(".skeleton"))
            # Unparseable names stay in, so the loader reports them as malformed files.
            if match is None or (int(match[1]) <= _NTU60_MAX_SETUP and int(match[2]) <= _NTU60_MAX_ACTION):
                kept.append(path)
        if len(kept) < len(items):
            notes.append(f"kept {len(kept)} of {len(items)} files: NTU-60 is setups 1-17, actions 1-60")
        items = kept
    if missing_list is not None:
        try:
            missing = read_missing_skeleton_list(missing_list)
        except (OSError, SkeletonFileError) as exc:
            raise BuildError(f"cannot read the missing-skeleton list: {exc}") from exc
        kept = [path for path in items if path.name.removesuffix(".skeleton") not in missing]
        notes.append(f"excluded {len(items) - len(kept)} clips listed in {Path(missing_list).name}")
        items = kept
    names = NTU60_ACTIONS if benchmark == "ntu60" else NTU120_ACTIONS
    return BuildPlan(
        items=items,
        load_fn=load_ntu_row,
        split_fn=functools.partial(ntu_split, benchmark=benchmark, protocol=config),
        features=skeleton_features(
            names,
            2,
            NTU_NUM_JOINTS,
            3,
            {key: _INT for key in ("setup", "camera", "performer", "replication")},
        ),
        notes=notes,
    )


_NTU_CITATION_60 = """@inproceedings{shahroudy2016ntu,
  title={NTU RGB+D: A Large Scale Dataset for 3D Human Activity Analysis},
  author={Shahroudy, Amir and Liu, Jun and Ng, Tian-Tsong and Wang, Gang},
  booktitle={CVPR},
  year={2016}
}"""
_NTU_CITATION_120 = """@article{liu2020ntu,
  title={NTU RGB+D 120: A Large-Scale Benchmark for 3D Human Activity Understanding},
  author={Liu, Jun and Shahroudy, Amir and Perez, Mauricio and Wang, Gang and Duan, Ling-Yu and Kot, Alex C.},
  journal={IEEE Transactions on Pattern Analysis and Machine Intelligence},
  year={2020}
}"""
_NTU_LICENSE = (
    "NTU RGB+D release agreement of the ROSE Lab (Nanyang Technological University): research use only, "
    "no redistribution. Request the data from the ROSE Lab; publish built datasets only in private "
    "repositories."
)
_NTU_COLUMNS = {
    "setup": "setup id (1-based)",
    "camera": "camera id 1-3",
    "performer": "performer (subject) id",
    "replication": "replication 1-2",
}
_NTU_LAYOUT = (
    "the folder of .skeleton files (nturgb+d_skeletons/) or its parent; an NTU-120 folder also works for NTU-60"
)


# PKU-MMD: one raw item is a sequence (skeleton file + label file) that gives one clip per label row.
_PKU_CONFIGS = {
    "phase1-xsub": "phase I (51 actions), cross-subject split of cross-subject.txt",
    "phase1-xview": "phase I (51 actions), cross-view split of cross-view.txt",
    "phase2-xsub": "phase II, cross-subject split of cross_subject_v2.txt",
    "phase2-xview": "phase II, cross-view split of cross_view_v2.txt",
}
_PKU_SEQUENCE_FILE = re.compile(r"^(?:\d{4}|A\d{2}N\d{2})-[LMR]\.txt$")


def load_pku_sequence(item: tuple[str, str, str]) -> list[Clip]:
    """Read one PKU-MMD sequence ``(skeleton file, label file, sequence id)`` and cut its action instances.

    Label rows with start after end (a few official files have them) are swapped rather than failing the whole
    sequence; instances in which no joint is tracked (all zeros) are dropped. Every clip gets a ``view``
    (``""`` when the sequence id does not say).
    """
    skeleton_path, label_path, sequence_id = item
    skeleton = read_pku_skeleton(skeleton_path)
    labels = read_pku_labels(label_path, allow_reversed=True)
    clips = []
    for clip, meta in cut_pku_instances(skeleton, labels, sequence_id):
        if meta["num_persons"] == 0:
            continue
        meta.setdefault("view", "")
        clips.append((clip, meta))
    return clips


def _pku_split(split_of: Mapping[str, str], meta: Mapping[str, Any]) -> str | None:
    return split_of.get(meta["sequence_id"])


def _pku_folders(raw_dir: Path) -> tuple[Path, Path]:
    """The skeleton and label folders under ``raw_dir``.

    The folders of sequence files (``0002-L.txt``, ``A01N01-L.txt``), told apart by "label" in the path.
    """
    folders = collections.Counter(
        path.parent for path in raw_dir.rglob("*-[LMR].txt") if _PKU_SEQUENCE_FILE.match(path.name)
    )
    labels = [folder for folder in folders if "label" in str(folder.relative_to(raw_dir)).lower()]
    skeletons = [folder for folder in folders if folder not in labels]
    for kind, found in (("skeleton", skeletons), ("label", labels)):
        if len(found) != 1:
            listed = ", ".join(str(folder) for folder in found) or "none"
            raise BuildError(
                f"expected one folder of PKU-MMD {kind} files (0002-L.txt) under {raw_dir}; found {listed}"
            )
    return skeletons[0], labels[0]


def _pku_split_file(raw_dir: Path, config: str) -> Path:
    phase, protocol = config.split("-")
    stem = r"cross[-_]subject" if protocol == "xsub" else r"cross[-_]view"
    suffix = r"[-_]v2" if phase == "phase2" else ""
    pattern = re.compile(rf"^{stem}{suffix}\.txt$", re.IGNORECASE)
    found = sorted(path for path in raw_dir.rglob("*.txt") if pattern.match(path.name))
    if len(found) != 1:
        listed = ", ".join(str(path) for path in found) or "none"
        raise BuildError(f"expected one split file for {config} under {raw_dir} ({pattern.pattern}), found: {listed}")
    return found[0]


def _pku_plan(raw_dir: Path, config: str) -> BuildPlan:
    raw_dir = Path(raw_dir).expanduser()
    if not raw_dir.is_dir():
        raise BuildError(f"raw directory {raw_dir} does not exist or is not a folder")
    split_file = _pku_split_file(raw_dir, config)
    try:
        split_lists = read_pku_split(split_file)
    except SkeletonFileError as exc:
        raise BuildError(str(exc)) from exc
    split_of = {sequence: split for split, sequences in split_lists.items() for sequence in sequences}
    skeleton_dir, label_dir = _pku_folders(raw_dir)
    items, absent = [], []
    for sequence in sorted(split_of):
        skeleton_path, label_path = skeleton_dir / f"{sequence}.txt", label_dir / f"{sequence}.txt"
        if skeleton_path.is_file() and label_path.is_file():
            items.append((str(skeleton_path), str(label_path), sequence))
        else:
            absent.append(sequence)
    if not items:
        raise BuildError(f"none of the {len(split_of)} sequences of {split_file.name} is in {skeleton_dir}")
    notes = [f"split file {split_file.name}; skeletons in {skeleton_dir.name}/, labels in {label_dir.name}/"]
    if absent:
        notes.append(f"{len(absent)} sequences of the split file have no skeleton or label file, e.g. {absent[0]}")
    names = PKU_MMD_I_ACTIONS if config.startswith("phase1") else PKU_MMD_II_ACTIONS
    return BuildPlan(
        items=items,
        load_fn=load_pku_sequence,
        split_fn=functools.partial(_pku_split, split_of),
        features=skeleton_features(
            names,
            PKU_MMD_NUM_PERSONS,
            PKU_MMD_NUM_JOINTS,
            3,
            {
                "sequence_id": _STRING,
                "view": _STRING,
                "start": _INT,
                "end": _INT,
                "confidence": datasets.Value("float32"),
            },
        ),
        notes=notes,
    )


_PKU_CITATION = """@article{liu2017pku,
  title={PKU-MMD: A Large Scale Benchmark for Continuous Multi-Modal Human Action Understanding},
  author={Liu, Chunhui and Hu, Yueyu and Li, Yanghao and Song, Sijie and Liu, Jiaying},
  journal={arXiv preprint arXiv:1703.07475},
  year={2017}
}"""


BENCHMARKS: dict[str, Benchmark] = {
    "nucla": Benchmark(
        name="nucla",
        title="Northwestern-UCLA Multiview Action3D (N-UCLA)",
        class_names=NUCLA_ACTIONS,
        configs={"xview": "cross-view: train on views 1 and 2, test on view 3"},
        raw_layout="the all_sqe/ folder of JSON clips (CTR-GCN form) or its parent",
        homepage="https://wangjiangb.github.io/my_data.html",
        license="cc-by-nc-4.0",
        license_text="CC BY-NC 4.0 (non-commercial use, attribution)",
        citation="""@inproceedings{wang2014cross,
  title={Cross-view Action Modeling, Learning and Recognition},
  author={Wang, Jiang and Nie, Xiaohan and Xia, Yin and Wu, Ying and Zhu, Song-Chun},
  booktitle={CVPR},
  year={2014}
}""",
        plan=_nucla_plan,
        columns={"subject": "subject id 1-10", "take": "take (repetition) id", "view": "camera view 1-3"},
        test_split_note="the raw folder holds no view-3 clip (only training views 1 and 2 were supplied?)",
    ),
    "penn_action": Benchmark(
        name="penn_action",
        title="Penn Action",
        class_names=PENN_ACTIONS,
        configs={"official": "the official split stored in each file (train == 1 / -1)"},
        raw_layout="the Penn_Action folder with labels/ or the labels/ folder of .mat files itself",
        homepage="http://dreamdragon.github.io/PennAction/",
        license="other",
        license_text="Penn Action terms: research use only",
        citation="""@inproceedings{zhang2013actemes,
  title={From Actemes to Action: A Strongly-supervised Representation for Detailed Action Understanding},
  author={Zhang, Weiyu and Zhu, Menglong and Derpanis, Konstantinos G.},
  booktitle={ICCV},
  year={2013}
}""",
        plan=_penn_plan,
        columns={
            "pose": "camera viewpoint: front, back, left or right",
            "image_height": "video frame height in pixels",
            "image_width": "video frame width in pixels",
            "visibility": "(frames, 13) uint8, 1 where the joint is visible (invisible ones keep their x, y)",
        },
        test_split_note="the raw folder holds no file with train == -1 (only the training portion supplied?)",
    ),
    "ntu60": Benchmark(
        name="ntu60",
        title="NTU RGB+D 60",
        class_names=NTU60_ACTIONS,
        configs={
            "xsub": "cross-subject: 20 training performers (40,091 / 16,487 clips)",
            "xview": "cross-view: train on cameras 2 and 3, test on camera 1 (37,646 / 18,932 clips)",
        },
        raw_layout=_NTU_LAYOUT,
        homepage="https://rose1.ntu.edu.sg/dataset/actionRecognition/",
        license="other",
        license_text=_NTU_LICENSE,
        citation=_NTU_CITATION_60,
        plan=functools.partial(_ntu_plan, "ntu60"),
        columns=_NTU_COLUMNS,
    ),
    "ntu120": Benchmark(
        name="ntu120",
        title="NTU RGB+D 120",
        class_names=NTU120_ACTIONS,
        configs={
            "xsub": "cross-subject: 53 training performers (63,026 / 50,919 clips)",
            "xset": "cross-setup: train on even setup ids (54,468 / 59,477 clips)",
        },
        raw_layout=_NTU_LAYOUT,
        homepage="https://rose1.ntu.edu.sg/dataset/actionRecognition/",
        license="other",
        license_text=_NTU_LICENSE,
        citation=_NTU_CITATION_120 + "\n" + _NTU_CITATION_60,
        plan=functools.partial(_ntu_plan, "ntu120"),
        columns=_NTU_COLUMNS,
    ),
    "pku_mmd": Benchmark(
        name="pku_mmd",
        title="PKU-MMD",
        class_names=PKU_MMD_I_ACTIONS,
        configs=_PKU_CONFIGS,
        raw_layout="the PKU-MMD folder holding the skeleton folder, the label folder and the split files",
        homepage="https://www.icst.pku.edu.cn/struct/Projects/PKUMMD.html",
        license="other",
        license_text="PKU-MMD terms of use: academic research only",
        citation=_PKU_CITATION,
        plan=_pku_plan,
        columns={
            "sequence_id": "untrimmed sequence the clip was cut from (e.g. 0002-L)",
            "view": "camera view L, M or R",
            "start": "first frame in the sequence (1-based, as in the label file)",
            "end": "last frame in the sequence (inclusive)",
            "confidence": "annotators' confidence of the instance",
        },
    ),
}


# ----------------------------------------------------------------------------------------------------
# The dataset card


def render_card(
    benchmark: Benchmark,
    counts: Mapping[str, Mapping[str, int]],
    features: datasets.Features,
    notes: Iterable[str] = (),
) -> str:
    """The Markdown body of the dataset card: source, licence, protocols, split counts, features, citation."""
    lines = [
        f"# {benchmark.title}: skeleton clips",
        "",
        f"Skeleton sequences of [{benchmark.title}]({benchmark.homepage}) converted from the raw files by "
        f"`dataset_scripts/{benchmark.name}.py` of hf-cascadeformer; "
        f"{len(benchmark.class_names)} action classes.",
        "",
        f"**Licence:** {benchmark.license_text.rstrip('.')}. Anyone using this dataset must accept that licence; it "
        "decides whether the dataset may be shared.",
        "",
        "## Load",
        "",
        "```python",
        "from hf_cascadeformer.data.builders import load_benchmark",
        "",
        f'dataset = load_benchmark("path/or/repo-id", "{next(iter(counts), benchmark.default_config)}")',
        "```",
        "",
        "## Configurations (protocols) and splits",
        "",
        "| configuration | protocol | train | test |",
        "| --- | --- | ---: | ---: |",
    ]
    for config, split_sizes in counts.items():
        protocol = benchmark.configs.get(config, "")
        lines.append(f"| {config} | {protocol} | {split_sizes.get('train', 0):,} | {split_sizes.get('test', 0):,} |")
    lines += ["", "## Features", "", "| column | type | meaning |", "| --- | --- | --- |"]
    meanings = {
        SKELETON_COLUMN: "clip as (frames, persons, joints, channels) float32",
        LABEL_COLUMN: "action class (0-based)",
        "sample_id": "raw sample name",
        "num_frames": "frames in the clip",
        "num_persons": "persons present",
        **benchmark.columns,
    }
    for name, feature in features.items():
        kind = type(feature).__name__
        if isinstance(feature, datasets.ClassLabel):
            detail = f"{feature.num_classes} classes"
        elif isinstance(feature, datasets.Value):
            detail = feature.dtype
        else:
            detail = f"{getattr(feature, 'shape', '')} {getattr(feature, 'dtype', '')}"
        lines.append(f"| `{name}` | {kind} {detail} | {meanings.get(name, '')} |")
    notes = list(notes)
    if notes:
        lines += ["", "## Notes", ""] + [f"* {note}" for note in notes]
    lines += ["", "## Citation", "", "```bibtex", benchmark.citation, "```", ""]
    return "\n".join(lines)


def dataset_card_data(benchmark: Benchmark) -> DatasetCardData:
    """The dataset card's metadata (licence, name, task, tags) as ``huggingface_hub``'s ``DatasetCardData``."""
    return DatasetCardData(
        license=benchmark.license,
        pretty_name=benchmark.title,
        task_categories=["video-classification"],
        tags=["skeleton", "action-recognition", "hf-cascadeformer"],
    )


def card_with_metadata(benchmark: Benchmark, body: str) -> str:
    """A complete ``README.md``: the Hub's YAML header (:func:`dataset_card_data`) and the body."""
    return str(DatasetCard(f"---\n{dataset_card_data(benchmark).to_yaml()}\n---\n{body}"))


# ----------------------------------------------------------------------------------------------------
# Command-line interface


def _available_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):  # honours CPU limits set on the process (containers, taskset)
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def make_parser(benchmark: Benchmark) -> argparse.ArgumentParser:
    """The argument parser every dataset script shares (``--missing-list`` only for NTU)."""
    parser = argparse.ArgumentParser(
        prog=f"{benchmark.name}.py",
        description=f"Build the {benchmark.title} skeleton dataset (train/test DatasetDict) from raw files.",
        epilog=f"Load the result with hf_cascadeformer.data.builders.load_benchmark(OUT). Licence: "
        f"{benchmark.license_text.rstrip('.')}.",
    )
    parser.add_argument("--raw-dir", required=True, type=Path, help=f"raw data: {benchmark.raw_layout}")
    parser.add_argument("--output-dir", required=True, type=Path, help="where the dataset is saved (replaced)")
    parser.add_argument(
        "--config",
        choices=list(benchmark.configs),
        default=benchmark.default_config,
        help="evaluation protocol: " + "; ".join(f"{name} = {text}" for name, text in benchmark.configs.items()),
    )
    parser.add_argument("--push-to-hub", metavar="ORG/NAME", help="also upload as this Hub dataset (config = --config)")
    parser.add_argument(
        "--num-proc", type=int, default=_available_cpus(), help="parsing processes (default: the usable CPUs)"
    )
    parser.add_argument("--strict", action="store_true", help="stop at the first malformed raw file")
    if benchmark.name.startswith("ntu"):
        parser.add_argument(
            "--missing-list",
            type=Path,
            help="the official *_samples_with_missing_skeletons.txt: its clips are skipped without reading",
        )
    return parser


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


def _class_summary(dataset: datasets.Dataset) -> str:
    counts = class_counts(dataset)
    names = dataset.features[LABEL_COLUMN].names
    present = np.flatnonzero(counts)
    summary = (
        f"{_plural(len(present), 'class', 'classes')}, {counts[present].min()}-{counts[present].max()} clips per class"
    )
    absent = [names[index] for index in np.flatnonzero(counts == 0)]
    if absent:
        shown = ", ".join(absent[:5]) + (", ..." if len(absent) > 5 else "")
        summary += f"; {_plural(len(absent), 'class', 'classes')} without clips ({shown})"
    return summary


def run_cli(benchmark_name: str, argv: Sequence[str] | None = None) -> int:
    """Run a dataset script: parse ``argv``, build, save (and push), print counts. Returns the exit code."""
    benchmark = BENCHMARKS[benchmark_name]
    args = make_parser(benchmark).parse_args(argv)
    if not sys.stderr.isatty():
        datasets.disable_progress_bars()  # no bar fragments in logs; ours is off there too
    try:
        return _run(benchmark, args)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted; {args.output_dir} was left as it was", file=sys.stderr)
        return 130


def _run(benchmark: Benchmark, args: argparse.Namespace) -> int:
    if args.num_proc < 1:
        raise BuildError("--num-proc must be at least 1")
    options = {"missing_list": args.missing_list} if getattr(args, "missing_list", None) is not None else {}
    plan = benchmark.plan(args.raw_dir, args.config, **options)
    for note in plan.notes:
        print(f"note: {note}")
    info = datasets.DatasetInfo(
        description=f"{benchmark.title} skeleton clips, protocol {args.config}",
        citation=benchmark.citation,
        homepage=benchmark.homepage,
        license=benchmark.license_text,
        config_name=args.config,
    )

    def card(dataset_dict: datasets.DatasetDict) -> str:
        body = render_card(benchmark, {args.config: split_counts(dataset_dict)}, plan.features, plan.notes)
        return card_with_metadata(benchmark, body)

    start = time.perf_counter()
    dataset_dict, bad_files = build_and_save(
        plan.items,
        plan.load_fn,
        plan.split_fn,
        plan.features,
        args.output_dir,
        card=card,
        num_proc=args.num_proc,
        strict=args.strict,
        info=info,
    )
    seconds = time.perf_counter() - start

    print(f"{benchmark.title} ({args.config}): {len(plan.items)} raw files read in {seconds:.1f} s")
    for split, dataset in dataset_dict.items():
        if len(dataset):
            print(f"  {split}: {_plural(len(dataset), 'clip', 'clips')}, {_class_summary(dataset)}")
        else:
            reason = f": {benchmark.test_split_note}" if benchmark.test_split_note else ""
            print(f"  {split}: 0 clips (empty split{reason})")
    for _path, message in bad_files:
        print(f"bad file: {message}", file=sys.stderr)
    if bad_files:
        count = _plural(len(bad_files), "malformed raw file", "malformed raw files")
        print(f"{count} skipped (--strict stops at the first)", file=sys.stderr)
    print(f"saved to {Path(args.output_dir).expanduser().absolute()}")

    if args.push_to_hub:

        def hub_card(counts: Mapping[str, Mapping[str, int]]) -> str:
            return render_card(benchmark, counts, plan.features, plan.notes)

        try:
            push_dataset_dict(
                dataset_dict, args.push_to_hub, args.config, hub_card, card_data=dataset_card_data(benchmark)
            )
        except Exception as exc:  # network, login, permissions: the local build is complete all the same
            raise BuildError(f"saved locally, but pushing to {args.push_to_hub} failed: {exc}") from exc
        print(f"pushed to the Hub as {args.push_to_hub} (configuration {args.config})")
    return 0
