"""The embedded synthetic dataset: determinism, splits, schema, kinematics, and that it is neither trivial nor
hopeless (a single frame must not give the class away; simple temporal features must)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from hf_cascadeformer.data.skeletons import NTU_LAYOUT
from hf_cascadeformer.data.synthetic import (
    DEPTH_PRINCIPAL_POINT,
    NUM_VIEWS,
    SYNTHETIC_ACTIONS,
    TWO_PERSON_ACTIONS,
    SubjectProfile,
    generate_clip,
    load_synthetic_dataset,
    project_to_depth_image,
    synthetic_features,
)

ROOT = NTU_LAYOUT.root_joint
J = {name: index for index, name in enumerate(NTU_LAYOUT.joint_names)}
NUM_CLASSES = len(SYNTHETIC_ACTIONS)


@pytest.fixture(scope="module")
def dataset():
    start = time.perf_counter()
    cpu_start = time.process_time()
    data = load_synthetic_dataset()
    print(
        f"\nsynthetic default dataset: {data['train'].num_rows} + {data['test'].num_rows} clips generated in "
        f"{time.perf_counter() - start:.2f} s wall, {time.process_time() - cpu_start:.2f} s CPU"
    )
    return data


@pytest.fixture(scope="module")
def arrays(dataset):
    train, test = dataset["train"].with_format("numpy"), dataset["test"].with_format("numpy")
    return (
        list(train["skeleton"]),
        np.asarray(train["label"]),
        list(test["skeleton"]),
        np.asarray(test["label"]),
    )


def bone_lengths(clip: np.ndarray, person: int) -> np.ndarray:
    return np.stack([np.linalg.norm(clip[:, person, a] - clip[:, person, b], axis=-1) for a, b in NTU_LAYOUT.bones], -1)


def test_actions():
    assert 8 <= NUM_CLASSES <= 12
    assert len(set(SYNTHETIC_ACTIONS)) == NUM_CLASSES
    assert {SYNTHETIC_ACTIONS[a] for a in TWO_PERSON_ACTIONS} == {"handshake", "push", "hug"}


def test_generate_clip_is_deterministic_given_the_generator():
    first = generate_clip(3, np.random.default_rng(7))
    again = generate_clip(3, np.random.default_rng(7))
    other = generate_clip(3, np.random.default_rng(8))
    np.testing.assert_array_equal(first, again)
    assert first.shape != other.shape or not np.allclose(first, other)


@pytest.mark.parametrize("action", range(NUM_CLASSES), ids=lambda a: SYNTHETIC_ACTIONS[a].replace(" ", "_"))
def test_clip_shape_persons_and_kinematics(action):
    rng = np.random.default_rng(100 + action)
    clip = generate_clip(action, rng, noise_scale=0.0)
    assert clip.dtype == np.float32 and clip.ndim == 4 and clip.shape[1:] == (2, 25, 3)
    assert 30 <= len(clip) <= 120
    two_person = action in TWO_PERSON_ACTIONS
    assert np.all(clip[:, 0] != 0).any()
    if two_person:  # the partner is tracked in every frame
        assert np.all(np.abs(clip[:, 1]).sum(axis=(1, 2)) > 0)
    else:
        assert not clip[:, 1].any()
    for person in range(2 if two_person else 1):
        lengths = bone_lengths(clip, person)
        # forward kinematics: every bone keeps its length through the clip (up to float32 rounding)
        assert np.abs(lengths - lengths[0]).max() < 1e-5
        thigh = lengths[0][NTU_LAYOUT.bones.index((J["knee_left"], J["hip_left"]))]
        assert 0.3 < thigh < 0.5
        # a person 1.5-2 m tall, 2-4.5 m in front of the sensor
        assert 2.0 < clip[:, person, ROOT, 2].mean() < 4.5
        stature = np.linalg.norm(clip[:, person, J["head"]] - clip[:, person, J["foot_left"]], axis=-1).max()
        assert 1.3 < stature < 2.0


def test_sensor_noise_is_small_and_switchable():
    exact = generate_clip(0, np.random.default_rng(5), noise_scale=0.0)
    noisy = generate_clip(0, np.random.default_rng(5))
    difference = np.abs(noisy - exact)[:, 0]
    assert 0.001 < np.median(difference) < 0.02  # millimetres to a centimetre, like a Kinect
    assert not noisy[:, 1].any()


def test_stand_up_is_sit_down_reversed_in_time():
    # the pelvis height above the feet falls while sitting down and rises while standing up
    for action, sign in ((SYNTHETIC_ACTIONS.index("sit down"), -1), (SYNTHETIC_ACTIONS.index("stand up"), 1)):
        for seed in range(5):
            clip = generate_clip(action, np.random.default_rng(seed), noise_scale=0.0)
            feet = clip[:, 0, [J["ankle_left"], J["ankle_right"]]].mean(axis=1)
            height = np.linalg.norm(clip[:, 0, J["spine_base"]] - feet, axis=-1)
            assert sign * (height[-1] - height[0]) > 0.15


def test_two_d_clip_is_the_projection_of_the_three_d_clip():
    for action in (0, SYNTHETIC_ACTIONS.index("hug")):
        metres = generate_clip(action, np.random.default_rng(3), num_channels=3)
        pixels = generate_clip(action, np.random.default_rng(3), num_channels=2)
        assert pixels.shape == metres.shape[:-1] + (2,)
        np.testing.assert_allclose(pixels, project_to_depth_image(metres.astype(np.float64)), atol=1e-2)
        present = pixels[:, : 2 if action in TWO_PERSON_ACTIONS else 1]
        assert present.min() > 0 and present[..., 0].max() < 512 and present[..., 1].max() < 424
        # image rows grow downwards: the head is above (smaller v than) the feet
        assert np.all(pixels[:, 0, J["head"], 1] < pixels[:, 0, J["foot_left"], 1])
    assert np.array_equal(project_to_depth_image(np.zeros((2, 3))), np.zeros((2, 2)))
    centre = project_to_depth_image(np.array([0.0, 0.0, 3.0]))
    np.testing.assert_allclose(centre, DEPTH_PRINCIPAL_POINT)


def test_subject_profiles_vary_body_proportions():
    lengths = np.stack([SubjectProfile.random(np.random.default_rng(i), i).bone_lengths() for i in range(20)])
    assert lengths.shape == (20, 24)
    spread = lengths.std(axis=0) / lengths.mean(axis=0)
    assert np.all(spread > 0.03) and np.all(spread < 0.2)


def test_default_dataset_splits_and_schema(dataset):
    train, test = dataset["train"], dataset["test"]
    assert (train.num_rows, test.num_rows) == (600, 192)
    assert train.features == synthetic_features() == test.features
    assert train.features["label"].names == list(SYNTHETIC_ACTIONS)
    for name in ("subject", "view", "replication", "num_frames", "num_persons"):
        assert train.features[name].dtype == "int32"
    # cross-subject: no performer in both splits
    assert set(train["subject"]) == set(range(1, 26))
    assert set(test["subject"]) == set(range(26, 34))
    assert set(train["view"]) == set(range(1, NUM_VIEWS + 1))
    assert set(train["replication"]) == {1, 2}
    assert len(set(train["sample_id"]) | set(test["sample_id"])) == 792
    # balanced classes
    assert np.bincount(train["label"], minlength=NUM_CLASSES).tolist() == [50] * NUM_CLASSES
    assert np.bincount(test["label"], minlength=NUM_CLASSES).tolist() == [16] * NUM_CLASSES


def test_default_dataset_rows(dataset, arrays):
    train = dataset["train"]
    clips, labels = arrays[0], arrays[1]
    for clip, label, num_frames, num_persons in zip(
        clips, labels, train["num_frames"], train["num_persons"], strict=True
    ):
        assert clip.dtype == np.float32 and clip.shape == (num_frames, 2, 25, 3)
        assert 30 <= num_frames <= 120
        assert num_persons == (2 if label in TWO_PERSON_ACTIONS else 1)
        assert bool(clip[:, 1].any()) == (num_persons == 2)


def test_dataset_is_deterministic_and_extends_consistently():
    small = load_synthetic_dataset(num_train_subjects=2, num_test_subjects=1, clips_per_action_per_subject=1)
    again = load_synthetic_dataset(num_train_subjects=2, num_test_subjects=1, clips_per_action_per_subject=1)
    larger = load_synthetic_dataset(num_train_subjects=3, num_test_subjects=1, clips_per_action_per_subject=2)
    other_seed = load_synthetic_dataset(
        num_train_subjects=2, num_test_subjects=1, clips_per_action_per_subject=1, seed=1
    )
    assert (small["train"].num_rows, small["test"].num_rows) == (2 * NUM_CLASSES, NUM_CLASSES)
    a, b = small["train"].with_format("numpy"), again["train"].with_format("numpy")
    for x, y in zip(a["skeleton"], b["skeleton"], strict=True):
        np.testing.assert_array_equal(x, y)
    assert list(a["sample_id"]) == list(b["sample_id"])
    # a clip depends only on (seed, subject, action, replication), not on how many others are generated
    big = larger["train"].with_format("numpy")
    by_id = dict(zip(big["sample_id"], big["skeleton"], strict=True))
    for sample_id, clip in zip(a["sample_id"], a["skeleton"], strict=True):
        np.testing.assert_array_equal(by_id[sample_id], clip)
    different = other_seed["train"].with_format("numpy")["skeleton"]
    assert not all(x.shape == y.shape and np.allclose(x, y) for x, y in zip(a["skeleton"], different, strict=True))


def test_two_d_dataset():
    data = load_synthetic_dataset(num_train_subjects=1, num_test_subjects=1, clips_per_action_per_subject=1, two_d=True)
    assert data["train"].features == synthetic_features(two_d=True)
    clip = data["train"].with_format("numpy")[0]["skeleton"]
    assert clip.shape[1:] == (2, 25, 2) and clip.dtype == np.float32


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="action"):
        generate_clip(NUM_CLASSES, np.random.default_rng(0))
    with pytest.raises(ValueError, match="view"):
        generate_clip(0, np.random.default_rng(0), view=0)
    with pytest.raises(ValueError, match="num_channels"):
        generate_clip(0, np.random.default_rng(0), num_channels=4)
    with pytest.raises(ValueError, match="positive"):
        load_synthetic_dataset(num_train_subjects=0)


# ---------------------------------------------------------------------------------------------------------
# Difficulty: numpy-only baselines on the default cross-subject split


def single_frame_features(clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Both persons' joints in one random frame, relative to the first person's spine."""
    t = rng.integers(len(clip))
    frame = clip[t] - clip[t, 0, ROOT]
    frame[~clip[t].any(axis=-1)] = 0.0
    return frame.reshape(-1)


def temporal_features(clip: np.ndarray, num_frames: int = 16) -> np.ndarray:
    """Trajectories resampled to 16 frames (centred on the first frame's spine), their velocities, and the mean
    joint speed in four quarters of the clip."""
    centred = clip - clip[0, 0, ROOT]
    centred[~clip.any(axis=-1)] = 0.0
    positions = np.linspace(0, len(clip) - 1, num_frames)
    lower = np.floor(positions).astype(int)
    upper = np.minimum(lower + 1, len(clip) - 1)
    weight = (positions - lower)[:, None, None, None]
    resampled = centred[lower] * (1 - weight) + centred[upper] * weight
    velocity = np.diff(resampled, axis=0)
    speed = np.linalg.norm(np.diff(centred, axis=0), axis=-1)
    energy = np.stack([quarter.mean(axis=0) for quarter in np.array_split(speed, 4)]) * 10
    return np.concatenate([resampled.reshape(-1), velocity.reshape(-1), energy.reshape(-1)])


def standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-6
    return (train - mean) / std, (test - mean) / std


def nearest_centroid(train: np.ndarray, labels: np.ndarray, test: np.ndarray) -> np.ndarray:
    train, test = standardise(train, test)
    centroids = np.stack([train[labels == k].mean(axis=0) for k in range(NUM_CLASSES)])
    return np.argmin(((test[:, None] - centroids[None]) ** 2).sum(axis=-1), axis=1)


def logistic_regression(train: np.ndarray, labels: np.ndarray, test: np.ndarray, steps: int = 100) -> np.ndarray:
    train, test = standardise(train, test)
    weights, bias, targets = np.zeros((train.shape[1], NUM_CLASSES)), np.zeros(NUM_CLASSES), np.eye(NUM_CLASSES)[labels]
    for _ in range(steps):
        logits = train @ weights + bias
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        gradient = (probabilities - targets) / len(train)
        weights -= 0.5 * (train.T @ gradient + 1e-3 * weights)
        bias -= 0.5 * gradient.sum(axis=0)
    return np.argmax(test @ weights + bias, axis=1)


@pytest.mark.slow
def test_single_frame_does_not_give_the_class_away_but_temporal_features_do(arrays):
    train_clips, train_labels, test_clips, test_labels = arrays
    rng = np.random.default_rng(0)
    frames_per_clip = 4
    frame_train = np.stack([single_frame_features(c, rng) for c in train_clips for _ in range(frames_per_clip)])
    frame_labels = np.repeat(train_labels, frames_per_clip)
    frame_test = np.stack([single_frame_features(c, rng) for c in test_clips])
    temporal_train = np.stack([temporal_features(c) for c in train_clips])
    temporal_test = np.stack([temporal_features(c) for c in test_clips])

    accuracy = {}
    for name, classifier in (("nearest centroid", nearest_centroid), ("logistic regression", logistic_regression)):
        accuracy[name, "frame"] = np.mean(classifier(frame_train, frame_labels, frame_test) == test_labels)
        accuracy[name, "temporal"] = np.mean(classifier(temporal_train, train_labels, temporal_test) == test_labels)
    print("\n" + "\n".join(f"{name:>20} {kind:>8}: {value:.3f}" for (name, kind), value in accuracy.items()))

    chance = 1 / NUM_CLASSES
    best_frame = max(accuracy[name, "frame"] for name in ("nearest centroid", "logistic regression"))
    best_temporal = max(accuracy[name, "temporal"] for name in ("nearest centroid", "logistic regression"))
    # (1) one frame is not enough: shared poses (sit down / stand up / squat, wave / raise hand, the two-person
    # approach) keep a single-frame classifier far below a temporal one
    assert best_frame < 0.6
    assert best_temporal - best_frame > 0.25
    # (2) learnable: simple temporal features are far above chance, but not perfect
    assert accuracy["nearest centroid", "temporal"] > 0.6 > 6 * chance
    assert 0.75 < accuracy["logistic regression", "temporal"] < 0.99
