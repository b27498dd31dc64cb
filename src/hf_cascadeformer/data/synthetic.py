"""The embedded default dataset: procedurally generated skeleton actions on NTU's 25-joint Kinect v2 layout.

It needs no download and is deterministic given a seed, so the README's walk-through, the demos and most tests run
on it. Clips are built the way a character is animated: a rest pose per subject (bone lengths scaled by the
subject's body proportions) is posed by joint-angle trajectories (keyframes eased in and out, plus stepping and
oscillation layers), and forward kinematics turns the angles into joint positions, so bone lengths stay constant
within a clip. The feet are put on the floor, the scene is seen by a Kinect-like camera (metres, y up, x to the
sensor's left, z depth about 2.5-3.5 m) from a random azimuth, and sensor noise is added.

Variation, as in recorded data: per-subject height and segment proportions, posture and gesture size; per-clip
tempo (about 0.7-1.4x), keyframe poses off by a few degrees, idle sway, an occasional unrelated movement (a glance,
the free arm), camera azimuth, height, distance and tilt, a recording window that cuts into the action, Kinect-like
joint jitter (larger at hands and feet) and occasional tracking glitches, 30-120 frames at 30 fps. In two-person
clips the actor's side of the scene and the order of the two body slots are random, as with Kinect body indices.

The actions come in confusable groups, so a single frame does not give the class away: ``sit down`` and
``stand up`` are time reversals of each other and ``squat`` passes through the same crouch; ``raise right hand``
holds the pose ``wave right hand`` oscillates about; the three two-person actions share their approach. What
tells them apart is temporal order, frequency and speed. On the default cross-subject split, numpy baselines
reach about 40-46 % from one random frame and 70 % (nearest centroid) to 86-92 % (logistic regression) from
resampled trajectories and velocities (chance: 8 %); see ``tests/data/test_synthetic.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import datasets
import numpy as np
import pyarrow as pa

from .features import skeleton_features
from .skeletons import NTU_2D_LAYOUT, NTU_LAYOUT, SkeletonLayout, get_layout

# The names `--dataset` takes for the generated datasets: the embedded default dataset (3D and 2D) and the
# synthetic multi-view corpus (`load_multiview_corpus`, pretraining data with a `train` split only; its config is the
# skeleton layout, "ntu", "nucla" or "penn").
EMBEDDED_DATASET = "embedded"
EMBEDDED_2D_DATASET = "embedded-2d"
EMBEDDED_MULTIVIEW_DATASET = "embedded-multiview"
EMBEDDED_DATASETS = (EMBEDDED_DATASET, EMBEDDED_2D_DATASET, EMBEDDED_MULTIVIEW_DATASET)

SYNTHETIC_ACTIONS: tuple[str, ...] = (
    "wave right hand",
    "raise right hand",
    "clap",
    "punch",
    "sit down",
    "stand up",
    "squat",
    "jump",
    "turn around",
    "handshake",
    "push",
    "hug",
)
TWO_PERSON_ACTIONS: frozenset[int] = frozenset(SYNTHETIC_ACTIONS.index(name) for name in ("handshake", "push", "hug"))
FRAMES_PER_SECOND = 30
NUM_PERSONS = 2
NUM_JOINTS = NTU_LAYOUT.num_joints
NUM_VIEWS = 3
# Camera azimuth bucket (the ``view`` column, 1-based like NTU's camera ids) -> its centre in degrees, as NTU's
# three cameras at -45, 0 and +45 degrees; a clip's azimuth is drawn within +-22.5 degrees of the centre, so the
# buckets tile -67.5..67.5 degrees.
VIEW_AZIMUTHS_DEGREES: dict[int, float] = {1: -45.0, 2: 0.0, 3: 45.0}
# Kinect v2 depth-camera intrinsics (512 x 424 image), the ones NTU's depthX / depthY columns follow.
DEPTH_FOCAL_LENGTH = 365.0
DEPTH_PRINCIPAL_POINT = (256.0, 212.0)

_J = {name: index for index, name in enumerate(NTU_LAYOUT.joint_names)}
_FK_ROOT = _J["spine_base"]  # the kinematic tree hangs from the pelvis, so legs and torso rotate independently

# Joint-angle controls. Each rotates the bone that ends at the listed joint, and everything below it, in the
# parent bone's frame. Body frame: x to the person's left, y up, z forward. Angles are Euler (rx, ry, rz) in
# degrees, applied as Ry @ Rz @ Rx, written for the right side; left-side controls are mirrored, so equal numbers
# mean a symmetric pose. Signs: arm/thigh rx < 0 swings forward, rz < 0 abducts (sideways), ry > 0 swings the
# limb across the body; knee rx > 0 bends the knee; torso rx > 0 bends forward; ankle rx > 0 points the toes.
_CONTROL_JOINTS = {
    "torso": "spine_mid",
    "chest": "spine_shoulder",
    "neck": "neck",
    "head": "head",
    "shoulder_r": "elbow_right",
    "elbow_r": "wrist_right",
    "wrist_r": "hand_right",
    "shoulder_l": "elbow_left",
    "elbow_l": "wrist_left",
    "wrist_l": "hand_left",
    "hip_r": "knee_right",
    "knee_r": "ankle_right",
    "ankle_r": "foot_right",
    "hip_l": "knee_left",
    "knee_l": "ankle_left",
    "ankle_l": "foot_left",
}
_CONTROLS = tuple(_CONTROL_JOINTS)
_C = {name: index for index, name in enumerate(_CONTROLS)}
_CONTROLLED_JOINT = np.array([_J[_CONTROL_JOINTS[name]] for name in _CONTROLS])
_MIRROR = np.array([[1.0, -1.0, -1.0] if name.endswith("_l") else [1.0, 1.0, 1.0] for name in _CONTROLS])
_IDLE_CONTROLS = np.array([_C[name] for name in ("torso", "chest", "neck", "head", "shoulder_r", "shoulder_l")])

# Rest-pose bone vectors (metres, body frame, for a person about 1.70 m tall), from parent to child; lengths
# follow Kinect v2 skeletons. The left side is given, the right side mirrors it.
_LEFT_OFFSETS = {
    "shoulder_left": (0.165, -0.035, -0.01),
    "elbow_left": (0.0, -0.26, 0.0),
    "wrist_left": (0.0, -0.24, 0.0),
    "hand_left": (0.0, -0.06, 0.0),
    "thumb_left": (-0.01, -0.025, 0.04),
    "hand_tip_left": (0.01, -0.055, -0.04),
    "hip_left": (0.08, -0.03, 0.0),
    "knee_left": (0.0, -0.38, 0.0),
    "ankle_left": (0.0, -0.38, 0.0),
    "foot_left": (0.0, -0.05, 0.12),
}
_MIDLINE_OFFSETS = {
    "spine_base": (0.0, 0.0, 0.0),
    "spine_mid": (0.0, 0.28, 0.0),
    "spine_shoulder": (0.0, 0.22, 0.0),
    "neck": (0.0, 0.07, 0.0),
    "head": (0.0, 0.13, 0.01),
}
# Which proportion factor of a subject scales each bone.
_SEGMENT_OF_JOINT = {
    **dict.fromkeys(("spine_mid", "spine_shoulder", "neck", "head"), "torso"),
    **dict.fromkeys(("shoulder_left", "shoulder_right"), "shoulder_width"),
    **dict.fromkeys(("hip_left", "hip_right"), "hip_width"),
    **dict.fromkeys(
        ("elbow_left", "wrist_left", "hand_left", "thumb_left", "hand_tip_left")
        + ("elbow_right", "wrist_right", "hand_right", "thumb_right", "hand_tip_right"),
        "arm",
    ),
    **dict.fromkeys(
        ("knee_left", "ankle_left", "foot_left", "knee_right", "ankle_right", "foot_right"),
        "leg",
    ),
}
_SEGMENTS = ("torso", "shoulder_width", "hip_width", "arm", "leg")


def _rest_offsets() -> np.ndarray:
    offsets = np.zeros((NUM_JOINTS, 3))
    for name, vector in _MIDLINE_OFFSETS.items():
        offsets[_J[name]] = vector
    for name, (x, y, z) in _LEFT_OFFSETS.items():
        offsets[_J[name]] = (x, y, z)
        offsets[_J[name.replace("_left", "_right")]] = (-x, y, z)
    return offsets


_REST_OFFSETS = _rest_offsets()
_PARENTS = np.array(NTU_LAYOUT.parents(root=_FK_ROOT))


def _depth_levels(parents: np.ndarray) -> tuple[np.ndarray, ...]:
    """Joints grouped by depth below the root (root excluded): each group is posed in one batched step."""
    depth = np.zeros(len(parents), dtype=int)
    for joint in range(len(parents)):
        node = joint
        while parents[node] >= 0:
            node = parents[node]
            depth[joint] += 1
    return tuple(np.flatnonzero(depth == level) for level in range(1, depth.max() + 1))


_FK_LEVELS = _depth_levels(_PARENTS)
_FEET = np.array([_J[name] for name in ("ankle_left", "foot_left", "ankle_right", "foot_right")])
_EXTREMITIES = np.array(
    [
        _J[name]
        for name in (
            "hand_tip_left",
            "thumb_left",
            "hand_tip_right",
            "thumb_right",
            "foot_left",
            "foot_right",
        )
    ]
)
_LIMBS = np.array(
    [_J[name] for name in ("wrist_left", "hand_left", "wrist_right", "hand_right", "ankle_left", "ankle_right")]
)


@dataclass(frozen=True, eq=False)
class SubjectProfile:
    """One simulated performer: body proportions and movement style.

    Attributes:
        subject_id: The performer's id (the dataset's ``subject`` column).
        bone_offsets: (25, 3) rest-pose bone vectors in metres (body frame), scaled by the proportions.
        tempo: Preferred speed (1.0 = nominal); multiplies every clip's random tempo.
        amplitude: How large the performer's gestures are (1.0 = nominal).
        posture: (controls, 3) constant joint-angle offsets in degrees (slouch, arm carriage).
    """

    subject_id: int
    bone_offsets: np.ndarray
    tempo: float
    amplitude: float
    posture: np.ndarray

    @classmethod
    def random(cls, rng: np.random.Generator, subject_id: int = 0) -> SubjectProfile:
        """Draw a performer: height 1.55-1.90 m, per-segment proportions within +-8 %, a personal style."""
        height_scale = rng.uniform(0.91, 1.12)
        factors = dict(zip(_SEGMENTS, np.clip(rng.normal(1.0, 0.04, len(_SEGMENTS)), 0.92, 1.08), strict=True))
        scale = np.ones(NUM_JOINTS)
        for joint_name, segment in _SEGMENT_OF_JOINT.items():
            scale[_J[joint_name]] = factors[segment]
        posture = rng.normal(0.0, 2.5, (len(_CONTROLS), 3))
        posture[_C["torso"], 0] += rng.uniform(-2.0, 6.0)  # some stand upright, some slouch
        return cls(
            subject_id=int(subject_id),
            bone_offsets=_REST_OFFSETS * (scale * height_scale)[:, None],
            tempo=float(rng.uniform(0.9, 1.1)),
            amplitude=float(rng.uniform(0.85, 1.15)),
            posture=posture,
        )

    def bone_lengths(self) -> np.ndarray:
        """Length of every bone of ``NTU_LAYOUT.bones`` in metres."""
        return np.array([np.linalg.norm(self._joint_vector(a, b)) for a, b in NTU_LAYOUT.bones])

    def _joint_vector(self, a: int, b: int) -> np.ndarray:
        # Bone offsets are stored parent -> child in the pelvis-rooted tree; a layout bone is one such edge.
        child = b if _PARENTS[b] == a else a
        return self.bone_offsets[child]


# --------------------------------------------------------------------------------------------------------------
# Poses and keyframed scripts


def _pose(base: np.ndarray | None = None, **controls: tuple[float, float, float]) -> np.ndarray:
    """A (controls, 3) pose in degrees: ``base`` (default rest) with some controls replaced.

    A control name without side (``shoulder``, ``elbow``, ``wrist``, ``hip``, ``knee``, ``ankle``) sets both sides.
    """
    pose = (_REST_POSE if base is None else base).copy()
    for name, angles in controls.items():
        names = (name,) if name in _C else (f"{name}_r", f"{name}_l")
        for control in names:
            pose[_C[control]] = angles
    return pose


_REST_POSE = _pose(
    np.zeros((len(_CONTROLS), 3)),
    shoulder=(-4.0, 0.0, -8.0),
    elbow=(-12.0, 0.0, 0.0),
    hip=(-2.0, 0.0, -3.0),
    knee=(4.0, 0.0, 0.0),
)
_REST_POSE[_C["ankle_r"]] = _REST_POSE[_C["ankle_l"]] = (-2.0, 0.0, 0.0)


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


class _Script:
    """Keyframes of one performer: poses and root motion (forward, sideways in metres; yaw in degrees).

    Consecutive keyframes are eased in and out (smoothstep), which gives the bell-shaped speed of human
    movement. Layers added with :meth:`layer` (stepping, flight) are applied after the keyframes are rendered.
    """

    def __init__(self, pose: np.ndarray, frames_per_second: float, rng: np.random.Generator, variation: float = 4.0):
        self.frames_per_second = frames_per_second
        self._rng = rng
        self._variation = variation
        self._times = [0.0]
        self._poses = [pose]
        self._roots = [np.zeros(3)]
        self.layers: list[Callable[[np.ndarray, np.ndarray, np.ndarray], None]] = []

    @property
    def now(self) -> float:
        """The time of the last keyframe, in frames."""
        return self._times[-1]

    @property
    def pose(self) -> np.ndarray:
        return self._poses[-1]

    def to(self, pose: np.ndarray | None, seconds: float, root: tuple[float, float, float] | None = None) -> None:
        """Move to ``pose`` (None: keep the pose) and root offset ``root`` (None: stay) in ``seconds``.

        A new pose is never reached exactly: every joint angle is off by a few degrees, as in a real repetition.
        """
        self._times.append(self.now + max(seconds * self.frames_per_second, 1.0))
        if pose is not None:
            pose = pose + self._rng.normal(0.0, self._variation, pose.shape)
        self._poses.append(self.pose if pose is None else pose)
        self._roots.append(self._roots[-1] if root is None else np.asarray(root, dtype=float))

    def hold(self, seconds: float) -> None:
        self.to(None, seconds)

    @property
    def root(self) -> np.ndarray:
        return self._roots[-1]

    def layer(self, function: Callable[[np.ndarray, np.ndarray, np.ndarray], None]) -> None:
        """Add ``function(angles (T, controls, 3), root (T, 3), lift (T,))``, which edits the arrays in place."""
        self.layers.append(function)

    def render(self, num_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        times = np.asarray(self._times)
        frames = np.arange(num_frames, dtype=float)
        segment = np.clip(np.searchsorted(times, frames, side="right") - 1, 0, len(times) - 2)
        span = times[segment + 1] - times[segment]
        eased = _smoothstep((frames - times[segment]) / span)
        poses = np.stack(self._poses)
        roots = np.stack(self._roots)
        angles = poses[segment] + (poses[segment + 1] - poses[segment]) * eased[:, None, None]
        root = roots[segment] + (roots[segment + 1] - roots[segment]) * eased[:, None]
        lift = np.zeros(num_frames)
        for function in self.layers:
            function(angles, root, lift)
        return angles, root, lift


def _steps(
    script: _Script,
    seconds: float,
    num_steps: int,
    hip: float = 22.0,
    knee: float = 40.0,
    first_leg: str = "r",
) -> None:
    """Add ``num_steps`` alternating leg lifts from now over ``seconds`` (keyframes move the root meanwhile)."""
    start = script.now
    stop = start + seconds * script.frames_per_second

    def apply(angles: np.ndarray, root: np.ndarray, lift: np.ndarray) -> None:
        frames = np.arange(len(angles), dtype=float)
        progress = (frames - start) / (stop - start) * num_steps
        inside = (progress >= 0) & (progress < num_steps)
        step_index = np.floor(progress).astype(int)
        height = np.where(inside, np.sin(np.pi * (progress - step_index)), 0.0)
        right_first = first_leg == "r"
        right = inside & ((step_index % 2 == 0) == right_first)
        for side, mask in (("r", right), ("l", inside & ~right)):
            amount = np.where(mask, height, 0.0)
            angles[:, _C[f"hip_{side}"], 0] -= hip * amount
            angles[:, _C[f"knee_{side}"], 0] += knee * amount
            angles[:, _C[f"ankle_{side}"], 0] += 0.3 * knee * amount
            # the arms swing against the legs
            other = "l" if side == "r" else "r"
            angles[:, _C[f"shoulder_{other}"], 0] -= 0.4 * hip * amount
            angles[:, _C[f"shoulder_{side}"], 0] += 0.3 * hip * amount

    script.layer(apply)


def _flight(script: _Script, seconds: float, height: float) -> None:
    """Leave the floor from now for ``seconds`` along a ballistic arc of the given peak height."""
    start = script.now
    stop = start + seconds * script.frames_per_second

    def apply(angles: np.ndarray, root: np.ndarray, lift: np.ndarray) -> None:
        u = (np.arange(len(lift)) - start) / (stop - start)
        lift += np.where((u > 0) & (u < 1), 4.0 * height * u * (1.0 - u), 0.0)

    script.layer(apply)


# --------------------------------------------------------------------------------------------------------------
# The actions. Each builds the scripts of its performers from the clip's random generator and the performers'
# styles; durations are in seconds at nominal tempo.

_ARM_UP_WAVE = {"shoulder_r": (-20.0, 0.0, -95.0), "elbow_r": (0.0, 0.0, -75.0)}


def _start(script: _Script, rng: np.random.Generator) -> None:
    script.hold(rng.uniform(0.1, 0.7))


def _finish(script: _Script, rng: np.random.Generator, seconds: tuple[float, float] = (0.35, 0.55)) -> None:
    script.to(_REST_POSE, rng.uniform(*seconds))
    script.hold(rng.uniform(0.05, 0.5))


def _wave_right_hand(rng: np.random.Generator, actor: SubjectProfile, scripts: list[_Script]) -> None:
    (s,) = scripts
    _start(s, rng)
    up = _pose(**_ARM_UP_WAVE)
    up[_C["shoulder_r"]] += (rng.uniform(-15.0, 15.0), 0.0, rng.normal(0.0, 8.0))  # arm plane and height
    s.to(up, rng.uniform(0.35, 0.55))
    swing = rng.uniform(22.0, 35.0) * actor.amplitude
    half_period = 1.0 / rng.uniform(3.4, 5.0)  # 1.7-2.5 waves per second
    for _ in range(int(rng.integers(2, 4))):
        for sign in (1.0, -1.0):
            side = up.copy()
            side[_C["elbow_r"], 2] += sign * swing * rng.uniform(0.8, 1.1)
            side[_C["wrist_r"], 2] += sign * 0.4 * swing
            s.to(side, half_period * rng.uniform(0.85, 1.15))
    s.to(up, half_period * 0.5)
    _finish(s, rng)


def _raise_right_hand(rng: np.random.Generator, actor: SubjectProfile, scripts: list[_Script]) -> None:
    (s,) = scripts
    _start(s, rng)
    up = _pose(**_ARM_UP_WAVE)
    up[_C["shoulder_r"]] += (rng.uniform(-15.0, 15.0), 0.0, rng.normal(0.0, 8.0))  # arm plane and height
    up[_C["elbow_r"], 2] += rng.uniform(-25.0, 25.0)  # the hold sits anywhere within the wave's swing
    s.to(up, rng.uniform(0.35, 0.55))
    s.hold(rng.uniform(0.6, 1.4))
    _finish(s, rng)


def _clap(rng: np.random.Generator, actor: SubjectProfile, scripts: list[_Script]) -> None:
    (s,) = scripts
    _start(s, rng)
    height = rng.uniform(-10.0, 10.0)
    open_pose = _pose(shoulder=(-55.0 + height, 2.0, -12.0), elbow=(-55.0, 0.0, 0.0))
    closed = _pose(shoulder=(-55.0 + height, 30.0, -12.0), elbow=(-60.0, 0.0, 0.0))
    s.to(open_pose, rng.uniform(0.3, 0.45))
    half_period = 1.0 / rng.uniform(5.0, 7.0)
    for _ in range(int(rng.integers(3, 6))):
        s.to(closed, half_period * rng.uniform(0.9, 1.1))
        s.to(open_pose, half_period * rng.uniform(0.9, 1.1))
    _finish(s, rng)


def _punch(rng: np.random.Generator, actor: SubjectProfile, scripts: list[_Script]) -> None:
    (s,) = scripts
    _start(s, rng)
    guard = _pose(shoulder=(-35.0, 12.0, -25.0), elbow=(-125.0, 0.0, 0.0), knee=(10.0, 0.0, 0.0))
    guard[_C["hip_r"]] = guard[_C["hip_l"]] = (-8.0, 0.0, -5.0)
    side = "r" if rng.random() < 0.7 else "l"  # most punch with the right hand
    jab = guard.copy()
    jab[_C[f"shoulder_{side}"]] = (-85.0 * actor.amplitude**0.3, 14.0, -8.0)
    jab[_C[f"elbow_{side}"]] = (-8.0, 0.0, 0.0)
    jab[_C["chest"]] = (5.0, 12.0 if side == "r" else -12.0, 0.0)  # the shoulder follows the fist
    s.to(guard, rng.uniform(0.3, 0.45))
    for _ in range(int(rng.integers(2, 4))):
        s.hold(rng.uniform(0.05, 0.25))
        s.to(jab, rng.uniform(0.1, 0.16))
        s.to(guard, rng.uniform(0.18, 0.26))
    _finish(s, rng)


def _crouch(rng: np.random.Generator, depth: float) -> np.ndarray:
    """A crouch with arms forward for balance; ``depth`` 1 is a deep squat."""
    hip, knee = 95.0 * depth, 120.0 * depth
    return _pose(
        torso=(35.0 * depth, 0.0, 0.0),
        shoulder=(-70.0 * depth + rng.normal(0, 5), 0.0, -10.0),
        elbow=(-20.0, 0.0, 0.0),
        hip=(-hip, 0.0, -8.0),
        knee=(knee, 0.0, 0.0),
        ankle=(hip - knee, 0.0, 0.0),
    )


def _sit_down(rng: np.random.Generator, actor: SubjectProfile, scripts: list[_Script]) -> None:
    (s,) = scripts
    _start(s, rng)
    s.to(_crouch(rng, rng.uniform(0.8, 1.05)), rng.uniform(0.9, 1.4))
    s.hold(rng.uniform(0.3, 1.0))


def _squat(rng: np.random.Generator, actor: SubjectProfile, scripts: list[_Script]) -> None:
    (s,) = scripts
    _start(s, rng)
    for _ in range(int(rng.integers(1, 3))):  # one squat looks like sitting down and standing up again
        s.to(_crouch(rng, rng.uniform(0.7, 1.0)), rng.uniform(0.5, 0.75))
        s.hold(rng.uniform(0.0, 0.15))
        s.to(_REST_POSE, rng.uniform(0.5, 0.75))
        s.hold(rng.uniform(0.0, 0.2))


def _jump(rng: np.random.Generator, actor: SubjectProfile, scripts: list[_Script]) -> None:
    (s,) = scripts
    _start(s, rng)
    for _ in range(int(rng.integers(1, 3))):
        depth = rng.uniform(0.55, 0.8)
        wind_up = _crouch(rng, depth)
        wind_up[_C["shoulder_r"]] = wind_up[_C["shoulder_l"]] = (35.0, 0.0, -12.0)  # arms swung back
        take_off = _pose(
            shoulder=(-140.0 * actor.amplitude**0.5, 0.0, -15.0),
            elbow=(-15.0, 0.0, 0.0),
            hip=(-5.0, 0.0, -4.0),
            knee=(5.0, 0.0, 0.0),
            ankle=(35.0, 0.0, 0.0),
        )
        s.to(wind_up, rng.uniform(0.35, 0.5))
        s.to(take_off, rng.uniform(0.12, 0.18))
        flight = rng.uniform(0.3, 0.42)
        _flight(s, flight, height=9.81 * flight**2 / 8.0)
        s.to(_crouch(rng, depth * 0.6), flight)
        s.to(_REST_POSE, rng.uniform(0.35, 0.5))
        s.hold(rng.uniform(0.05, 0.3))


def _turn_around(rng: np.random.Generator, actor: SubjectProfile, scripts: list[_Script]) -> None:
    (s,) = scripts
    _start(s, rng)
    seconds = rng.uniform(1.4, 2.2)
    turn = rng.choice([-1.0, 1.0]) * rng.uniform(150.0, 200.0)
    _steps(s, seconds, int(rng.integers(3, 6)), hip=rng.uniform(15.0, 25.0), knee=rng.uniform(30.0, 45.0))
    s.to(None, seconds, root=(rng.normal(0, 0.05), rng.normal(0, 0.05), turn))
    s.hold(rng.uniform(0.2, 0.6))


def _sync(scripts: list[_Script]) -> None:
    """Let the performers who are ahead wait for the last one."""
    latest = max(s.now for s in scripts)
    for s in scripts:
        if latest - s.now >= 1.0:
            s.hold((latest - s.now) / s.frames_per_second)


def _approach(rng: np.random.Generator, s: _Script, distance: float, seconds: float, num_steps: int) -> None:
    _steps(s, seconds, num_steps, first_leg=rng.choice(["r", "l"]))
    s.to(None, seconds, root=s.root + (distance, 0.0, 0.0))


def _handshake(rng: np.random.Generator, actor: SubjectProfile, scripts: list[_Script]) -> float:
    a, b = scripts
    separation = rng.uniform(1.2, 1.45)
    walk = (separation - rng.uniform(0.85, 1.0)) / 2  # each walks half the way to arm's length
    seconds = rng.uniform(0.5, 0.75)
    offer = _pose(shoulder_r=(-45.0, 12.0, -6.0), elbow_r=(-35.0, 0.0, 0.0))
    up = offer.copy()
    up[_C["elbow_r"], 0] -= 12.0
    for s in scripts:
        _start(s, rng)
    b.hold(rng.uniform(0.0, 0.3))  # the partner reacts a little later
    for s in scripts:
        _approach(rng, s, walk, seconds, 2)
        s.to(offer, rng.uniform(0.3, 0.45))
    _sync(scripts)
    half_period = 1.0 / rng.uniform(5.0, 7.0)
    for _ in range(int(rng.integers(2, 4))):
        for pose in (up, offer):
            seconds = half_period * rng.uniform(0.9, 1.1)
            a.to(pose, seconds)
            b.to(pose, seconds)
    for s in scripts:
        s.hold(rng.uniform(0.0, 0.2))
        _finish(s, rng)
    return separation


def _push(rng: np.random.Generator, actor: SubjectProfile, scripts: list[_Script]) -> float:
    a, b = scripts
    separation = rng.uniform(1.1, 1.3)
    _start(a, rng)
    ready = _pose(shoulder=(-60.0, 10.0, -15.0), elbow=(-75.0, 0.0, 0.0))
    shove = _pose(shoulder=(-80.0, 10.0, -10.0), elbow=(-10.0, 0.0, 0.0), torso=(15.0, 0.0, 0.0))
    _approach(rng, a, separation - rng.uniform(0.55, 0.65), rng.uniform(0.7, 0.9), 2)
    a.to(ready, rng.uniform(0.25, 0.35))
    push_time = a.now
    a.to(shove, rng.uniform(0.15, 0.22))
    b.hold(push_time / b.frames_per_second + 0.1)
    stagger = _pose(torso=(-15.0, rng.normal(0, 8), 0.0), shoulder=(-40.0, 0.0, -35.0), elbow=(-40.0, 0.0, 0.0))
    _steps(b, 0.5, 2, hip=15.0, knee=30.0)
    b.to(stagger, 0.5, root=(-rng.uniform(0.3, 0.5), rng.normal(0, 0.05), rng.normal(0, 10.0)))
    b.to(_REST_POSE, rng.uniform(0.5, 0.7))
    a.hold(rng.uniform(0.1, 0.3))
    a.to(_REST_POSE, rng.uniform(0.45, 0.6))
    return separation


def _hug(rng: np.random.Generator, actor: SubjectProfile, scripts: list[_Script]) -> float:
    a, b = scripts
    separation = rng.uniform(1.0, 1.3)
    walk = (separation - rng.uniform(0.35, 0.42)) / 2
    seconds = rng.uniform(0.5, 0.75)
    for s, high in ((a, True), (b, False)):
        _start(s, rng)
        embrace = _pose(
            shoulder=(-95.0 if high else -70.0, 35.0, -25.0),
            elbow=(-15.0, 75.0, 0.0),
            torso=(8.0, 0.0, 0.0),
            head=(0.0, 30.0 if high else -30.0, 0.0),  # heads side by side
        )
        _approach(rng, s, walk, seconds, 2)
        s.to(embrace, rng.uniform(0.3, 0.45))
        s.hold(rng.uniform(0.5, 1.0))
        s.to(_REST_POSE, rng.uniform(0.4, 0.6), root=s.root - (rng.uniform(0.05, 0.15), 0.0, 0.0))
    return separation


def _stand_up(rng: np.random.Generator, actor: SubjectProfile, scripts: list[_Script]) -> None:
    _sit_down(rng, actor, scripts)  # generated as sitting down, then reversed in time


_ACTION_SCRIPTS = {
    "wave right hand": _wave_right_hand,
    "raise right hand": _raise_right_hand,
    "clap": _clap,
    "punch": _punch,
    "sit down": _sit_down,
    "stand up": _stand_up,
    "squat": _squat,
    "jump": _jump,
    "turn around": _turn_around,
    "handshake": _handshake,
    "push": _push,
    "hug": _hug,
}
_TIME_REVERSED = frozenset({SYNTHETIC_ACTIONS.index("stand up")})
# Actions in which the feet stay where they are (the pelvis moves over them, e.g. backwards in a squat).
_PLANTED = frozenset(SYNTHETIC_ACTIONS.index(name) for name in ("sit down", "stand up", "squat", "jump", "clap"))


# ------------------------------------------------------------------------------------------------------------
# Kinematics, scene and camera


def _euler_rotations(degrees: np.ndarray) -> np.ndarray:
    """(n, 3, frames) Euler angles (rx, ry, rz) in degrees -> rotations Ry @ Rz @ Rx as (n, 3, 3, frames).

    Frames last ("structure of arrays"), so products of many small rotations are a handful of elementwise
    operations on long contiguous vectors.
    """
    radians = np.deg2rad(degrees).astype(np.float32)  # float32 trigonometry is SIMD-vectorised, 8x faster
    (cx, cy, cz), (sx, sy, sz) = np.moveaxis(np.cos(radians), 1, 0), np.moveaxis(np.sin(radians), 1, 0)
    rotations = np.empty((degrees.shape[0], 3, 3, degrees.shape[2]))
    rotations[:, 0, 0] = cy * cz
    rotations[:, 0, 1] = sy * sx - cy * sz * cx
    rotations[:, 0, 2] = cy * sz * sx + sy * cx
    rotations[:, 1, 0] = sz
    rotations[:, 1, 1] = cz * cx
    rotations[:, 1, 2] = -cz * sx
    rotations[:, 2, 0] = -sy * cz
    rotations[:, 2, 1] = sy * sz * cx + cy * sx
    rotations[:, 2, 2] = cy * cx - sy * sz * sx
    return rotations


def _yaw_rotation(degrees: float) -> np.ndarray:
    angle = np.deg2rad(degrees)
    return np.array([[np.cos(angle), 0.0, np.sin(angle)], [0.0, 1.0, 0.0], [-np.sin(angle), 0.0, np.cos(angle)]])


def forward_kinematics(angles: np.ndarray, bone_offsets: np.ndarray) -> np.ndarray:
    """Joint positions (frames, 25, 3) in the body frame, pelvis at the origin, from control angles.

    ``angles`` is (frames, controls, 3) in degrees (right-side convention; the left side is mirrored here);
    ``bone_offsets`` the rest bone vectors, (25, 3) or one set per frame (frames, 25, 3). Rotations compose down
    the pelvis-rooted tree, so every bone keeps its length.
    """
    num_frames = len(angles)
    # joints first, frames last: gathering a level's parents copies contiguous blocks
    offsets = np.broadcast_to(bone_offsets, (num_frames, NUM_JOINTS, 3)).transpose(1, 2, 0)
    orientation = np.zeros((NUM_JOINTS, 3, 3, num_frames))
    for axis in range(3):
        orientation[:, axis, axis] = 1.0
    orientation[_CONTROLLED_JOINT] = _euler_rotations((angles * _MIRROR).transpose(1, 2, 0))
    positions = np.zeros((NUM_JOINTS, 3, num_frames))
    for joints in _FK_LEVELS:  # parents before children; each level in one step
        parents = _PARENTS[joints]
        parent, local = orientation[parents], orientation[joints]
        world = parent[:, :, 0, None] * local[:, None, 0]
        world += parent[:, :, 1, None] * local[:, None, 1]
        world += parent[:, :, 2, None] * local[:, None, 2]
        orientation[joints] = world
        positions[joints] = positions[parents] + (world * offsets[joints, None]).sum(axis=2)
    return positions.transpose(2, 0, 1)


def _idle_sway(rng: np.random.Generator, num_frames: int) -> np.ndarray:
    """Small slow drift of the trunk, head and shoulders (a person never stands perfectly still)."""
    shape = (2, len(_IDLE_CONTROLS), 3)
    frequency = rng.uniform(0.15, 0.6, shape)
    phase = rng.uniform(0.0, 2.0 * np.pi, shape)
    amplitude = rng.uniform(0.5, 2.0, shape)
    t = np.arange(num_frames)[:, None, None, None] / FRAMES_PER_SECOND
    sway = np.zeros((num_frames, len(_CONTROLS), 3))
    sway[:, _IDLE_CONTROLS] = (amplitude * np.sin((2.0 * np.pi * frequency * t + phase).astype(np.float32))).sum(1)
    return sway


_FIDGET_CONTROLS = np.array(
    [_C[name] for name in ("head", "neck", "torso", "shoulder_l", "elbow_l", "wrist_l", "hip_l", "hip_r")]
)


def _fidget(rng: np.random.Generator, num_frames: int) -> np.ndarray:
    """Half of the time, one unrelated movement (a glance, a shift of weight, the free arm) at a random time."""
    fidget = np.zeros((num_frames, len(_CONTROLS), 3))
    happens, control, delta = rng.random() < 0.5, rng.choice(_FIDGET_CONTROLS), rng.normal(0.0, 15.0, 3)
    centre, half_width = rng.uniform(0, num_frames), rng.uniform(0.3, 0.7) * FRAMES_PER_SECOND
    if happens:
        u = np.clip((np.arange(num_frames) - centre) / half_width, -1.0, 1.0)
        fidget[:, control] = np.cos(0.5 * np.pi * u)[:, None] ** 2 * delta
    return fidget


@dataclass
class _Performer:
    """One performer of a planned clip: joint angles over time and where they stand."""

    angles: np.ndarray  # (frames, controls, 3) degrees
    root: np.ndarray  # (frames, 3): forward, sideways (m) and turn (degrees), in the starting facing frame
    lift: np.ndarray  # (frames,) height above the floor (flight)
    bone_offsets: np.ndarray
    position: tuple[float, float]  # (x, z) on the scene floor
    facing: float  # degrees about the vertical; 0 faces +z, 180 faces the camera


@dataclass(frozen=True)
class CameraPose:
    """Where the camera stands: azimuth about the vertical (0 sees the performer from the front, give or take the
    20 degrees they turn), downward tilt, height above the floor and distance to the scene origin."""

    azimuth_degrees: float
    tilt_degrees: float
    height_m: float
    distance_m: float


@dataclass
class _ClipPlan:
    action: int
    performers: list[_Performer]
    camera_rotation: np.ndarray  # camera-from-scene rotation
    camera_offset: np.ndarray  # the scene origin in camera coordinates


def _plan_clip(
    action: int,
    rng: np.random.Generator,
    subject: SubjectProfile | None,
    view: int | None,
    min_frames: int,
    max_frames: int,
    camera: CameraPose | None = None,
) -> _ClipPlan:
    """Every random choice of a clip except the sensor noise, in a fixed order; `camera` replaces the drawn camera
    (the view bucket, tilt, height and distance) and the draws for it."""
    if not 0 <= action < len(SYNTHETIC_ACTIONS):
        raise ValueError(f"action must be in [0, {len(SYNTHETIC_ACTIONS)}), got {action}")
    subject = SubjectProfile.random(rng) if subject is None else subject
    view = int(rng.integers(1, NUM_VIEWS + 1)) if view is None else int(view)
    if view not in VIEW_AZIMUTHS_DEGREES:
        raise ValueError(f"view must be one of {sorted(VIEW_AZIMUTHS_DEGREES)}, got {view}")
    two_person = action in TWO_PERSON_ACTIONS
    profiles = [subject, SubjectProfile.random(rng, subject_id=-1)] if two_person else [subject]

    tempo = subject.tempo * rng.uniform(0.75, 1.3)
    scripts = [_Script(_REST_POSE, FRAMES_PER_SECOND / tempo, rng) for _ in profiles]
    separation = _ACTION_SCRIPTS[SYNTHETIC_ACTIONS[action]](rng, subject, scripts)
    # the recording window does not match the performance exactly: up to 12 % is cut at either end
    performance_frames = int(np.ceil(max(s.now for s in scripts))) + 1
    cut_start, cut_end = (rng.uniform(0.0, 0.12, 2) * performance_frames).astype(int)
    num_frames = int(np.clip(performance_frames - cut_start - cut_end, min_frames, max_frames))

    if two_person:  # face each other across the scene origin, right hands roughly in line
        placements = [((-separation / 2, -0.12), 90.0), ((separation / 2, 0.12), -90.0)]
        scene_turn = rng.uniform(-20.0, 20.0) + 180.0 * (rng.random() < 0.5)  # the actor on either side
    else:  # face the camera (which looks along +z), give or take
        placements = [((0.0, 0.0), 180.0)]
        scene_turn = 0.0
    performers = []
    for script, profile, (position, facing) in zip(scripts, profiles, placements, strict=True):
        angles, root, lift = (array[cut_start:] for array in script.render(cut_start + num_frames))
        angles += profile.posture + _idle_sway(rng, num_frames) + _fidget(rng, num_frames)
        facing += rng.uniform(-20.0, 20.0) if not two_person else rng.normal(0.0, 6.0)
        performers.append(_Performer(angles, root, lift, profile.bone_offsets, position, facing))
    if two_person and rng.random() < 0.5:
        performers.reverse()  # like Kinect body indices, the slot order says nothing about roles

    # camera: azimuth around the scene, slight downward tilt, height above the floor, distance
    if camera is None:
        azimuth = VIEW_AZIMUTHS_DEGREES[view] + rng.uniform(-22.5, 22.5) + scene_turn
        tilt = np.deg2rad(rng.uniform(-3.0, 10.0))
        offset = np.array([rng.uniform(-0.35, 0.35), -rng.uniform(0.75, 1.1), rng.uniform(2.6, 3.5)])
    else:
        azimuth, tilt = camera.azimuth_degrees + scene_turn, np.deg2rad(camera.tilt_degrees)
        offset = np.array([0.0, -camera.height_m, camera.distance_m])
    tilt_rotation = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(tilt), -np.sin(tilt)], [0.0, np.sin(tilt), np.cos(tilt)]])
    return _ClipPlan(action, performers, tilt_rotation @ _yaw_rotation(azimuth), offset)


def _stage(performer: _Performer, joints: np.ndarray, planted: bool) -> np.ndarray:
    """Body-frame joints (frames, 25, 3) of one performer -> scene frame: on the floor, moved, placed."""
    if planted:  # keep the mean foot position fixed: the pelvis travels over the feet instead
        drift = joints[:, _FEET][:, :, [0, 2]].mean(axis=1)
        joints[:, :, [0, 2]] -= (drift - drift[0])[:, None, :]
    joints[:, :, 1] -= joints[:, _FEET, 1].min(axis=1)[:, None]  # the lowest foot point touches the floor
    joints[:, :, 1] += performer.lift[:, None]
    turn = np.deg2rad(performer.root[:, 2])[:, None]
    cos, sin = np.cos(turn), np.sin(turn)
    x = cos * joints[:, :, 0] + sin * joints[:, :, 2] - performer.root[:, 1, None]  # sideways: to the right, -x
    z = -sin * joints[:, :, 0] + cos * joints[:, :, 2] + performer.root[:, 0, None]
    staged = np.stack([x, joints[:, :, 1], z], axis=-1) @ _yaw_rotation(performer.facing).T
    staged[..., 0] += performer.position[0]
    staged[..., 2] += performer.position[1]
    return staged


def project_to_depth_image(points: np.ndarray) -> np.ndarray:
    """Perspective projection of camera-frame points (..., 3) to Kinect v2 depth-image pixels (..., 2).

    Follows NTU's ``depthX``/``depthY`` columns: u grows with x, v grows downwards (image rows). Points at
    depth 0 (absent persons) map to (0, 0).
    """
    depth = points[..., 2]
    present = depth > 1e-6
    safe = np.where(present, depth, 1.0)
    u = DEPTH_PRINCIPAL_POINT[0] + DEPTH_FOCAL_LENGTH * points[..., 0] / safe
    v = DEPTH_PRINCIPAL_POINT[1] - DEPTH_FOCAL_LENGTH * points[..., 1] / safe
    return np.where(present[..., None], np.stack([u, v], axis=-1), 0.0)


def _film(plan: _ClipPlan, bodies: list[np.ndarray], rng: np.random.Generator, num_channels: int, noise_scale: float):
    """Staged performers -> the clip as the sensor sees it: camera frame, noise, optional projection."""
    planted = plan.action in _PLANTED
    num_frames = len(bodies[0])
    scene = np.zeros((num_frames, NUM_PERSONS, NUM_JOINTS, 3))
    for index, (performer, joints) in enumerate(zip(plan.performers, bodies, strict=True)):
        scene[:, index] = _stage(performer, joints, planted)
    camera = scene @ plan.camera_rotation.T + plan.camera_offset
    # Kinect-like noise: hands, thumbs and feet jitter more than the trunk
    present = len(bodies)
    noise = rng.normal(0.0, 1.0, (num_frames, present, NUM_JOINTS, 3))
    camera[:, :present] += noise * (_NOISE_STD[:, None] * noise_scale)
    # tracking glitches: now and then a hand or foot jumps away for a few frames
    for person in range(present):
        happens, limb = rng.random() < 0.3, _GLITCH_LIMBS[rng.integers(len(_GLITCH_LIMBS))]
        start, length, jump = rng.integers(num_frames), rng.integers(3, 9), rng.normal(0.0, 0.08, 3)
        if happens:
            camera[start : start + length, person, limb] += jump * noise_scale
    camera[:, present:] = 0.0  # absent persons are all zeros
    if plan.action in _TIME_REVERSED:
        camera = camera[::-1]
    if num_channels == 2:
        camera = project_to_depth_image(camera)
    return np.ascontiguousarray(camera, dtype=np.float32)


_GLITCH_LIMBS = [
    np.array([_J[f"{part}_{side}"] for part in parts])
    for side in ("left", "right")
    for parts in (("wrist", "hand", "hand_tip", "thumb"), ("ankle", "foot"))
]
_NOISE_STD = np.full(NUM_JOINTS, 0.004)
_NOISE_STD[_LIMBS] = 0.008
_NOISE_STD[_EXTREMITIES] = 0.016
_FK_BATCH_FRAMES = 8192  # bounds the memory of one batched forward-kinematics call (about 15 MB)


# (action, rng, subject, view, camera): what `_plan_clip` takes besides the frame bounds.
_ClipRequest = tuple[int, np.random.Generator, SubjectProfile | None, int | None, CameraPose | None]


def _generate_clips(
    requests: list[_ClipRequest],
    num_channels: int = 3,
    noise_scale: float = 1.0,
    min_frames: int = 30,
    max_frames: int = 120,
) -> list[np.ndarray]:
    """Many clips at once: plan each, run forward kinematics on all performers in large batches, film each.

    Identical to calling :func:`generate_clip` once per request, only faster.
    """
    if num_channels not in (2, 3):
        raise ValueError(f"num_channels must be 2 or 3, got {num_channels}")
    clips = []
    for start in range(0, len(requests), 32):
        chunk = requests[start : start + 32]
        plans = [
            _plan_clip(action, rng, subject, view, min_frames, max_frames, camera)
            for action, rng, subject, view, camera in chunk
        ]
        performers = [performer for plan in plans for performer in plan.performers]
        bodies = _batched_forward_kinematics(performers)
        for plan, (_, rng, *_) in zip(plans, chunk, strict=True):
            own, bodies = bodies[: len(plan.performers)], bodies[len(plan.performers) :]
            clips.append(_film(plan, own, rng, num_channels, noise_scale))
    return clips


def _batched_forward_kinematics(performers: list[_Performer]) -> list[np.ndarray]:
    lengths = [len(p.angles) for p in performers]
    angles = np.concatenate([p.angles for p in performers])
    offsets = np.concatenate([np.broadcast_to(p.bone_offsets, (len(p.angles), NUM_JOINTS, 3)) for p in performers])
    joints = np.concatenate(
        [
            forward_kinematics(angles[i : i + _FK_BATCH_FRAMES], offsets[i : i + _FK_BATCH_FRAMES])
            for i in range(0, len(angles), _FK_BATCH_FRAMES)
        ]
    )
    return np.split(joints, np.cumsum(lengths)[:-1])


def generate_clip(
    action: int,
    rng: np.random.Generator,
    *,
    subject: SubjectProfile | None = None,
    view: int | None = None,
    num_channels: int = 3,
    noise_scale: float = 1.0,
    min_frames: int = 30,
    max_frames: int = 120,
) -> np.ndarray:
    """One clip of ``SYNTHETIC_ACTIONS[action]`` as a (frames, 2, 25, C) float32 array.

    Args:
        action: Index into :data:`SYNTHETIC_ACTIONS`.
        rng: Source of every random choice (tempo, amplitudes, camera, noise): same state, same clip.
        subject: The performer (body proportions, style); a new random one when None. The partner of a
            two-person action is always drawn from ``rng``.
        view: Camera azimuth bucket, 1, 2 or 3 (around -45, 0, +45 degrees); drawn from ``rng`` when None.
        num_channels: 3 for metres in the camera frame (x to the sensor's left, y up, z depth), 2 for
            Kinect v2 depth-image pixels (see :func:`project_to_depth_image`).
        noise_scale: Multiplier of the sensor noise (0 gives exact kinematics, e.g. to check bone lengths).
        min_frames, max_frames: Clip length bounds at 30 fps; a longer performance is cut, a shorter one
            holds its last pose.

    The second person is all zeros for single-person actions.
    """
    (clip,) = _generate_clips([(action, rng, subject, view, None)], num_channels, noise_scale, min_frames, max_frames)
    return clip


# ------------------------------------------------------------------------------------------------------------
# The dataset


def _nested_list_array(clips: list[np.ndarray]) -> pa.Array:
    """Clips (frames_i, M, V, C) as one Arrow list<list<list<list<float>>>> column, built from offsets.

    Much faster than converting Python lists; ``Dataset.from_dict`` casts it to the ``Array4D`` feature.
    """
    total_frames = sum(len(clip) for clip in clips)
    persons, joints, channels = clips[0].shape[1:]
    values: pa.Array = pa.array(np.concatenate([clip.reshape(-1) for clip in clips]), type=pa.float32())
    for count, width in ((total_frames * persons * joints, channels), (total_frames * persons, joints)):
        values = pa.ListArray.from_arrays(pa.array(np.arange(count + 1, dtype=np.int32) * width), values)
    values = pa.ListArray.from_arrays(pa.array(np.arange(total_frames + 1, dtype=np.int32) * persons), values)
    frame_offsets = np.concatenate([[0], np.cumsum([len(clip) for clip in clips])]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(frame_offsets), values)


def synthetic_features(two_d: bool = False) -> datasets.Features:
    """The features of :func:`load_synthetic_dataset` (metadata: ``subject``, ``view``, ``replication``)."""
    metadata = {name: datasets.Value("int32") for name in ("subject", "view", "replication")}
    layout = NTU_2D_LAYOUT if two_d else NTU_LAYOUT
    return skeleton_features(SYNTHETIC_ACTIONS, NUM_PERSONS, NUM_JOINTS, layout.num_channels, metadata, layout)


def _split(
    subject_ids: range, clips_per_action_per_subject: int, two_d: bool, seed: int, features: datasets.Features
) -> datasets.Dataset:
    columns: dict[str, list[int | str]] = {name: [] for name in features if name != "skeleton"}
    requests = []
    for subject_id in subject_ids:
        subject = SubjectProfile.random(np.random.default_rng([seed, subject_id]), subject_id)
        for action in range(len(SYNTHETIC_ACTIONS)):
            for replication in range(1, clips_per_action_per_subject + 1):
                # each clip has its own generator: a clip does not depend on which others are generated
                rng = np.random.default_rng([seed, subject_id, action, replication])
                view = (subject_id + action + replication) % NUM_VIEWS + 1  # views cycle over replications
                requests.append((action, rng, subject, view, None))
                columns["label"].append(action)
                columns["sample_id"].append(f"P{subject_id:03d}C{view:03d}R{replication:03d}A{action + 1:03d}")
                columns["num_persons"].append(2 if action in TWO_PERSON_ACTIONS else 1)
                columns["subject"].append(subject_id)
                columns["view"].append(view)
                columns["replication"].append(replication)
    clips = _generate_clips(requests, num_channels=2 if two_d else 3)
    columns["num_frames"] = [len(clip) for clip in clips]
    return datasets.Dataset.from_dict({"skeleton": _nested_list_array(clips), **columns}, features=features)


def load_synthetic_dataset(
    num_train_subjects: int = 25,
    num_test_subjects: int = 8,
    clips_per_action_per_subject: int = 2,
    two_d: bool = False,
    seed: int = 0,
) -> datasets.DatasetDict:
    """The embedded default dataset, generated in memory (600 train / 192 test clips by default).

    Subjects ``1..num_train_subjects`` form ``train`` and the next ``num_test_subjects`` form ``test`` (a
    cross-subject split: no performer is in both). Every subject performs every action
    ``clips_per_action_per_subject`` times, seen from camera buckets that cycle over the replications. Each
    clip is seeded by ``(seed, subject, action, replication)``, so the same arguments give the same dataset,
    and a larger dataset extends a smaller one.

    Args:
        num_train_subjects, num_test_subjects: Performers per split.
        clips_per_action_per_subject: Replications of every action by every performer.
        two_d: Kinect v2 depth-image pixels (2 channels, :func:`project_to_depth_image`) instead of metres.
        seed: Non-negative seed of the whole dataset.
    """
    if min(num_train_subjects, num_test_subjects, clips_per_action_per_subject) < 1:
        raise ValueError("subject and clip counts must be positive")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    features = synthetic_features(two_d)
    train_ids = range(1, num_train_subjects + 1)
    test_ids = range(num_train_subjects + 1, num_train_subjects + num_test_subjects + 1)
    return datasets.DatasetDict(
        {
            "train": _split(train_ids, clips_per_action_per_subject, two_d, seed, features),
            "test": _split(test_ids, clips_per_action_per_subject, two_d, seed, features),
        }
    )


# ------------------------------------------------------------------------------------------------------------
# The multi-view corpus: one-person motions from any camera, on the layout of a benchmark (pretraining data)

SINGLE_PERSON_ACTIONS: tuple[str, ...] = tuple(
    name for index, name in enumerate(SYNTHETIC_ACTIONS) if index not in TWO_PERSON_ACTIONS
)
# Kinect v1 (N-UCLA) names three trunk joints differently from Kinect v2; Penn Action puts the side first.
_KINECT_V2_NAME = {"hip_center": "spine_base", "spine": "spine_mid", "shoulder_center": "spine_shoulder"}


def kinect_v2_joints(layout: SkeletonLayout) -> np.ndarray:
    """Index of every joint of `layout` among the generator's 25 Kinect v2 joints (retargeting by joint name)."""
    indices = []
    for name in layout.joint_names:
        side, _, part = name.partition("_")
        name = _KINECT_V2_NAME.get(name, f"{part}_{side}" if side in ("left", "right") else name)
        if name not in _J:
            raise ValueError(f"layout {layout.name!r}: joint {name!r} has no Kinect v2 counterpart to retarget from")
        indices.append(_J[name])
    return np.array(indices)


def multiview_corpus_features(layout: str | SkeletonLayout = "ntu") -> datasets.Features:
    """The features of :func:`load_multiview_corpus` (metadata: the camera's ``azimuth``, ``tilt``, ``distance``)."""
    layout = get_layout(layout) if isinstance(layout, str) else layout
    metadata = {name: datasets.Value("float32") for name in ("azimuth", "tilt", "distance")}
    return skeleton_features(SINGLE_PERSON_ACTIONS, 1, layout.num_joints, layout.num_channels, metadata, layout)


def load_multiview_corpus(
    num_clips: int = 4000,
    layout: str | SkeletonLayout = "ntu",
    azimuth_degrees: tuple[float, float] = (-90.0, 90.0),
    tilt_degrees: tuple[float, float] = (-5.0, 30.0),
    distance_m: tuple[float, float] = (2.0, 3.5),
    seed: int = 0,
) -> datasets.Dataset:
    """A corpus of one-person synthetic clips seen from cameras all around, on a benchmark's skeleton layout.

    Pretraining data for cross-view recognition (issue 18): a benchmark such as N-UCLA has two or three cameras,
    the generator has every azimuth, tilt and distance in the given ranges (uniform), and a new performer (body
    proportions, tempo, style) per clip. Clips are the generator's (:func:`generate_clip`) retargeted by joint name
    (:func:`kinect_v2_joints`): Kinect v1's 20 joints for ``nucla``, Penn Action's 13 for ``penn`` (projected to
    depth-image pixels, as 2D layouts are). Labels are the action performed (:data:`SINGLE_PERSON_ACTIONS`).
    Clip ``i`` is seeded by ``(seed, i)``: the same arguments give the same corpus, a larger one extends a smaller.

    Args:
        num_clips: Clips in the corpus.
        layout: A layout name or :class:`SkeletonLayout` whose joints all exist in Kinect v2 (by name).
        azimuth_degrees, tilt_degrees, distance_m: Ranges of the camera pose (:class:`CameraPose`); the camera's
            height above the floor is drawn from 0.6-1.8 m.
        seed: Non-negative seed of the corpus.
    """
    layout = get_layout(layout) if isinstance(layout, str) else layout
    if num_clips < 1:
        raise ValueError(f"num_clips must be positive, got {num_clips}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    for name, (low, high) in (("azimuth_degrees", azimuth_degrees), ("tilt_degrees", tilt_degrees)):
        if not -180.0 <= low <= high <= 180.0:
            raise ValueError(f"{name} must be a range (low, high) within -180..180, got {(low, high)}")
    if not 0.5 <= distance_m[0] <= distance_m[1]:
        raise ValueError(f"distance_m must be a range (low, high) from 0.5 m, got {distance_m}")
    joints = kinect_v2_joints(layout)
    actions = np.array([SYNTHETIC_ACTIONS.index(name) for name in SINGLE_PERSON_ACTIONS])
    requests, columns = [], {"label": [], "sample_id": [], "azimuth": [], "tilt": [], "distance": []}
    for index in range(num_clips):
        rng = np.random.default_rng([seed, index])
        label = int(rng.integers(len(actions)))
        camera = CameraPose(
            float(rng.uniform(*azimuth_degrees)),
            float(rng.uniform(*tilt_degrees)),
            float(rng.uniform(0.6, 1.8)),
            float(rng.uniform(*distance_m)),
        )
        requests.append((int(actions[label]), rng, None, None, camera))
        columns["label"].append(label)
        columns["sample_id"].append(f"multiview-{seed}-{index:06d}")
        columns["azimuth"].append(camera.azimuth_degrees)
        columns["tilt"].append(camera.tilt_degrees)
        columns["distance"].append(camera.distance_m)
    clips = [clip[:, :1, joints] for clip in _generate_clips(requests, num_channels=layout.num_channels)]
    columns["num_frames"] = [len(clip) for clip in clips]
    columns["num_persons"] = [1] * num_clips
    return datasets.Dataset.from_dict(
        {"skeleton": _nested_list_array(clips), **columns}, features=multiview_corpus_features(layout)
    )
