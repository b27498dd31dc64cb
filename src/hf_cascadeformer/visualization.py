"""Pictures of clips and results. matplotlib is an optional extra: `pip install "hf-cascadeformer[viz]"`.

* :func:`render_clip_gif` / :func:`render_clip_strip`: a clip as an animated GIF or a row of frames (PNG), drawn
  with the bones of its skeleton layout (`layout=`, a `SkeletonLayout` or its name; without one, the built-in layout
  its joint count implies, `data.skeletons.legacy_layout`: NTU 25, N-UCLA 20, Penn Action 13), one colour per
  person, optionally coloured by a per-frame importance (:func:`frame_importance`: the classifier's stage-1
  attention) or marking the masked joints of masked pretraining.
* :func:`plot_training_curves`: losses, metrics and learning rate of a run folder (`trainer_state.json` of
  `Trainer`, `pretrain_log.jsonl` of `hf_cascadeformer.training.pretrain`), read by :func:`read_training_logs`.
* :func:`plot_confusion_matrix`: a row-normalised confusion matrix with action names.

3D clips (NTU, N-UCLA: camera coordinates in metres, y up) are projected orthographically onto x (right) and y (up);
2D clips are image pixels with y down and are flipped so that people stand upright. Every frame of a clip shares one
set of axis limits with equal aspect, so the body keeps its size and position from frame to frame.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .data.skeletons import SkeletonLayout, get_layout, legacy_layout

PERSON_COLORS = ("#1f5fbf", "#f07d00", "#2ca02c", "#9b3fbf")
"""Bone colour of person 0, 1, ...: blue, orange, green, purple."""
MASKED_COLOR = "#d62728"
IMPORTANCE_COLORMAP = "plasma"

_TIMING_KEYS = ("runtime", "samples_per_second", "steps_per_second", "epoch")


def require_matplotlib() -> Any:
    """matplotlib with a non-interactive backend, or an ImportError that says how to install it."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(
            'plotting needs matplotlib: pip install "hf-cascadeformer[viz]" (or pip install matplotlib)'
        ) from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ----------------------------------------------------------------------------------------------------------------
# Clips


def layout_for_clip(num_joints: int, num_channels: int) -> SkeletonLayout:
    """The layout of a clip given without one: `data.skeletons.legacy_layout` (NTU 25 in 3D or 2D, N-UCLA 20, Penn
    13). A clip of any other joint set (a second 25-joint format too) must be drawn with its own `layout=`."""
    return legacy_layout(num_joints, num_channels)


def project_clip(clip: np.ndarray, y_down: bool | None = None) -> np.ndarray:
    """`(frames, persons, joints, channels)` -> `(frames, persons, joints, 2)` screen coordinates, x right, y up.

    3D: orthographic projection onto x and y. 2D: `y_down` (default: True for 2 channels, image pixels) flips y.
    """
    clip = _as_clip(clip)
    points = clip[..., :2].astype(np.float64)
    if y_down is None:
        y_down = clip.shape[-1] == 2
    if y_down:
        points[..., 1] = -points[..., 1]
    return points


def frame_importance(model: Any, feature_extractor: Any, clip: np.ndarray) -> np.ndarray:
    """How much the classifier attends to each frame of `clip`: one value per frame of the clip (not of the model's
    resampled input), the attention each frame's tokens receive in stage 1, averaged over layers, heads, valid
    query tokens, joints (joint-segment tokens) and present persons.

    `model` is a `CascadeFormerForSequenceClassification` (or any model returning stage-1 `attentions` over frame
    or joint-segment tokens), `feature_extractor` its `CascadeFormerFeatureExtractor`.
    """
    import torch

    clip = _as_clip(clip)
    length = len(clip)
    target = feature_extractor.num_frames or min(length, feature_extractor.max_frames)
    inputs = feature_extractor(clip, num_frames=target, return_tensors="pt")
    parameter = next(model.parameters())
    inputs = {key: value.to(parameter.device) for key, value in inputs.items()}
    inputs["skeletons"] = inputs["skeletons"].to(parameter.dtype)
    model.eval()
    with torch.no_grad():
        outputs = model(**inputs, output_attentions=True)
    if not outputs.attentions:
        raise ValueError(f"{type(model).__name__} returned no attentions")
    # (rows = present persons, heads, tokens, tokens) per layer -> attention received per key token.
    attention = torch.stack([layer.float() for layer in outputs.attentions]).mean(dim=(0, 2))
    valid_frames = int(inputs["attention_mask"][0].sum())
    tokens = attention.shape[-1]
    model_frames = inputs["attention_mask"].shape[1]
    if tokens == model_frames:
        received = attention[:, :valid_frames, :valid_frames].mean(dim=1)
    else:  # joint-segment tokens, segment-major: average the joints of a segment, spread it over its frames
        config = model.config
        received = attention.mean(dim=1).reshape(len(attention), -1, config.num_joints).mean(-1)
        received = received.repeat_interleave(config.segment_length, dim=1)[:, :valid_frames]
    scores = received.mean(0).cpu().numpy()
    # Map the model's frames back to the clip's: `pad` keeps a short clip's frames and takes evenly spaced frames
    # of a long one; `interpolate` resamples to exactly `target` frames; both sample linspace(0, length - 1).
    if feature_extractor.resampling == "pad" and length <= target:
        positions = np.arange(valid_frames, dtype=np.float64)
    else:
        positions = np.linspace(0, length - 1, target)[:valid_frames]
    return np.interp(np.arange(length), positions, scores).astype(np.float32)


def render_clip_gif(
    clip: np.ndarray,
    path: str | Path,
    *,
    fps: float = 15.0,
    importance: np.ndarray | None = None,
    joint_mask: np.ndarray | None = None,
    title: str | None = None,
    max_frames: int | None = None,
    layout: SkeletonLayout | str | None = None,
    y_down: bool | None = None,
    size: float = 4.0,
    dpi: int = 80,
) -> Path:
    """Write `clip` `(frames, joints, channels)` or `(frames, persons, joints, channels)` as an animated GIF.

    Args:
        fps: frames per second of the animation (GIF timing is in hundredths of a second).
        importance: one value per frame (e.g. :func:`frame_importance`); bones are coloured by it (normalised to
            the clip's range) and a timeline under the figure shows it.
        joint_mask: boolean `(frames, joints)` (every person) or `(persons, frames, joints)`, True = masked: masked
            joints are drawn as red crosses and their bones grey and dashed.
        max_frames: keep at most this many evenly spaced frames.
        layout: the skeleton layout (or its name, `data.skeletons.get_layout`) whose bones are drawn; omitted, the
            built-in layout of the clip's joint count (:func:`layout_for_clip`).
        size, dpi: figure width in inches and its resolution.

    Returns the path. The GIF has one frame per (kept) clip frame and loops.
    """
    require_matplotlib()
    from PIL import Image

    frames = _frame_indices(len(_as_clip(clip)), max_frames)
    scene = _Scene(clip, importance, joint_mask, layout, y_down)
    figure, axes, timeline = scene.figure([0], size, dpi, with_timeline=importance is not None)
    artist = scene.artists(axes[0])
    marker = timeline.axvline(0, color="black", linewidth=1.5) if timeline is not None else None
    images = []
    for frame in frames:
        artist.show(frame)
        axes[0].set_title(_frame_title(title, frame, scene.num_frames), fontsize=9)
        if marker is not None:
            marker.set_xdata([frame, frame])
        figure.canvas.draw()
        rgb = np.asarray(figure.canvas.buffer_rgba())[..., :3]
        images.append(Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=128))
    _close(figure)
    path = Path(path)
    duration = max(20, round(1000 / fps / 10) * 10)  # GIF delays are hundredths of a second
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration, loop=0, disposal=1)
    return path


def render_clip_strip(
    clip: np.ndarray,
    path: str | Path,
    *,
    num_panels: int = 8,
    importance: np.ndarray | None = None,
    joint_mask: np.ndarray | None = None,
    title: str | None = None,
    layout: SkeletonLayout | str | None = None,
    y_down: bool | None = None,
    panel_size: float = 2.0,
    dpi: int = 100,
) -> Path:
    """Write `num_panels` evenly spaced frames of `clip` side by side as one PNG (same axes limits in every panel).

    `importance`, `joint_mask`, `layout` and `y_down` as for :func:`render_clip_gif`. Returns the path.
    """
    require_matplotlib()
    frames = _frame_indices(len(_as_clip(clip)), num_panels)
    scene = _Scene(clip, importance, joint_mask, layout, y_down)
    figure, axes, _ = scene.figure(frames, panel_size, dpi, with_timeline=False)
    for panel, frame in zip(axes, frames, strict=True):
        scene.artists(panel).show(frame)
        panel.set_title(f"frame {frame + 1}", fontsize=8)
    if title:
        figure.suptitle(title, fontsize=10)
    if scene.importance is not None:
        plt = require_matplotlib()
        mappable = plt.cm.ScalarMappable(cmap=IMPORTANCE_COLORMAP)
        figure.colorbar(mappable, ax=list(axes), fraction=0.02, pad=0.01, label="relative importance")
    path = Path(path)
    figure.savefig(path, dpi=dpi)
    _close(figure)
    return path


class _Scene:
    """A clip projected to the screen, with its bone graph, colours and shared limits."""

    def __init__(
        self,
        clip: np.ndarray,
        importance: np.ndarray | None,
        joint_mask: np.ndarray | None,
        layout: SkeletonLayout | str | None,
        y_down: bool | None,
    ):
        clip = _as_clip(clip)
        self.num_frames, self.num_persons, num_joints, channels = clip.shape
        if isinstance(layout, str):
            layout = get_layout(layout)
        self.layout = layout or layout_for_clip(num_joints, channels)
        if self.layout.num_joints != num_joints:
            raise ValueError(f"layout {self.layout.name!r} has {self.layout.num_joints} joints, the clip {num_joints}")
        self.points = project_clip(clip, y_down)
        self.present = np.any(clip != 0, axis=(2, 3))  # (frames, persons): an all-zero person is absent
        if not self.present.any():
            raise ValueError("the clip has no person in any frame (all coordinates are zero)")
        self.importance = None if importance is None else _normalised(importance, self.num_frames)
        self.joint_mask = None if joint_mask is None else _person_mask(joint_mask, self.num_frames, clip.shape[1:3])
        shown = self.points[self.present]
        low, high = shown.min(axis=(0, 1)), shown.max(axis=(0, 1))
        centre, half = (low + high) / 2, max(float((high - low).max()) / 2, 1e-6) * 1.08
        self.limits = (centre[0] - half, centre[0] + half), (centre[1] - half, centre[1] + half)

    def figure(self, panels: Sequence[int], size: float, dpi: int, with_timeline: bool):
        plt = require_matplotlib()
        count = len(panels)
        heights = [1.0, 0.16] if with_timeline else [1.0]
        figure = plt.figure(figsize=(size * count, size * sum(heights) + 0.35), dpi=dpi)
        grid = figure.add_gridspec(len(heights), count, height_ratios=heights, hspace=0.25, wspace=0.05)
        axes = [figure.add_subplot(grid[0, column]) for column in range(count)]
        for panel in axes:
            panel.set_xlim(*self.limits[0])
            panel.set_ylim(*self.limits[1])
            panel.set_aspect("equal")
            panel.set_xticks([])
            panel.set_yticks([])
            for spine in panel.spines.values():
                spine.set_color("#bbbbbb")
        timeline = None
        if with_timeline:
            timeline = figure.add_subplot(grid[1, :])
            frames = np.arange(self.num_frames)
            timeline.fill_between(frames, self.importance, color="#cccccc")
            timeline.scatter(frames, self.importance, c=self.importance, cmap=IMPORTANCE_COLORMAP, s=6, vmin=0, vmax=1)
            timeline.set_xlim(0, max(self.num_frames - 1, 1))
            timeline.set_ylim(0, 1.05)
            timeline.set_yticks([])
            timeline.tick_params(labelsize=7)
            timeline.set_xlabel("frame (importance)", fontsize=7, labelpad=1)
        figure.subplots_adjust(left=0.03, right=0.97, top=0.9, bottom=0.1 if with_timeline else 0.03)
        return figure, axes, timeline

    def artists(self, axes: Any) -> _PoseArtist:
        return _PoseArtist(self, axes)


class _PoseArtist:
    """The matplotlib artists of every person of one panel, moved to a frame by :meth:`show`."""

    def __init__(self, scene: _Scene, axes: Any):
        from matplotlib.collections import LineCollection

        self.scene = scene
        self.bones = []
        self.joints = []
        for person in range(scene.num_persons):
            color = PERSON_COLORS[person % len(PERSON_COLORS)]
            bones = LineCollection([], linewidths=2.6, capstyle="round", color=color, zorder=2)
            axes.add_collection(bones)
            (joints,) = axes.plot([], [], "o", color=color, markersize=3.5, markeredgewidth=0, zorder=3)
            self.bones.append(bones)
            self.joints.append(joints)
        (self.masked,) = axes.plot([], [], "x", color=MASKED_COLOR, markersize=7, markeredgewidth=2, zorder=4)

    def show(self, frame: int) -> None:
        scene, plt = self.scene, require_matplotlib()
        pairs = np.asarray(scene.layout.bones)
        masked_points = []
        for person in range(scene.num_persons):
            points = scene.points[frame, person]
            if not scene.present[frame, person]:
                self.bones[person].set_segments([])
                self.joints[person].set_data([], [])
                continue
            segments = points[pairs]  # (bones, 2 ends, 2 coordinates)
            color = PERSON_COLORS[person % len(PERSON_COLORS)]
            if scene.importance is not None:
                color = plt.get_cmap(IMPORTANCE_COLORMAP)(scene.importance[frame])
            colors = [color] * len(pairs)
            styles = ["solid"] * len(pairs)
            if scene.joint_mask is not None:
                masked = scene.joint_mask[person, frame]
                hidden_bone = masked[pairs].any(axis=1)
                colors = ["#b0b0b0" if hidden else c for hidden, c in zip(hidden_bone, colors, strict=True)]
                styles = [(0, (2, 2)) if hidden else "solid" for hidden in hidden_bone]
                masked_points.append(points[masked])
            self.bones[person].set_segments(segments)
            self.bones[person].set_colors(colors)
            self.bones[person].set_linestyles(styles)
            self.joints[person].set_data(points[:, 0], points[:, 1])
        masked_points = np.concatenate(masked_points) if masked_points else np.zeros((0, 2))
        self.masked.set_data(masked_points[:, 0], masked_points[:, 1])


def _as_clip(clip: np.ndarray) -> np.ndarray:
    array = np.asarray(clip, dtype=np.float32)
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4 or array.shape[0] == 0:
        raise ValueError(
            f"expected a clip of shape (frames, joints, channels) or (frames, persons, joints, channels), "
            f"got {array.shape}"
        )
    return array


def _frame_indices(num_frames: int, limit: int | None) -> list[int]:
    if limit is None or limit >= num_frames:
        return list(range(num_frames))
    if limit < 1:
        raise ValueError(f"need at least one frame to draw, got {limit}")
    return sorted(set(np.linspace(0, num_frames - 1, limit).round().astype(int).tolist()))


def _frame_title(title: str | None, frame: int, num_frames: int) -> str:
    counter = f"frame {frame + 1}/{num_frames}"
    return f"{title}  ({counter})" if title else counter


def _normalised(values: np.ndarray, num_frames: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(values) != num_frames:
        raise ValueError(f"importance needs one value per frame ({num_frames}), got {len(values)}")
    if not np.isfinite(values).all():
        raise ValueError("importance contains NaN or infinite values")
    spread = values.max() - values.min()
    return (values - values.min()) / spread if spread > 0 else np.full(num_frames, 0.5)


def _person_mask(mask: np.ndarray, num_frames: int, persons_joints: tuple[int, int]) -> np.ndarray:
    """A `(frames, joints)` or `(persons, frames, joints)` boolean mask -> `(persons, frames, joints)`."""
    persons, joints = persons_joints
    mask = np.asarray(mask).astype(bool)
    if mask.ndim == 2:
        mask = np.broadcast_to(mask, (persons, *mask.shape))
    if mask.ndim != 3 or mask.shape[1:] != (num_frames, joints) or mask.shape[0] > persons:
        raise ValueError(
            f"joint_mask must be (frames, joints) = ({num_frames}, {joints}) or (persons, frames, joints) with at "
            f"most {persons} persons, got {mask.shape}"
        )
    if mask.shape[0] < persons:  # the model's masks cover present persons only
        mask = np.concatenate([mask, np.zeros((persons - mask.shape[0], num_frames, joints), bool)])
    return mask


def _close(figure: Any) -> None:
    require_matplotlib().close(figure)


# ----------------------------------------------------------------------------------------------------------------
# Training curves


def read_training_logs(run: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every logged series of a run as `{name: [(step, value), ...]}`.

    `run` is a run folder or one log file. A folder is searched for `trainer_state.json` (in the folder itself,
    else its latest `checkpoint-*`, whose state holds the whole history) and `pretrain_log.jsonl`. Trainer entries
    give `train loss`, `learning rate`, `grad norm` and `eval <metric>`; pretraining lines `{"step", "loss", "lr",
    ...}` give `pretrain <term>` and `learning rate`. Raises `FileNotFoundError` when nothing is found.
    """
    run = Path(run)
    if not run.exists():
        raise FileNotFoundError(f"{run}: no such run folder or log file")
    files = [run] if run.is_file() else _log_files(run)
    if not files:
        raise FileNotFoundError(f"{run}: no trainer_state.json (also in checkpoint-*) or pretrain_log.jsonl")
    series: dict[str, list[tuple[int, float]]] = {}
    for file in files:
        records = _read_records(file)
        if file.suffix == ".jsonl":
            for record in records:
                step = record.get("step")
                for key, value in record.items():
                    if key != "step" and isinstance(step, int) and _is_number(value):
                        name = "learning rate" if key in ("lr", "learning_rate") else f"pretrain {key}"
                        series.setdefault(name, []).append((step, float(value)))
            continue
        for record in records:
            step = record.get("step")
            if not isinstance(step, int) or "train_runtime" in record:  # skip the end-of-training summary
                continue
            for key, value in record.items():
                name = _trainer_series_name(key)
                if name is not None and _is_number(value):
                    series.setdefault(name, []).append((step, float(value)))
    if not series:
        raise ValueError(f"{run}: the logs hold no numeric series")
    return {name: sorted(points) for name, points in series.items()}


def plot_training_curves(
    run: str | Path | Mapping[str, Sequence[tuple[int, float]]], path: str | Path, title: str | None = None
) -> Path:
    """Plot a run's losses, metrics and learning rate (one panel each, those present) against the step.

    `run` is a run folder or log file (see :func:`read_training_logs`) or already read series. Returns the path.
    """
    plt = require_matplotlib()
    series = read_training_logs(run) if isinstance(run, (str, Path)) else dict(run)
    groups = {
        "loss": {name: points for name, points in series.items() if "loss" in name},
        "metric": {
            name: points
            for name, points in series.items()
            if "loss" not in name and name not in ("learning rate", "grad norm")
        },
        "learning rate": {name: points for name, points in series.items() if name == "learning rate"},
    }
    groups = {label: members for label, members in groups.items() if members}
    if not groups:
        raise ValueError("no series to plot")
    figure, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.4), squeeze=False)
    for panel, (label, members) in zip(axes[0], groups.items(), strict=True):
        for name, points in members.items():
            steps, values = zip(*points, strict=True)
            style = "o-" if len(points) <= 30 else "-"
            panel.plot(steps, values, style, markersize=3, linewidth=1.4, label=name)
        panel.set_xlabel("step")
        panel.set_ylabel(label)
        panel.grid(alpha=0.3)
        if label == "learning rate":
            panel.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
        else:
            panel.legend(fontsize=7)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _log_files(folder: Path) -> list[Path]:
    files = []
    state = folder / "trainer_state.json"
    if not state.is_file():
        checkpoints = [
            candidate / "trainer_state.json"
            for candidate in folder.glob("checkpoint-*")
            if candidate.name.split("-")[-1].isdigit() and (candidate / "trainer_state.json").is_file()
        ]
        state = max(checkpoints, key=lambda p: int(p.parent.name.split("-")[-1]), default=None)
    if state is not None:
        files.append(state)
    if (folder / "pretrain_log.jsonl").is_file():
        files.append(folder / "pretrain_log.jsonl")
    return files


def _read_records(file: Path) -> list[dict[str, Any]]:
    try:
        text = file.read_text(encoding="utf-8")
        if file.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        state = json.loads(text)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{file}: not a readable training log ({error})") from error
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise ValueError(f"{file}: expected a Trainer state with a 'log_history' list")
    return state["log_history"]


def _trainer_series_name(key: str) -> str | None:
    if key == "loss":
        return "train loss"
    if key == "learning_rate":
        return "learning rate"
    if key == "grad_norm":
        return "grad norm"
    for prefix in ("eval_", "validation_", "test_"):
        if key.startswith(prefix) and not key.endswith(_TIMING_KEYS):
            return f"{prefix.rstrip('_')} {key[len(prefix) :]}"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


# ----------------------------------------------------------------------------------------------------------------
# Confusion matrix


def plot_confusion_matrix(
    matrix: np.ndarray, class_names: Sequence[str], path: str | Path, title: str = "Confusion matrix"
) -> Path:
    """Row-normalised confusion matrix (true action on rows, prediction on columns) with counts in the cells."""
    plt = require_matplotlib()
    matrix = np.asarray(matrix)
    if matrix.shape != (len(class_names), len(class_names)):
        raise ValueError(f"a confusion matrix for {len(class_names)} classes must be square, got {matrix.shape}")
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    size = max(5.0, 0.45 * len(class_names) + 2.5)
    figure, axes = plt.subplots(figsize=(size + 1.0, size))
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(len(class_names)), labels=class_names, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(len(class_names)), labels=class_names, fontsize=8)
    axes.set_xlabel("predicted action")
    axes.set_ylabel("true action")
    axes.set_title(title)
    if len(class_names) <= 30:
        for row in range(len(class_names)):
            for column in range(len(class_names)):
                if matrix[row, column]:
                    color = "white" if shares[row, column] > 0.6 else "black"
                    axes.text(column, row, str(matrix[row, column]), ha="center", va="center", fontsize=7, color=color)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the true action")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


__all__ = [
    "frame_importance",
    "layout_for_clip",
    "plot_confusion_matrix",
    "plot_training_curves",
    "project_clip",
    "read_training_logs",
    "render_clip_gif",
    "render_clip_strip",
    "require_matplotlib",
]
