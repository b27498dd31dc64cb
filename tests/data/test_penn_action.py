"""Penn Action ``.mat`` parser: synthetic files written with scipy in the real layout, malformed cases, real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from hf_cascadeformer.data.errors import SkeletonFileError
from hf_cascadeformer.data.penn_action import PENN_ACTIONS, PENN_JOINTS, load_penn_clip, penn_split


def penn_annotation(frames: int = 6, nframes_dtype=np.uint8, **overrides) -> dict:
    """The keys and dtypes of a real ``labels/NNNN.mat`` file (bbox one row short, as in some real files)."""
    rng = np.random.default_rng(frames)
    visibility = np.ones((frames, 13), dtype=np.uint8)
    visibility[1, [2, 7]] = 0  # invisible joints keep their coordinates
    annotation = {
        "action": np.array(["bench_press"]),
        "pose": np.array(["front"]),
        "x": rng.uniform(0, 480, size=(frames, 13)).round(2),
        "y": rng.uniform(0, 270, size=(frames, 13)).round(2),
        "visibility": visibility,
        "train": np.array([[1]], dtype=np.int32),
        "bbox": rng.uniform(0, 200, size=(frames - 1, 4)),
        "dimensions": np.array([[270, 480, frames]], dtype=np.uint16),
        "nframes": np.array([[frames]], dtype=nframes_dtype),
    }
    annotation.update(overrides)
    return {key: value for key, value in annotation.items() if value is not ...}


def write_penn(path: Path, **kwargs) -> dict:
    annotation = penn_annotation(**kwargs)
    scipy.io.savemat(path, annotation)
    return annotation


def test_tables() -> None:
    assert len(PENN_ACTIONS) == 15 and list(PENN_ACTIONS) == sorted(PENN_ACTIONS)
    assert len(PENN_JOINTS) == 13 and PENN_JOINTS[0] == "head" and PENN_JOINTS[-1] == "right_ankle"


def test_load_clip(tmp_path: Path) -> None:
    annotation = write_penn(tmp_path / "0042.mat")
    clip, meta = load_penn_clip(tmp_path / "0042.mat")
    assert clip.shape == (6, 1, 13, 2) and clip.dtype == np.float32
    np.testing.assert_allclose(clip[:, 0, :, 0], annotation["x"], rtol=1e-6)
    np.testing.assert_allclose(clip[:, 0, :, 1], annotation["y"], rtol=1e-6)
    visibility = meta.pop("visibility")
    assert visibility.dtype == np.uint8 and visibility.shape == (6, 13)
    assert visibility.sum() == 6 * 13 - 2 and visibility[1, 2] == 0 and visibility[1, 7] == 0
    assert clip[1, 0, 2, 0] == np.float32(annotation["x"][1, 2])  # invisible, but kept as annotated
    assert meta == {
        "sample_id": "0042",
        "label": PENN_ACTIONS.index("bench_press"),
        "action": "bench_press",
        "pose": "front",
        "image_height": 270,
        "image_width": 480,
        "num_frames": 6,
        "split": "train",
        "num_persons": 1,
    }
    assert penn_split(meta) == "train"


def test_nframes_uint16_and_integer_coordinates(tmp_path: Path) -> None:
    # 300 frames do not fit uint8: the real files then store nframes as uint16; x may come as uint16 too.
    x = np.tile(np.arange(13, dtype=np.uint16) * 30, (300, 1))
    write_penn(tmp_path / "0001.mat", frames=300, nframes_dtype=np.uint16, x=x)
    clip, meta = load_penn_clip(tmp_path / "0001.mat")
    assert meta["num_frames"] == 300 and clip.shape == (300, 1, 13, 2)
    assert clip[0, 0, 12, 0] == 360.0


def test_test_split_flag(tmp_path: Path) -> None:
    write_penn(tmp_path / "2000.mat", train=np.array([[-1]], dtype=np.int32))
    _, meta = load_penn_clip(tmp_path / "2000.mat")
    assert meta["split"] == "test" and penn_split(meta) == "test"
    write_penn(tmp_path / "2001.mat", train=np.array([[0]], dtype=np.int32))
    with pytest.raises(SkeletonFileError, match="key 'train'"):
        load_penn_clip(tmp_path / "2001.mat")


def test_bbox_is_optional(tmp_path: Path) -> None:
    write_penn(tmp_path / "0003.mat", bbox=...)
    assert load_penn_clip(tmp_path / "0003.mat")[1]["num_frames"] == 6


@pytest.mark.parametrize("key", ["action", "pose", "x", "y", "visibility", "dimensions", "nframes", "train"])
def test_missing_key(tmp_path: Path, key: str) -> None:
    path = tmp_path / "0005.mat"
    write_penn(path, **{key: ...})
    with pytest.raises(SkeletonFileError, match=f"0005.mat, key '{key}': missing key") as info:
        load_penn_clip(path)
    assert info.value.key == key and info.value.path == str(path)


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"),
    [
        ({"action": np.array(["juggling"])}, "action", "unknown action 'juggling'"),
        ({"nframes": np.array([[7]], dtype=np.uint8)}, "nframes", "is 7 but x has 6 rows"),
        ({"x": np.zeros((6, 12))}, "x", r"expected shape \(frames >= 1, 13\), found \(6, 12\)"),
        ({"y": np.zeros((5, 13))}, "y", "has 5 rows but x has 6"),
        ({"visibility": np.ones((6, 14), dtype=np.uint8)}, "visibility", "found \\(6, 14\\)"),
        ({"x": np.full((6, 13), "a")}, "x", "expected numbers"),
        ({"x": np.full((6, 13), np.inf)}, "x", "NaN or infinite"),
        ({"x": np.full((6, 13), 1e30)}, "x", "exceeds the bound"),
        ({"nframes": np.array(["six"])}, "nframes", "expected a number"),
        ({"dimensions": np.array([[270]], dtype=np.uint16)}, "dimensions", "position 1"),
    ],
)
def test_malformed_values(tmp_path: Path, overrides: dict, key: str, fragment: str) -> None:
    path = tmp_path / "0006.mat"
    write_penn(path, **overrides)
    with pytest.raises(SkeletonFileError, match=fragment) as info:
        load_penn_clip(path)
    assert info.value.key == key and str(path) in str(info.value)


def test_truncated_and_foreign_files(tmp_path: Path) -> None:
    whole = tmp_path / "0007.mat"
    write_penn(whole)
    truncated = tmp_path / "0008.mat"
    truncated.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])
    with pytest.raises(SkeletonFileError, match="0008.mat: not a readable MATLAB file"):
        load_penn_clip(truncated)
    text = tmp_path / "0009.mat"
    text.write_text("action: bowl\n")
    with pytest.raises(SkeletonFileError, match="0009.mat: not a readable MATLAB file"):
        load_penn_clip(text)
    with pytest.raises(SkeletonFileError, match="0010.mat: not a readable MATLAB file"):
        load_penn_clip(tmp_path / "0010.mat")


def test_real_training_files(shared_data: Path) -> None:
    files = sorted((shared_data / "penn_action" / "labels").glob("*.mat"))
    assert len(files) == 1258
    actions, nframes_dtypes = set(), set()
    for path in files:
        clip, meta = load_penn_clip(path)
        assert clip.shape == (meta["num_frames"], 1, 13, 2) and meta["visibility"].shape == (meta["num_frames"], 13)
        assert meta["split"] == "train"
        actions.add(meta["action"])
        nframes_dtypes.add(scipy.io.loadmat(path, variable_names=["nframes"])["nframes"].dtype)
    assert actions == set(PENN_ACTIONS)
    assert nframes_dtypes == {np.dtype(np.uint8), np.dtype(np.uint16)}
