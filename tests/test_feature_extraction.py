"""The feature extractor: raw clips of any length, 2D or 3D, one or two persons -> model inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoFeatureExtractor

from hf_cascadeformer import CascadeFormerConfig, CascadeFormerFeatureExtractor, CascadeFormerForSequenceClassification


def walking_clip(frames: int, joints: int = 25, channels: int = 3, offset: float = 2.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(1, joints, channels)).astype(np.float32)
    drift = np.linspace(0, 1, frames, dtype=np.float32)[:, None, None]
    return base + drift + offset


def test_variable_length_clips_are_padded_with_an_attention_mask():
    extractor = CascadeFormerFeatureExtractor(num_frames=16, max_frames=16)
    out = extractor([walking_clip(10), walking_clip(16), walking_clip(40)], return_tensors="pt")
    assert out["skeletons"].shape == (3, 1, 16, 25, 3)
    assert out["skeletons"].dtype == torch.float32
    assert out["attention_mask"].sum(1).tolist() == [10, 16, 16]
    assert out["skeletons"][0, 0, 10:].abs().sum() == 0


def test_longer_clips_keep_evenly_spaced_frames():
    clip = np.arange(31, dtype=np.float32)[:, None, None] * np.ones((1, 25, 3), np.float32)
    extractor = CascadeFormerFeatureExtractor(num_frames=4, max_frames=4, centering="none")
    frames = extractor(clip)["skeletons"][0, 0, :, 0, 0]
    assert frames.tolist() == [0.0, 10.0, 20.0, 30.0]


def test_interpolation_resamples_to_exactly_the_frame_count():
    clip = np.arange(3, dtype=np.float32)[:, None, None] * np.ones((1, 25, 3), np.float32)
    extractor = CascadeFormerFeatureExtractor(num_frames=5, max_frames=5, resampling="interpolate", centering="none")
    out = extractor(clip)
    assert out["skeletons"][0, 0, :, 0, 0].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert out["attention_mask"].tolist() == [[1] * 5]


def test_centering_on_the_root_joint_and_scale_normalization():
    clip = walking_clip(8)
    first = CascadeFormerFeatureExtractor(num_frames=8, max_frames=8, root_joint=1)(clip)["skeletons"][0, 0]
    np.testing.assert_allclose(first[0, 1], 0.0, atol=1e-6)
    assert np.abs(first[-1, 1]).max() > 0.5  # the root still travels after the first frame
    per_frame = CascadeFormerFeatureExtractor(num_frames=8, max_frames=8, centering="per_frame")(clip)
    np.testing.assert_allclose(per_frame["skeletons"][0, 0, :, 1], 0.0, atol=1e-6)
    scaled = CascadeFormerFeatureExtractor(num_frames=8, max_frames=8, scale_normalization=True)(clip * 7)
    assert np.linalg.norm(scaled["skeletons"][0, 0], axis=-1).max() == pytest.approx(1.0, rel=1e-5)


def test_facing_joints_turn_every_view_of_a_clip_to_the_same_front_view():
    clip = np.random.default_rng(0).normal(size=(8, 2, 25, 3)).astype(np.float32)
    clip[:, 1] = 0.0  # the second person is absent: it stays zero
    extractor = CascadeFormerFeatureExtractor(num_frames=8, max_frames=8, num_persons=2, facing_joints=(16, 12))
    front = extractor(clip)["skeletons"][0]
    across = front[0, 0, 12] - front[0, 0, 16]
    assert across[0] > 0 and abs(across[2]) < 1e-5  # the hips of the first frame lie along +x
    for angle in (0.7, -2.5):  # the same clip filmed from another side of the person (rotated about y)
        cos, sin = np.cos(angle), np.sin(angle)
        turn = np.array([[cos, 0.0, sin], [0.0, 1.0, 0.0], [-sin, 0.0, cos]], dtype=np.float32)
        np.testing.assert_allclose(extractor(clip @ turn.T)["skeletons"][0], front, atol=1e-5)
    assert not front[1].any()  # (persons, frames, joints, channels)
    with pytest.raises(ValueError, match="facing_joints must be two joint indices"):
        CascadeFormerFeatureExtractor(facing_joints=(16, 25))
    with pytest.raises(ValueError, match="needs 3D clips"):
        CascadeFormerFeatureExtractor(num_joints=13, num_channels=2, root_joint=0, facing_joints=(1, 2))


def test_batch_padded_to_the_longest_clip_when_num_frames_is_none():
    extractor = CascadeFormerFeatureExtractor(num_frames=None, max_frames=50)
    out = extractor([walking_clip(7), walking_clip(12)])
    assert out["skeletons"].shape[2] == 12
    assert out["attention_mask"].sum(1).tolist() == [7, 12]
    with pytest.raises(ValueError, match="longest clip has 60 frames, more than max_frames=50"):
        extractor([walking_clip(60)])


def test_two_dimensional_clips_and_lists_of_frames():
    extractor = CascadeFormerFeatureExtractor(num_joints=13, num_channels=2, num_frames=6, max_frames=6, root_joint=0)
    frames = [[[float(j), float(t)] for j in range(13)] for t in range(4)]  # a clip as a list of frames
    out = extractor(frames)
    assert out["skeletons"].shape == (1, 1, 6, 13, 2)
    assert out["attention_mask"].tolist() == [[1, 1, 1, 1, 0, 0]]


def test_persons_are_selected_by_motion_and_absent_ones_stay_zero():
    still = np.ones((20, 25, 3), np.float32)
    moving = walking_clip(20, seed=1)
    faster = walking_clip(20, seed=2) * np.linspace(0, 3, 20, dtype=np.float32)[:, None, None]
    three = np.stack([still, moving, faster], axis=1)  # (frames, persons, joints, channels)
    extractor = CascadeFormerFeatureExtractor(num_persons=2, num_frames=20, max_frames=20)
    kept = extractor(three)["skeletons"][0]
    assert kept.shape == (2, 20, 25, 3)
    # The still person is dropped; the two moving ones keep their order.
    np.testing.assert_allclose(kept[0] - kept[0, 0, 1], moving - moving[0, 1], atol=1e-5)

    one = extractor(moving)["skeletons"][0]
    assert one[1].sum() == 0 and one[0].any()
    absent_second = np.stack([moving, np.zeros_like(moving)], axis=1)
    np.testing.assert_array_equal(extractor(absent_second)["skeletons"], extractor(moving)["skeletons"])


@pytest.mark.parametrize(
    ("clip", "message"),
    [
        (np.zeros((5, 25)), r"expected a clip of rank 3 or 4 .* got shape \(5, 25\)"),
        (np.zeros((0, 25, 3)), "clip 0 is empty"),
        (np.zeros((5, 20, 3)), "expected 25 joints x 3 channels, got 20 x 3"),
        (np.zeros((5, 25, 2)), "expected 25 joints x 3 channels, got 25 x 2"),
        (np.full((5, 25, 3), np.nan), "NaN or infinite"),
        (np.full((5, 25, 3), np.inf), "NaN or infinite"),
    ],
)
def test_bad_clips_raise_a_value_error(clip, message):
    with pytest.raises(ValueError, match=message):
        CascadeFormerFeatureExtractor()(clip)


def test_bad_settings_raise_a_value_error():
    with pytest.raises(ValueError, match=r"num_frames \(80\) exceeds max_frames \(64\)"):
        CascadeFormerFeatureExtractor(num_frames=80)
    with pytest.raises(ValueError, match=r"num_frames \(80\) exceeds max_frames \(64\)"):
        CascadeFormerFeatureExtractor()(walking_clip(5), num_frames=80)
    with pytest.raises(ValueError, match="centering must be one of"):
        CascadeFormerFeatureExtractor(centering="hips")


def test_round_trip_through_save_pretrained_and_auto_class(tmp_path):
    config = CascadeFormerConfig(num_joints=25, num_persons=2, max_frames=32, num_labels=4)
    extractor = CascadeFormerFeatureExtractor.from_model_config(config, num_frames=32, scale_normalization=True)
    extractor.save_pretrained(tmp_path)
    assert (tmp_path / "preprocessor_config.json").exists()
    reloaded = AutoFeatureExtractor.from_pretrained(tmp_path)
    assert isinstance(reloaded, CascadeFormerFeatureExtractor)
    assert reloaded.to_dict() == extractor.to_dict()

    model = CascadeFormerForSequenceClassification(config).eval()
    inputs = reloaded([walking_clip(12), walking_clip(50, seed=3)], return_tensors="pt")
    with torch.no_grad():
        assert model(**inputs).logits.shape == (2, 4)
