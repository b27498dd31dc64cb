"""Penn Action: one MATLAB annotation file per clip (``labels/NNNN.mat``).

Keys used: ``action`` (string), ``pose`` (front/back/left/right), ``x`` and ``y`` (frames x 13, pixels),
``visibility`` (frames x 13, 1 visible / 0 not), ``dimensions`` ([height, width, frames]), ``nframes``
(uint8 or uint16 depending on the clip) and ``train`` (1 official training split / -1 test). ``bbox`` can have
one row fewer than there are frames; it is not used.

Invisible joints keep the coordinates the annotators gave them: the visibility travels as its own
(frames, 13) uint8 array in the metadata (a ``visibility`` column in the dataset), so a transform or feature
extractor can mask them without NaNs ever reaching training.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from .benchmark import Benchmark, BuildPlan, find_raw_files
from .errors import SkeletonFileError, coordinate_problem
from .skeletons import PENN_LAYOUT

# The action names, in label order: the one list of them in the package (the config presets hold only their count).
PENN_ACTION_LABELS: tuple[str, ...] = (
    "baseball_pitch",
    "baseball_swing",
    "bench_press",
    "bowl",
    "clean_and_jerk",
    "golf_swing",
    "jump_rope",
    "jumping_jacks",
    "pullup",
    "pushup",
    "situp",
    "squat",
    "strum_guitar",
    "tennis_forehand",
    "tennis_serve",
)
PENN_ACTIONS: tuple[str, ...] = PENN_ACTION_LABELS
PENN_JOINTS: tuple[str, ...] = PENN_LAYOUT.joint_names

PENN_NUM_CHANNELS = PENN_LAYOUT.num_channels  # image pixels (x, y)
PENN_PROTOCOLS = ("official",)

_REQUIRED_KEYS = ("action", "pose", "x", "y", "visibility", "dimensions", "nframes", "train")


def _string(path: Path, annotation: dict[str, Any], key: str) -> str:
    values = np.asarray(annotation[key]).ravel()
    if values.size != 1 or not isinstance(values[0], str):
        raise SkeletonFileError(path, f"expected one string, found {values!r}", key=key)
    return str(values[0])


def _integer(path: Path, annotation: dict[str, Any], key: str, index: int = 0) -> int:
    values = np.asarray(annotation[key]).ravel()
    if values.size <= index or not np.issubdtype(values.dtype, np.number):
        raise SkeletonFileError(path, f"expected a number at position {index}, found {values!r}", key=key)
    # nframes is stored as uint8 or uint16: cast before any arithmetic so it cannot wrap around.
    return int(values[index])


def _joint_table(path: Path, annotation: dict[str, Any], key: str) -> np.ndarray:
    table = np.asarray(annotation[key])
    if not (np.issubdtype(table.dtype, np.number) or table.dtype == np.bool_):
        raise SkeletonFileError(path, f"expected numbers, found dtype {table.dtype}", key=key)
    if table.ndim != 2 or table.shape[1] != len(PENN_JOINTS) or table.shape[0] == 0:
        raise SkeletonFileError(path, f"expected shape (frames >= 1, {len(PENN_JOINTS)}), found {table.shape}", key=key)
    return table


def load_penn_clip(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Read one Penn Action ``.mat`` annotation file.

    Returns the joints as a float32 array of shape (frames, 1, 13, 2) holding pixel (x, y) coordinates and the
    metadata ``sample_id`` (file stem), ``label`` (0-based index into :data:`PENN_ACTIONS`), ``action``,
    ``pose``, ``image_height``, ``image_width``, ``num_frames``, ``split`` (``"train"`` or ``"test"``),
    ``num_persons`` (always 1) and ``visibility`` (a (frames, 13) uint8 array, 1 where the joint is visible).
    Raises :class:`SkeletonFileError` naming the file (and key) for an unreadable or malformed file.
    """
    path = Path(path)
    try:
        annotation = scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError, ... for broken files
        raise SkeletonFileError(path, f"not a readable MATLAB file ({type(exc).__name__}: {exc})") from exc
    for key in _REQUIRED_KEYS:
        if key not in annotation:
            raise SkeletonFileError(path, "missing key", key=key)

    action = _string(path, annotation, "action")
    if action not in PENN_ACTIONS:
        raise SkeletonFileError(path, f"unknown action {action!r}", key="action")
    pose = _string(path, annotation, "pose")

    x = _joint_table(path, annotation, "x")
    y = _joint_table(path, annotation, "y")
    visibility = _joint_table(path, annotation, "visibility")
    num_frames = _integer(path, annotation, "nframes")
    if x.shape[0] != num_frames:
        raise SkeletonFileError(path, f"is {num_frames} but x has {x.shape[0]} rows", key="nframes")
    for key, table in (("y", y), ("visibility", visibility)):
        if table.shape[0] != num_frames:
            raise SkeletonFileError(path, f"has {table.shape[0]} rows but x has {num_frames}", key=key)

    image_height = _integer(path, annotation, "dimensions", 0)
    image_width = _integer(path, annotation, "dimensions", 1)
    train_flag = _integer(path, annotation, "train")
    if train_flag not in (1, -1):
        raise SkeletonFileError(path, f"expected 1 (train) or -1 (test), found {train_flag}", key="train")

    # x and y come as float64, uint16 or uint8 depending on the clip; float32 holds any pixel value exactly.
    joints = np.stack([x, y], axis=-1).astype(np.float32)[:, np.newaxis]
    if problem := coordinate_problem(joints):
        raise SkeletonFileError(path, problem, key="x")
    metadata = {
        "sample_id": path.stem,
        "label": PENN_ACTIONS.index(action),
        "action": action,
        "pose": pose,
        "image_height": image_height,
        "image_width": image_width,
        "num_frames": num_frames,
        "split": "train" if train_flag == 1 else "test",
        "num_persons": 1,
        "visibility": (visibility != 0).astype(np.uint8),
    }
    return joints, metadata


def penn_split(meta: dict[str, Any], protocol: str = "official") -> str:
    """``"train"`` or ``"test"``: the official split stored in each file (``train`` key)."""
    if protocol != "official":
        raise ValueError(f"unknown Penn Action protocol {protocol!r}; expected one of {PENN_PROTOCOLS}")
    return meta["split"]


def _penn_plan(raw_dir: Path, config: str) -> BuildPlan:
    import datasets  # here, not at the top: reading a clip does not need it

    from .features import skeleton_features

    return BuildPlan(
        items=find_raw_files(raw_dir, "*.mat", subdirs=("labels",)),
        load_fn=load_penn_clip,
        split_fn=functools.partial(penn_split, protocol=config),
        features=skeleton_features(
            PENN_ACTION_LABELS,
            1,
            len(PENN_JOINTS),
            PENN_NUM_CHANNELS,
            {
                "pose": datasets.Value("string"),
                "image_height": datasets.Value("int32"),
                "image_width": datasets.Value("int32"),
                "visibility": datasets.Array2D(shape=(None, len(PENN_JOINTS)), dtype="uint8"),
            },
            layout=PENN_LAYOUT,
        ),
    )


PENN_ACTION_BENCHMARK = Benchmark(
    name="penn_action",
    title="Penn Action",
    layout=PENN_LAYOUT,
    class_names=PENN_ACTION_LABELS,
    configs={"official": "the official split stored in each file (train == 1 / -1)"},
    raw_folder="the Penn_Action folder with labels/ or the labels/ folder of .mat files itself",
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
)
"""The Penn Action entry of ``data.benchmarks.BENCHMARKS`` (``dataset_scripts/penn_action.py``)."""
