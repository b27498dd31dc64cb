"""PKU-MMD skeleton sequences, label files, instance cutting and split files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from hf_cascadeformer.data.errors import SkeletonFileError
from hf_cascadeformer.data.pku_mmd import (
    PKU_MMD_I_ACTIONS,
    PKU_MMD_II_ACTIONS,
    PKU_MMD_PROTOCOLS,
    cut_pku_instances,
    parse_pku_sequence_id,
    read_pku_labels,
    read_pku_skeleton,
    read_pku_split,
)

NUM_FRAMES = 30
SECOND_PERSON_FRAMES = range(10, 20)  # 0-based rows where a second person is present


def synthetic_sequence() -> np.ndarray:
    """(30, 2, 25, 3) with values exact in 4 decimals; person 1 present only in rows 10-19."""
    frames = np.arange(NUM_FRAMES)[:, None, None]
    joints = np.arange(25)[None, :, None]
    channels = np.arange(3)[None, None, :]
    person = np.round(0.001 * frames + 0.01 * joints - 0.5 * channels + 0.25, 4)
    sequence = np.zeros((NUM_FRAMES, 2, 25, 3), dtype=np.float32)
    sequence[:, 0] = person
    sequence[SECOND_PERSON_FRAMES, 1] = person[SECOND_PERSON_FRAMES] + 1.0
    return sequence


def sequence_lines(sequence: np.ndarray) -> list[str]:
    return [" ".join(f"{value:.4f}" for value in frame.reshape(-1)) for frame in sequence]


def write_lines(path: Path, lines: list[str], newline: str = "\r\n") -> Path:
    path.write_bytes((newline.join(lines) + newline).encode())
    return path


@pytest.fixture
def sequence_file(tmp_path: Path) -> Path:
    return write_lines(tmp_path / "0002-L.txt", [*sequence_lines(synthetic_sequence()), ""])


@pytest.fixture
def label_file(tmp_path: Path) -> Path:
    # Trailing commas, spaces, CRLF and a blank line, as label files written by different tools have.
    text = "3,5,10,1,\r\n 7 , 11 , 20 , 2 \r\n\r\n51,21,30,1,,\r\n"
    path = tmp_path / "labels" / "0002-L.txt"
    path.parent.mkdir()
    path.write_bytes(text.encode())
    return path


def test_action_names_and_protocols():
    assert len(PKU_MMD_I_ACTIONS) == 51 and len(set(PKU_MMD_I_ACTIONS)) == 51
    assert PKU_MMD_I_ACTIONS[0] == "bow" and PKU_MMD_I_ACTIONS[-1] == "writing"
    assert PKU_MMD_I_ACTIONS[3] == "check time (from watch)" and PKU_MMD_I_ACTIONS[33] == "standing up"
    assert list(PKU_MMD_I_ACTIONS) == sorted(PKU_MMD_I_ACTIONS)  # Actions.xlsx numbers them alphabetically
    assert set(PKU_MMD_II_ACTIONS) <= set(PKU_MMD_I_ACTIONS)
    assert PKU_MMD_PROTOCOLS == ("xsub", "xview")


def test_read_skeleton(sequence_file: Path):
    skeleton = read_pku_skeleton(sequence_file)
    assert skeleton.dtype == np.float32 and skeleton.shape == (NUM_FRAMES, 2, 25, 3)
    np.testing.assert_allclose(skeleton, synthetic_sequence(), atol=1e-6)
    assert not skeleton[:10, 1].any() and skeleton[10:20, 1].all()


@pytest.mark.parametrize(
    ("edit", "line", "message"),
    [
        (lambda lines: lines[:4] + [lines[4] + " 0.5"] + lines[5:], 5, "150 values, got 151"),
        (lambda lines: lines[:6] + [lines[6].replace(" ", " x ", 1).rsplit(" ", 1)[0]] + lines[7:], 7, "'x'"),
        (lambda lines: lines[:2] + ["inf" + lines[2][lines[2].index(" ") :]] + lines[3:], 3, "finite"),
    ],
    ids=["value-count", "non-numeric", "not-finite"],
)
def test_malformed_skeleton_names_file_and_line(tmp_path: Path, edit, line, message):
    path = write_lines(tmp_path / "0003-M.txt", edit(sequence_lines(synthetic_sequence())))
    with pytest.raises(SkeletonFileError, match=message) as caught:
        read_pku_skeleton(path)
    assert caught.value.line == line and str(path) in str(caught.value)


def test_empty_skeleton_is_an_error(tmp_path: Path):
    path = write_lines(tmp_path / "0004-R.txt", ["", "  "])
    with pytest.raises(SkeletonFileError, match="no frames"):
        read_pku_skeleton(path)


def test_read_labels(label_file: Path):
    rows = read_pku_labels(label_file)
    assert rows == [(3, 5, 10, 1.0), (7, 11, 20, 2.0), (51, 21, 30, 1.0)]
    assert [row.line for row in rows] == [1, 2, 4]
    assert all(isinstance(row[3], float) and isinstance(row[1], int) for row in rows)
    restored = pickle.loads(pickle.dumps(rows))
    assert restored == rows and restored[2].line == 4 and restored[2].path == str(label_file)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("3,10,5,1", "start frame 10 is after end frame 5"),
        ("3,a,10,1", "non-numeric"),
        ("3,5,10.5,1", "non-numeric"),
        ("3,5,10", "4 fields"),
        ("3,5,10,1,7", "4 fields"),
        ("0,5,10,1", "1-based"),
        ("3,0,10,1", "1-based"),
    ],
)
def test_bad_label_rows_name_file_and_line(tmp_path: Path, row: str, message: str):
    path = tmp_path / "labels.txt"
    path.write_text(f"1,1,4,1\n\n{row}\n")
    with pytest.raises(SkeletonFileError, match=message) as caught:
        read_pku_labels(path)
    assert caught.value.line == 3 and str(path) in str(caught.value)


def test_reversed_rows_can_be_swapped(tmp_path: Path):
    path = tmp_path / "labels.txt"
    path.write_text("3,10,5,2\n4,20.0,25.0,1\n")
    assert read_pku_labels(path, allow_reversed=True) == [(3, 5, 10, 2.0), (4, 20, 25, 1.0)]


def test_cut_instances_with_exact_ranges(sequence_file: Path, label_file: Path):
    skeleton = read_pku_skeleton(sequence_file)
    instances = cut_pku_instances(skeleton, read_pku_labels(label_file), "0002-L")
    assert len(instances) == 3
    (first, first_meta), (second, second_meta), (third, third_meta) = instances
    np.testing.assert_array_equal(first, skeleton[4:10])  # frames 5-10, 1-based inclusive
    np.testing.assert_array_equal(second, skeleton[10:20])
    np.testing.assert_array_equal(third, skeleton[20:30])  # ends on the last frame
    assert first_meta == {
        "sample_id": "0002-L_00",
        "label": 2,
        "start": 5,
        "end": 10,
        "confidence": 1.0,
        "num_frames": 6,
        "num_persons": 1,
        "sequence_id": "0002-L",
        "view": "L",
    }
    assert (second_meta["sample_id"], second_meta["label"], second_meta["num_persons"]) == ("0002-L_01", 6, 2)
    assert (third_meta["label"], third_meta["num_frames"], third_meta["confidence"]) == (50, 10, 1.0)
    assert first.dtype == np.float32 and first.flags.c_contiguous
    first[:] = 0  # a clip is a copy, not a view into the sequence
    assert skeleton[4:10].any()


def test_ranges_beyond_the_sequence_name_the_label_line(sequence_file: Path, tmp_path: Path):
    skeleton = read_pku_skeleton(sequence_file)
    path = tmp_path / "0002-L.txt"
    path.write_text("3,5,10,1\n4,25,31,1\n")
    with pytest.raises(SkeletonFileError, match="exceeds the 30 frames") as caught:
        cut_pku_instances(skeleton, read_pku_labels(path), "0002-L")
    assert caught.value.line == 2 and caught.value.path == str(path)
    with pytest.raises(SkeletonFileError, match="label row 1"):  # plain tuples: the row index instead
        cut_pku_instances(skeleton, [(3, 5, 10, 1.0), (4, 25, 31, 1.0)], "0002-L")
    with pytest.raises(SkeletonFileError, match="invalid frame range"):
        cut_pku_instances(skeleton, [(3, 10, 5, 1.0)], "0002-L")


def test_sequence_ids():
    assert parse_pku_sequence_id("0002-L") == {"video": "0002", "view": "L"}
    assert parse_pku_sequence_id("A01N13-R") == {"video": "A01N13", "view": "R"}
    assert parse_pku_sequence_id("0002") == {}
    clip, meta = cut_pku_instances(synthetic_sequence(), [(1, 1, 2, 1.0)], "custom")[0]
    assert "view" not in meta and meta["sequence_id"] == "custom" and clip.shape == (2, 2, 25, 3)


def test_read_split(tmp_path: Path):
    path = tmp_path / "cross-subject.txt"
    text = "Training videos: \r\n0002-L, 0002-M, 0002-R, 0003-L, \r\n0003-M,\r\n"
    text += "Validataion videos: \r\n0004-L, 0004-M,\r\n"
    path.write_bytes(text.encode())
    assert read_pku_split(path) == {
        "train": ["0002-L", "0002-M", "0002-R", "0003-L", "0003-M"],
        "test": ["0004-L", "0004-M"],
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Training videos:\n0002-L, 0002-M\n", "no 'Validataion videos:' header"),
        ("Validataion videos:\n0002-L\n", "no 'Training videos:' header"),
        ("Training videos:\n0002-L, 0003-L\nValidataion videos:\n0003-L\n", "in both lists"),
        ("Training videos:\n\nValidataion videos:\n0003-L\n", "train list is empty"),
        ("Training videos:\n0002-L\nTraining videos:\n0004-L\nValidataion videos:\n0003-L\n", "second train"),
        ("split v1\nTraining videos:\n0002-L\nValidataion videos:\n0003-L\n", "before the first header"),
    ],
)
def test_bad_split_files(tmp_path: Path, text: str, message: str):
    path = tmp_path / "cross-view.txt"
    path.write_text(text)
    with pytest.raises(SkeletonFileError, match=message):
        read_pku_split(path)
