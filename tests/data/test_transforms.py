"""Clip augmentations: geometry is preserved where it must be, absent persons stay zero, randomness is seedable,
and the batch wrapper works with ``datasets.Dataset.with_transform``."""

from __future__ import annotations

import datasets
import numpy as np
import pytest

from hf_cascadeformer.data.features import skeleton_features
from hf_cascadeformer.data.skeletons import NTU_LAYOUT, PENN_LAYOUT
from hf_cascadeformer.data.synthetic import SYNTHETIC_ACTIONS, generate_clip
from hf_cascadeformer.data.transforms import (
    Compose,
    HorizontalFlip,
    RandomRotation,
    RandomScale,
    TemporalCropResize,
    apply_to_batch,
    make_eval_transform,
    make_train_transform,
    present_slots,
    resize_frames,
)

J = {name: index for index, name in enumerate(NTU_LAYOUT.joint_names)}


@pytest.fixture(scope="module")
def single() -> np.ndarray:
    """A one-person clip (second person all zeros), exact kinematics."""
    return generate_clip(SYNTHETIC_ACTIONS.index("wave right hand"), np.random.default_rng(0), noise_scale=0.0)


@pytest.fixture(scope="module")
def pair() -> np.ndarray:
    """A two-person clip whose second person is lost for a few frames, then zero padding at the end."""
    clip = generate_clip(SYNTHETIC_ACTIONS.index("handshake"), np.random.default_rng(1), noise_scale=0.0)
    clip = clip.copy()
    clip[10:14, 1] = 0.0
    return np.concatenate([clip, np.zeros((20, *clip.shape[1:]), np.float32)])


@pytest.fixture(scope="module")
def penn_like() -> np.ndarray:
    """A 2D clip on the 13 Penn Action joints (pixels), from the synthetic 2D projection."""
    pixels = generate_clip(0, np.random.default_rng(2), num_channels=2, noise_scale=0.0)
    ntu_for_penn = ["head", "shoulder_left", "shoulder_right", "elbow_left", "elbow_right", "wrist_left"]
    ntu_for_penn += ["wrist_right", "hip_left", "hip_right", "knee_left", "knee_right", "ankle_left", "ankle_right"]
    return pixels[:, :, [J[name] for name in ntu_for_penn]]


def bone_lengths(clip: np.ndarray, bones) -> np.ndarray:
    return np.stack([np.linalg.norm(clip[..., a, :] - clip[..., b, :], axis=-1) for a, b in bones], axis=-1)


def present_mean(clip: np.ndarray) -> np.ndarray:
    return clip[present_slots(clip)].reshape(-1, clip.shape[-1]).astype(np.float64).mean(axis=0)


def assert_absent_slots_unchanged(before: np.ndarray, after: np.ndarray) -> None:
    assert before.shape == after.shape
    np.testing.assert_array_equal(present_slots(before), present_slots(after))
    assert not after[~present_slots(before)].any()


@pytest.mark.parametrize("axes", ["xyz", "y", "x"])
def test_rotation_keeps_bone_lengths_and_centre(pair, axes):
    rotated = RandomRotation(0.5, axes=axes)(pair, np.random.default_rng(0))
    present = present_slots(pair)
    np.testing.assert_allclose(
        bone_lengths(rotated[present], NTU_LAYOUT.bones), bone_lengths(pair[present], NTU_LAYOUT.bones), atol=1e-5
    )
    np.testing.assert_allclose(present_mean(rotated), present_mean(pair), atol=1e-5)
    assert np.abs(rotated - pair).max() > 0.05
    assert_absent_slots_unchanged(pair, rotated)
    if axes == "y":  # a rotation about the vertical keeps every height
        np.testing.assert_allclose(rotated[..., 1], pair[..., 1], atol=1e-6)


def test_rotation_in_the_image_plane_for_2d(penn_like):
    rotated = RandomRotation(0.3)(penn_like, np.random.default_rng(1))
    assert rotated.shape == penn_like.shape
    np.testing.assert_allclose(
        bone_lengths(rotated[:, 0], PENN_LAYOUT.bones), bone_lengths(penn_like[:, 0], PENN_LAYOUT.bones), rtol=1e-4
    )
    np.testing.assert_allclose(present_mean(rotated), present_mean(penn_like), atol=1e-3)
    assert not rotated[:, 1].any()


def test_zero_rotation_and_unit_scale_are_identities(pair):
    np.testing.assert_allclose(RandomRotation(0.0)(pair, np.random.default_rng(0)), pair, atol=1e-6)
    np.testing.assert_allclose(RandomScale(1.0, 1.0)(pair, np.random.default_rng(0)), pair, atol=1e-6)


def test_scale_multiplies_bone_lengths_about_the_centre(single):
    scaled = RandomScale(0.8, 1.2)(single, np.random.default_rng(3))
    ratio = bone_lengths(scaled[:, 0], NTU_LAYOUT.bones) / bone_lengths(single[:, 0], NTU_LAYOUT.bones)
    assert 0.8 <= ratio.mean() <= 1.2 and abs(ratio.mean() - 1) > 1e-3
    np.testing.assert_allclose(ratio, ratio.mean(), rtol=1e-4)  # isotropic: one factor
    np.testing.assert_allclose(present_mean(scaled), present_mean(single), atol=1e-5)
    assert not scaled[:, 1].any()
    per_axis = RandomScale(0.5, 1.5, per_axis=True)(single, np.random.default_rng(3))
    extent_ratio = np.ptp(per_axis[:, 0], axis=(0, 1)) / np.ptp(single[:, 0], axis=(0, 1))
    assert np.ptp(extent_ratio) > 0.01  # a different factor per axis


def test_flip_twice_is_the_identity(pair, penn_like):
    flip = HorizontalFlip(NTU_LAYOUT, p=1.0)
    once = flip(pair, np.random.default_rng(0))
    np.testing.assert_allclose(flip(once, np.random.default_rng(0)), pair, atol=1e-5)
    assert np.abs(once - pair).max() > 0.05
    assert_absent_slots_unchanged(pair, once)
    penn_flip = HorizontalFlip(PENN_LAYOUT, p=1.0)
    np.testing.assert_allclose(penn_flip(penn_flip(penn_like)), penn_like, atol=1e-3)


def test_flip_mirrors_x_about_the_root_and_swaps_left_and_right(single):
    flipped = HorizontalFlip(NTU_LAYOUT, p=1.0)(single, np.random.default_rng(0))
    root = NTU_LAYOUT.root_joint
    mirror = single[:, 0, root, 0].astype(np.float64).mean()
    for left, right in NTU_LAYOUT.left_right_pairs:
        np.testing.assert_allclose(flipped[:, 0, left, 0], 2 * mirror - single[:, 0, right, 0], atol=1e-5)
        np.testing.assert_allclose(flipped[:, 0, left, 1:], single[:, 0, right, 1:])
        np.testing.assert_allclose(flipped[:, 0, right, 1:], single[:, 0, left, 1:])
    np.testing.assert_allclose(flipped[:, 0, root, 0].mean(), mirror, atol=1e-5)
    # the waving hand is now the left one: it is the highest hand in the flipped clip
    assert flipped[:, 0, J["hand_left"], 1].max() > flipped[:, 0, J["hand_right"], 1].max() + 0.3
    assert not flipped[:, 1].any()


def test_flip_probability(single):
    never = HorizontalFlip(NTU_LAYOUT, p=0.0)
    np.testing.assert_array_equal(never(single, np.random.default_rng(0)), single)
    sometimes = HorizontalFlip(NTU_LAYOUT, p=0.5)
    flips = [not np.array_equal(sometimes(single, np.random.default_rng(s)), single) for s in range(200)]
    assert 70 < sum(flips) < 130


def test_flip_checks_the_joint_count(penn_like):
    with pytest.raises(ValueError, match="joints"):
        HorizontalFlip(NTU_LAYOUT, p=1.0)(penn_like)


def find_frame(clip: np.ndarray, frame: np.ndarray) -> int:
    matches = [t for t in range(len(clip)) if np.array_equal(clip[t], frame)]
    assert matches, "frame not found in the source clip"
    return matches[0]


def test_crop_resize_gives_the_requested_length_and_keeps_the_window_ends(pair):
    valid = np.flatnonzero(present_slots(pair).any(axis=1))
    valid_length = valid[-1] - valid[0] + 1
    transform = TemporalCropResize(0.5, 0.9, num_frames=32)
    for seed in range(10):
        out = transform(pair, np.random.default_rng(seed))
        assert out.shape == (32, *pair.shape[1:]) and out.dtype == np.float32
        first, last = find_frame(pair, out[0]), find_frame(pair, out[-1])
        assert valid[0] <= first < last <= valid[-1]
        assert 0.5 * valid_length - 1 <= last - first + 1 <= 0.9 * valid_length + 1
        assert_absent_slots_consistent(out)


def assert_absent_slots_consistent(out: np.ndarray) -> None:
    """Every slot is either a whole skeleton (no joint at the origin) or all zeros."""
    present = present_slots(out)
    assert np.all(np.abs(out[present]).sum(axis=-1) > 0)


def test_crop_without_resize_is_a_contiguous_window(single):
    out = TemporalCropResize(0.6, 0.6)(single, np.random.default_rng(4))
    start = find_frame(single, out[0])
    assert len(out) == round(0.6 * len(single))
    np.testing.assert_array_equal(out, single[start : start + len(out)])


def test_centre_crop_is_deterministic_and_ignores_padding(pair):
    valid = np.flatnonzero(present_slots(pair).any(axis=1))
    evaluation = TemporalCropResize.centre(0.95, num_frames=40)
    first = evaluation(pair, np.random.default_rng(0))
    np.testing.assert_array_equal(first, evaluation(pair, np.random.default_rng(99)))
    assert present_slots(first)[:, 0].all()  # the zero padding at the end is never part of the window
    full = TemporalCropResize.centre(1.0, num_frames=40)(pair)
    np.testing.assert_array_equal(full[0], pair[valid[0]])
    np.testing.assert_array_equal(full[-1], pair[valid[-1]])
    assert make_eval_transform(40)(pair).shape == (40, *pair.shape[1:])


def test_resize_does_not_blend_zeros_into_coordinates(pair):
    # upsampling across the frames where the second person is lost
    window = pair[5:20]
    out = resize_frames(window, 57)  # a step of a quarter frame
    assert_absent_slots_consistent(out)
    lost = ~present_slots(out)[:, 1]
    assert 10 <= lost.sum() <= 20  # about four source frames' worth of output frames
    # where both neighbours are present, it is the linear interpolation
    np.testing.assert_allclose(out[2], window[0] * 0.5 + window[1] * 0.5, atol=1e-6)


@pytest.mark.parametrize(
    "transform",
    [
        RandomRotation(0.4),
        RandomScale(0.8, 1.2, per_axis=True),
        HorizontalFlip(NTU_LAYOUT, p=1.0),
        TemporalCropResize(0.5, 1.0, num_frames=50),
        make_train_transform(NTU_LAYOUT, num_frames=48, flip_probability=0.5),
    ],
    ids=lambda transform: type(transform).__name__,
)
def test_absent_persons_stay_zero(single, pair, transform):
    for seed in range(5):
        out = transform(single, np.random.default_rng(seed))
        assert not out[:, 1].any()
        assert_absent_slots_consistent(out)
        out = transform(pair, np.random.default_rng(seed))
        assert_absent_slots_consistent(out)
        if out.shape == pair.shape:
            assert_absent_slots_unchanged(pair, out)


def test_determinism_with_seeded_generators(pair):
    transform = make_train_transform(NTU_LAYOUT, num_frames=48, flip_probability=0.5)
    a = transform(pair, np.random.default_rng(5))
    b = transform(pair, np.random.default_rng(5))
    c = transform(pair, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # a held generator: the same seed gives the same sequence, and successive calls differ
    first = make_train_transform(NTU_LAYOUT, num_frames=48, seed=3)
    second = make_train_transform(NTU_LAYOUT, num_frames=48, seed=3)
    sequence = [first(pair) for _ in range(3)]
    for x, y in zip(sequence, [second(pair) for _ in range(3)], strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(sequence[0], sequence[1])


def test_compose_applies_in_order(single):
    crop = TemporalCropResize.centre(1.0, num_frames=16)
    scale = RandomScale(2.0, 2.0)
    composed = Compose([crop, scale])
    np.testing.assert_allclose(composed(single), scale(crop(single)), atol=1e-6)
    assert "TemporalCropResize" in repr(composed) and "RandomScale" in repr(composed)


def test_train_transform_defaults():
    three_d = make_train_transform(NTU_LAYOUT, num_frames=64)
    assert [type(t).__name__ for t in three_d.transforms] == ["TemporalCropResize", "RandomRotation", "RandomScale"]
    assert three_d.transforms[1].max_angle_radians == 0.3 and three_d.transforms[1].spatial_dims == 3
    two_d = make_train_transform(PENN_LAYOUT, flip_probability=0.5)
    assert two_d.transforms[1].spatial_dims == 2 and isinstance(two_d.transforms[-1], HorizontalFlip)


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="frames, persons, joints, channels"):
        RandomRotation()(np.zeros((10, 25, 3), np.float32))
    with pytest.raises(ValueError, match="ratio"):
        TemporalCropResize(0.0, 1.0)
    with pytest.raises(ValueError, match="axes"):
        RandomRotation(axes="w")


@pytest.fixture(scope="module")
def small_dataset() -> datasets.Dataset:
    clips = [generate_clip(action, np.random.default_rng(action)) for action in (0, 4, 9, 11)]
    features = skeleton_features(SYNTHETIC_ACTIONS, 2, 25, 3)
    return datasets.Dataset.from_dict(
        {
            "skeleton": clips,
            "label": [0, 4, 9, 11],
            "sample_id": ["a", "b", "c", "d"],
            "num_frames": [len(c) for c in clips],
            "num_persons": [1, 1, 2, 2],
        },
        features=features,
    )


def test_with_transform_on_a_dataset(small_dataset):
    augment = apply_to_batch(make_train_transform(NTU_LAYOUT, num_frames=20), seed=0)
    augmented = small_dataset.with_transform(augment)
    row = augmented[0]
    assert isinstance(row["skeleton"], np.ndarray) and row["skeleton"].dtype == np.float32
    assert row["skeleton"].shape == (20, 2, 25, 3) and row["num_frames"] == 20 and row["label"] == 0
    batch = augmented[1:4]
    assert [clip.shape for clip in batch["skeleton"]] == [(20, 2, 25, 3)] * 3
    assert batch["label"] == [4, 9, 11]
    assert not batch["skeleton"][0][:, 1].any() and batch["skeleton"][1][:, 1].any()
    # every access draws new augmentations...
    assert not np.allclose(augmented[0]["skeleton"], row["skeleton"])
    # ...and the whole sequence is reproducible from the seed
    replay = small_dataset.with_transform(apply_to_batch(make_train_transform(NTU_LAYOUT, num_frames=20), seed=0))
    np.testing.assert_array_equal(replay[0]["skeleton"], row["skeleton"])
    # the stored data is untouched
    assert small_dataset.with_format("numpy")[0]["skeleton"].shape[0] == small_dataset[0]["num_frames"] != 20


def test_dataloader_workers_get_their_own_streams(small_dataset, monkeypatch):
    torch = pytest.importorskip("torch")

    class WorkerInfo:
        def __init__(self, seed):
            self.seed = seed

    augment = apply_to_batch(make_train_transform(NTU_LAYOUT, num_frames=20), seed=0)
    batch = small_dataset[:1]
    outputs = {}
    for worker_seed in (11, 12, 11):
        monkeypatch.setattr(
            torch.utils.data, "get_worker_info", lambda worker_seed=worker_seed: WorkerInfo(worker_seed)
        )
        fresh = apply_to_batch(make_train_transform(NTU_LAYOUT, num_frames=20), seed=0)
        outputs.setdefault(worker_seed, []).append(fresh(dict(batch))["skeleton"][0])
    np.testing.assert_array_equal(outputs[11][0], outputs[11][1])  # same worker seed, same stream
    assert not np.allclose(outputs[11][0], outputs[12][0])  # another worker (or epoch), another stream
    monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: None)
    assert augment(dict(batch))["skeleton"][0].shape == (20, 2, 25, 3)
