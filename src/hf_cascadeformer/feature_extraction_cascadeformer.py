"""Preprocessing that travels with a CascadeFormer checkpoint: raw clips in, model inputs out.

Saved as `preprocessor_config.json` next to the weights, so a model loaded from the Hub preprocesses exactly as it
was trained. This file travels with checkpoints as remote code: it imports only numpy, torch and transformers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from transformers.feature_extraction_utils import BatchFeature, FeatureExtractionMixin

from .configuration_cascadeformer import MAX_ABS_COORDINATE

CENTERINGS = ("first_frame", "per_frame", "none")
# The root joint of each built-in skeleton layout, for configs that name one (`skeleton_layout`). The layouts live in
# hf_cascadeformer/data/skeletons.py, which this file cannot import (it travels with checkpoints without the package's
# data code); tests/data/test_layouts.py keeps this table equal to them. Other layouts are passed as `layout=`.
BUILTIN_LAYOUT_ROOT_JOINTS = {"ntu": 1, "ntu_2d": 1, "nucla": 1, "penn": 0}
RESAMPLINGS = ("pad", "interpolate")


class CascadeFormerFeatureExtractor(FeatureExtractionMixin):
    r"""
    Turns raw skeleton clips into `skeletons` `(batch, persons, frames, joints, channels)` float32 and
    `attention_mask` `(batch, frames)`.

    A clip is an array (or nested list) of shape `(frames, joints, channels)` (one person) or `(frames, persons,
    joints, channels)` (the layout of the package's datasets), of any length. A list of frames (each `(joints,
    channels)`) is one clip; a list of clips is a batch.

    Steps, per clip: reject empty or non-finite clips; keep at most `num_persons` persons (those that move most),
    pad absent persons with zeros; centre on `root_joint` (of the first frame, or of every frame);
    optionally scale so the farthest joint from the root is at distance 1; bring the clip to `num_frames` frames
    (evenly spaced frames of longer clips, then padding with `attention_mask` 0, or linear interpolation to exactly
    `num_frames`); with `num_frames=None` the batch is padded to its longest clip.

    Args:
        num_joints (`int`, defaults to 25): joints per skeleton.
        num_channels (`int`, defaults to 3): coordinates per joint (2 or 3).
        num_persons (`int`, defaults to 1): persons per clip in the output.
        num_frames (`int` or `None`, defaults to 64): frames per clip in the output; `None` pads to the batch's
            longest clip (which must not exceed `max_frames`).
        max_frames (`int`, defaults to 64): the longest clip the model accepts.
        resampling (`str`, defaults to `"pad"`): `"pad"` or `"interpolate"` (see above).
        centering (`str`, defaults to `"first_frame"`): `"first_frame"`, `"per_frame"` or `"none"`.
        root_joint (`int`, defaults to 1): joint to centre on (0-based; 1 is NTU's spine middle); the skeleton
            layout's `root_joint` (`hf_cascadeformer/data/skeletons.py`), saved with the extractor.
        scale_normalization (`bool`, defaults to `False`): scale each clip to unit radius around the root.
        facing_joints (`tuple[int, int]`, *optional*): for 3D clips, two joints across the body (e.g. the hips,
            `(16, 12)` for NTU and N-UCLA: right, left) whose line in the first present frame is turned about the
            vertical (y) axis to point along +x, so every clip is seen from the front whatever the camera.
    """

    model_input_names = ["skeletons", "attention_mask"]

    def __init__(
        self,
        num_joints: int = 25,
        num_channels: int = 3,
        num_persons: int = 1,
        num_frames: int | None = 64,
        max_frames: int = 64,
        resampling: str = "pad",
        centering: str = "first_frame",
        root_joint: int = 1,
        scale_normalization: bool = False,
        facing_joints: tuple[int, int] | list[int] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if resampling not in RESAMPLINGS:
            raise ValueError(f"resampling must be one of {RESAMPLINGS}, got {resampling!r}")
        if centering not in CENTERINGS:
            raise ValueError(f"centering must be one of {CENTERINGS}, got {centering!r}")
        if not 0 <= root_joint < num_joints:
            raise ValueError(f"root_joint must be in [0, {num_joints}), got {root_joint}")
        if facing_joints is not None:
            if len(facing_joints) != 2 or not all(0 <= int(j) < num_joints for j in facing_joints):
                raise ValueError(f"facing_joints must be two joint indices in [0, {num_joints}), got {facing_joints}")
            if num_channels < 3:
                raise ValueError("facing_joints turns clips about the vertical axis: it needs 3D clips (3 channels)")
            facing_joints = [int(j) for j in facing_joints]
        if num_frames is not None and (
            isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1
        ):
            raise ValueError(f"num_frames must be a positive integer or None, got {num_frames!r}")
        if num_frames is not None and num_frames > max_frames:
            raise ValueError(f"num_frames ({num_frames}) exceeds max_frames ({max_frames})")
        if resampling == "interpolate" and num_frames is None:
            raise ValueError("resampling='interpolate' needs a fixed num_frames")
        self.num_joints = num_joints
        self.num_channels = num_channels
        self.num_persons = num_persons
        self.num_frames = num_frames
        self.max_frames = max_frames
        self.resampling = resampling
        self.centering = centering
        self.root_joint = root_joint
        self.scale_normalization = scale_normalization
        self.facing_joints = facing_joints

    @classmethod
    def from_model_config(cls, config: Any, layout: Any = None, **overrides: Any) -> CascadeFormerFeatureExtractor:
        """A feature extractor matching a `CascadeFormerConfig` (joints, channels, persons, frames) and a skeleton
        layout (its root joint, the joint clips are centred on).

        The root joint is data of the skeleton layout. It is taken from, in order: `overrides["root_joint"]`; `layout`,
        any object with `name`, `num_joints` and `root_joint` (a `hf_cascadeformer.data.skeletons.SkeletonLayout`;
        `hf_cascadeformer.data.model_inputs.feature_extractor_for` looks it up from the config's `skeleton_layout`);
        the built-in layout the config names (`BUILTIN_LAYOUT_ROOT_JOINTS`); and, only for a config that names no
        layout (saved before layouts were named, or a custom joint set), the former rule: joint 1 (NTU RGB+D's spine
        middle) for 25 joints, else joint 0. A config that names another layout but comes without it is a
        `ValueError`: its joint count cannot say which joint is the root (OpenPose BODY_25 has 25 joints too).
        """
        layout_name = getattr(config, "skeleton_layout", None)
        settings = {
            "num_joints": config.num_joints,
            "num_channels": config.num_channels,
            "num_persons": config.num_persons,
            "num_frames": min(64, config.max_frames),
            "max_frames": config.max_frames,
        }
        if layout is not None:
            if layout.num_joints != config.num_joints:
                raise ValueError(
                    f"skeleton layout {layout.name!r} has {layout.num_joints} joints, the config {config.num_joints}"
                )
            if layout_name is not None and layout_name != layout.name:
                raise ValueError(f"the config names skeleton layout {layout_name!r}, not {layout.name!r}")
            settings["root_joint"] = layout.root_joint
        elif "root_joint" not in overrides:
            if layout_name in BUILTIN_LAYOUT_ROOT_JOINTS:
                settings["root_joint"] = BUILTIN_LAYOUT_ROOT_JOINTS[layout_name]
            elif layout_name is not None:
                raise ValueError(
                    f"the config names skeleton layout {layout_name!r}: pass its root joint (layout= or root_joint=; "
                    "hf_cascadeformer.data.model_inputs.feature_extractor_for does)"
                )
            else:
                settings["root_joint"] = 1 if config.num_joints == 25 else 0
        settings.update(overrides)
        return cls(**settings)

    # ------------------------------------------------------------------------------------------------------------

    def __call__(
        self,
        clips: Any,
        return_tensors: str | None = None,
        num_frames: int | None = None,
        **kwargs: Any,
    ) -> BatchFeature:
        """Preprocess one clip or a batch of clips. `num_frames` overrides the configured frame count."""
        if kwargs:
            raise TypeError(f"unexpected arguments: {', '.join(kwargs)}")
        target = num_frames if num_frames is not None else self.num_frames
        if target is not None and (isinstance(target, bool) or not isinstance(target, (int, np.integer))):
            raise ValueError(f"num_frames must be a positive integer, got {target!r}")
        if target is not None and target < 1:
            raise ValueError(f"num_frames must be at least 1, got {target}")
        if target is not None and target > self.max_frames:
            raise ValueError(f"num_frames ({target}) exceeds max_frames ({self.max_frames})")
        prepared = [self.prepare_clip(clip, index) for index, clip in enumerate(_as_clip_list(clips))]
        if target is None:
            target = max(len(clip) for clip in prepared)
            if target > self.max_frames:
                raise ValueError(
                    f"the longest clip has {target} frames, more than max_frames={self.max_frames}; set num_frames"
                )
        skeletons = np.zeros((len(prepared), self.num_persons, target, self.num_joints, self.num_channels), np.float32)
        attention_mask = np.zeros((len(prepared), target), np.int64)
        for index, clip in enumerate(prepared):
            clip = self.resample(clip, target)
            skeletons[index, :, : len(clip)] = clip.transpose(1, 0, 2, 3)
            attention_mask[index, : len(clip)] = 1
        return BatchFeature({"skeletons": skeletons, "attention_mask": attention_mask}, tensor_type=return_tensors)

    def prepare_clip(self, clip: Any, index: int = 0) -> np.ndarray:
        """Check one clip and return it as `(frames, num_persons, joints, channels)` float32, centred and scaled."""
        array = _float32_array(clip, f"clip {index}")
        if array.ndim == 3:
            array = array[:, None]
        if array.ndim != 4:
            raise ValueError(
                f"clip {index}: expected shape (frames, joints, channels) or (frames, persons, joints, channels), "
                f"got {array.shape}"
            )
        frames, persons, joints, channels = array.shape
        if frames == 0:
            raise ValueError(f"clip {index} is empty (0 frames)")
        if (joints, channels) != (self.num_joints, self.num_channels):
            raise ValueError(
                f"clip {index}: expected {self.num_joints} joints x {self.num_channels} channels, "
                f"got {joints} x {channels} (shape {array.shape})"
            )
        _check_coordinates(array, f"clip {index}")
        array = self.select_persons(array)
        present = array.reshape(frames, self.num_persons, -1).any(axis=(0, 2))
        if self.centering != "none":
            # Centre on the first present person's root so two people keep their relative placement.
            reference = array[:, int(np.argmax(present)), self.root_joint]
            if self.centering == "first_frame":
                reference = np.broadcast_to(reference[:1], reference.shape)
            array = array - reference[:, None, None, :]
        if self.facing_joints is not None and present.any():
            array = self.face_front(array, int(np.argmax(present)))
        if self.scale_normalization:
            radius = np.linalg.norm(array[:, present], axis=-1).max()
            if radius > 0:
                array = array / radius
        array[:, ~present] = 0.0  # absent persons stay exactly zero, so the model can tell they are absent
        return np.ascontiguousarray(array, dtype=np.float32)

    def face_front(self, clip: np.ndarray, person: int) -> np.ndarray:
        """Rotate `(frames, persons, joints, C)` about the vertical axis so that `person`'s line from the first to
        the second facing joint, in its first frame with any coordinate, points along +x."""
        frames_present = np.flatnonzero(clip[:, person].reshape(len(clip), -1).any(axis=1))
        first, second = self.facing_joints
        across = clip[frames_present[0], person, second] - clip[frames_present[0], person, first]
        angle = np.arctan2(across[2], across[0])
        cos, sin = np.cos(angle), np.sin(angle)
        # x' = x cos + z sin, z' = -x sin + z cos: the facing line ends with z' = 0 and x' > 0.
        rotation = np.array([[cos, 0.0, -sin], [0.0, 1.0, 0.0], [sin, 0.0, cos]], dtype=np.float32)
        turned = clip.copy()
        turned[..., :3] = clip[..., :3] @ rotation
        return turned

    def select_persons(self, clip: np.ndarray) -> np.ndarray:
        """Keep the `num_persons` persons that move most (in their original order); pad with zeros."""
        persons = clip.shape[1]
        if persons > self.num_persons:
            motion = clip.var(axis=0).sum(axis=(1, 2))
            keep = np.sort(np.argsort(-motion, kind="stable")[: self.num_persons])
            clip = clip[:, keep]
        elif persons < self.num_persons:
            padding = np.zeros((clip.shape[0], self.num_persons - persons, *clip.shape[2:]), np.float32)
            clip = np.concatenate([clip, padding], axis=1)
        return clip

    def resample(self, clip: np.ndarray, num_frames: int) -> np.ndarray:
        """Bring a clip to `num_frames` frames: interpolate, or keep evenly spaced frames of a longer clip."""
        length = len(clip)
        if self.resampling == "interpolate":
            return _interpolate_frames(clip, num_frames)
        if length <= num_frames:
            return clip
        indices = np.linspace(0, length - 1, num_frames).round().astype(np.int64)
        return clip[indices]


def _interpolate_frames(clip: np.ndarray, num_frames: int) -> np.ndarray:
    """Linear interpolation along time to exactly `num_frames` frames (a single frame is repeated)."""
    length = len(clip)
    if length == num_frames:
        return clip
    if length == 1:
        return np.repeat(clip, num_frames, axis=0)
    position = np.linspace(0, length - 1, num_frames)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, length - 1)
    weight = (position - low).astype(np.float32)[:, None, None, None]
    return clip[low] * (1 - weight) + clip[high] * weight


def _as_clip_list(clips: Any) -> Sequence[Any]:
    """One clip or a batch -> a list of clips. Arrays of rank 3 or 4 are one clip; rank 5 is a batch; a list whose
    items are frames (rank 2) is one clip; any other list is a batch, and so is a 1-D object array of clips (what a
    numpy-formatted `datasets` column of clips of different lengths holds)."""
    if isinstance(clips, np.ndarray) and clips.dtype == object and clips.ndim == 1:
        clips = list(clips)
    if isinstance(clips, np.ndarray) or hasattr(clips, "numpy"):
        array = np.asarray(clips)
        if array.ndim in (3, 4):
            return [array]
        if array.ndim == 5:
            return list(array)
        raise ValueError(f"expected a clip of rank 3 or 4 or a batch of rank 5, got shape {array.shape}")
    if isinstance(clips, (list, tuple)):
        if len(clips) == 0:
            raise ValueError("got an empty list of clips")
        if np.ndim(clips[0]) == 2:
            return [clips]
        return list(clips)
    raise ValueError(f"expected a numpy array or a list of clips, got {type(clips).__name__}")


def as_clip(data: Any, source: str | Path = "clip") -> np.ndarray:
    """Check an array-like clip and return it as ``(frames, persons, joints, channels)`` float32.

    Accepts ``(frames, joints, channels)`` (one person) or ``(frames, persons, joints, channels)`` with 2 or 3
    channels and at least one frame; raises ``ValueError`` naming ``source`` otherwise.
    """
    array = _float32_array(data, source)
    if array.ndim == 3:
        array = array[:, np.newaxis]
    if array.ndim != 4:
        raise ValueError(
            f"{source}: expected shape (frames, joints, channels) or (frames, persons, joints, channels), "
            f"got {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0 or array.shape[2] == 0:
        raise ValueError(f"{source}: the clip is empty (shape {array.shape})")
    if array.shape[3] not in (2, 3):
        raise ValueError(f"{source}: expected 2 or 3 coordinates per joint, got {array.shape[3]} (shape {array.shape})")
    _check_coordinates(array, source)
    return np.ascontiguousarray(array)


def _float32_array(data: Any, source: str | Path) -> np.ndarray:
    """`data` as a float32 array, or a one-line `ValueError` naming `source`."""
    try:
        complex_values = np.iscomplexobj(data)
        if not complex_values:
            with np.errstate(over="ignore"):  # a float64 beyond float32 becomes inf, refused by _check_coordinates
                array = np.asarray(data, dtype=np.float32)
    except (TypeError, ValueError, OverflowError) as error:
        reason = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
        raise ValueError(f"{source}: not a numeric array ({reason})") from None
    if complex_values:  # numpy would drop the imaginary part with only a warning
        raise ValueError(f"{source}: complex numbers are not coordinates")
    return array


def _check_coordinates(array: np.ndarray, source: str | Path) -> None:
    """Refuse NaN, infinities and magnitudes beyond `MAX_ABS_COORDINATE` (finite, but they overflow to NaN inside
    the model), naming `source`."""
    if not np.isfinite(array).all():
        raise ValueError(f"{source}: contains NaN or infinite coordinates")
    largest = float(np.abs(array).max()) if array.size else 0.0
    if largest > MAX_ABS_COORDINATE:
        raise ValueError(
            f"{source}: a coordinate of magnitude {largest:.3g} exceeds the bound {MAX_ABS_COORDINATE:g} "
            "(a corrupt value?)"
        )


__all__ = ["CascadeFormerFeatureExtractor", "as_clip"]
