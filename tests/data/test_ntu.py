"""NTU RGB+D raw ``.skeleton`` parsing, denoising, splits and missing-skeleton lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hf_cascadeformer.data.errors import SkeletonFileError
from hf_cascadeformer.data.ntu import (
    NTU60_ACTIONS,
    NTU60_XSUB_TRAIN_PERFORMERS,
    NTU120_ACTIONS,
    NTU120_XSUB_TRAIN_PERFORMERS,
    NTU_NUM_JOINTS,
    NTU_PROTOCOLS,
    NTU_TWO_PERSON_ACTIONS,
    NTUMissingSkeletonError,
    center_ntu_clip,
    denoise_ntu_bodies,
    load_ntu_clip,
    ntu_split,
    parse_ntu_name,
    read_missing_skeleton_list,
    read_ntu_skeleton,
)

# Body-info values with a distinct value per field, so a field-order mistake shows.
BODY_INFO = "8 1 2 0 3 1 0.25 -0.5 2"  # clippedEdges ... trackingState, after the body id
ID_A, ID_B, ID_SHORT, ID_WIDE = 72057594037931101, 72057594037931102, 72057594037931103, 72057594037931104


def standing_pose(x_offset: float, sway: float) -> np.ndarray:
    """A person-like joint cloud: 0.4 m wide, 1.6 m tall, shifted sideways by ``x_offset + sway``."""
    joints = np.arange(NTU_NUM_JOINTS)
    x = x_offset + sway + 0.2 * np.sin(joints)
    y = np.linspace(-0.8, 0.8, NTU_NUM_JOINTS)
    z = 3.0 + 0.01 * joints
    return np.round(np.stack([x, y, z], axis=1), 6)


def wide_pose(shift: float) -> np.ndarray:
    """A table-like joint cloud: 2 m wide, 0.2 m tall."""
    joints = np.arange(NTU_NUM_JOINTS)
    x = shift + np.linspace(-1.0, 1.0, NTU_NUM_JOINTS)
    y = 0.1 * np.cos(joints)
    return np.round(np.stack([x, y, np.full(NTU_NUM_JOINTS, 2.5)], axis=1), 6)


def skeleton_lines(frames: list[list[tuple[int, np.ndarray]]]) -> list[str]:
    """The lines of a ``.skeleton`` file with every field of the layout, for (body id, xyz (25, 3)) bodies."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for body_id, xyz in bodies:
            lines.append(f"{body_id} {BODY_INFO}")
            lines.append(str(NTU_NUM_JOINTS))
            for joint, (x, y, z) in enumerate(xyz):
                depth_color = f"{250 + joint} {200 + joint} {900 + joint} {500 + joint}"
                orientation = "0.5 -0.5 0.25 -0.25"
                lines.append(f"{x:.6f} {y:.6f} {z:.6f} {depth_color} {orientation} {1 + joint % 2}")
    return lines


def write_lines(path: Path, lines: list[str], newline: str = "\r\n") -> Path:
    path.write_bytes((newline.join(lines) + newline).encode())
    return path


def noisy_two_person_frames() -> tuple[list[list[tuple[int, np.ndarray]]], list[int]]:
    """44 declared frames: empty frames 0, 1 and 22; persons A (moving a lot) and B (moving a little) in every
    other frame, listed B first; a fast body tracked for only 5 frames and a wide fast body for 30 frames."""
    frames: list[list[tuple[int, np.ndarray]]] = []
    kept = []
    for t in range(44):
        if t in (0, 1, 22):
            frames.append([])
            continue
        kept.append(t)
        bodies = [(ID_B, standing_pose(0.8, 0.01 * np.sin(t))), (ID_A, standing_pose(-0.8, 0.3 * np.sin(t)))]
        if 5 <= t <= 9:
            bodies.append((ID_SHORT, standing_pose(0.0, 2.0 * (-1) ** t)))
        if 10 <= t <= 39:
            bodies.append((ID_WIDE, wide_pose(1.5 * (-1) ** t)))
        frames.append(bodies)
    return frames, kept


@pytest.fixture
def noisy_clip(tmp_path: Path) -> Path:
    frames, _ = noisy_two_person_frames()
    return write_lines(tmp_path / "S001C001P001R001A050.skeleton", skeleton_lines(frames))


@pytest.fixture
def one_body_file(tmp_path: Path) -> tuple[Path, list[str]]:
    """One frame with one body: lines 1 frame count, 2 body count, 3 body info, 4 joint count, 5-29 joints."""
    lines = skeleton_lines([[(ID_A, standing_pose(0.0, 0.0))]])
    assert len(lines) == 29
    return tmp_path / "S001C001P001R001A001.skeleton", lines


def test_action_names_and_two_person_ids():
    assert len(NTU60_ACTIONS) == 60 and len(set(NTU60_ACTIONS)) == 60
    assert len(NTU120_ACTIONS) == 120 and len(set(NTU120_ACTIONS)) == 120
    assert NTU120_ACTIONS[:60] == NTU60_ACTIONS
    assert NTU60_ACTIONS[0] == "drink water" and NTU60_ACTIONS[57] == "handshaking"
    assert NTU120_ACTIONS[119] == "finger-guessing game (playing rock-paper-scissors)"
    assert len(NTU_TWO_PERSON_ACTIONS) == 26
    assert {50, 58, 60, 106, 120} <= NTU_TWO_PERSON_ACTIONS and not {49, 61, 105} & NTU_TWO_PERSON_ACTIONS
    assert all("other person" in NTU120_ACTIONS[action - 1] for action in (50, 51, 106, 116))


def test_parse_ntu_name():
    expected = {"setup": 1, "camera": 3, "performer": 8, "replication": 2, "action": 58}
    assert parse_ntu_name("S001C003P008R002A058") == expected
    assert parse_ntu_name("S001C003P008R002A058.skeleton") == expected
    assert parse_ntu_name(Path("/data/nturgb+d_skeletons/S001C003P008R002A058.skeleton")) == expected
    assert parse_ntu_name("S032C003P106R002A120")["action"] == 120
    for bad in ("S001C003P008R002A58", "s001c003p008r002a058", "S001C003P008R002A058x", "clip.skeleton"):
        with pytest.raises(ValueError, match=bad.split(".")[0]):
            parse_ntu_name(bad)


def test_read_every_field_with_crlf_and_empty_frames(noisy_clip: Path):
    assert b"\r\n" in noisy_clip.read_bytes()
    frames = read_ntu_skeleton(noisy_clip)
    assert len(frames) == 44
    assert frames[0] == [] and frames[1] == [] and frames[22] == []
    assert [body["bodyID"] for body in frames[5]] == [ID_B, ID_A, ID_SHORT]
    assert [body["bodyID"] for body in frames[10]] == [ID_B, ID_A, ID_WIDE]
    body = frames[2][1]
    assert body == body | {
        "bodyID": ID_A,
        "clippedEdges": 8,
        "handLeftConfidence": 1,
        "handLeftState": 2,
        "handRightConfidence": 0,
        "handRightState": 3,
        "isRestricted": 1,
        "leanX": 0.25,
        "leanY": -0.5,
        "trackingState": 2,
    }
    assert len(body) == 11
    joints = body["joints"]
    assert joints.dtype == np.float32 and joints.shape == (25, 12)
    np.testing.assert_allclose(joints[:, :3], standing_pose(-0.8, 0.3 * np.sin(2)), atol=1e-6)
    np.testing.assert_array_equal(joints[:, 3], 250 + np.arange(25))  # depthX
    np.testing.assert_array_equal(joints[:, 6], 500 + np.arange(25))  # colorY
    np.testing.assert_array_equal(joints[0, 7:11], [0.5, -0.5, 0.25, -0.25])  # orientation w, x, y, z
    np.testing.assert_array_equal(joints[:, 11], 1 + np.arange(25) % 2)  # joint trackingState


def test_lf_endings_and_blank_trailing_lines(tmp_path: Path, one_body_file):
    path, lines = one_body_file
    write_lines(path, [*lines, "", "  ", ""], newline="\n")
    frames = read_ntu_skeleton(path)
    assert len(frames) == 1 and frames[0][0]["joints"].shape == (25, 12)


def replace_value(line: str, index: int, value: str) -> str:
    values = line.split()
    values[index] = value
    return " ".join(values)


@pytest.mark.parametrize(
    ("edit", "line", "message"),
    [
        (lambda lines: ["x", *lines[1:]], 1, "frame count"),
        (lambda lines: lines[:3] + ["24"] + lines[4:], 4, "expected 25 joints"),
        (lambda lines: lines[:9] + [replace_value(lines[9], 2, "3.0abc")] + lines[10:], 10, "non-numeric"),
        (lambda lines: lines[:11] + [lines[11].rsplit(" ", 1)[0]] + lines[12:], 12, "12 values, got 11"),
        (lambda lines: lines[:2] + [lines[2].rsplit(" ", 1)[0]] + lines[3:], 3, "10 values, got 9"),
        (lambda lines: lines[:2] + [replace_value(lines[2], 7, "left")] + lines[3:], 3, "leanX"),
        (lambda lines: lines[:20], 21, "ends early"),  # truncated inside a body
        (lambda lines: ["2", *lines[1:]], 30, "ends early"),  # fewer frames than declared
        (lambda lines: lines[:1] + ["-1"], 2, "negative"),
        (lambda lines: [*lines, "0", "1"], 30, "after the 1 declared frames"),
    ],
    ids=[
        "frame-count",
        "joint-count",
        "non-numeric",
        "joint-values",
        "body-info-values",
        "body-info-type",
        "truncated",
        "missing-frame",
        "negative-count",
        "extra-content",
    ],
)
def test_malformed_files_name_file_and_line(one_body_file, edit, line, message):
    path, lines = one_body_file
    write_lines(path, edit(lines))
    with pytest.raises(SkeletonFileError, match=message) as caught:
        read_ntu_skeleton(path)
    assert caught.value.line == line
    assert str(path) in str(caught.value) and f"line {line}" in str(caught.value)


def test_denoising_drops_short_and_wide_bodies_and_ranks_by_motion(noisy_clip: Path):
    frames, kept = noisy_two_person_frames()
    clip, meta = load_ntu_clip(noisy_clip)
    assert clip.dtype == np.float32 and clip.shape == (41, 2, 25, 3)
    expected_a = np.stack([standing_pose(-0.8, 0.3 * np.sin(t)) for t in kept])
    expected_b = np.stack([standing_pose(0.8, 0.01 * np.sin(t)) for t in kept])
    np.testing.assert_allclose(clip[:, 0], expected_a, atol=1e-6)  # A moves more: person 0 though listed second
    np.testing.assert_allclose(clip[:, 1], expected_b, atol=1e-6)
    assert meta == {
        "setup": 1,
        "camera": 1,
        "performer": 1,
        "replication": 1,
        "action": 50,
        "sample_id": "S001C001P001R001A050",
        "num_frames": 41,
        "num_persons": 2,
    }
    # Without the length and spread filters the fast noise bodies would take the slots.
    unfiltered = denoise_ntu_bodies(read_ntu_skeleton(noisy_clip), max_noise_length=0, spread_ratio=100.0)
    assert not np.allclose(unfiltered[:, 0], clip[:, 0])


def _frame_bodies(poses: dict[int, np.ndarray]) -> list[dict]:
    return [{"bodyID": body_id, "joints": np.pad(xyz, ((0, 0), (0, 9)))} for body_id, xyz in poses.items()]


def test_noisy_frame_ratio_threshold():
    """A body is dropped when 0.69754 or more of its frames are wider than 0.8 x their height."""

    def frames_with(num_wide: int) -> list[list[dict]]:
        return [
            _frame_bodies({1: standing_pose(-0.5, 0.1 * t), 2: wide_pose(0.0) if t < num_wide else standing_pose(1, 0)})
            for t in range(20)
        ]

    assert np.any(denoise_ntu_bodies(frames_with(13))[:, 1])  # 13 / 20 = 0.65 noisy frames: kept
    assert not np.any(denoise_ntu_bodies(frames_with(14))[:, 1])  # 14 / 20 = 0.70: dropped


def test_bodies_that_do_not_overlap_share_a_person_slot():
    frames = []
    for t in range(30):
        poses = {10: standing_pose(0.0, 0.5 * np.sin(t))}  # most motion
        if t < 15:
            poses[11] = standing_pose(1.0, 0.1 * np.sin(t))  # same person, tracked under two ids
        else:
            poses[12] = standing_pose(1.0, 0.1 * np.sin(t))
        poses[13] = standing_pose(-1.0, 0.001 * t)  # a third overlapping body: no slot left
        frames.append(_frame_bodies(poses))
    clip = denoise_ntu_bodies(frames)
    assert clip.shape == (30, 2, 25, 3)
    np.testing.assert_allclose(clip[:, 1, 0, 0], [1.0 + 0.1 * np.sin(t) + 0.0 for t in range(30)], atol=1e-6)
    only_main = denoise_ntu_bodies(frames, max_persons=1)
    assert only_main.shape == (30, 1, 25, 3)
    np.testing.assert_array_equal(only_main[:, 0], clip[:, 0])
    with pytest.raises(ValueError, match="max_persons"):
        denoise_ntu_bodies(frames, max_persons=0)


def test_a_single_body_is_kept_even_when_short(tmp_path: Path):
    frames = [[(ID_A, standing_pose(0.0, 0.1 * t))] for t in range(5)]
    path = write_lines(tmp_path / "S003C002P004R001A010.skeleton", skeleton_lines(frames))
    clip, meta = load_ntu_clip(path, max_persons=3)
    assert clip.shape == (5, 3, 25, 3) and meta["num_persons"] == 1 and meta["num_frames"] == 5
    assert not clip[:, 1:].any()


def test_centering_on_first_spine_middle(noisy_clip: Path):
    raw, _ = load_ntu_clip(noisy_clip)
    centred, _ = load_ntu_clip(noisy_clip, center=True)
    origin = raw[0, 0, 1]
    np.testing.assert_allclose(centred[0, 0, 1], 0.0, atol=1e-6)
    np.testing.assert_allclose(centred, raw - origin, atol=1e-6)
    one_person = raw.copy()
    one_person[:, 1] = 0
    assert not center_ntu_clip(one_person)[:, 1].any()  # absent persons stay zero


def test_clips_without_skeletons_raise_missing_error(tmp_path: Path):
    empty = write_lines(tmp_path / "S001C001P001R001A001.skeleton", skeleton_lines([[], [], []]))
    with pytest.raises(NTUMissingSkeletonError, match="no skeleton") as caught:
        load_ntu_clip(empty)
    assert isinstance(caught.value, SkeletonFileError) and str(empty) in str(caught.value)
    short = [[(ID_A, standing_pose(0, 0)), (ID_B, standing_pose(1, 0))] for _ in range(11)]
    only_noise = write_lines(tmp_path / "S001C001P001R001A002.skeleton", skeleton_lines(short))
    with pytest.raises(NTUMissingSkeletonError, match="denoising removed"):
        load_ntu_clip(only_noise)


def test_splits():
    assert ntu_split(parse_ntu_name("S001C001P001R001A001"), "ntu60", "xsub") == "train"
    assert ntu_split(parse_ntu_name("S001C002P003R001A001"), "ntu60", "xsub") == "test"
    assert ntu_split(parse_ntu_name("S001C001P002R001A001"), "ntu60", "xview") == "test"  # camera 1
    assert ntu_split(parse_ntu_name("S001C002P003R001A001"), "ntu60", "xview") == "train"
    assert ntu_split(parse_ntu_name("S001C003P003R001A001"), "ntu60", "xview") == "train"
    assert ntu_split(parse_ntu_name("S002C001P003R001A001"), "ntu120", "xset") == "train"  # even setup
    assert ntu_split(parse_ntu_name("S019C001P003R001A001"), "ntu120", "xset") == "test"
    assert ntu_split({"performer": 45}, "ntu120", "xsub") == "train"
    assert ntu_split({"performer": 45}, "ntu60", "xsub") == "test"
    assert ntu_split({"performer": 106}, "ntu120", "xsub") == "test"
    assert len(NTU60_XSUB_TRAIN_PERFORMERS) == 20 and len(NTU120_XSUB_TRAIN_PERFORMERS) == 53
    assert NTU60_XSUB_TRAIN_PERFORMERS < NTU120_XSUB_TRAIN_PERFORMERS
    assert NTU_PROTOCOLS == {"ntu60": ("xsub", "xview"), "ntu120": ("xsub", "xset")}
    with pytest.raises(ValueError, match="valid: xsub, xset"):
        ntu_split({"camera": 1}, "ntu120", "xview")
    with pytest.raises(ValueError, match="valid: ntu60, ntu120"):
        ntu_split({"camera": 1}, "ntu90", "xsub")


def test_missing_list(tmp_path: Path):
    text = "3 of the captured samples have missing skeletons.\r\nPlease ignore these files.\r\n\r\n"
    text += "S001C002P005R002A008\r\nS001C002P006R001A008.skeleton\r\n  S017C003P020R001A059  \r\n\r\n\r\n"
    path = tmp_path / "missing.txt"
    path.write_bytes(text.encode())
    assert read_missing_skeleton_list(path) == {
        "S001C002P005R002A008",
        "S001C002P006R001A008",
        "S017C003P020R001A059",
    }
    path.write_text("header\nS001C002P005R002A008\nS001C002P005R02A008\n")
    with pytest.raises(SkeletonFileError, match="malformed sample name") as caught:
        read_missing_skeleton_list(path)
    assert caught.value.line == 3


# Real files (training portions only, never copied into the project).

REAL_FRAME_COUNTS = {"S001C003P008R002A058": 70, "S002C001P003R001A003": 100, "S004C002P003R001A017": 124}


@pytest.mark.parametrize(("sample", "num_frames"), REAL_FRAME_COUNTS.items())
def test_real_clips(shared_data: Path, sample: str, num_frames: int):
    path = shared_data / "ntu" / f"{sample}.skeleton"
    frames = read_ntu_skeleton(path)
    assert len(frames) == num_frames
    assert all(body["joints"].shape == (25, 12) for bodies in frames for body in bodies)
    clip, meta = load_ntu_clip(path)
    assert clip.shape == (num_frames, 2, 25, 3) and meta["num_frames"] == num_frames
    assert meta["sample_id"] == sample and meta["action"] == int(sample[-3:])
    assert np.isfinite(clip).all() and 0.5 < np.abs(clip[..., 2]).max() < 8.0  # depth in metres
    present = np.any(clip != 0, axis=(2, 3))
    if sample.endswith("A058"):  # handshaking: two people in every frame
        assert meta["num_persons"] == 2 and present.all()
    else:
        assert meta["num_persons"] == 1 and present[:, 0].all() and not present[:, 1].any()


def test_real_missing_lists(shared_data: Path):
    ntu60 = read_missing_skeleton_list(shared_data / "ntu" / "NTU_RGBD_samples_with_missing_skeletons.txt")
    ntu120 = read_missing_skeleton_list(shared_data / "ntu" / "NTU_RGBD120_samples_with_missing_skeletons.txt")
    assert len(ntu60) == 302 and len(ntu120) == 535
    assert ntu60 < ntu120
    assert all(parse_ntu_name(name)["action"] <= 60 and parse_ntu_name(name)["setup"] <= 17 for name in ntu60)
    assert not set(REAL_FRAME_COUNTS) & ntu120
