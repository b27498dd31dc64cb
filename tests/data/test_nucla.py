"""N-UCLA ``all_sqe`` JSON parser: synthetic files in the exact format, every malformed case, the real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hf_cascadeformer.data.builders import find_raw_files, load_benchmark
from hf_cascadeformer.data.errors import SkeletonFileError
from hf_cascadeformer.data.nucla import (
    NUCLA_ACTION_IDS,
    NUCLA_ACTIONS,
    NUCLA_CROSS_VIEW_TRAIN_VIEWS,
    load_nucla_clip,
    nucla_split,
    parse_nucla_name,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def write_nucla_clip(folder: Path, name: str, frames: int = 4, **overrides) -> tuple[Path, np.ndarray]:
    """Write ``folder/name.json`` as the CTR-GCN script does: file_name, skeletons (nested lists), label."""
    rng = np.random.default_rng(frames)
    joints = rng.normal(size=(frames, 20, 3)).round(6)
    action = int(name[1:3])
    content = {"file_name": name, "skeletons": joints.tolist(), "label": NUCLA_ACTION_IDS.get(action, 1)}
    content.update(overrides)
    content = {key: value for key, value in content.items() if value is not ...}
    path = folder / f"{name}.json"
    path.write_text(json.dumps(content))
    return path, joints


def test_action_tables() -> None:
    assert len(NUCLA_ACTIONS) == 10
    assert NUCLA_ACTIONS[0] == "pick up with one hand" and NUCLA_ACTIONS[-1] == "carry"
    assert sorted(NUCLA_ACTION_IDS) == [1, 2, 3, 4, 5, 6, 8, 9, 11, 12]
    assert sorted(NUCLA_ACTION_IDS.values()) == list(range(1, 11))


def test_parse_name() -> None:
    assert parse_nucla_name("a12_s03_e04_v02.json") == {"action_id": 12, "subject": 3, "take": 4, "view": 2}
    assert parse_nucla_name(Path("x/a01_s10_e00_v03")) == {"action_id": 1, "subject": 10, "take": 0, "view": 3}
    with pytest.raises(ValueError, match="aAA_sSS_eEE_vVV"):
        parse_nucla_name("clip_01.json")


def test_load_clip_shape_values_and_metadata(tmp_path: Path) -> None:
    path, joints = write_nucla_clip(tmp_path, "a11_s07_e02_v03", frames=5)
    clip, meta = load_nucla_clip(path)
    assert clip.shape == (5, 1, 20, 3) and clip.dtype == np.float32
    np.testing.assert_allclose(clip[:, 0], joints, rtol=1e-6)
    assert meta == {
        "sample_id": "a11_s07_e02_v03",
        "label": 8,  # a11 is label 9, 0-based 8: "throw"
        "subject": 7,
        "take": 2,
        "view": 3,
        "num_frames": 5,
        "num_persons": 1,
    }
    assert NUCLA_ACTIONS[meta["label"]] == "throw"


def test_single_frame_clip(tmp_path: Path) -> None:
    path, _ = write_nucla_clip(tmp_path, "a02_s09_e04_v02", frames=1)
    clip, meta = load_nucla_clip(path)
    assert clip.shape == (1, 1, 20, 3) and meta["num_frames"] == 1


@pytest.mark.parametrize("key", ["file_name", "label", "skeletons"])
def test_missing_key(tmp_path: Path, key: str) -> None:
    path, _ = write_nucla_clip(tmp_path, "a01_s01_e00_v01", **{key: ...})
    with pytest.raises(SkeletonFileError, match=f"a01_s01_e00_v01.json, key '{key}': missing key") as info:
        load_nucla_clip(path)
    assert info.value.key == key and info.value.path == str(path)


@pytest.mark.parametrize(
    ("skeletons", "fragment"),
    [
        (np.zeros((3, 19, 3)).tolist(), r"expected shape \(frames >= 1, 20, 3\), found \(3, 19, 3\)"),
        (np.zeros((3, 20, 2)).tolist(), r"found \(3, 20, 2\)"),
        ([], r"found \(0,\)"),
        ([[[0.0, 0.0, 0.0]] * 20, [[0.0, 0.0, 0.0]] * 19], "not a numeric"),  # ragged
        ([[["x", "y", "z"]] * 20], "not a numeric"),
        ([[[None, 0.0, 0.0]] * 20], "NaN or infinite"),  # numpy reads a JSON null as NaN
        ([[[float("nan"), 0.0, 0.0]] * 20], "NaN or infinite"),
        ([[[1e30, 0.0, 0.0]] * 20], "exceeds the bound 1e\\+06"),
    ],
)
def test_malformed_skeletons(tmp_path: Path, skeletons: list, fragment: str) -> None:
    path, _ = write_nucla_clip(tmp_path, "a03_s02_e01_v01", skeletons=skeletons)
    with pytest.raises(SkeletonFileError, match=fragment) as info:
        load_nucla_clip(path)
    assert info.value.key == "skeletons" and str(path) in str(info.value)


@pytest.mark.parametrize("label", [4, 0, 11, "3", 3.0, True])
def test_label_must_match_the_action_id(tmp_path: Path, label: object) -> None:
    path, _ = write_nucla_clip(tmp_path, "a03_s02_e01_v01", label=label)
    with pytest.raises(SkeletonFileError) as info:
        load_nucla_clip(path)
    assert info.value.key == "label" and str(path) in str(info.value)


def test_label_mismatch_message(tmp_path: Path) -> None:
    path, _ = write_nucla_clip(tmp_path, "a08_s02_e01_v01", label=8)
    with pytest.raises(SkeletonFileError, match="label 8 disagrees with action id a08 .*expected 7"):
        load_nucla_clip(path)


def test_file_name_must_match(tmp_path: Path) -> None:
    path, _ = write_nucla_clip(tmp_path, "a01_s01_e00_v01", file_name="a01_s01_e00_v02")
    with pytest.raises(SkeletonFileError, match="key 'file_name'"):
        load_nucla_clip(path)


def test_unknown_action_bad_name_and_bad_json(tmp_path: Path) -> None:
    path, _ = write_nucla_clip(tmp_path, "a07_s01_e00_v01")
    with pytest.raises(SkeletonFileError, match="a07_s01_e00_v01.json: action id a07"):
        load_nucla_clip(path)
    odd = tmp_path / "clip.json"
    odd.write_text("{}")
    with pytest.raises(SkeletonFileError, match="clip.json: file name does not follow"):
        load_nucla_clip(odd)
    truncated = tmp_path / "a01_s01_e00_v01.json"
    truncated.write_text('{"file_name": "a01_s01_e00_v01", "skeletons": [[[0.1,\n 0.2')
    with pytest.raises(SkeletonFileError, match=r"a01_s01_e00_v01.json, line 2: not valid JSON"):
        load_nucla_clip(truncated)
    listed = tmp_path / "a01_s01_e01_v01.json"
    listed.write_text("[1, 2]")
    with pytest.raises(SkeletonFileError, match="expected a JSON object"):
        load_nucla_clip(listed)


def test_cross_view_split() -> None:
    assert NUCLA_CROSS_VIEW_TRAIN_VIEWS == {1, 2}
    assert [nucla_split({"view": view}) for view in (1, 2, 3)] == ["train", "train", "test"]
    with pytest.raises(ValueError, match="unknown N-UCLA protocol"):
        nucla_split({"view": 1}, protocol="xsub")


def test_real_single_frame_clip(shared_data: Path) -> None:
    clip, meta = load_nucla_clip(shared_data / "nucla" / "all_sqe" / "a02_s09_e04_v02.json")
    assert clip.shape == (1, 1, 20, 3)
    assert meta["label"] == 1 and meta["subject"] == 9 and meta["take"] == 4 and meta["view"] == 2
    # Kinect v1 depth in metres: the body stands a few metres in front of the camera.
    assert 1.0 < float(clip[..., 2].mean()) < 5.0


@pytest.mark.slow
def test_nucla_script_on_the_real_files(shared_data: Path, tmp_path: Path) -> None:
    output = tmp_path / "nucla"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    raw = shared_data / "nucla" / "all_sqe"
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "dataset_scripts" / "nucla.py"), "--raw-dir", str(raw)]
        + ["--output-dir", str(output)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    assert "train: 1020 clips, 10 classes" in result.stdout
    assert "test: 0 clips (empty split: the raw folder holds no view-3 clip" in result.stdout
    loaded = load_benchmark(output, "xview")
    assert len(loaded["train"]) == 1020 and len(loaded["test"]) == 0
    assert set(loaded["train"]["label"][:]) == set(range(10)) and set(loaded["train"]["view"][:]) == {1, 2}
    single = loaded["train"].filter(lambda row: row == "a02_s09_e04_v02", input_columns="sample_id")
    assert single.with_format("numpy")[0]["skeleton"].shape == (1, 1, 20, 3)
    # The parent folder is accepted as well and finds the same files.
    assert find_raw_files(raw.parent, "*.json", ("all_sqe",)) == find_raw_files(raw, "*.json", ("all_sqe",))
    print(f"nucla.py on the real files: {seconds:.1f} s including interpreter start-up")
