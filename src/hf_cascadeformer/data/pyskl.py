"""pyskl's annotation file (`.pkl`) to and from this package's datasets.

pyskl (and mmaction2's skeleton datasets) keep a whole benchmark in one pickle::

    {"split": {"xsub_train": ["S001C001P001R001A001", ...], "xsub_val": [...]},
     "annotations": [{"frame_dir": "S001C001P001R001A001", "label": 0, "total_frames": 103,
                      "keypoint": float32 (persons, frames, joints, channels), "keypoint_score": optional
                      (persons, frames, joints), ...}, ...]}

:func:`export_pyskl` writes a built ``DatasetDict`` (``skeleton`` (frames, persons, joints, channels), ``label``,
``sample_id``, metadata columns; see :mod:`hf_cascadeformer.data.features`) in that form: one annotation per clip,
``frame_dir`` its ``sample_id``, the metadata columns as extra keys (pyskl ignores them) and the class names as an
extra top-level key ``class_names``. Trailing persons that are absent from the whole clip are left out, as pyskl
stores only the persons present.

:func:`import_pyskl` reads such a file back into a ``DatasetDict`` with this package's features, one dataset per
entry of ``split`` (renamed and selected with ``splits``). Pickle runs code while loading, so by default the file
goes through :class:`RestrictedUnpickler`, which builds only containers, strings, numbers and numpy arrays and
refuses anything else with one line naming the file and the refused name; ``trust_pickle=True`` (``--trust-pickle``
on the command line) loads files one fully trusts with the plain unpickler.
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from datasets.arrow_writer import ArrowWriter

from .features import LABEL_COLUMN, SKELETON_COLUMN, layout_name_of, skeleton_features

PYSKL_KEYS = ("frame_dir", "label", "total_frames", "keypoint", "keypoint_score", "img_shape", "original_shape")
"""The annotation keys pyskl itself reads; any other key is a metadata column."""
STANDARD_COLUMNS = (SKELETON_COLUMN, LABEL_COLUMN, "sample_id", "num_frames", "num_persons")

# What a pyskl file legitimately needs beyond the pickle opcodes for dicts, lists, tuples, strings and numbers:
# numpy arrays and scalars (numpy >= 2 writes numpy._core, older files numpy.core), protocol 2's bytes encoding,
# and ordered dicts. Nothing here can run code of the file's choosing.
_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
        ("collections", "OrderedDict"),
    }
)


class PysklFormatError(ValueError):
    """A pyskl file that is unreadable, unsafe to unpickle, or not in pyskl's annotation format."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only builtin containers and values, numpy arrays and numpy scalars."""

    def __init__(self, file: Any, source: str | os.PathLike = "the file"):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise PysklFormatError(
            f"{self.source}: refusing to unpickle {module}.{name} (a pyskl annotation file needs only lists, dicts "
            "and numpy arrays; pickle can run code); pass --trust-pickle (trust_pickle=True) only if you trust "
            "the file"
        )


def read_pyskl(path: str | os.PathLike, trust_pickle: bool = False) -> dict[str, Any]:
    """The raw content of a pyskl `.pkl` (``split`` and ``annotations``), checked for their structure."""
    path = Path(path)
    try:
        payload = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    try:
        if trust_pickle:
            content = pickle.loads(payload)  # noqa: S301 - the user vouched for the file
        else:
            content = RestrictedUnpickler(io.BytesIO(payload), path).load()
    except PysklFormatError:
        raise
    except Exception as error:  # a truncated or foreign file: pickle raises many kinds
        raise PysklFormatError(f"{path}: not a readable pickle ({type(error).__name__}: {error})") from error
    if not isinstance(content, Mapping) or not {"split", "annotations"} <= content.keys():
        keys = sorted(map(str, content)) if isinstance(content, Mapping) else type(content).__name__
        raise PysklFormatError(f"{path}: a pyskl file is a dict with 'split' and 'annotations', got {keys}")
    if not isinstance(content["split"], Mapping) or not isinstance(content["annotations"], Sequence):
        raise PysklFormatError(f"{path}: 'split' must map split names to lists of frame_dir, 'annotations' be a list")
    return dict(content)


# ----------------------------------------------------------------------------------------------------
# Export


def _persons_present(clip: np.ndarray) -> int:
    """Persons up to the last one with any non-zero coordinate (at least 1): pyskl stores only those."""
    present = np.flatnonzero(clip.reshape(clip.shape[0], clip.shape[1], -1).any(axis=(0, 2)))
    return int(present[-1]) + 1 if len(present) else 1


def to_annotations(dataset_dict: Mapping[str, datasets.Dataset]) -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    """pyskl's ``split`` and ``annotations`` of a ``DatasetDict`` (a clip in several splits is written once)."""
    split: dict[str, list[str]] = {}
    annotations: dict[str, dict[str, Any]] = {}
    for name, dataset in dataset_dict.items():
        metadata = [column for column in dataset.column_names if column not in STANDARD_COLUMNS]
        split[name] = []
        for row in dataset.with_format("numpy"):
            frame_dir = str(row["sample_id"])
            clip = np.asarray(row[SKELETON_COLUMN], dtype=np.float32)
            keypoint = np.ascontiguousarray(clip[:, : _persons_present(clip)].transpose(1, 0, 2, 3))
            annotation = {"frame_dir": frame_dir, "label": int(row[LABEL_COLUMN]), "total_frames": len(clip)}
            annotation["keypoint"] = keypoint
            for column in metadata:
                value = row[column]
                annotation[column] = value.item() if isinstance(value, np.generic) else value
            earlier = annotations.get(frame_dir)
            if earlier is None:
                annotations[frame_dir] = annotation
            elif earlier["label"] != annotation["label"] or not np.array_equal(earlier["keypoint"], keypoint):
                raise ValueError(
                    f"sample_id {frame_dir!r} names two different clips (split {name!r}); pyskl needs unique frame_dir"
                )
            split[name].append(frame_dir)
    return split, list(annotations.values())


def export_pyskl(dataset_dict: Mapping[str, datasets.Dataset], path: str | os.PathLike, split_prefix: str = "") -> Path:
    """Write a built ``DatasetDict`` as a pyskl `.pkl` (see the module docstring); returns the path.

    ``split_prefix`` names the splits as pyskl's NTU files do (``"xsub_"`` gives ``xsub_train`` / ``xsub_test``).
    The file appears complete or not at all (written beside it, then renamed).
    """
    path = Path(path)
    if not dataset_dict:
        raise ValueError("nothing to export: the DatasetDict has no split")
    first = next(iter(dataset_dict.values()))
    label = first.features.get(LABEL_COLUMN)
    if SKELETON_COLUMN not in first.features or label is None:
        raise ValueError(
            f"expected the package's columns {SKELETON_COLUMN!r} and {LABEL_COLUMN!r}, got {sorted(first.features)}"
        )
    split, annotations = to_annotations(dataset_dict)
    content: dict[str, Any] = {"split": {split_prefix + name: ids for name, ids in split.items()}}
    content["annotations"] = annotations
    if isinstance(label, datasets.ClassLabel):
        content["class_names"] = list(label.names)
    if layout_name := layout_name_of(first.features):
        content["skeleton_layout"] = layout_name  # read back by import_pyskl; pyskl itself ignores unknown keys
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            pickle.dump(content, file, protocol=4)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return path


# ----------------------------------------------------------------------------------------------------
# Import


def _checked_annotation(annotation: Any, index: int, path: Path) -> dict[str, Any]:
    where = f"{path}: annotation {index}"
    if not isinstance(annotation, Mapping):
        raise PysklFormatError(f"{where}: expected a dict, got {type(annotation).__name__}")
    missing = [key for key in ("frame_dir", "label", "keypoint") if key not in annotation]
    if missing:
        raise PysklFormatError(f"{where}: missing {', '.join(missing)}")
    where = f"{path}: annotation {index} ({annotation['frame_dir']})"
    keypoint = annotation["keypoint"]
    if not isinstance(keypoint, np.ndarray) or keypoint.ndim != 4 or keypoint.dtype.kind not in "fiu":
        shape = getattr(keypoint, "shape", type(keypoint).__name__)
        raise PysklFormatError(
            f"{where}: keypoint must be a numeric array (persons, frames, joints, channels), got {shape}"
        )
    if 0 in keypoint.shape:
        raise PysklFormatError(f"{where}: keypoint is empty (shape {keypoint.shape})")
    total = annotation.get("total_frames", keypoint.shape[1])
    if int(total) != keypoint.shape[1]:
        raise PysklFormatError(f"{where}: total_frames {total} but keypoint has {keypoint.shape[1]} frames")
    score = annotation.get("keypoint_score")
    if score is not None and np.shape(score) != keypoint.shape[:3]:
        raise PysklFormatError(
            f"{where}: keypoint_score shape {np.shape(score)} does not match keypoint {keypoint.shape[:3]}"
        )
    if not np.isfinite(keypoint).all():
        raise PysklFormatError(f"{where}: keypoint holds NaN or infinite values")
    return dict(annotation)


def _metadata_features(annotations: Sequence[Mapping[str, Any]]) -> dict[str, datasets.Value]:
    """Extra keys every annotation has, with int or str values, become int32 / string columns."""
    common = set(annotations[0]).difference(PYSKL_KEYS)
    for annotation in annotations[1:]:
        common &= annotation.keys()
    columns = {}
    for key in sorted(common):
        values = [annotation[key] for annotation in annotations]
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
            columns[key] = datasets.Value("int32")
        elif all(isinstance(v, str) for v in values):
            columns[key] = datasets.Value("string")
    return {key: value for key, value in columns.items() if key not in STANDARD_COLUMNS}


def import_pyskl(
    path: str | os.PathLike,
    *,
    splits: Mapping[str, str] | None = None,
    class_names: Sequence[str] | None = None,
    num_persons: int | None = None,
    append_scores: bool = False,
    trust_pickle: bool = False,
    work_dir: str | os.PathLike | None = None,
    layout: str | None = None,
) -> datasets.DatasetDict:
    """Read a pyskl `.pkl` into a ``DatasetDict`` with the package's features.

    Args:
        path: the `.pkl` file.
        splits: pyskl split name -> dataset split name, e.g. ``{"xsub_train": "train", "xsub_val": "test"}``;
            only these splits are imported. Default: every split, under its own name.
        class_names: the action names, one per label; default: the file's ``class_names`` if it has them (files
            written by :func:`export_pyskl`), else ``"0"``, ``"1"``, ... up to the highest label.
        num_persons: person slots of the ``skeleton`` column (default: the most persons of any clip).
        append_scores: add ``keypoint_score`` as a last channel (2D keypoints with scores become 3 channels);
            by default the scores are dropped.
        trust_pickle: load with the plain unpickler (runs whatever code the file holds); only for trusted files.
        work_dir: where the Arrow files go (a new temporary folder by default; the caller removes it).
        layout: the skeleton layout name the dataset records (``data.skeletons.LAYOUTS``); default: the file's
            ``skeleton_layout`` (files written by :func:`export_pyskl`), else none (inferred from the joint count
            where the package needs it, see ``data.skeletons.legacy_layout``).
    """
    path = Path(path)
    content = read_pyskl(path, trust_pickle=trust_pickle)
    annotations = [_checked_annotation(a, i, path) for i, a in enumerate(content["annotations"])]
    if not annotations:
        raise PysklFormatError(f"{path}: no annotations")
    by_name = {str(annotation["frame_dir"]): annotation for annotation in annotations}
    split_map = dict(splits) if splits is not None else {name: name for name in content["split"]}
    unknown = [name for name in split_map if name not in content["split"]]
    if unknown:
        raise PysklFormatError(f"{path}: no split {unknown[0]!r}; the file has {', '.join(map(str, content['split']))}")
    shapes = {annotation["keypoint"].shape[2:] for annotation in annotations}
    if len(shapes) != 1:
        raise PysklFormatError(f"{path}: clips differ in joints x channels: {sorted(shapes)}")
    num_joints, num_channels = shapes.pop()
    if append_scores:
        if any(annotation.get("keypoint_score") is None for annotation in annotations):
            raise PysklFormatError(f"{path}: append_scores needs keypoint_score in every annotation")
        num_channels += 1
    most_persons = max(annotation["keypoint"].shape[0] for annotation in annotations)
    num_persons = num_persons or most_persons
    if most_persons > num_persons:
        raise PysklFormatError(f"{path}: a clip has {most_persons} persons, more than num_persons={num_persons}")
    labels = [int(annotation["label"]) for annotation in annotations]
    if class_names is None:
        class_names = content.get("class_names") or [str(i) for i in range(max(labels) + 1)]
    if min(labels) < 0 or max(labels) >= len(class_names):
        raise PysklFormatError(f"{path}: labels {min(labels)}..{max(labels)} do not fit {len(class_names)} classes")
    metadata = _metadata_features(annotations)
    layout = layout or content.get("skeleton_layout")
    try:
        features = skeleton_features(class_names, num_persons, num_joints, num_channels, metadata, layout)
    except (KeyError, ValueError) as exc:
        raise PysklFormatError(f"{path}: {exc}") from None

    work_dir = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="hf-cascadeformer-pyskl-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    result = {}
    for source, target in split_map.items():
        missing = [str(name) for name in content["split"][source] if str(name) not in by_name]
        if missing:
            raise PysklFormatError(f"{path}: split {source!r} lists {missing[0]!r}, which has no annotation")
        arrow = work_dir / f"{target}.arrow"
        writer = ArrowWriter(features=features, path=str(arrow))
        try:
            for name in content["split"][source]:
                writer.write(_row(by_name[str(name)], features, num_persons, append_scores))
            writer.finalize()
        finally:
            writer.close()
        result[target] = datasets.Dataset.from_file(str(arrow))
    return datasets.DatasetDict(result)


def _row(annotation: Mapping[str, Any], features: datasets.Features, num_persons: int, scores: bool) -> dict:
    keypoint = np.asarray(annotation["keypoint"], dtype=np.float32)
    if scores:
        keypoint = np.concatenate([keypoint, np.asarray(annotation["keypoint_score"], np.float32)[..., None]], -1)
    persons, frames = keypoint.shape[:2]
    clip = np.zeros((frames, num_persons, *keypoint.shape[2:]), np.float32)
    clip[:, :persons] = keypoint.transpose(1, 0, 2, 3)
    row = {
        SKELETON_COLUMN: clip,
        LABEL_COLUMN: int(annotation["label"]),
        "sample_id": str(annotation["frame_dir"]),
        "num_frames": frames,
        "num_persons": int(clip.reshape(frames, num_persons, -1).any(axis=(0, 2)).sum()),
    }
    for column in features:
        if column not in row:
            row[column] = annotation[column]
    return row


__all__ = [
    "PysklFormatError",
    "RestrictedUnpickler",
    "export_pyskl",
    "import_pyskl",
    "read_pyskl",
    "to_annotations",
]
