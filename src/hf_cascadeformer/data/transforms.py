"""On-the-fly skeleton augmentations: small composable callables on one clip.

A clip is a float32 array (frames, persons, joints, channels). Every transform is called as
``transform(clip, rng)`` and returns a new array; ``rng`` is a ``numpy.random.Generator``, and when it is omitted
the transform draws from the generator it holds (seeded by its ``seed`` argument), so augmentation is
reproducible either way.

A (frame, person) slot whose joints are all zero is absent: padding, a frame in which the sensor lost the
person, or the second person of a one-person clip. Transforms leave absent slots all zero and compute centres
from present slots only, so zeros are never rotated, scaled, flipped or interpolated into coordinates.

:func:`apply_to_batch` turns a transform into the callable ``datasets.Dataset.with_transform`` expects.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .skeletons import SkeletonLayout


def present_slots(clip: np.ndarray) -> np.ndarray:
    """(frames, persons) mask of the slots with at least one non-zero coordinate."""
    return np.any(clip != 0, axis=(2, 3))


def _spatial_dims(clip: np.ndarray, spatial_dims: int | None) -> int:
    if spatial_dims is not None:
        return spatial_dims
    return 3 if clip.shape[-1] >= 3 else 2


def _centre(clip: np.ndarray, present: np.ndarray, dims: int) -> np.ndarray:
    """Mean position of all present joints (the point rotations and scalings keep fixed)."""
    return clip[present][..., :dims].reshape(-1, dims).mean(axis=0)


class SkeletonTransform:
    """Base of the transforms: holds a default generator and checks the clip's shape."""

    def __init__(self, seed: int | None = None):
        self.rng = np.random.default_rng(seed)

    def __call__(self, clip: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        clip = np.asarray(clip, dtype=np.float32)
        if clip.ndim != 4:
            raise ValueError(f"expected a clip of shape (frames, persons, joints, channels), got {clip.shape}")
        return self.apply(clip, self.rng if rng is None else rng)

    def apply(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "rng" and not k.startswith("_"))
        return f"{type(self).__name__}({arguments})"


def _rotation_matrix(angles: Mapping[str, float]) -> np.ndarray:
    """Rz @ Ry @ Rx for the given angles in radians (missing axes: 0)."""
    cx, sx = np.cos(angles.get("x", 0.0)), np.sin(angles.get("x", 0.0))
    cy, sy = np.cos(angles.get("y", 0.0)), np.sin(angles.get("y", 0.0))
    cz, sz = np.cos(angles.get("z", 0.0)), np.sin(angles.get("z", 0.0))
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]])
    ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rz = np.array([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]])
    return rz @ ry @ rx


class RandomRotation(SkeletonTransform):
    """Rotate the whole clip about its centre by a random angle in [-max, max] about each axis in ``axes``.

    3D clips rotate about x, y and z (``axes`` picks which; y is vertical in camera frames, so ``"y"`` alone
    simulates a camera moving around the person). ``max_angle_radians`` is one bound for every axis or a mapping
    such as ``{"x": 0.3, "y": 1.0, "z": 0.3}`` (wide about the vertical axis for cross-view training). 2D clips
    rotate in the image plane by one random angle (bound: the float, or the mapping's ``"z"``).
    """

    def __init__(
        self,
        max_angle_radians: float | Mapping[str, float] = 0.3,
        axes: str = "xyz",
        spatial_dims: int | None = None,
        seed: int | None = None,
    ):
        super().__init__(seed)
        if not set(axes) <= set("xyz") or not axes:
            raise ValueError(f"axes must be a non-empty combination of 'x', 'y', 'z', got {axes!r}")
        if isinstance(max_angle_radians, Mapping):
            unknown = set(max_angle_radians) - set("xyz")
            if unknown:
                raise ValueError(f"max_angle_radians has unknown axes {sorted(unknown)}; expected 'x', 'y', 'z'")
        self.max_angle_radians = max_angle_radians
        self.axes = axes
        self.spatial_dims = spatial_dims

    def _bound(self, axis: str) -> float:
        if isinstance(self.max_angle_radians, Mapping):
            return float(self.max_angle_radians.get(axis, 0.0))
        return float(self.max_angle_radians)

    def apply(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        dims = _spatial_dims(clip, self.spatial_dims)
        if dims == 2:
            angle = rng.uniform(-self._bound("z"), self._bound("z"))
            rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        else:
            bounds = np.array([self._bound(axis) for axis in self.axes])
            angles = rng.uniform(-bounds, bounds)
            rotation = _rotation_matrix(dict(zip(self.axes, angles, strict=True)))
        return _linear_about_centre(clip, rotation, dims)


class RandomScale(SkeletonTransform):
    """Scale the clip about its centre by a factor drawn from [low, high] (one factor, or one per axis)."""

    def __init__(
        self,
        low: float = 0.9,
        high: float = 1.1,
        per_axis: bool = False,
        spatial_dims: int | None = None,
        seed: int | None = None,
    ):
        super().__init__(seed)
        if not 0 < low <= high:
            raise ValueError(f"need 0 < low <= high, got {low}, {high}")
        self.low, self.high, self.per_axis, self.spatial_dims = low, high, per_axis, spatial_dims

    def apply(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        dims = _spatial_dims(clip, self.spatial_dims)
        factors = rng.uniform(self.low, self.high, dims if self.per_axis else 1)
        return _linear_about_centre(clip, np.diag(np.broadcast_to(factors, dims)), dims)


def rotate_about_centre(clip: np.ndarray, angles: Mapping[str, float]) -> np.ndarray:
    """Rotate a 3D clip about its centre (the mean of its present joints) by fixed angles in radians about the
    x, y and z axes (``Rz @ Ry @ Rx``); absent slots stay zero. The deterministic counterpart of
    :class:`RandomRotation`, e.g. for test-time views."""
    clip = np.asarray(clip, dtype=np.float32)
    if clip.ndim != 4 or clip.shape[-1] < 3:
        raise ValueError(f"expected a 3D clip (frames, persons, joints, 3+ channels), got shape {clip.shape}")
    return _linear_about_centre(clip, _rotation_matrix(angles), 3)


def _linear_about_centre(clip: np.ndarray, matrix: np.ndarray, dims: int) -> np.ndarray:
    out = clip.copy()
    present = present_slots(clip)
    if not present.any():
        return out
    centre = _centre(clip, present, dims)
    points = clip[present][..., :dims].astype(np.float64)
    out[present, :, :dims] = (points - centre) @ matrix.T + centre
    return out


class HorizontalFlip(SkeletonTransform):
    """With probability ``p``, mirror the clip: negate x about the root joint and swap left and right joints.

    The mirror plane is the vertical plane through the mean x of the root joint over all present slots, so
    both persons of a two-person clip are mirrored together and flipping twice gives the clip back.
    """

    def __init__(self, layout: SkeletonLayout, p: float = 0.5, seed: int | None = None):
        super().__init__(seed)
        self.layout = layout
        self.p = p
        self._permutation = np.asarray(layout.flip_permutation())

    def __repr__(self) -> str:
        return f"HorizontalFlip(layout={self.layout.name!r}, p={self.p})"

    def apply(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if clip.shape[2] != self.layout.num_joints:
            raise ValueError(
                f"clip has {clip.shape[2]} joints, layout {self.layout.name!r} has {self.layout.num_joints}"
            )
        if rng.random() >= self.p:
            return clip.copy()
        present = present_slots(clip)
        out = clip.copy()
        if not present.any():
            return out
        mirror_x = clip[present][:, self.layout.root_joint, 0].astype(np.float64).mean()
        flipped = clip[present][:, self._permutation]
        flipped[..., 0] = 2.0 * mirror_x - flipped[..., 0]
        out[present] = flipped
        return out


class TemporalCropResize(SkeletonTransform):
    """Crop a random window of the valid frames and resize it to ``num_frames`` by linear interpolation.

    The window covers a fraction in [min_ratio, max_ratio] of the valid frames (from the first to the last frame
    with a present person) and starts anywhere they allow; with ``num_frames=None`` the window keeps its own
    length. The first and last frames of the window are kept exactly. Between a present and an absent slot
    nothing is blended: the nearer frame is taken, so absent slots stay zero.
    :meth:`centre` builds the deterministic evaluation variant.
    """

    def __init__(
        self,
        min_ratio: float = 0.5,
        max_ratio: float = 1.0,
        num_frames: int | None = None,
        random_offset: bool = True,
        seed: int | None = None,
    ):
        super().__init__(seed)
        if not 0 < min_ratio <= max_ratio <= 1:
            raise ValueError(f"need 0 < min_ratio <= max_ratio <= 1, got {min_ratio}, {max_ratio}")
        if num_frames is not None and num_frames < 1:
            raise ValueError(f"num_frames must be positive, got {num_frames}")
        self.min_ratio, self.max_ratio = min_ratio, max_ratio
        self.num_frames = num_frames
        self.random_offset = random_offset

    @classmethod
    def centre(cls, ratio: float = 0.95, num_frames: int | None = None) -> TemporalCropResize:
        """The evaluation variant: the central ``ratio`` of the valid frames, no randomness."""
        return cls(min_ratio=ratio, max_ratio=ratio, num_frames=num_frames, random_offset=False)

    def apply(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        present = present_slots(clip)
        valid = np.flatnonzero(present.any(axis=1))
        first, last = (int(valid[0]), int(valid[-1])) if len(valid) else (0, len(clip) - 1)
        valid_length = last - first + 1
        ratio = self.max_ratio if self.min_ratio == self.max_ratio else rng.uniform(self.min_ratio, self.max_ratio)
        length = int(np.clip(round(ratio * valid_length), 1, valid_length))
        if self.random_offset:
            start = first + int(rng.integers(valid_length - length + 1))
        else:
            start = first + (valid_length - length) // 2
        return resize_frames(clip[start : start + length], self.num_frames or length, present[start : start + length])


def resize_frames(clip: np.ndarray, num_frames: int, present: np.ndarray | None = None) -> np.ndarray:
    """Linear interpolation of a clip to ``num_frames`` frames; first and last frames are kept exactly.

    Where one of the two neighbouring frames has the person absent, the nearer frame is copied instead of
    blended (so zeros never leak into coordinates and absent slots stay zero).
    """
    present = present_slots(clip) if present is None else present
    positions = np.linspace(0.0, len(clip) - 1, num_frames)
    lower = np.floor(positions).astype(int)
    upper = np.minimum(lower + 1, len(clip) - 1)
    weight = (positions - lower)[:, None, None, None]
    before, after = clip[lower], clip[upper]
    blended = before * (1.0 - weight) + after * weight
    nearest = np.where(weight < 0.5, before, after)
    both = (present[lower] & present[upper])[:, :, None, None]
    return np.where(both, blended, nearest).astype(np.float32)


class Compose(SkeletonTransform):
    """Apply transforms in order, all drawing from one generator (the call's, else the one held here)."""

    def __init__(self, transforms: Sequence[Callable[..., np.ndarray]], seed: int | None = None):
        super().__init__(seed)
        self.transforms = list(transforms)

    def apply(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for transform in self.transforms:
            clip = transform(clip, rng)
        return clip

    def __repr__(self) -> str:
        inner = "".join(f"\n    {transform!r}," for transform in self.transforms)
        return f"Compose([{inner}\n])"


def make_train_transform(
    layout: SkeletonLayout,
    num_channels: int | None = None,
    num_frames: int | None = None,
    *,
    crop_ratio: tuple[float, float] = (0.5, 1.0),
    max_rotation_radians: float | Mapping[str, float] | None = None,
    scale: tuple[float, float] = (0.9, 1.1),
    flip_probability: float = 0.0,
    seed: int | None = None,
) -> Compose:
    """Sensible training augmentation: random temporal crop-resize, rotation, scaling, optional flip.

    Rotation defaults to 0.3 rad about every axis for 3D clips (pyskl's and CTR-GCN's range) and 0.2 rad in
    the image plane for 2D clips. The flip is off by default because NTU-style classes such as "wave right
    hand" change meaning in a mirror; turn it on for benchmarks without such classes (e.g. Penn Action).
    """
    num_channels = layout.num_channels if num_channels is None else num_channels
    dims = 3 if num_channels >= 3 else 2
    if max_rotation_radians is None:
        max_rotation_radians = 0.3 if dims == 3 else 0.2
    transforms: list[SkeletonTransform] = [
        TemporalCropResize(crop_ratio[0], crop_ratio[1], num_frames),
        RandomRotation(max_rotation_radians, axes="xyz", spatial_dims=dims),
        RandomScale(scale[0], scale[1], spatial_dims=dims),
    ]
    if flip_probability > 0:
        transforms.append(HorizontalFlip(layout, p=flip_probability))
    return Compose(transforms, seed=seed)


def make_eval_transform(num_frames: int | None = None, ratio: float = 0.95) -> Compose:
    """Deterministic evaluation preprocessing: the central ``ratio`` of the valid frames, resized."""
    return Compose([TemporalCropResize.centre(ratio, num_frames)])


class BatchTransform:
    """A clip transform applied to every clip of a batch dict, for ``datasets.Dataset.with_transform``.

    The skeleton column is converted to float32 arrays, transformed clip by clip, and ``num_frames`` (when
    present) is updated. Randomness comes from one generator seeded by ``seed``: every access draws new
    augmentations (as training wants), and the sequence is reproducible. In a PyTorch DataLoader worker the
    generator is re-seeded from ``(seed, worker seed)``, so workers differ from each other and from one epoch
    to the next, and ``torch.manual_seed`` makes the whole run reproducible.
    """

    def __init__(self, transform: Callable[..., np.ndarray], seed: int | None = None, column: str = "skeleton"):
        self.transform = transform
        self.seed = seed
        self.column = column
        self._rng = np.random.default_rng(seed)
        self._worker_seed: int | None = None

    def _generator(self) -> np.random.Generator:
        torch = sys.modules.get("torch")  # only consult torch when the caller already uses it
        info = torch.utils.data.get_worker_info() if torch is not None else None
        if info is not None and info.seed != self._worker_seed:
            self._worker_seed = info.seed
            entropy = [info.seed] if self.seed is None else [self.seed, info.seed]
            self._rng = np.random.default_rng(entropy)
        return self._rng

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        rng = self._generator()
        clips = [self.transform(np.asarray(clip, dtype=np.float32), rng) for clip in batch[self.column]]
        batch[self.column] = clips
        if "num_frames" in batch:
            batch["num_frames"] = [len(clip) for clip in clips]
        return batch


def apply_to_batch(
    transform: Callable[..., np.ndarray], seed: int | None = None, column: str = "skeleton"
) -> BatchTransform:
    """Wrap a clip transform for ``dataset.with_transform(...)`` (see :class:`BatchTransform`)."""
    return BatchTransform(transform, seed=seed, column=column)
