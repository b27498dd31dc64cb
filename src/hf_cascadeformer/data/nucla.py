"""Northwestern-UCLA Multiview Action3D (N-UCLA) in the CTR-GCN ``all_sqe`` JSON form.

One JSON file per clip, named ``aAA_sSS_eEE_vVV.json`` (action, subject, take, view), with the keys
``file_name``, ``label`` (1-10) and ``skeletons`` (frames x 20 joints x 3 coordinates, Kinect v1, metres). The
ten action ids a01-a06, a08, a09, a11 and a12 are the labels 1-10; clips here carry the 0-based index into
:data:`NUCLA_ACTIONS`. The cross-view protocol trains on views 1 and 2 and tests on view 3.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .benchmark import Benchmark, BuildPlan, find_raw_files
from .errors import SkeletonFileError, coordinate_problem
from .skeletons import NUCLA_LAYOUT

# The action names, in label order: the one list of them in the package (the config presets hold only their count).
NUCLA_LABELS: tuple[str, ...] = (
    "pick up with one hand",
    "pick up with two hands",
    "drop trash",
    "walk around",
    "sit down",
    "stand up",
    "donning",
    "doffing",
    "throw",
    "carry",
)
NUCLA_ACTIONS: tuple[str, ...] = NUCLA_LABELS
"""Action names (Wang et al., CVPR 2014); index ``i`` is label ``i + 1`` of the JSON files."""

NUCLA_ACTION_IDS: dict[int, int] = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 8: 7, 9: 8, 11: 9, 12: 10}
"""The action number ``AA`` of a file name ``aAA_...`` -> the 1-based ``label`` stored in the file."""

NUCLA_NUM_JOINTS = NUCLA_LAYOUT.num_joints  # 20 Kinect v1 joints
NUCLA_NUM_CHANNELS = NUCLA_LAYOUT.num_channels  # metres

NUCLA_CROSS_VIEW_TRAIN_VIEWS = frozenset({1, 2})
NUCLA_PROTOCOLS = ("xview",)

_NAME_PATTERN = re.compile(r"^a(\d{2})_s(\d{2})_e(\d{2})_v(\d{2})$")


def parse_nucla_name(name: str | Path) -> dict[str, int]:
    """Read ``action_id``, ``subject``, ``take`` and ``view`` from a name like ``a01_s02_e03_v01(.json)``.

    Raises :class:`SkeletonFileError` (a ``ValueError``) when the name does not follow that pattern.
    """
    stem = Path(name).name.removesuffix(".json")
    match = _NAME_PATTERN.match(stem)
    if match is None:
        raise SkeletonFileError(name, "file name does not follow the N-UCLA pattern aAA_sSS_eEE_vVV")
    action_id, subject, take, view = (int(group) for group in match.groups())
    return {"action_id": action_id, "subject": subject, "take": take, "view": view}


def load_nucla_clip(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Read one ``all_sqe`` JSON file.

    Returns the skeleton as a float32 array of shape (frames, 1, 20, 3) and the metadata ``sample_id``,
    ``label`` (0-based index into :data:`NUCLA_ACTIONS`), ``subject``, ``take``, ``view``, ``num_frames`` and
    ``num_persons`` (always 1). Raises :class:`SkeletonFileError` naming the file and key for a malformed
    file, including a ``label`` that disagrees with the action id in the file name.
    """
    path = Path(path)
    name = parse_nucla_name(path)
    try:
        with open(path, encoding="utf-8") as handle:
            content = json.load(handle)
    except json.JSONDecodeError as exc:
        raise SkeletonFileError(path, f"not valid JSON ({exc.msg})", line=exc.lineno) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SkeletonFileError(path, f"cannot be read ({exc})") from exc
    except RecursionError:  # json recurses once per nesting level
        raise SkeletonFileError(path, "JSON nested too deeply to be a clip") from None
    if not isinstance(content, Mapping):
        raise SkeletonFileError(path, f"expected a JSON object, found {type(content).__name__}")
    for key in ("file_name", "label", "skeletons"):
        if key not in content:
            raise SkeletonFileError(path, "missing key", key=key)

    if content["file_name"] != path.stem:
        raise SkeletonFileError(
            path, f"names clip {content['file_name']!r} but the file is {path.stem!r}", key="file_name"
        )

    action_id = name["action_id"]
    if action_id not in NUCLA_ACTION_IDS:
        raise SkeletonFileError(path, f"action id a{action_id:02d} is not one of the 10 N-UCLA actions")
    label = content["label"]
    # bool is an int subclass; a JSON true is not a label.
    if not isinstance(label, int) or isinstance(label, bool):
        raise SkeletonFileError(path, f"expected an integer label 1-10, found {label!r}", key="label")
    if label != NUCLA_ACTION_IDS[action_id]:
        raise SkeletonFileError(
            path,
            f"label {label} disagrees with action id a{action_id:02d} in the file name "
            f"(expected {NUCLA_ACTION_IDS[action_id]})",
            key="label",
        )

    try:
        joints = np.asarray(content["skeletons"], dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise SkeletonFileError(
            path, f"not a numeric frames x joints x coordinates array ({exc})", key="skeletons"
        ) from exc
    if joints.ndim != 3 or joints.shape[1:] != (NUCLA_NUM_JOINTS, NUCLA_NUM_CHANNELS) or joints.shape[0] == 0:
        raise SkeletonFileError(
            path,
            f"expected shape (frames >= 1, {NUCLA_NUM_JOINTS}, {NUCLA_NUM_CHANNELS}), found {joints.shape}",
            key="skeletons",
        )
    if problem := coordinate_problem(joints):
        raise SkeletonFileError(path, problem, key="skeletons")

    metadata = {
        "sample_id": path.stem,
        "label": label - 1,
        "subject": name["subject"],
        "take": name["take"],
        "view": name["view"],
        "num_frames": int(joints.shape[0]),
        "num_persons": 1,
    }
    return joints[:, np.newaxis], metadata


def nucla_split(meta: Mapping[str, Any], protocol: str = "xview") -> str:
    """``"train"`` or ``"test"`` for a clip under the cross-view protocol (train on views 1 and 2)."""
    if protocol != "xview":
        raise ValueError(f"unknown N-UCLA protocol {protocol!r}; expected one of {NUCLA_PROTOCOLS}")
    return "train" if meta["view"] in NUCLA_CROSS_VIEW_TRAIN_VIEWS else "test"


def _nucla_plan(raw_dir: Path, config: str) -> BuildPlan:
    import datasets  # here, not at the top: reading a clip does not need it

    from .features import skeleton_features

    return BuildPlan(
        items=find_raw_files(raw_dir, "*.json", subdirs=("all_sqe",)),
        load_fn=load_nucla_clip,
        split_fn=functools.partial(nucla_split, protocol=config),
        features=skeleton_features(
            NUCLA_LABELS,
            1,
            NUCLA_NUM_JOINTS,
            NUCLA_NUM_CHANNELS,
            {name: datasets.Value("int32") for name in ("subject", "take", "view")},
            layout=NUCLA_LAYOUT,
        ),
    )


NUCLA_BENCHMARK = Benchmark(
    name="nucla",
    title="Northwestern-UCLA Multiview Action3D (N-UCLA)",
    layout=NUCLA_LAYOUT,
    class_names=NUCLA_LABELS,
    configs={"xview": "cross-view: train on views 1 and 2, test on view 3"},
    raw_folder="the all_sqe/ folder of JSON clips (CTR-GCN form) or its parent",
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
)
"""The N-UCLA entry of ``data.benchmarks.BENCHMARKS`` (``dataset_scripts/nucla.py``)."""
