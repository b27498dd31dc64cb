"""Joint layouts of the supported benchmarks, as data.

A :class:`SkeletonLayout` names the joints of one sensor or annotation format, lists its bones (the graph
used by graph models and by the visualisation), the left/right joint pairs a horizontal flip must swap, and
the joint a clip is centred on. Every index is 0-based; the 1-based lists in the benchmark papers are
converted here once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class SkeletonLayout:
    """The joints, bones and symmetry of one skeleton format.

    Attributes:
        name: Registry name, for :func:`get_layout`.
        joint_names: One name per joint, in the order of the joint axis of a clip.
        bones: Undirected (joint, joint) pairs, 0-based; they form a connected graph.
        left_right_pairs: (left joint, right joint) pairs, 0-based, swapped by a horizontal flip.
        root_joint: The joint a clip is centred on and mirrored about; it lies on the body's midline.
        num_channels: Coordinates per joint (3 for metres in a camera frame, 2 for image coordinates).
        center_joints: Joints whose mean is the body centre when the format has no pelvis joint (Penn Action);
            empty means ``(root_joint,)``.
    """

    name: str
    joint_names: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]
    left_right_pairs: tuple[tuple[int, int], ...]
    root_joint: int
    num_channels: int
    center_joints: tuple[int, ...] = ()

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def body_center_joints(self) -> tuple[int, ...]:
        """The joints to average for the body centre (``center_joints`` or the root joint)."""
        return self.center_joints or (self.root_joint,)

    def joint_index(self, joint_name: str) -> int:
        """The 0-based index of a joint by name."""
        return self.joint_names.index(joint_name)

    def flip_permutation(self) -> tuple[int, ...]:
        """Joint order after a horizontal flip: every left joint takes its right partner's place and back."""
        order = list(range(self.num_joints))
        for left, right in self.left_right_pairs:
            order[left], order[right] = right, left
        return tuple(order)

    def parents(self, root: int | None = None) -> tuple[int, ...]:
        """Parent of every joint in the tree the bones form when hung from ``root`` (default: the root joint).

        The root's parent is -1. Raises ``ValueError`` when the bones leave a joint unreachable from the root.
        """
        root = self.root_joint if root is None else root
        neighbours: dict[int, list[int]] = {joint: [] for joint in range(self.num_joints)}
        for a, b in self.bones:
            neighbours[a].append(b)
            neighbours[b].append(a)
        parent = [-2] * self.num_joints
        parent[root] = -1
        queue = deque([root])
        while queue:
            joint = queue.popleft()
            for other in neighbours[joint]:
                if parent[other] == -2:
                    parent[other] = joint
                    queue.append(other)
        unreachable = [self.joint_names[j] for j, p in enumerate(parent) if p == -2]
        if unreachable:
            raise ValueError(f"layout {self.name!r}: joints not connected to the root: {unreachable}")
        return tuple(parent)

    def validate(self) -> None:
        """Check indices are in range, names unique, pairs disjoint and the bone graph connected."""
        n = self.num_joints
        if len(set(self.joint_names)) != n:
            raise ValueError(f"layout {self.name!r}: duplicate joint names")
        for a, b in self.bones + self.left_right_pairs:
            if not (0 <= a < n and 0 <= b < n) or a == b:
                raise ValueError(f"layout {self.name!r}: bad joint pair ({a}, {b}) for {n} joints")
        paired = [j for pair in self.left_right_pairs for j in pair]
        if len(set(paired)) != len(paired):
            raise ValueError(f"layout {self.name!r}: a joint appears in two left/right pairs")
        for joint in (self.root_joint, *self.center_joints):
            if not 0 <= joint < n:
                raise ValueError(f"layout {self.name!r}: centre joint {joint} out of range")
        if self.root_joint in paired:
            raise ValueError(f"layout {self.name!r}: the root joint must lie on the midline")
        self.parents()


def _zero_based(pairs_1_based: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    return tuple((a - 1, b - 1) for a, b in pairs_1_based)


# Kinect v2 joint order, as in the NTU RGB+D .skeleton files and PKU-MMD.
_KINECT_V2_JOINTS = (
    "spine_base",
    "spine_mid",
    "neck",
    "head",
    "shoulder_left",
    "elbow_left",
    "wrist_left",
    "hand_left",
    "shoulder_right",
    "elbow_right",
    "wrist_right",
    "hand_right",
    "hip_left",
    "knee_left",
    "ankle_left",
    "foot_left",
    "hip_right",
    "knee_right",
    "ankle_right",
    "foot_right",
    "spine_shoulder",
    "hand_tip_left",
    "thumb_left",
    "hand_tip_right",
    "thumb_right",
)

# The bone list used by CTR-GCN, MAMP and CascadeFormer (1-based in the papers' code).
_NTU_BONES = _zero_based(
    (
        (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9), (11, 10),
        (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19), (22, 23),
        (23, 8), (24, 25), (25, 12),
    )
)  # fmt: skip
_NTU_LEFT_RIGHT = _zero_based(
    ((5, 9), (6, 10), (7, 11), (8, 12), (13, 17), (14, 18), (15, 19), (16, 20), (22, 24), (23, 25))
)

# NTU RGB+D (60 and 120) and PKU-MMD: 25 Kinect v2 joints in metres. The root is the spine middle (joint 2,
# 1-based), the joint the standard NTU preprocessing translates to the origin.
NTU_LAYOUT = SkeletonLayout(
    name="ntu",
    joint_names=_KINECT_V2_JOINTS,
    bones=_NTU_BONES,
    left_right_pairs=_NTU_LEFT_RIGHT,
    root_joint=1,
    num_channels=3,
)

# The same 25 joints projected to image coordinates (the 2D variant of the embedded synthetic dataset).
NTU_2D_LAYOUT = SkeletonLayout(
    name="ntu_2d",
    joint_names=_KINECT_V2_JOINTS,
    bones=_NTU_BONES,
    left_right_pairs=_NTU_LEFT_RIGHT,
    root_joint=1,
    num_channels=2,
)

# Northwestern-UCLA: 20 Kinect v1 joints in metres; the root is the spine (joint 2, 1-based), as in CTR-GCN.
NUCLA_LAYOUT = SkeletonLayout(
    name="nucla",
    joint_names=(
        "hip_center",
        "spine",
        "shoulder_center",
        "head",
        "shoulder_left",
        "elbow_left",
        "wrist_left",
        "hand_left",
        "shoulder_right",
        "elbow_right",
        "wrist_right",
        "hand_right",
        "hip_left",
        "knee_left",
        "ankle_left",
        "foot_left",
        "hip_right",
        "knee_right",
        "ankle_right",
        "foot_right",
    ),
    bones=_zero_based(
        (
            (1, 2),
            (2, 3),
            (4, 3),
            (5, 3),
            (6, 5),
            (7, 6),
            (8, 7),
            (9, 3),
            (10, 9),
            (11, 10),
            (12, 11),
            (13, 1),
            (14, 13),
            (15, 14),
            (16, 15),
            (17, 1),
            (18, 17),
            (19, 18),
            (20, 19),
        )
    ),  # fmt: skip
    left_right_pairs=_zero_based(((5, 9), (6, 10), (7, 11), (8, 12), (13, 17), (14, 18), (15, 19), (16, 20))),
    root_joint=1,
    num_channels=3,
)

# Penn Action: 13 annotated joints in image pixels. There is no pelvis joint: the head is the root (it lies on
# the midline, which is all a flip needs) and the mean of the two hips is the body centre. The bones close a
# torso loop (shoulders, hips) so the graph is connected without inventing joints.
PENN_LAYOUT = SkeletonLayout(
    name="penn",
    joint_names=(
        "head",
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "left_ankle",
        "right_ankle",
    ),
    bones=(
        (0, 1),
        (0, 2),
        (1, 2),
        (1, 3),
        (3, 5),
        (2, 4),
        (4, 6),
        (1, 7),
        (2, 8),
        (7, 8),
        (7, 9),
        (9, 11),
        (8, 10),
        (10, 12),
    ),  # fmt: skip
    left_right_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12)),
    root_joint=0,
    num_channels=2,
    center_joints=(7, 8),
)

LAYOUTS: dict[str, SkeletonLayout] = {
    layout.name: layout for layout in (NTU_LAYOUT, NTU_2D_LAYOUT, NUCLA_LAYOUT, PENN_LAYOUT)
}
"""Every known layout by its ``name``: the names datasets (their skeleton feature's ``id``) and configs
(``skeleton_layout``) record. :func:`register_layout` adds one."""

_ALIASES = {
    "ntu60": "ntu",
    "ntu120": "ntu",
    "ntu_rgbd": "ntu",
    "pku_mmd": "ntu",
    "synthetic": "ntu",
    "synthetic_2d": "ntu_2d",
    "ucla": "nucla",
    "n_ucla": "nucla",
    "penn_action": "penn",
}

# Datasets and configs saved before the layout was recorded by name carry only their joint and channel counts; for
# them alone the layout is inferred from those, as the package did then (NTU RGB+D 25 joints in 3D or 2D, N-UCLA 20,
# Penn Action 13). A dataset or config that names its layout never goes through this table.
_LEGACY_LAYOUTS = {25: "ntu", 20: "nucla", 13: "penn"}  # 25 joints in 2D: "ntu_2d"


class UnknownLayoutError(KeyError, ValueError):
    """A layout name no registered :class:`SkeletonLayout` has; its message is one line. A ``KeyError`` for a lookup
    and a ``ValueError`` for the command line, which reports bad input as one line without a traceback."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _lookup_key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _lookup() -> dict[str, str]:
    table = {_lookup_key(alias): target for alias, target in _ALIASES.items()}
    return table | {_lookup_key(name): name for name in LAYOUTS}


def get_layout(name: str) -> SkeletonLayout:
    """The layout registered under ``name``, ignoring case and separators (``"ntu"``, ``"NTU-120"``): the one
    lookup from a layout name to its joints, bones, flip pairs and root joint.

    Raises :class:`UnknownLayoutError` (a ``KeyError``) with a one-line message for a name no layout has.
    """
    key = _lookup_key(str(name))
    table = _lookup()
    if key not in table:
        known = ", ".join(sorted(LAYOUTS))
        raise UnknownLayoutError(f"unknown skeleton layout {name!r}; known layouts: {known} (see register_layout)")
    return LAYOUTS[table[key]]


def register_layout(layout: SkeletonLayout) -> SkeletonLayout:
    """Add ``layout`` to :data:`LAYOUTS` (after :meth:`SkeletonLayout.validate`) so :func:`get_layout` finds it by
    its name; a second 25-joint format (OpenPose BODY_25, ...) registered this way keeps its own bones, flip pairs
    and root joint. Re-registering the same layout is a no-op; another layout under a taken name is an error."""
    layout.validate()
    existing = LAYOUTS.get(layout.name)
    if existing is not None and existing != layout:
        raise ValueError(f"a different skeleton layout is already registered as {layout.name!r}")
    if existing is None and _lookup_key(layout.name) in _lookup():
        raise ValueError(f"skeleton layout name {layout.name!r} clashes with {get_layout(layout.name).name!r}")
    LAYOUTS[layout.name] = layout
    return layout


def legacy_layout(num_joints: int, num_channels: int) -> SkeletonLayout:
    """The layout of a clip, dataset or config that does not name its layout (saved before layouts were recorded
    by name), inferred from its joint and channel counts: NTU RGB+D for 25 joints (``ntu`` in 3D, ``ntu_2d`` in
    2D), N-UCLA for 20, Penn Action for 13. Anything else is a ``ValueError``: name the layout instead."""
    if num_joints not in _LEGACY_LAYOUTS:
        raise ValueError(
            f"no known skeleton layout has {num_joints} joints (known without a name: 25 NTU RGB+D, 20 N-UCLA, "
            "13 Penn Action); name the skeletons' layout"
        )
    if num_joints == NTU_2D_LAYOUT.num_joints and num_channels == NTU_2D_LAYOUT.num_channels:
        return NTU_2D_LAYOUT
    return LAYOUTS[_LEGACY_LAYOUTS[num_joints]]


def resolve_layout(name: str | None, num_joints: int, num_channels: int) -> SkeletonLayout:
    """The layout named ``name`` (checked against the joint and channel counts), or, when ``name`` is ``None``,
    :func:`legacy_layout` of the counts."""
    if name is None:
        return legacy_layout(num_joints, num_channels)
    layout = get_layout(name)
    if (layout.num_joints, layout.num_channels) != (num_joints, num_channels):
        raise ValueError(
            f"skeleton layout {layout.name!r} has {layout.num_joints} joints x {layout.num_channels} channels, the "
            f"skeletons {num_joints} x {num_channels}"
        )
    return layout
