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

import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import SkeletonFileError, coordinate_problem

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
