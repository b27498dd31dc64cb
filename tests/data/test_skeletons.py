"""Joint layouts: indices in range, connected bone graphs, left/right symmetry, the registry."""

from __future__ import annotations

import json
from collections import deque

import numpy as np
import pytest
from scipy.io import loadmat

from hf_cascadeformer.data.skeletons import (
    LAYOUTS,
    NTU_2D_LAYOUT,
    NTU_LAYOUT,
    NUCLA_LAYOUT,
    PENN_LAYOUT,
    SkeletonLayout,
    get_layout,
)

ALL_LAYOUTS = [NTU_LAYOUT, NTU_2D_LAYOUT, NUCLA_LAYOUT, PENN_LAYOUT]

# The 1-based bone lists exactly as printed in the reference (CTR-GCN / MAMP graph files).
NTU_BONES_1_BASED = [
    (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9), (11, 10), (12, 11),
    (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19), (22, 23), (23, 8), (24, 25),
    (25, 12),
]  # fmt: skip
NUCLA_BONES_1_BASED = [
    (1, 2), (2, 3), (4, 3), (5, 3), (6, 5), (7, 6), (8, 7), (9, 3), (10, 9), (11, 10), (12, 11), (13, 1), (14, 13),
    (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19),
]  # fmt: skip


def reachable_from(root: int, num_joints: int, bones) -> set[int]:
    neighbours = {j: set() for j in range(num_joints)}
    for a, b in bones:
        neighbours[a].add(b)
        neighbours[b].add(a)
    seen, queue = {root}, deque([root])
    while queue:
        for other in neighbours[queue.popleft()] - seen:
            seen.add(other)
            queue.append(other)
    return seen


@pytest.mark.parametrize("layout", ALL_LAYOUTS, ids=lambda layout: layout.name)
def test_indices_in_range_and_graph_connected(layout: SkeletonLayout):
    layout.validate()
    n = layout.num_joints
    for a, b in layout.bones + layout.left_right_pairs:
        assert 0 <= a < n and 0 <= b < n and a != b
    assert 0 <= layout.root_joint < n
    assert reachable_from(layout.root_joint, n, layout.bones) == set(range(n))
    assert len(set(layout.joint_names)) == n


@pytest.mark.parametrize(
    ("layout", "num_joints", "num_bones", "num_channels"),
    [(NTU_LAYOUT, 25, 24, 3), (NTU_2D_LAYOUT, 25, 24, 2), (NUCLA_LAYOUT, 20, 19, 3), (PENN_LAYOUT, 13, 14, 2)],
    ids=lambda value: value.name if isinstance(value, SkeletonLayout) else str(value),
)
def test_sizes(layout, num_joints, num_bones, num_channels):
    assert layout.num_joints == num_joints
    assert len(layout.bones) == num_bones
    assert layout.num_channels == num_channels


def test_bones_are_the_reference_lists_converted_to_zero_based():
    assert [(a + 1, b + 1) for a, b in NTU_LAYOUT.bones] == NTU_BONES_1_BASED
    assert [(a + 1, b + 1) for a, b in NUCLA_LAYOUT.bones] == NUCLA_BONES_1_BASED
    # Kinect graphs are trees: n - 1 bones and connected
    assert len(NTU_LAYOUT.bones) == NTU_LAYOUT.num_joints - 1
    assert len(NUCLA_LAYOUT.bones) == NUCLA_LAYOUT.num_joints - 1


def test_roots():
    assert NTU_LAYOUT.joint_names[NTU_LAYOUT.root_joint] == "spine_mid"  # joint 2, 1-based, as in NTU denoising
    assert NUCLA_LAYOUT.joint_names[NUCLA_LAYOUT.root_joint] == "spine"
    assert PENN_LAYOUT.joint_names[PENN_LAYOUT.root_joint] == "head"
    assert [PENN_LAYOUT.joint_names[j] for j in PENN_LAYOUT.body_center_joints] == ["left_hip", "right_hip"]
    assert NTU_LAYOUT.body_center_joints == (NTU_LAYOUT.root_joint,)


def test_penn_joint_order_left_before_right():
    names = PENN_LAYOUT.joint_names
    assert names[0] == "head"
    parts = ["shoulder", "elbow", "wrist", "hip", "knee", "ankle"]
    assert list(names[1:]) == [f"{side}_{part}" for part in parts for side in ("left", "right")]


@pytest.mark.parametrize("layout", ALL_LAYOUTS, ids=lambda layout: layout.name)
def test_left_right_pairs_name_mirrored_joints(layout: SkeletonLayout):
    names = layout.joint_names
    paired = {j for pair in layout.left_right_pairs for j in pair}
    for left, right in layout.left_right_pairs:
        assert "left" in names[left] and names[left].replace("left", "right") == names[right]
    # every sided joint is paired, every unpaired joint is on the midline
    for joint, name in enumerate(names):
        assert (joint in paired) == ("left" in name or "right" in name), name
    # a mirror maps bones to bones
    permutation = layout.flip_permutation()
    bones = {frozenset(bone) for bone in layout.bones}
    assert {frozenset((permutation[a], permutation[b])) for a, b in layout.bones} == bones


def test_flip_permutation_is_an_involution_that_swaps_sides():
    permutation = NTU_LAYOUT.flip_permutation()
    assert [permutation[j] for j in permutation] == list(range(25))
    assert NTU_LAYOUT.joint_names[permutation[NTU_LAYOUT.joint_index("hand_tip_left")]] == "hand_tip_right"
    assert permutation[NTU_LAYOUT.root_joint] == NTU_LAYOUT.root_joint


def test_parents_form_a_tree_hung_from_the_requested_root():
    parents = NTU_LAYOUT.parents()
    assert parents[NTU_LAYOUT.root_joint] == -1
    assert sum(p == -1 for p in parents) == 1
    pelvis_rooted = NTU_LAYOUT.parents(root=NTU_LAYOUT.joint_index("spine_base"))
    names = NTU_LAYOUT.joint_names
    assert names[pelvis_rooted[NTU_LAYOUT.joint_index("spine_mid")]] == "spine_base"
    assert names[pelvis_rooted[NTU_LAYOUT.joint_index("hand_tip_right")]] == "thumb_right"  # (24, 25) in the list


def test_validate_rejects_broken_layouts():
    names = ("a", "b", "c")
    with pytest.raises(ValueError, match="bad joint pair"):
        SkeletonLayout("bad", names, ((0, 1), (1, 3)), (), 0, 3).validate()
    with pytest.raises(ValueError, match="not connected"):
        SkeletonLayout("bad", names, ((0, 1),), (), 0, 3).validate()
    with pytest.raises(ValueError, match="duplicate"):
        SkeletonLayout("bad", ("a", "a", "c"), ((0, 1), (1, 2)), (), 0, 3).validate()
    with pytest.raises(ValueError, match="midline"):
        SkeletonLayout("bad", names, ((0, 1), (1, 2)), ((0, 2),), 0, 3).validate()


def test_get_layout():
    assert get_layout("ntu") is NTU_LAYOUT
    assert get_layout("NTU-120") is NTU_LAYOUT
    assert get_layout("ntu_2d") is NTU_2D_LAYOUT
    assert get_layout("N-UCLA") is NUCLA_LAYOUT
    assert get_layout("penn_action") is PENN_LAYOUT
    assert set(LAYOUTS) == {"ntu", "ntu_2d", "nucla", "penn"}
    with pytest.raises(KeyError, match="unknown skeleton layout"):
        get_layout("coco")


# ---------------------------------------------------------------------------------------------------------
# The layouts against the real benchmark files (skipped outside CI when the files are absent)


def median_bone_lengths(clips, layout: SkeletonLayout) -> np.ndarray:
    lengths = [
        np.stack([np.linalg.norm(clip[:, a] - clip[:, b], axis=-1) for a, b in layout.bones], axis=-1) for clip in clips
    ]
    return np.median(np.concatenate(lengths), axis=0)


def mirror_ratios(medians: np.ndarray, layout: SkeletonLayout) -> np.ndarray:
    """Median length of every bone over the median length of its mirror image."""
    permutation = layout.flip_permutation()
    index = {frozenset(bone): i for i, bone in enumerate(layout.bones)}
    return np.array(
        [
            medians[i] / medians[index[frozenset((permutation[a], permutation[b]))]]
            for i, (a, b) in enumerate(layout.bones)
        ]
    )


def read_first_body_xyz(path) -> np.ndarray:
    """The x, y, z of the first body of every frame of an NTU .skeleton file (enough for a layout check)."""
    tokens = path.read_text().split()
    position, frames = 1, []
    for _ in range(int(tokens[0])):
        num_bodies = int(tokens[position])
        position += 1
        for body in range(num_bodies):
            num_joints = int(tokens[position + 10])
            position += 11
            joints = np.array(tokens[position : position + 12 * num_joints], dtype=float).reshape(num_joints, 12)
            position += 12 * num_joints
            if body == 0:
                frames.append(joints[:, :3])
    return np.stack(frames)


def test_layouts_match_the_real_files(shared_data):
    ntu = read_first_body_xyz(shared_data / "ntu" / "S002C001P003R001A003.skeleton")
    assert ntu.shape == (100, NTU_LAYOUT.num_joints, 3)
    nucla = [
        np.array(json.loads(path.read_text())["skeletons"])
        for path in sorted((shared_data / "nucla" / "all_sqe").glob("*.json"))[:30]
    ]
    assert all(clip.shape[1:] == (NUCLA_LAYOUT.num_joints, 3) for clip in nucla)
    penn = []
    for path in sorted((shared_data / "penn_action" / "labels").glob("*.mat"))[:40]:
        annotation = loadmat(path)
        penn.append(np.stack([annotation["x"], annotation["y"]], axis=-1).astype(float))
    assert all(clip.shape[1] == PENN_LAYOUT.num_joints for clip in penn)

    for clips, layout, shortest, longest in (
        ([ntu], NTU_LAYOUT, 0.02, 0.6),
        (nucla, NUCLA_LAYOUT, 0.02, 0.6),
        (penn, PENN_LAYOUT, 5.0, 200.0),
    ):
        medians = median_bone_lengths(clips, layout)
        # bones join neighbouring joints: short, and a bone and its mirror image are about equally long
        assert np.all((medians > shortest) & (medians < longest)), layout.name
        ratios = mirror_ratios(medians, layout)
        # Kinect's thumbs and hand tips are too noisy for this check
        reliable = [not any("thumb" in layout.joint_names[j] for j in bone) for bone in layout.bones]
        assert np.all((ratios[reliable] > 0.75) & (ratios[reliable] < 1.33)), (layout.name, ratios.round(2))


def test_left_is_the_performers_left_in_kinect_camera_coordinates(shared_data):
    # Facing the sensor, a performer's left shoulder has the smaller camera x (x points to the sensor's left);
    # the synthetic generator follows the same convention.
    from hf_cascadeformer.data.synthetic import generate_clip

    left, right = NTU_LAYOUT.joint_index("shoulder_left"), NTU_LAYOUT.joint_index("shoulder_right")
    ntu = read_first_body_xyz(shared_data / "ntu" / "S002C001P003R001A003.skeleton")  # camera 1 faces the performer
    assert ntu[:, left, 0].mean() < ntu[:, right, 0].mean()
    nucla = np.array(json.loads((shared_data / "nucla" / "all_sqe" / "a01_s01_e00_v01.json").read_text())["skeletons"])
    assert nucla[:, 4, 0].mean() < nucla[:, 8, 0].mean()
    synthetic = generate_clip(0, np.random.default_rng(0), view=2)  # the front camera bucket
    assert synthetic[:, 0, left, 0].mean() < synthetic[:, 0, right, 0].mean()
