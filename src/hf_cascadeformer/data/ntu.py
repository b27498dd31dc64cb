"""NTU RGB+D 60 / 120: the raw ``.skeleton`` text format, the standard body denoising and the official splits.

A clip file ``SsssCcccPpppRrrrAaaa.skeleton`` holds the frame count, then per frame the body count and per
body one line of 10 body-info values, the joint count (25) and 25 lines of 12 joint values (x, y, z in metres;
depthX, depthY; colorX, colorY; orientation w, x, y, z; trackingState). Lines may end in CRLF.

:func:`read_ntu_skeleton` returns that layout in full, :func:`denoise_ntu_bodies` turns it into the usual
(frames, persons, 25, 3) array with the heuristics of the community preprocessing
(``get_raw_denoised_data.py`` of SGN / CTR-GCN / MAMP), and :func:`load_ntu_clip` does both and adds the
metadata parsed from the file name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from .benchmark import Benchmark, BuildError, BuildPlan, Clip, find_raw_files
from .errors import SkeletonFileError, coordinate_problem
from .skeletons import NTU_LAYOUT

NTU_NUM_JOINTS = 25
NTU_JOINT_VALUES = 12  # x, y, z, depthX, depthY, colorX, colorY, orientW, orientX, orientY, orientZ, trackingState
NTU_SPINE_MIDDLE = 1  # joint 2 (1-based): the origin used when centring a clip

# Official action names (index = action id - 1), spelled as in the dataset's own README, including its typo
# "hush (quite)"; the two curly apostrophes of the NTU-120 list are written as ASCII apostrophes.
NTU60_ACTIONS: tuple[str, ...] = (
    "drink water",
    "eat meal/snack",
    "brushing teeth",
    "brushing hair",
    "drop",
    "pickup",
    "throw",
    "sitting down",
    "standing up (from sitting position)",
    "clapping",
    "reading",
    "writing",
    "tear up paper",
    "wear jacket",
    "take off jacket",
    "wear a shoe",
    "take off a shoe",
    "wear on glasses",
    "take off glasses",
    "put on a hat/cap",
    "take off a hat/cap",
    "cheer up",
    "hand waving",
    "kicking something",
    "put something inside pocket / take out something from pocket",
    "hopping (one foot jumping)",
    "jump up",
    "make a phone call/answer phone",
    "playing with phone/tablet",
    "typing on a keyboard",
    "pointing to something with finger",
    "taking a selfie",
    "check time (from watch)",
    "rub two hands together",
    "nod head/bow",
    "shake head",
    "wipe face",
    "salute",
    "put the palms together",
    "cross hands in front (say stop)",
    "sneeze/cough",
    "staggering",
    "falling",
    "touch head (headache)",
    "touch chest (stomachache/heart pain)",
    "touch back (backache)",
    "touch neck (neckache)",
    "nausea or vomiting condition",
    "use a fan (with hand or paper)/feeling warm",
    "punching/slapping other person",
    "kicking other person",
    "pushing other person",
    "pat on back of other person",
    "point finger at the other person",
    "hugging other person",
    "giving something to other person",
    "touch other person's pocket",
    "handshaking",
    "walking towards each other",
    "walking apart from each other",
)

NTU120_ACTIONS: tuple[str, ...] = NTU60_ACTIONS + (
    "put on headphone",
    "take off headphone",
    "shoot at the basket",
    "bounce ball",
    "tennis bat swing",
    "juggling table tennis balls",
    "hush (quite)",
    "flick hair",
    "thumb up",
    "thumb down",
    "make ok sign",
    "make victory sign",
    "staple book",
    "counting money",
    "cutting nails",
    "cutting paper (using scissors)",
    "snapping fingers",
    "open bottle",
    "sniff (smell)",
    "squat down",
    "toss a coin",
    "fold paper",
    "ball up paper",
    "play magic cube",
    "apply cream on face",
    "apply cream on hand back",
    "put on bag",
    "take off bag",
    "put something into a bag",
    "take something out of a bag",
    "open a box",
    "move heavy objects",
    "shake fist",
    "throw up cap/hat",
    "hands up (both hands)",
    "cross arms",
    "arm circles",
    "arm swings",
    "running on the spot",
    "butt kicks (kick backward)",
    "cross toe touch",
    "side kick",
    "yawn",
    "stretch oneself",
    "blow nose",
    "hit other person with something",
    "wield knife towards other person",
    "knock over other person (hit with body)",
    "grab other person's stuff",
    "shoot at other person with a gun",
    "step on foot",
    "high-five",
    "cheers and drink",
    "carry something with other person",
    "take a photo of other person",
    "follow other person",
    "whisper in other person's ear",
    "exchange things with other person",
    "support somebody with hand",
    "finger-guessing game (playing rock-paper-scissors)",
)

# 1-based action ids of the mutual (two-person) actions.
NTU_TWO_PERSON_ACTIONS: frozenset[int] = frozenset(range(50, 61)) | frozenset(range(106, 121))

# Official evaluation protocols.
NTU60_XSUB_TRAIN_PERFORMERS: frozenset[int] = frozenset(
    {1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38}
)
NTU120_XSUB_TRAIN_PERFORMERS: frozenset[int] = NTU60_XSUB_TRAIN_PERFORMERS | frozenset(
    {45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89}
    | {91, 92, 93, 94, 95, 97, 98, 100, 103}
)
NTU60_XVIEW_TRAIN_CAMERAS: frozenset[int] = frozenset({2, 3})
NTU_PROTOCOLS: dict[str, tuple[str, ...]] = {"ntu60": ("xsub", "xview"), "ntu120": ("xsub", "xset")}

_NAME_PATTERN = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
_NAME_FIELDS = ("setup", "camera", "performer", "replication", "action")
_BODY_INFO_FIELDS: tuple[tuple[str, type], ...] = (
    ("bodyID", int),
    ("clippedEdges", int),
    ("handLeftConfidence", int),
    ("handLeftState", int),
    ("handRightConfidence", int),
    ("handRightState", int),
    ("isRestricted", int),
    ("leanX", float),
    ("leanY", float),
    ("trackingState", int),
)


class NTUMissingSkeletonError(SkeletonFileError):
    """The clip holds no usable skeleton: every frame is empty, or denoising removed every body."""


def parse_ntu_name(name: str | Path) -> dict[str, int]:
    """Setup, camera, performer, replication and action ids (all 1-based) from an NTU sample name.

    Accepts ``S001C003P008R002A058`` with or without the ``.skeleton`` suffix and leading directories.
    """
    stem = Path(name).name
    if stem.endswith(".skeleton"):
        stem = stem[: -len(".skeleton")]
    match = _NAME_PATTERN.fullmatch(stem)
    if match is None:
        raise ValueError(f"{str(name)!r} is not an NTU RGB+D sample name like 'S001C003P008R002A058'")
    return {field: int(value) for field, value in zip(_NAME_FIELDS, match.groups(), strict=True)}


class _Lines:
    """The non-blank lines of a text file with their 1-based line numbers, read one at a time."""

    def __init__(self, path: Path):
        self.path = path
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines()  # handles CRLF and a missing final newline
        self.last_line = len(lines)
        self._lines: Iterator[tuple[int, str]] = (
            (number, line.strip()) for number, line in enumerate(lines, start=1) if line.strip()
        )

    def next(self, what: str) -> tuple[int, str]:
        for number, line in self._lines:
            return number, line
        raise SkeletonFileError(self.path, f"file ends early: expected {what}", line=self.last_line + 1)

    def remaining(self) -> tuple[int, str] | None:
        for number, line in self._lines:
            return number, line
        return None

    def count(self, what: str) -> tuple[int, int]:
        number, line = self.next(what)
        fields = line.split()
        if len(fields) != 1:
            raise SkeletonFileError(self.path, f"expected {what} (one integer), got {line!r}", line=number)
        try:
            value = int(fields[0])
        except ValueError:
            raise SkeletonFileError(self.path, f"expected {what}, got {line!r}", line=number) from None
        if value < 0:
            raise SkeletonFileError(self.path, f"{what} must not be negative, got {value}", line=number)
        return number, value


def read_ntu_skeleton(path: str | Path) -> list[list[dict]]:
    """Read a ``.skeleton`` file in full.

    Returns one list per frame (empty for frames without bodies) of body dicts with the 10 body-info fields
    (``bodyID`` and the integer fields as ``int``, ``leanX``/``leanY`` as ``float``) and ``joints``: a float32
    array (25, 12) of x, y, z, depthX, depthY, colorX, colorY, orientation w, x, y, z and trackingState.

    Raises:
        SkeletonFileError: naming the file and 1-based line of a non-numeric value, a wrong number of values
            on a line, a joint count other than 25, fewer frames than declared, or content after the last
            frame.
    """
    path = Path(path)
    lines = _Lines(path)
    _, num_frames = lines.count("the frame count")
    frames: list[list[dict]] = []
    for frame_index in range(num_frames):
        _, num_bodies = lines.count(f"the body count of frame {frame_index + 1} of {num_frames}")
        bodies = []
        for _ in range(num_bodies):
            bodies.append(_read_body(lines, frame_index, num_frames))
        frames.append(bodies)
    extra = lines.remaining()
    if extra is not None:
        raise SkeletonFileError(path, f"unexpected content after the {num_frames} declared frames", line=extra[0])
    return frames


def _read_body(lines: _Lines, frame_index: int, num_frames: int) -> dict:
    where = f"frame {frame_index + 1} of {num_frames}"
    number, line = lines.next(f"a body-info line in {where}")
    values = line.split()
    if len(values) != len(_BODY_INFO_FIELDS):
        raise SkeletonFileError(
            lines.path,
            f"body-info line needs {len(_BODY_INFO_FIELDS)} values, got {len(values)}",
            line=number,
        )
    body: dict = {}
    for (field, kind), value in zip(_BODY_INFO_FIELDS, values, strict=True):
        try:
            body[field] = kind(value)
        except ValueError:
            raise SkeletonFileError(lines.path, f"{field} is not a number: {value!r}", line=number) from None
    number, num_joints = lines.count(f"the joint count in {where}")
    if num_joints != NTU_NUM_JOINTS:
        raise SkeletonFileError(lines.path, f"expected {NTU_NUM_JOINTS} joints per body, got {num_joints}", line=number)
    joints = np.empty((NTU_NUM_JOINTS, NTU_JOINT_VALUES), dtype=np.float32)
    for joint in range(NTU_NUM_JOINTS):
        number, line = lines.next(f"joint {joint + 1} of {NTU_NUM_JOINTS} in {where}")
        values = line.split()
        if len(values) != NTU_JOINT_VALUES:
            raise SkeletonFileError(
                lines.path, f"joint line needs {NTU_JOINT_VALUES} values, got {len(values)}", line=number
            )
        try:
            joints[joint] = [float(value) for value in values]
        except ValueError:
            raise SkeletonFileError(lines.path, f"non-numeric joint value in {line!r}", line=number) from None
    if problem := coordinate_problem(joints):
        raise SkeletonFileError(lines.path, f"joint values: {problem}", line=number)
    body["joints"] = joints
    return body


def _body_motion(xyz: np.ndarray) -> float:
    """The NTU authors' motion measure: the variances of x, y and z over all joints of all frames, summed."""
    return float(np.var(xyz.reshape(-1, 3), axis=0).sum())


def denoise_ntu_bodies(
    frames: Sequence[Sequence[Mapping]],
    max_persons: int = 2,
    *,
    max_noise_length: int = 11,
    spread_ratio: float = 0.8,
    max_noisy_frame_ratio: float = 0.69754,
) -> np.ndarray:
    """Turn the bodies of :func:`read_ntu_skeleton` into a (frames, max_persons, 25, 3) float32 xyz array.

    The heuristics of the community preprocessing (SGN ``get_raw_denoised_data.py``, reused by CTR-GCN, MAMP):

    1. Bodies are grouped by ``bodyID``. A clip with a single body id is kept as it is.
    2. Bodies tracked in ``max_noise_length`` (11) frames or fewer are dropped.
    3. While more than one body remains (bodies visited in order of first appearance): a frame of a body is
       noisy when its x-spread exceeds ``spread_ratio`` (0.8) times its y-spread (people are taller than
       wide, tables and chairs are not); a body whose ratio of noisy frames is ``max_noisy_frame_ratio``
       (0.69754) or more is dropped, the others have their motion re-measured on their clean frames (the
       smaller value wins).
    4. Bodies are ranked by motion (summed variance of x, y, z over all joints and frames). Person slot 0
       takes the most moving body; each further body joins the first slot whose frames it does not overlap
       (a person whose tracking id changed mid-clip continues in the same slot), or is dropped when every
       slot is taken.
    5. Frames in which no kept body is present (including frames with zero bodies) are removed wherever they
       are, as the community preprocessing does; absent persons are zeros.

    Two deliberate differences from the reference script: a body's frames are its true frame indices (the
    script assumes a body is tracked in consecutive frames) and slot overlap is tested frame by frame (the
    script compares interval envelopes and tolerates one shared frame). A clip with nothing left gives an
    array of 0 frames.
    """
    if max_persons < 1:
        raise ValueError(f"max_persons must be at least 1, got {max_persons}")
    num_frames = len(frames)
    body_frames: dict[object, list[int]] = {}
    body_xyz: dict[object, list[np.ndarray]] = {}
    for frame_index, bodies in enumerate(frames):
        for body in bodies:
            body_id = body["bodyID"]
            joints = np.asarray(body["joints"], dtype=np.float32)
            body_frames.setdefault(body_id, []).append(frame_index)
            body_xyz.setdefault(body_id, []).append(joints[:, :3])
    xyz = {body_id: np.stack(poses) for body_id, poses in body_xyz.items()}

    kept = list(xyz)
    motion = {body_id: _body_motion(poses) for body_id, poses in xyz.items()}
    if len(kept) > 1:
        kept = [body_id for body_id in kept if len(body_frames[body_id]) > max_noise_length]
        for body_id in list(kept):
            if len(kept) == 1:
                break
            poses = xyz[body_id]
            x_spread = np.ptp(poses[:, :, 0], axis=1)
            y_spread = np.ptp(poses[:, :, 1], axis=1)
            clean = x_spread <= spread_ratio * y_spread
            noisy_ratio = 1.0 - clean.mean()
            if noisy_ratio >= max_noisy_frame_ratio:
                kept.remove(body_id)
            elif noisy_ratio > 0:
                motion[body_id] = min(motion[body_id], _body_motion(poses[clean]))

    ranked = sorted(kept, key=lambda body_id: motion[body_id], reverse=True)  # stable: ties keep first appearance
    clip = np.zeros((num_frames, max_persons, NTU_NUM_JOINTS, 3), dtype=np.float32)
    occupied = np.zeros((num_frames, max_persons), dtype=bool)
    for body_id in ranked:
        indices = np.asarray(body_frames[body_id])
        for slot in range(max_persons):
            if not occupied[indices, slot].any():
                clip[indices, slot] = xyz[body_id]
                occupied[indices, slot] = True
                break
    return clip[occupied.any(axis=1)]


def center_ntu_clip(clip: np.ndarray) -> np.ndarray:
    """Translate a clip so that the spine middle (joint 2) of person 0 in its first frame is the origin.

    As the community preprocessing does: absent persons (all-zero) stay zero.
    """
    present = np.any(clip != 0, axis=(2, 3))
    first = np.flatnonzero(present[:, 0])
    if first.size == 0:
        return clip.copy()
    origin = clip[first[0], 0, NTU_SPINE_MIDDLE]
    return np.where(present[:, :, None, None], clip - origin, 0).astype(np.float32)


def load_ntu_clip(path: str | Path, max_persons: int = 2, *, center: bool = False) -> tuple[np.ndarray, dict]:
    """Read and denoise one clip: (frames, max_persons, 25, 3) float32 xyz in metres, and its metadata.

    Metadata: the ids of :func:`parse_ntu_name`, ``sample_id`` (the file stem), ``num_frames`` and
    ``num_persons`` (persons present in at least one frame after denoising). Frames without any kept body are
    dropped (see :func:`denoise_ntu_bodies`). ``center=True`` applies :func:`center_ntu_clip`; it is off by
    default because the model's feature extractor centres clips itself, so raw camera coordinates are kept.

    Raises:
        NTUMissingSkeletonError: the file holds no body at all, or denoising removed every body.
        SkeletonFileError: the file is malformed.
        ValueError: the file name is not an NTU sample name.
    """
    path = Path(path)
    metadata: dict = dict(parse_ntu_name(path.name))
    frames = read_ntu_skeleton(path)
    if not any(frames):
        raise NTUMissingSkeletonError(path, f"no skeleton in any of the {len(frames)} frames")
    clip = denoise_ntu_bodies(frames, max_persons)
    if clip.shape[0] == 0:
        raise NTUMissingSkeletonError(path, "denoising removed every body (all were noise)")
    if center:
        clip = center_ntu_clip(clip)
    metadata["sample_id"] = path.name[: -len(".skeleton")] if path.name.endswith(".skeleton") else path.stem
    metadata["num_frames"] = int(clip.shape[0])
    metadata["num_persons"] = int(np.any(clip != 0, axis=(0, 2, 3)).sum())
    return clip, metadata


def read_missing_skeleton_list(path: str | Path) -> set[str]:
    """The sample names of an official ``*_samples_with_missing_skeletons.txt`` list.

    The official files start with two prose lines and a blank line, then one name per line. Blank lines and
    prose are skipped; a line that starts like a sample name (``S`` and a digit) but is not one is an error.
    """
    path = Path(path)
    names: set[str] = set()
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.endswith(".skeleton"):
            line = line[: -len(".skeleton")]
        if _NAME_PATTERN.fullmatch(line):
            names.add(line)
        elif re.match(r"S\d", line):
            raise SkeletonFileError(path, f"malformed sample name {raw.strip()!r}", line=number)
    return names


def ntu_split(meta: Mapping[str, int], benchmark: str, protocol: str) -> str:
    """``"train"`` or ``"test"`` for a clip under an official protocol.

    ``benchmark`` is ``"ntu60"`` (protocols ``"xsub"``, ``"xview"``) or ``"ntu120"`` (``"xsub"``, ``"xset"``);
    ``meta`` needs the ids of :func:`parse_ntu_name` used by the protocol (performer, camera or setup).
    """
    if benchmark not in NTU_PROTOCOLS:
        raise ValueError(f"unknown NTU benchmark {benchmark!r}; valid: {', '.join(NTU_PROTOCOLS)}")
    if protocol not in NTU_PROTOCOLS[benchmark]:
        valid = ", ".join(NTU_PROTOCOLS[benchmark])
        raise ValueError(f"unknown protocol {protocol!r} for {benchmark}; valid: {valid}")
    if protocol == "xsub":
        performers = NTU60_XSUB_TRAIN_PERFORMERS if benchmark == "ntu60" else NTU120_XSUB_TRAIN_PERFORMERS
        is_train = meta["performer"] in performers
    elif protocol == "xview":
        is_train = meta["camera"] in NTU60_XVIEW_TRAIN_CAMERAS
    else:  # xset: even setup ids train
        is_train = meta["setup"] % 2 == 0
    return "train" if is_train else "test"


# ----------------------------------------------------------------------------------------------------
# The NTU RGB+D 60 and 120 benchmarks

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
    import datasets  # here, not at the top: reading a clip does not need it

    from .features import skeleton_features

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
            NTU_LAYOUT.num_channels,
            {key: datasets.Value("int32") for key in ("setup", "camera", "performer", "replication")},
            layout=NTU_LAYOUT,
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
_NTU_RAW_FOLDER = (
    "the folder of .skeleton files (nturgb+d_skeletons/) or its parent; an NTU-120 folder also works for NTU-60"
)


NTU60_BENCHMARK = Benchmark(
    name="ntu60",
    title="NTU RGB+D 60",
    layout=NTU_LAYOUT,
    class_names=NTU60_ACTIONS,
    configs={
        "xsub": "cross-subject: 20 training performers (40,091 / 16,487 clips)",
        "xview": "cross-view: train on cameras 2 and 3, test on camera 1 (37,646 / 18,932 clips)",
    },
    raw_folder=_NTU_RAW_FOLDER,
    homepage="https://rose1.ntu.edu.sg/dataset/actionRecognition/",
    license="other",
    license_text=_NTU_LICENSE,
    citation=_NTU_CITATION_60,
    plan=functools.partial(_ntu_plan, "ntu60"),
    columns=_NTU_COLUMNS,
)
"""The NTU RGB+D 60 entry of ``data.benchmarks.BENCHMARKS`` (``dataset_scripts/ntu60.py``)."""

NTU120_BENCHMARK = Benchmark(
    name="ntu120",
    title="NTU RGB+D 120",
    layout=NTU_LAYOUT,
    class_names=NTU120_ACTIONS,
    configs={
        "xsub": "cross-subject: 53 training performers (63,026 / 50,919 clips)",
        "xset": "cross-setup: train on even setup ids (54,468 / 59,477 clips)",
    },
    raw_folder=_NTU_RAW_FOLDER,
    homepage="https://rose1.ntu.edu.sg/dataset/actionRecognition/",
    license="other",
    license_text=_NTU_LICENSE,
    citation=_NTU_CITATION_120 + "\n" + _NTU_CITATION_60,
    plan=functools.partial(_ntu_plan, "ntu120"),
    columns=_NTU_COLUMNS,
)
"""The NTU RGB+D 120 entry of ``data.benchmarks.BENCHMARKS`` (``dataset_scripts/ntu120.py``)."""
