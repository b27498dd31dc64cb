"""Pictures: clips as GIF / PNG strips (checked pixel by pixel), attention importance, training curves."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from hf_cascadeformer import CascadeFormerConfig, CascadeFormerFeatureExtractor, CascadeFormerForSequenceClassification
from hf_cascadeformer.data.synthetic import generate_clip
from hf_cascadeformer.visualization import (
    IMPORTANCE_COLORMAP,
    MASKED_COLOR,
    PERSON_COLORS,
    frame_importance,
    layout_for_clip,
    plot_confusion_matrix,
    plot_training_curves,
    project_clip,
    read_training_logs,
    render_clip_gif,
    render_clip_strip,
)

pytest.importorskip("matplotlib")
from PIL import Image  # noqa: E402  (comes with matplotlib)

HEAD = 3  # NTU joint 4 (1-based)


@pytest.fixture(scope="module")
def handshake() -> np.ndarray:
    """A two-person synthetic clip (30, 2, 25, 3): metres, y up."""
    return generate_clip(9, np.random.default_rng(0), min_frames=30, max_frames=30)


def rgb(hex_color: str) -> np.ndarray:
    return np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)


def pixels_near(image: np.ndarray, color, tolerance: float = 45.0) -> np.ndarray:
    """Boolean map of the pixels within `tolerance` (RGB distance) of `color`."""
    color = rgb(color) if isinstance(color, str) else np.asarray(color, dtype=float)[:3]
    return np.linalg.norm(image[..., :3].astype(float) - color, axis=-1) < tolerance


def gif_frames(path) -> list[np.ndarray]:
    with Image.open(path) as image:
        assert image.format == "GIF"
        frames = []
        for index in range(image.n_frames):
            image.seek(index)
            frames.append(np.asarray(image.convert("RGB")))
    return frames


def png(path) -> np.ndarray:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_layout_is_chosen_from_the_joint_count():
    assert layout_for_clip(25, 3).name == "ntu"
    assert layout_for_clip(25, 2).name == "ntu_2d"
    assert layout_for_clip(20, 3).name == "nucla"
    assert layout_for_clip(13, 2).name == "penn"
    with pytest.raises(ValueError, match="no known skeleton layout has 17 joints"):
        layout_for_clip(17, 2)


def test_projection_keeps_3d_y_up_and_flips_image_y():
    clip = np.zeros((1, 1, 2, 3), np.float32)
    clip[0, 0] = [[0.1, 0.8, 3.0], [0.2, -0.9, 3.1]]  # head above feet, y up
    np.testing.assert_allclose(project_clip(clip)[0, 0], [[0.1, 0.8], [0.2, -0.9]], rtol=1e-6)
    image = np.array([[[[100.0, 50.0], [110.0, 300.0]]]], np.float32)  # head above feet, y down (pixels)
    np.testing.assert_allclose(project_clip(image)[0, 0], [[100.0, -50.0], [110.0, -300.0]])
    np.testing.assert_allclose(project_clip(image, y_down=False)[0, 0], image[0, 0])


def test_gif_has_one_frame_per_clip_frame_and_two_person_colours(handshake, tmp_path):
    path = render_clip_gif(handshake, tmp_path / "clip.gif", fps=10, title="handshake")
    assert 5_000 < path.stat().st_size < 2_000_000
    frames = gif_frames(path)
    assert len(frames) == 30
    height, width, _ = frames[0].shape
    assert 250 <= width <= 600 and 250 <= height <= 600
    with Image.open(path) as image:
        assert image.info["duration"] == 100 and image.info["loop"] == 0
    for frame in (frames[0], frames[-1]):
        blue, orange = pixels_near(frame, PERSON_COLORS[0]).sum(), pixels_near(frame, PERSON_COLORS[1]).sum()
        assert blue > 300 and orange > 300, (blue, orange)
        assert (frame.min(axis=-1) < 200).mean() > 0.01  # not blank
    assert not np.array_equal(frames[0], frames[-1])  # the people move
    assert len(gif_frames(render_clip_gif(handshake, tmp_path / "short.gif", max_frames=7))) == 7


def test_a_single_person_uses_one_colour(handshake, tmp_path):
    frames = gif_frames(render_clip_gif(handshake[:, :1], tmp_path / "one.gif", max_frames=3))
    assert pixels_near(frames[1], PERSON_COLORS[0]).sum() > 300
    assert pixels_near(frames[1], PERSON_COLORS[1]).sum() == 0


@pytest.mark.parametrize("channels", [3, 2])
def test_people_stand_upright(channels, tmp_path):
    # 3D camera metres (y up) and 2D depth-image pixels (y down) of the same scene: the head, marked by a masked-joint
    # cross, must be drawn at the top of the body in both.
    clip = generate_clip(1, np.random.default_rng(1), num_channels=channels, min_frames=30, max_frames=30)[:, :1]
    mask = np.zeros(clip.shape[:1] + clip.shape[2:3], bool)
    mask[:, HEAD] = True
    image = png(render_clip_strip(clip[:1], tmp_path / "pose.png", num_panels=1, joint_mask=mask[:1]))
    body_rows = np.nonzero(pixels_near(image, PERSON_COLORS[0]) | pixels_near(image, "#b0b0b0", 20))[0]
    body_columns = np.nonzero(pixels_near(image, PERSON_COLORS[0]))[1]
    head_rows = np.nonzero(pixels_near(image, MASKED_COLOR, 60))[0]
    assert len(head_rows) > 10
    top, bottom = body_rows.min(), body_rows.max()
    assert bottom - top > 1.5 * (body_columns.max() - body_columns.min())  # a standing person is tall
    assert head_rows.mean() < top + 0.2 * (bottom - top)


def test_strip_shows_every_panel_with_shared_limits(handshake, tmp_path):
    image = png(render_clip_strip(handshake, tmp_path / "strip.png", num_panels=6, panel_size=2.0, dpi=60))
    height, width, _ = image.shape
    assert width == 6 * 2 * 60 and 100 < height < 200
    blue = pixels_near(image, PERSON_COLORS[0])
    for panel in np.array_split(np.arange(width), 6):
        assert blue[:, panel].sum() > 50  # a person in every panel


def test_importance_colours_bones_and_mask_marks_joints(handshake, tmp_path):
    importance = np.linspace(0.0, 1.0, len(handshake))
    frames = gif_frames(render_clip_gif(handshake, tmp_path / "importance.gif", importance=importance))
    colormap = __import__("matplotlib").colormaps[IMPORTANCE_COLORMAP]
    low, high = (np.array(colormap(value)[:3]) * 255 for value in (0.0, 1.0))
    assert pixels_near(frames[0], low, 30).sum() > 300 and pixels_near(frames[0], high, 30).sum() < 50
    assert pixels_near(frames[-1], high, 30).sum() > 300
    with pytest.raises(ValueError, match="one value per frame"):
        render_clip_gif(handshake, tmp_path / "bad.gif", importance=importance[:-1])

    none = np.zeros((len(handshake), 25), bool)
    clean = png(render_clip_strip(handshake, tmp_path / "clean.png", num_panels=2, joint_mask=none))
    assert pixels_near(clean, MASKED_COLOR, 60).sum() == 0
    half = np.random.default_rng(0).random((2, len(handshake), 25)) < 0.5  # (persons, frames, joints)
    masked = png(render_clip_strip(handshake, tmp_path / "masked.png", num_panels=2, joint_mask=half))
    assert pixels_near(masked, MASKED_COLOR, 60).sum() > 200
    with pytest.raises(ValueError, match="joint_mask must be"):
        render_clip_strip(handshake, tmp_path / "bad.png", joint_mask=np.zeros((3, 25), bool))


def test_real_clips_render(shared_data, tmp_path):
    from hf_cascadeformer.io import load_clip

    for path in (
        shared_data / "ntu" / "S001C003P008R002A058.skeleton",
        sorted((shared_data / "penn_action" / "labels").glob("*.mat"))[0],
    ):
        clip, _ = load_clip(path)
        image = png(render_clip_strip(clip, tmp_path / f"{path.stem}.png", num_panels=3))
        assert pixels_near(image, PERSON_COLORS[0]).sum() > 200
        if clip.shape[1] == 2:  # the NTU handshake: two people in every frame
            assert pixels_near(image, PERSON_COLORS[1]).sum() > 200


def test_frame_importance_follows_the_clip_frames():
    torch.manual_seed(0)
    config = CascadeFormerConfig(
        num_persons=2, max_frames=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    model = CascadeFormerForSequenceClassification(config)
    clip = generate_clip(9, np.random.default_rng(2), min_frames=40, max_frames=40)
    for num_frames, resampling in ((16, "pad"), (16, "interpolate"), (None, "pad")):
        extractor = CascadeFormerFeatureExtractor.from_model_config(
            config, num_frames=num_frames, resampling=resampling
        )
        for frames in (40, 10):  # longer than the model's 16 frames (sampled) and shorter (padded or stretched)
            scores = frame_importance(model, extractor, clip[:frames])
            assert scores.shape == (frames,) and np.isfinite(scores).all() and (scores > 0).all()
            assert scores.std() > 0
    # Joint-segment tokens (MAMP / GFP layout) are averaged over joints and spread over their frames.
    segments = CascadeFormerConfig(**{**config.to_dict(), "token_layout": "joint_segment", "segment_length": 4})
    segment_model = CascadeFormerForSequenceClassification(segments)
    scores = frame_importance(segment_model, CascadeFormerFeatureExtractor.from_model_config(segments), clip[:12])
    assert scores.shape == (12,) and np.isfinite(scores).all()
    np.testing.assert_allclose(scores[:4], scores[0])  # one segment, one value


def test_training_logs_and_curves(tmp_path):
    history = [
        {"loss": 2.0, "learning_rate": 1e-3, "grad_norm": 1.5, "epoch": 0.5, "step": 10},
        {"eval_loss": 1.8, "eval_accuracy": 0.4, "eval_runtime": 0.7, "epoch": 1.0, "step": 20},
        {"loss": 1.5, "learning_rate": 5e-4, "grad_norm": 1.1, "epoch": 1.5, "step": 30},
        {"eval_loss": 1.2, "eval_accuracy": 0.6, "eval_runtime": 0.6, "epoch": 2.0, "step": 40},
        {"train_runtime": 12.0, "train_loss": 1.7, "epoch": 2.0, "step": 40},
    ]
    for step, entries in ((20, history[:2]), (40, history)):  # the latest checkpoint holds the whole history
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"log_history": entries}))
    lines = [{"step": 5, "lr": 1e-4, "loss": 0.9, "reconstruction": 0.8}, {"step": 10, "lr": 2e-4, "loss": 0.7}]
    (tmp_path / "pretrain_log.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    series = read_training_logs(tmp_path)
    assert series["train loss"] == [(10, 2.0), (30, 1.5)]
    assert series["eval loss"] == [(20, 1.8), (40, 1.2)] and series["eval accuracy"] == [(20, 0.4), (40, 0.6)]
    assert series["pretrain loss"] == [(5, 0.9), (10, 0.7)] and series["pretrain reconstruction"] == [(5, 0.8)]
    assert series["learning rate"] == [(5, 1e-4), (10, 2e-4), (10, 1e-3), (30, 5e-4)]
    assert "eval runtime" not in series and "train_loss" not in str(series)
    image = png(plot_training_curves(tmp_path, tmp_path / "curves.png", title="run"))
    assert image.shape[1] > 3 * image.shape[0] and (image.min(axis=-1) < 200).mean() > 0.01
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no trainer_state.json"):
        read_training_logs(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        read_training_logs(tmp_path / "missing")


def test_confusion_matrix_plot(tmp_path):
    matrix = np.array([[5, 1, 0], [0, 3, 3], [1, 0, 6]])
    image = png(plot_confusion_matrix(matrix, ["a", "b", "c"], tmp_path / "confusion.png"))
    assert image.shape[0] > 400 and pixels_near(image, (8, 48, 107), 60).sum() > 100  # dark blue diagonal cells


def test_missing_matplotlib_says_how_to_install_it(monkeypatch, handshake, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "hf-cascadeformer\[viz\]"'):
        render_clip_gif(handshake, tmp_path / "clip.gif")
