"""PKU-MMD (phases I and II): untrimmed skeleton sequences, their label files, instance cutting and splits.

* A skeleton file holds one line per frame of 150 values: 2 bodies x 25 joints (Kinect v2 order) x (x, y, z);
  a second body of all zeros means only one person is present.
* A label file holds one row per action instance: ``action_id, start_frame, end_frame, confidence``. Action
  ids are 1-based; frames are 1-based and the range is inclusive, so an instance covers rows ``start - 1`` to
  ``end - 1`` of the skeleton file (the convention of the CrosSCLR / AimCLR preprocessing, which cuts
  ``frames[start - 1:end]``; MAMP's script cuts ``frames[start:end]``, one frame later and one frame shorter).
* The split files (``cross-subject.txt``, ``cross-view.txt`` and the ``_v2`` ones) hold a ``Training videos:``
  line, a comma-separated list of sequence ids, a ``Validataion videos:`` line (sic) and another list.
"""

from __future__ import annotations

import collections
import functools
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .benchmark import Benchmark, BuildError, BuildPlan, Clip
from .errors import SkeletonFileError, coordinate_problem
from .skeletons import NTU_LAYOUT

PKU_MMD_NUM_PERSONS = 2
PKU_MMD_NUM_JOINTS = 25
PKU_MMD_VALUES_PER_FRAME = PKU_MMD_NUM_PERSONS * PKU_MMD_NUM_JOINTS * 3
PKU_MMD_PROTOCOLS: tuple[str, ...] = ("xsub", "xview")
PKU_MMD_VIEWS: tuple[str, ...] = ("L", "M", "R")

# Phase I action names, index = action id - 1, in the id order of the dataset's Actions.xlsx (alphabetical).
# The spreadsheet itself is only on the authors' drive; two unrelated public PKU-MMD loaders list exactly this
# order, and a third one's id mapping (4 check time, 34 standing up, 48 wear jacket) agrees with it.
PKU_MMD_I_ACTIONS: tuple[str, ...] = (
    "bow",
    "brushing hair",
    "brushing teeth",
    "check time (from watch)",
    "cheer up",
    "clapping",
    "cross hands in front (say stop)",
    "drink water",
    "drop",
    "eat meal/snack",
    "falling",
    "giving something to other person",
    "hand waving",
    "handshaking",
    "hopping (one foot jumping)",
    "hugging other person",
    "jump up",
    "kicking other person",
    "kicking something",
    "make a phone call/answer phone",
    "pat on back of other person",
    "pickup",
    "playing with phone/tablet",
    "point finger at the other person",
    "pointing to something with finger",
    "punching/slapping other person",
    "pushing other person",
    "put on a hat/cap",
    "put something inside pocket",
    "reading",
    "rub two hands together",
    "salute",
    "sitting down",
    "standing up",
    "take off a hat/cap",
    "take off glasses",
    "take off jacket",
    "take out something from pocket",
    "taking a selfie",
    "tear up paper",
    "throw",
    "touch back (backache)",
    "touch chest (stomachache/heart pain)",
    "touch head (headache)",
    "touch neck (neckache)",
    "typing on a keyboard",
    "use a fan (with hand or paper)/feeling warm",
    "wear jacket",
    "wear on glasses",
    "wipe face",
    "writing",
)

# Phase II: the official 41-name list (a separate spreadsheet on the authors' drive) could not be found in any
# public source. The public phase-II preprocessing scripts (MAMP data/pku_v2/pku_gendata.py and the "part2"
# pipelines of CrosSCLR, AimCLR and STAR) read its label ids with the phase-I numbering (``label - 1`` into 51
# classes), so the phase-I names serve phase II too: its 41 actions are taken to be a subset of these 51 ids.
PKU_MMD_II_ACTIONS: tuple[str, ...] = PKU_MMD_I_ACTIONS

_SEQUENCE_ID = re.compile(r"(?P<video>[A-Za-z0-9]+)-(?P<view>[LMR])")


class PKULabelRow(tuple):
    """One label row ``(label, start, end, confidence)`` that remembers the file and line it was read from.

    It compares equal to the plain tuple; ``path`` and ``line`` let :func:`cut_pku_instances` name the label
    file line of a range that does not fit the sequence.
    """

    def __new__(cls, label: int, start: int, end: int, confidence: float, path=None, line=None):
        row = super().__new__(cls, (label, start, end, confidence))
        row.path = None if path is None else str(path)
        row.line = line
        return row

    def __reduce__(self):
        return (PKULabelRow, (*self, self.path, self.line))


def read_pku_skeleton(path: str | Path) -> np.ndarray:
    """Read a skeleton sequence as (frames, 2, 25, 3) float32; an absent second body stays all zeros.

    Raises:
        SkeletonFileError: naming the file and 1-based line of a line without exactly 150 values, a
            non-numeric or non-finite value, or a file without any frame.
    """
    path = Path(path)
    try:  # fast path for well-formed files; the line-by-line pass below finds the line of any problem
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # loadtxt warns on an empty file, reported below as an error
            frames = np.loadtxt(path, dtype=np.float32, ndmin=2)
    except ValueError:
        frames = None
    if frames is not None and frames.shape[0] > 0 and frames.shape[1] == PKU_MMD_VALUES_PER_FRAME:
        if coordinate_problem(frames) is None:
            return frames.reshape(-1, PKU_MMD_NUM_PERSONS, PKU_MMD_NUM_JOINTS, 3)
    text = path.read_text(encoding="utf-8", errors="replace")
    rows: list[list[float]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        values = raw.split()
        if not values:
            continue
        if len(values) != PKU_MMD_VALUES_PER_FRAME:
            raise SkeletonFileError(
                path, f"a frame needs {PKU_MMD_VALUES_PER_FRAME} values, got {len(values)}", line=number
            )
        try:
            row = [float(value) for value in values]
        except ValueError:
            bad = next(value for value in values if not _is_float(value))
            raise SkeletonFileError(path, f"non-numeric value {bad!r}", line=number) from None
        if problem := coordinate_problem(np.asarray(row)):
            raise SkeletonFileError(path, f"values: {problem}", line=number)
        rows.append(row)
    if not rows:
        raise SkeletonFileError(path, "no frames")
    return np.asarray(rows, dtype=np.float32).reshape(-1, PKU_MMD_NUM_PERSONS, PKU_MMD_NUM_JOINTS, 3)


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _integer(value: str) -> int:
    """An integer field; ``"12.0"`` is accepted as 12 because some tools write label files as floats."""
    try:
        return int(value)
    except ValueError:
        number = float(value)
        if not number.is_integer():
            raise ValueError(value) from None
        return int(number)


def read_pku_labels(path: str | Path, *, allow_reversed: bool = False) -> list[tuple[int, int, int, float]]:
    """Read a label file: rows ``(label, start, end, confidence)`` as written (1-based ids and frames).

    Fields are comma separated; spaces, trailing commas, CRLF and blank lines are tolerated. The rows are
    :class:`PKULabelRow` tuples that remember their line. A few official label files have rows with start
    after end: they are errors unless ``allow_reversed=True``, which swaps the two.

    Raises:
        SkeletonFileError: naming the file and line of a row without 4 fields, a non-numeric field, an action
            id or start frame below 1, or start after end.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    rows: list[tuple[int, int, int, float]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        fields = [field.strip() for field in raw.split(",")]
        while fields and not fields[-1]:
            fields.pop()  # trailing commas and blank lines
        if not fields:
            continue
        if len(fields) != 4:
            raise SkeletonFileError(
                path,
                f"a label row needs 4 fields (label, start, end, confidence), got {len(fields)}",
                line=number,
            )
        try:
            label, start, end = (_integer(field) for field in fields[:3])
            confidence = float(fields[3])
        except ValueError:
            raise SkeletonFileError(path, f"non-numeric field in {raw.strip()!r}", line=number) from None
        if label < 1:
            raise SkeletonFileError(path, f"action ids are 1-based, got {label}", line=number)
        if start > end:
            if not allow_reversed:
                raise SkeletonFileError(path, f"start frame {start} is after end frame {end}", line=number)
            start, end = end, start
        if start < 1:
            raise SkeletonFileError(path, f"frames are 1-based, got start frame {start}", line=number)
        rows.append(PKULabelRow(label, start, end, confidence, path=path, line=number))
    return rows


def parse_pku_sequence_id(sequence_id: str) -> dict[str, str]:
    """``video`` and ``view`` (``L``, ``M`` or ``R``) of a sequence id such as ``0002-L`` (phase I) or
    ``A01N01-L`` (phase II); an empty dict when the id has another form."""
    match = _SEQUENCE_ID.fullmatch(sequence_id)
    return match.groupdict() if match else {}


def cut_pku_instances(
    skeleton: np.ndarray, labels: Sequence[tuple[int, int, int, float]], sequence_id: str
) -> list[tuple[np.ndarray, dict]]:
    """Cut one clip per label row out of a sequence from :func:`read_pku_skeleton`.

    Row ``(label, start, end, confidence)`` gives the clip ``skeleton[start - 1:end]`` (1-based inclusive
    frames) and the metadata ``sample_id`` (``f"{sequence_id}_{k:02d}"`` with ``k`` the 0-based row index),
    ``label`` (0-based action index), ``start``, ``end`` (as in the file), ``confidence``, ``num_frames``,
    ``num_persons`` (persons with a non-zero joint in the clip; 0 for an all-zero clip, which callers may
    skip), ``sequence_id`` and, when the id has the ``XXXX-V`` form, ``view``.

    Raises:
        SkeletonFileError: a range that does not fit the sequence, naming the label file and line when the
            rows come from :func:`read_pku_labels` (otherwise the sequence id and the row index).
    """
    if skeleton.ndim != 4 or skeleton.shape[1:] != (PKU_MMD_NUM_PERSONS, PKU_MMD_NUM_JOINTS, 3):
        raise ValueError(f"expected a (frames, 2, 25, 3) skeleton, got shape {skeleton.shape}")
    num_frames = skeleton.shape[0]
    view = parse_pku_sequence_id(sequence_id).get("view")
    instances = []
    for index, row in enumerate(labels):
        label, start, end, confidence = row
        path = getattr(row, "path", None) or sequence_id
        line = getattr(row, "line", None)
        where = "" if line is not None else f"label row {index}: "
        if not 1 <= start <= end:
            raise SkeletonFileError(path, f"{where}invalid frame range [{start}, {end}]", line=line)
        if end > num_frames:
            raise SkeletonFileError(
                path,
                f"{where}frame range [{start}, {end}] exceeds the {num_frames} frames of {sequence_id}",
                line=line,
            )
        clip = np.array(skeleton[start - 1 : end], dtype=np.float32)  # a copy: clips outlive the sequence
        metadata = {
            "sample_id": f"{sequence_id}_{index:02d}",
            "label": int(label) - 1,
            "start": int(start),
            "end": int(end),
            "confidence": float(confidence),
            "num_frames": int(clip.shape[0]),
            "num_persons": int(np.any(clip != 0, axis=(0, 2, 3)).sum()),
            "sequence_id": sequence_id,
        }
        if view is not None:
            metadata["view"] = view
        instances.append((clip, metadata))
    return instances


_SPLIT_HEADER = re.compile(r"^\s*(training|validataion|validation|testing|test)\s+videos\s*:", re.I | re.M)


def read_pku_split(path: str | Path) -> dict[str, list[str]]:
    """Read an official split file into ``{"train": [...], "test": [...]}`` sequence ids, in file order.

    The file has a ``Training videos:`` header, its comma-separated ids, a ``Validataion videos:`` header (the
    official spelling; ``Validation``/``Testing`` are accepted too) and its ids; the lists may wrap over
    several lines and end with a trailing comma. The "validation" list is the test set of the protocol.

    Raises:
        SkeletonFileError: a missing or repeated header, an empty list, or an id listed in both parts.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    headers = list(_SPLIT_HEADER.finditer(text))
    parts: dict[str, list[str]] = {}
    for position, header in enumerate(headers):
        part = "train" if header.group(1).lower() == "training" else "test"
        line = text.count("\n", 0, header.start()) + 1
        if part in parts:
            raise SkeletonFileError(path, f"a second {part} header {header.group(0).strip()!r}", line=line)
        body_end = headers[position + 1].start() if position + 1 < len(headers) else len(text)
        ids = [token for token in re.split(r"[,\s]+", text[header.end() : body_end]) if token]
        if not ids:
            raise SkeletonFileError(path, f"the {part} list is empty", line=line)
        parts[part] = ids
    for part, header in (("train", "Training videos:"), ("test", "Validataion videos:")):
        if part not in parts:
            raise SkeletonFileError(path, f"no {header!r} header")
    if headers[0].start() != 0 and text[: headers[0].start()].strip():
        raise SkeletonFileError(path, "unexpected text before the first header", line=1)
    both = sorted(set(parts["train"]) & set(parts["test"]))
    if both:
        raise SkeletonFileError(path, f"{len(both)} ids are in both lists, e.g. {both[0]!r}")
    return {"train": parts["train"], "test": parts["test"]}


# ----------------------------------------------------------------------------------------------------
# The PKU-MMD benchmark

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
    import datasets  # here, not at the top: reading a clip does not need it

    from .features import skeleton_features

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
            NTU_LAYOUT.num_channels,
            {
                "sequence_id": datasets.Value("string"),
                "view": datasets.Value("string"),
                "start": datasets.Value("int32"),
                "end": datasets.Value("int32"),
                "confidence": datasets.Value("float32"),
            },
            layout=NTU_LAYOUT,
        ),
        notes=notes,
    )


_PKU_CITATION = """@article{liu2017pku,
  title={PKU-MMD: A Large Scale Benchmark for Continuous Multi-Modal Human Action Understanding},
  author={Liu, Chunhui and Hu, Yueyu and Li, Yanghao and Song, Sijie and Liu, Jiaying},
  journal={arXiv preprint arXiv:1703.07475},
  year={2017}
}"""


PKU_MMD_BENCHMARK = Benchmark(
    name="pku_mmd",
    title="PKU-MMD",
    layout=NTU_LAYOUT,
    class_names=PKU_MMD_I_ACTIONS,
    configs=_PKU_CONFIGS,
    raw_folder="the PKU-MMD folder holding the skeleton folder, the label folder and the split files",
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
)
"""The PKU-MMD entry of ``data.benchmarks.BENCHMARKS`` (``dataset_scripts/pku_mmd.py``)."""
