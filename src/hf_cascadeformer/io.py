"""Read one skeleton clip from any supported file: the benchmarks' raw formats or a plain array.

:func:`load_clip` picks the reader from the file suffix and always returns the package's clip convention, a float32
array of shape (frames, persons, joints, channels), plus a metadata dict:

* ``.skeleton``: an NTU RGB+D 60/120 (or PKU-MMD) Kinect v2 text file, denoised into at most two persons;
* ``.mat``: a Penn Action annotation file (13 joints, pixel x, y);
* ``.json``: an N-UCLA ``all_sqe`` file (named ``aAA_sSS_eEE_vVV.json``), or any JSON array of frames x joints x
  channels (or frames x persons x joints x channels), bare or under the key ``"skeletons"`` / ``"skeleton"``;
* ``.npy`` / ``.npz``: a numpy array of the same shapes (an ``.npz`` holds one array or one named ``skeleton``).

Malformed files raise :class:`~hf_cascadeformer.data.errors.SkeletonFileError` (a ``ValueError`` naming the file), an
unknown suffix :class:`UnsupportedClipFormatError` (also a ``ValueError``), a missing file ``FileNotFoundError``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .data.errors import SkeletonFileError

# Defined with the feature extractor so that it travels with checkpoints (the pipeline's remote code uses it).
from .feature_extraction_cascadeformer import as_clip

CLIP_FORMATS: dict[str, str] = {
    ".skeleton": "NTU RGB+D / PKU-MMD Kinect v2 text",
    ".mat": "Penn Action annotation",
    ".json": "N-UCLA all_sqe JSON or a JSON array",
    ".npy": "numpy array",
    ".npz": "numpy archive",
}
"""Supported file suffixes and what they hold."""

_ARRAY_KEYS = ("skeletons", "skeleton")
# The skeleton layout (data/skeletons.py) of each benchmark format; plain arrays (json, npy, npz) name none.
_FORMAT_LAYOUTS = {"ntu": "ntu", "penn_action": "penn", "nucla": "nucla"}


class UnsupportedClipFormatError(ValueError):
    """The file suffix is not one of :data:`CLIP_FORMATS`."""


def load_clip(path: str | Path, max_persons: int = 2) -> tuple[np.ndarray, dict[str, Any]]:
    """Read one clip: ``(frames, persons, joints, channels)`` float32 and metadata (at least ``format``, ``source``,
    ``sample_id``, ``num_frames`` and ``num_persons``; the benchmark readers add theirs, e.g. ``label``, and the
    ``skeleton_layout`` name of their joint order; a plain array has none).

    ``max_persons`` only applies to NTU files, whose denoising keeps the most active bodies.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CLIP_FORMATS:
        known = ", ".join(CLIP_FORMATS)
        raise UnsupportedClipFormatError(f"{path}: unknown clip format {suffix or '(no suffix)'!r}; supported: {known}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    if suffix == ".skeleton":
        clip, metadata = _load_ntu(path, max_persons)
    elif suffix == ".mat":
        from .data.penn_action import load_penn_clip

        clip, metadata = load_penn_clip(path)
        metadata["format"] = "penn_action"
    elif suffix == ".json":
        clip, metadata = _load_json(path)
    else:
        clip, metadata = _load_numpy(path)
    metadata.setdefault("sample_id", path.name.removesuffix(path.suffix))
    if metadata["format"] in _FORMAT_LAYOUTS:  # a benchmark's own file: its reader knows the joint order
        metadata["skeleton_layout"] = _FORMAT_LAYOUTS[metadata["format"]]
    metadata["source"] = str(path)
    metadata["num_frames"] = int(clip.shape[0])
    metadata["num_persons"] = int(np.any(clip != 0, axis=(0, 2, 3)).sum())
    return clip, metadata


def _load_ntu(path: Path, max_persons: int) -> tuple[np.ndarray, dict[str, Any]]:
    from .data.ntu import (
        NTUMissingSkeletonError,
        denoise_ntu_bodies,
        load_ntu_clip,
        parse_ntu_name,
        read_ntu_skeleton,
    )

    try:
        parse_ntu_name(path.name)
    except ValueError:
        # A renamed file: same reader and denoising, just no ids from the name.
        frames = read_ntu_skeleton(path)
        if not any(frames):
            raise NTUMissingSkeletonError(path, f"no skeleton in any of the {len(frames)} frames") from None
        clip = denoise_ntu_bodies(frames, max_persons)
        if clip.shape[0] == 0:
            raise NTUMissingSkeletonError(path, "denoising removed every body (all were noise)") from None
        metadata: dict[str, Any] = {}
    else:
        clip, metadata = load_ntu_clip(path, max_persons)
    metadata["format"] = "ntu"
    return clip, metadata


def _load_json(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise SkeletonFileError(path, f"not valid JSON ({error.msg})", line=error.lineno) from error
    except (OSError, UnicodeDecodeError) as error:
        raise SkeletonFileError(path, f"cannot be read ({error})") from error
    except RecursionError:  # json recurses once per nesting level
        raise SkeletonFileError(path, "JSON nested too deeply to be a clip") from None
    if isinstance(content, Mapping) and {"file_name", "label", "skeletons"} <= content.keys():
        from .data.nucla import load_nucla_clip

        clip, metadata = load_nucla_clip(path)  # validates the N-UCLA name, label and shape
        metadata["format"] = "nucla"
        return clip, metadata
    if isinstance(content, Mapping):
        key = next((key for key in _ARRAY_KEYS if key in content), None)
        if key is None:
            raise SkeletonFileError(path, f"a JSON object needs one of the keys {list(_ARRAY_KEYS)}")
        return _checked(content[key], path, key), {"format": "json"}
    return _checked(content, path), {"format": "json"}


def _load_numpy(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    # numpy reports a broken file in many ways: an empty file is an EOFError, a bad header a ValueError, or a
    # SyntaxError / tokenize.TokenError from parsing the header's dict, a truncated archive member a
    # zipfile.BadZipFile. With allow_pickle=False nothing in the file runs, so any failure means "not readable".
    unreadable = Exception
    try:
        loaded = np.load(path, allow_pickle=False)
    except unreadable as error:
        raise SkeletonFileError(path, f"not a readable numpy file ({_first_line(error)})") from error
    if isinstance(loaded, np.ndarray):
        return _checked(loaded, path), {"format": "npy"}
    with loaded:
        names = list(loaded.files)
        if "skeleton" in names:
            name = "skeleton"
        elif len(names) == 1:
            name = names[0]
        else:
            raise SkeletonFileError(path, f"holds {len(names)} arrays {names}; name the clip 'skeleton'")
        try:
            array = loaded[name]
        except unreadable as error:
            raise SkeletonFileError(path, f"not a readable array ({_first_line(error)})", key=name) from error
        return _checked(array, path, name), {"format": "npz"}


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _checked(data: Any, path: Path, key: str | None = None) -> np.ndarray:
    """:func:`as_clip`, reporting problems as a :class:`SkeletonFileError` of the file."""
    try:
        return as_clip(data, source="the clip")
    except ValueError as error:
        message = str(error).removeprefix("the clip: ")
        raise SkeletonFileError(path, message, key=key) from error


__all__ = ["CLIP_FORMATS", "UnsupportedClipFormatError", "as_clip", "load_clip"]
