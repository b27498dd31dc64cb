"""The synthetic multi-view corpus (`load_multiview_corpus`): retargeting to the benchmarks' layouts, the camera
ranges it promises, determinism per seed, and its use as pretraining data beside a benchmark's clips."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
from transformers import AutoModelForPreTraining

from hf_cascadeformer.data.features import layout_name_of
from hf_cascadeformer.data.skeletons import NTU_LAYOUT, NUCLA_LAYOUT, PENN_LAYOUT, SkeletonLayout
from hf_cascadeformer.data.synthetic import (
    DEPTH_PRINCIPAL_POINT,
    SINGLE_PERSON_ACTIONS,
    kinect_v2_joints,
    load_multiview_corpus,
)
from hf_cascadeformer.training import pretraining
from hf_cascadeformer.training.common import EMBEDDED_MULTIVIEW_DATASET, load_dataset_dict
from hf_cascadeformer.training.recipe_runner import with_synthetic_clips


def skeletons(corpus: datasets.Dataset) -> list[np.ndarray]:
    return [np.asarray(clip, dtype=np.float32) for clip in corpus.with_format("numpy")["skeleton"]]


def test_retargeting_picks_the_kinect_v2_joint_of_every_layout_joint_by_name():
    # Kinect v1's trunk joints under their v2 names; the limbs keep their index.
    assert kinect_v2_joints(NUCLA_LAYOUT).tolist() == [0, 1, 20, 3, *range(4, 20)]
    penn = kinect_v2_joints(PENN_LAYOUT)
    assert [NTU_LAYOUT.joint_names[i] for i in penn[:3]] == ["head", "shoulder_left", "shoulder_right"]
    assert [NTU_LAYOUT.joint_names[i] for i in penn[-2:]] == ["ankle_left", "ankle_right"]
    assert kinect_v2_joints(NTU_LAYOUT).tolist() == list(range(25))
    tail = SkeletonLayout("with_tail", ("head", "tail"), ((0, 1),), (), 0, 3)
    with pytest.raises(ValueError, match="'tail' has no Kinect v2 counterpart"):
        kinect_v2_joints(tail)


@pytest.mark.parametrize(("layout", "joints", "channels"), [("nucla", 20, 3), ("penn", 13, 2), ("ntu", 25, 3)])
def test_corpus_clips_have_the_layout_one_person_and_the_single_person_actions(layout, joints, channels):
    corpus = load_multiview_corpus(24, layout, seed=3)
    assert len(corpus) == 24 and layout_name_of(corpus.features) == layout
    assert corpus.features["label"].names == list(SINGLE_PERSON_ACTIONS)
    assert "hug" not in SINGLE_PERSON_ACTIONS and len(SINGLE_PERSON_ACTIONS) == 9
    for clip, num_frames in zip(skeletons(corpus), corpus["num_frames"], strict=True):
        assert clip.shape == (num_frames, 1, joints, channels) and 30 <= num_frames <= 120
        assert np.isfinite(clip).all() and np.abs(clip).sum(axis=(1, 2, 3)).min() > 0  # no empty frames
    assert set(corpus["num_persons"]) == {1}
    if channels == 2:  # depth-image pixels around the image centre
        centre = np.concatenate([clip.reshape(-1, 2) for clip in skeletons(corpus)]).mean(axis=0)
        assert np.abs(centre - np.array(DEPTH_PRINCIPAL_POINT)).max() < 120


def test_a_layout_is_the_same_motion_as_the_kinect_v2_clip_restricted_to_its_joints():
    ntu, nucla = (skeletons(load_multiview_corpus(8, layout, seed=5)) for layout in ("ntu", "nucla"))
    index = kinect_v2_joints(NUCLA_LAYOUT)
    for full, retargeted in zip(ntu, nucla, strict=True):
        np.testing.assert_array_equal(full[:, :, index], retargeted)


def test_cameras_cover_the_requested_ranges_and_the_skeleton_turns_with_the_azimuth():
    corpus = load_multiview_corpus(300, "nucla", azimuth_degrees=(-80.0, 80.0), tilt_degrees=(0.0, 20.0), seed=1)
    azimuth, tilt, distance = (np.array(corpus[name]) for name in ("azimuth", "tilt", "distance"))
    assert azimuth.min() >= -80 and azimuth.max() <= 80 and azimuth.min() < -70 and azimuth.max() > 70
    assert tilt.min() >= 0 and tilt.max() <= 20 and 2.0 <= distance.min() and distance.max() <= 3.5
    # Seen from azimuth a, the shoulder line (right -> left) points along a in the camera's x-z plane, give or take
    # the performer's own turn of up to 20 degrees ("turn around" turns further and is left out).
    errors = []
    for clip, angle, label in zip(skeletons(corpus), azimuth, corpus["label"], strict=True):
        if SINGLE_PERSON_ACTIONS[label] == "turn around":
            continue
        left, right = NUCLA_LAYOUT.joint_index("shoulder_left"), NUCLA_LAYOUT.joint_index("shoulder_right")
        shoulders = (clip[:, 0, left] - clip[:, 0, right]).mean(axis=0)
        seen = np.degrees(np.arctan2(shoulders[2], -shoulders[0]))
        errors.append(abs((seen - angle + 180) % 360 - 180))
    assert np.median(errors) < 15 and np.mean(np.array(errors) < 30) > 0.9
    # The clip's depth is the camera's distance, give or take where the performer stands.
    depth = np.array([clip[:, 0, NUCLA_LAYOUT.root_joint, 2].mean() for clip in skeletons(corpus)])
    assert np.corrcoef(depth, distance)[0, 1] > 0.8


def test_the_corpus_is_deterministic_per_seed_and_a_larger_one_extends_a_smaller():
    small, again, large = (load_multiview_corpus(n, "nucla", seed=7) for n in (10, 10, 20))
    other = load_multiview_corpus(10, "nucla", seed=8)
    assert small["sample_id"] == again["sample_id"] == large["sample_id"][:10]
    for a, b, c in zip(skeletons(small), skeletons(again), skeletons(large)[:10], strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert not all(
        a.shape == b.shape and np.array_equal(a, b) for a, b in zip(skeletons(small), skeletons(other), strict=True)
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_clips": 0}, "num_clips must be positive"),
        ({"seed": -1}, "seed must be non-negative"),
        ({"azimuth_degrees": (90.0, -90.0)}, "azimuth_degrees must be a range"),
        ({"tilt_degrees": (-200.0, 0.0)}, "tilt_degrees must be a range"),
        ({"distance_m": (0.1, 3.0)}, "distance_m must be a range"),
        ({"layout": "no-such-layout"}, "no-such-layout"),
    ],
)
def test_bad_corpus_arguments_are_one_line_errors_naming_the_argument(kwargs, message):
    with pytest.raises((ValueError, KeyError), match=message):
        load_multiview_corpus(**{"num_clips": 4, **kwargs})


def test_the_corpus_is_a_dataset_name_with_the_layout_as_its_config():
    corpus = load_dataset_dict(EMBEDDED_MULTIVIEW_DATASET, "penn")
    assert list(corpus) == ["train"] and layout_name_of(corpus["train"].features) == "penn"
    assert len(corpus["train"]) == 4000  # the default corpus


def test_synthetic_clips_join_a_benchmark_split_unlabelled_with_its_features():
    real = load_multiview_corpus(6, "nucla", seed=11)
    benchmark_features = datasets.Features(
        {
            **{name: real.features[name] for name in ("skeleton", "sample_id", "num_frames", "num_persons")},
            "label": datasets.ClassLabel(names=[f"action {i}" for i in range(10)]),
            "view": datasets.Value("int32"),
        }
    )
    train = real.remove_columns(["azimuth", "tilt", "distance", "label"])
    train = train.add_column("label", [1, 2, 3, 4, 5, 6]).add_column("view", [1] * 6).cast(benchmark_features)
    joined = with_synthetic_clips(train, 5, seed=0)
    assert joined.features == train.features and len(joined) == 11
    assert joined["label"] == [1, 2, 3, 4, 5, 6, -1, -1, -1, -1, -1] and joined["view"][6:] == [0] * 5
    synthetic = load_multiview_corpus(5, "nucla", seed=0)
    for a, b in zip(skeletons(joined.select(range(6, 11))), skeletons(synthetic), strict=True):
        np.testing.assert_array_equal(a, b)
    two_person_features = datasets.Features(
        {**benchmark_features, "skeleton": datasets.Array4D((None, 2, 20, 3), "float32", id="nucla")}
    )
    two_person = datasets.Dataset.from_dict({name: [] for name in two_person_features}, features=two_person_features)
    with pytest.raises(ValueError, match="one person per clip; this benchmark has 2"):
        with_synthetic_clips(two_person, 5, seed=0)


def test_pretraining_runs_on_the_corpus_by_its_dataset_name(tmp_path):
    args = ["--dataset", EMBEDDED_MULTIVIEW_DATASET, "--dataset-config", "nucla", "--output-dir", str(tmp_path)]
    pretraining.main([*args, "--max-steps", "2", "--batch-size", "8", "--num-frames", "16"])
    model = AutoModelForPreTraining.from_pretrained(tmp_path)
    assert model.config.skeleton_layout == "nucla" and model.config.num_joints == 20
