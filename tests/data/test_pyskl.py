"""pyskl annotation files: export and import round trips on real clips, pyskl's own layout, and unsafe pickles."""

from __future__ import annotations

import datetime
import os
import pickle
from pathlib import Path

import datasets
import numpy as np
import pytest

from hf_cascadeformer.cli import main
from hf_cascadeformer.data.builders import BENCHMARKS, build_dataset_dict, load_benchmark, save_dataset_dict
from hf_cascadeformer.data.features import layout_name_of
from hf_cascadeformer.data.pyskl import PysklFormatError, export_pyskl, import_pyskl, read_pyskl


@pytest.fixture(scope="module")
def nucla_subset(shared_data: Path, tmp_path_factory) -> datasets.DatasetDict:
    """48 real N-UCLA clips (views 1-3, so both splits), built as `cascadeformer prepare nucla` builds them."""
    plan = BENCHMARKS["nucla"].plan(shared_data / "nucla" / "all_sqe", "xview")
    items = plan.items[::20][:48]
    work = tmp_path_factory.mktemp("nucla-subset")
    dataset_dict, bad = build_dataset_dict(items, plan.load_fn, plan.split_fn, plan.features, work_dir=work / "arrow")
    assert bad == [] and len(dataset_dict["train"]) > 0
    return dataset_dict


def assert_same_dataset(got: datasets.Dataset, expected: datasets.Dataset) -> None:
    assert got.features == expected.features
    assert len(got) == len(expected)
    for row, want in zip(got.with_format("numpy"), expected.with_format("numpy"), strict=True):
        assert row.keys() == want.keys()
        for key in want:
            np.testing.assert_array_equal(row[key], want[key], err_msg=f"{want['sample_id']}: {key}")


def test_round_trip_on_real_nucla_clips(nucla_subset, tmp_path):
    path = export_pyskl(nucla_subset, tmp_path / "nucla.pkl", split_prefix="xview_")
    raw = read_pyskl(path)
    assert set(raw["split"]) == {"xview_train", "xview_test"}
    first = raw["annotations"][0]
    clip = nucla_subset["train"].with_format("numpy")[0]
    # pyskl's layout: keypoint (persons, frames, joints, channels), the metadata as extra keys.
    assert first["keypoint"].shape == (1, clip["num_frames"], 20, 3) and first["keypoint"].dtype == np.float32
    assert first["frame_dir"] == clip["sample_id"] and first["label"] == clip["label"]
    assert first["total_frames"] == clip["num_frames"] and first["view"] == clip["view"]
    assert raw["class_names"] == list(BENCHMARKS["nucla"].class_names)
    assert [p.name for p in tmp_path.iterdir()] == ["nucla.pkl"]  # no partial file left

    back = import_pyskl(path, splits={"xview_train": "train", "xview_test": "test"}, work_dir=tmp_path / "work")
    assert list(back) == ["train", "test"]
    for split in ("train", "test"):
        assert_same_dataset(back[split], nucla_subset[split])


def test_cli_round_trip_on_real_clips(nucla_subset, tmp_path, capsys):
    built = save_dataset_dict(nucla_subset, tmp_path / "nucla")
    assert main(["pyskl-export", str(built), "-o", str(tmp_path / "nucla.pkl")]) == 0
    assert "wrote" in capsys.readouterr().out
    status = main(["pyskl-import", str(tmp_path / "nucla.pkl"), "--output-dir", str(tmp_path / "back")])
    assert status == 0, capsys.readouterr().err
    back = load_benchmark(tmp_path / "back")
    for split in ("train", "test"):
        assert_same_dataset(back[split], nucla_subset[split])


def test_cli_records_the_layout_it_is_given(tmp_path, capsys):
    # pyskl's own files name no layout (nothing is recorded without --layout); --layout records one, and a name no
    # layout has is a one-line error with nothing written.
    path = pyskl_file(tmp_path / "ntu.pkl")
    assert main(["pyskl-import", str(path), "--output-dir", str(tmp_path / "plain")]) == 0
    assert layout_name_of(load_benchmark(tmp_path / "plain")["xsub_train"].features) is None
    assert main(["pyskl-import", str(path), "--output-dir", str(tmp_path / "out"), "--layout", "NTU"]) == 0
    assert layout_name_of(load_benchmark(tmp_path / "out")["xsub_train"].features) == "ntu"
    capsys.readouterr()
    assert main(["pyskl-import", str(path), "--output-dir", str(tmp_path / "bad"), "--layout", "kinect9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown skeleton layout 'kinect9'" in err
    assert not (tmp_path / "bad").exists()


def pyskl_file(path: Path, **changes) -> Path:
    """A file as pyskl writes NTU: two persons in one clip, one in the other, keypoint_score, no class names."""
    rng = np.random.default_rng(0)
    annotations = [
        {
            "frame_dir": "S001C001P001R001A050",
            "label": 49,
            "total_frames": 6,
            "keypoint": rng.normal(size=(2, 6, 25, 3)).astype(np.float32),
            "keypoint_score": np.ones((2, 6, 25), np.float32),
        },
        {
            "frame_dir": "S001C001P002R001A001",
            "label": 0,
            "total_frames": 4,
            "keypoint": rng.normal(size=(1, 4, 25, 3)).astype(np.float32),
            "keypoint_score": np.full((1, 4, 25), 0.5, np.float32),
        },
    ]
    content = {
        "split": {"xsub_train": ["S001C001P001R001A050"], "xsub_val": ["S001C001P002R001A001"]},
        "annotations": annotations,
    }
    for key, value in changes.items():
        content[key] = value
    path.write_bytes(pickle.dumps(content, protocol=pickle.HIGHEST_PROTOCOL))
    return path


def test_import_of_a_pyskl_written_file(tmp_path):
    path = pyskl_file(tmp_path / "ntu.pkl")
    dataset_dict = import_pyskl(path, splits={"xsub_train": "train", "xsub_val": "test"})
    train, test = dataset_dict["train"].with_format("numpy"), dataset_dict["test"].with_format("numpy")
    raw = read_pyskl(path)["annotations"]
    assert train.features["skeleton"].shape == (None, 2, 25, 3)
    assert train.features["label"].names == [str(i) for i in range(50)]  # no class names in the file
    np.testing.assert_array_equal(train[0]["skeleton"], raw[0]["keypoint"].transpose(1, 0, 2, 3))
    assert train[0]["num_persons"] == 2 and test[0]["num_persons"] == 1 and test[0]["label"] == 0
    # The one-person clip is padded with a zero person, as the package's datasets are.
    assert test[0]["skeleton"].shape == (4, 2, 25, 3) and not test[0]["skeleton"][:, 1].any()
    assert set(train.column_names) == {"skeleton", "label", "sample_id", "num_frames", "num_persons"}

    with_scores = import_pyskl(path, splits={"xsub_val": "test"}, append_scores=True)["test"].with_format("numpy")
    assert with_scores[0]["skeleton"].shape == (4, 2, 25, 4) and (with_scores[0]["skeleton"][:, 0, :, 3] == 0.5).all()
    every = import_pyskl(path, class_names=[f"action {i}" for i in range(60)])
    assert list(every) == ["xsub_train", "xsub_val"] and every["xsub_val"].features["label"].names[0] == "action 0"


class RunsCode:
    """What a hostile pickle does: call a function of its choosing while loading."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused_and_does_not_run(tmp_path, capsys):
    marker = tmp_path / "it-ran"
    path = pyskl_file(tmp_path / "hostile.pkl", extra=RunsCode(marker))
    with pytest.raises(PysklFormatError, match=r"hostile.pkl: refusing to unpickle (posix|os)\.system"):
        import_pyskl(path)
    assert not marker.exists()
    assert main(["pyskl-import", str(path), "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refusing to unpickle" in err and "--trust-pickle" in err
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_trust_pickle_loads_what_the_restricted_reader_refuses(tmp_path):
    # A harmless object the restricted reader has no reason to allow: refused by default, loaded when trusted.
    path = pyskl_file(tmp_path / "dated.pkl", created=datetime.date(2024, 1, 2))
    with pytest.raises(PysklFormatError, match=r"refusing to unpickle datetime\.date"):
        read_pyskl(path)
    assert read_pyskl(path, trust_pickle=True)["created"] == datetime.date(2024, 1, 2)
    assert len(import_pyskl(path, trust_pickle=True)["xsub_train"]) == 1


def test_malformed_files_give_one_line_errors(tmp_path):
    (tmp_path / "text.pkl").write_text("not a pickle")
    with pytest.raises(PysklFormatError, match="text.pkl: not a readable pickle"):
        import_pyskl(tmp_path / "text.pkl")
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(PysklFormatError, match="a dict with 'split' and 'annotations', got list"):
        import_pyskl(tmp_path / "list.pkl")
    with pytest.raises(FileNotFoundError, match="missing.pkl: no such file"):
        import_pyskl(tmp_path / "missing.pkl")
    base = read_pyskl(pyskl_file(tmp_path / "base.pkl"))
    bad_frames = [dict(base["annotations"][0], total_frames=7), base["annotations"][1]]
    with pytest.raises(PysklFormatError, match=r"annotation 0 \(S001C001P001R001A050\): total_frames 7 but keypoint"):
        import_pyskl(pyskl_file(tmp_path / "frames.pkl", annotations=bad_frames))
    flat = [dict(base["annotations"][0], keypoint=np.zeros((6, 25, 3), np.float32)), base["annotations"][1]]
    with pytest.raises(PysklFormatError, match=r"keypoint must be a numeric array .* got \(6, 25, 3\)"):
        import_pyskl(pyskl_file(tmp_path / "flat.pkl", annotations=flat))
    split = {"xsub_train": ["S001C001P001R001A050", "nowhere"]}
    with pytest.raises(PysklFormatError, match="split 'xsub_train' lists 'nowhere', which has no annotation"):
        import_pyskl(pyskl_file(tmp_path / "split.pkl", split=split))
    with pytest.raises(PysklFormatError, match="no split 'train'; the file has xsub_train, xsub_val"):
        import_pyskl(tmp_path / "base.pkl", splits={"train": "train"})
    with pytest.raises(PysklFormatError, match="labels 0..49 do not fit 10 classes"):
        import_pyskl(tmp_path / "base.pkl", class_names=[str(i) for i in range(10)])
