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

A :class:`~hf_cascadeformer.data.benchmark.Benchmark` describes one benchmark as data (layout, classes,
protocols, licence, citation, how its raw files are found and read); each ``data/<benchmark>.py`` exports its own,
and ``data/benchmarks.py`` lists them in :data:`~hf_cascadeformer.data.benchmarks.BENCHMARKS`. The dataset card is
rendered by ``data/cards.py`` and the command line of the scripts in ``dataset_scripts/`` is
``data/dataset_cli.py``. Names that moved stay importable from here (``Benchmark``, ``BuildPlan``, ``BuildError``,
``find_raw_files``, ``BENCHMARKS``, ``run_cli``, ``render_card``, ...).
"""

from __future__ import annotations

import collections
import importlib
import json
import multiprocessing
import re
import shutil
import tempfile
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from datasets.arrow_writer import ArrowWriter
from huggingface_hub import DatasetCard, DatasetCardData

from ..hub import is_local_reference
from .benchmark import Benchmark, BuildError, BuildPlan, ClipLoader, SplitRule, find_raw_files
from .errors import SkeletonFileError, UserInputError
from .features import LABEL_COLUMN, SKELETON_COLUMN

SPLITS = ("train", "test")
CARD_FILENAME = "README.md"
# Marks the hidden sibling folders a build works in; a leftover one (killed build) is removed by the next run.
PARTIAL_MARKER = ".partial-"

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
# Names that moved to their own modules, still importable from here

__all__ = [  # what lives here, and what moved (re-exported)
    "Benchmark",
    "BuildError",
    "BuildPlan",
    "find_raw_files",
]

_MOVED = {
    "BENCHMARKS": ".benchmarks",
    "get_benchmark": ".benchmarks",
    "render_card": ".cards",
    "dataset_card_data": ".cards",
    "card_with_metadata": ".cards",
    "make_parser": ".dataset_cli",
    "run_cli": ".dataset_cli",
    "load_ntu_row": ".ntu",
    "load_pku_sequence": ".pku_mmd",
}


def __getattr__(name: str) -> Any:
    # Imported on first use: those modules import this one, so importing them here at the top would be circular.
    if name in _MOVED:
        return getattr(importlib.import_module(_MOVED[name], __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
