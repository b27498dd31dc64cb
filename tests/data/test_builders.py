"""The dataset-builder machinery and the dataset scripts: bad files, strict mode, atomic saves, round trips, CLI."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import datasets
import numpy as np
import pytest
import scipy.io

from hf_cascadeformer.data import builders
from hf_cascadeformer.data.builders import (
    BENCHMARKS,
    BuildError,
    build_and_save,
    build_dataset_dict,
    find_raw_files,
    load_benchmark,
    push_dataset_dict,
    run_cli,
    save_dataset_dict,
)
from hf_cascadeformer.data.nucla import NUCLA_ACTION_IDS, load_nucla_clip, nucla_split

NUCLA = BENCHMARKS["nucla"]

# (action, subject, take, view) of the synthetic N-UCLA clips: views 1 and 2 train, view 3 tests.
CLIPS = [(1, 1, 0, 1), (2, 1, 0, 2), (8, 2, 1, 1), (12, 3, 0, 3), (11, 4, 2, 3), (6, 5, 0, 2)]


def clip_name(action: int, subject: int, take: int, view: int) -> str:
    return f"a{action:02d}_s{subject:02d}_e{take:02d}_v{view:02d}"


def write_nucla_folder(folder: Path, clips=CLIPS, bad: str | None = None) -> Path:
    """An ``all_sqe`` folder in the exact CTR-GCN JSON form; ``bad`` adds one file whose label is wrong."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, key in enumerate(clips):
        name = clip_name(*key)
        joints = np.random.default_rng(index).normal(size=(3 + index, 20, 3)).round(5)
        content = {"file_name": name, "skeletons": joints.tolist(), "label": NUCLA_ACTION_IDS[key[0]]}
        (folder / f"{name}.json").write_text(json.dumps(content))
    if bad is not None:
        content = {"file_name": bad, "skeletons": np.zeros((2, 20, 3)).tolist(), "label": 5}
        (folder / f"{bad}.json").write_text(json.dumps(content))
    return folder


def nucla_build(folder: Path, **kwargs):
    plan = NUCLA.plan(folder, "xview")
    return build_dataset_dict(plan.items, plan.load_fn, plan.split_fn, plan.features, **kwargs)


def siblings(path: Path) -> list[str]:
    return sorted(entry.name for entry in path.parent.iterdir() if entry.name != path.name)


# ------------------------------------------------------------------------------------------------------------
# Finding files


def test_find_raw_files_accepts_root_and_inner_folder(tmp_path: Path) -> None:
    inner = write_nucla_folder(tmp_path / "nucla" / "all_sqe")
    from_root = find_raw_files(tmp_path / "nucla", "*.json", subdirs=("all_sqe",))
    assert from_root == find_raw_files(inner, "*.json", subdirs=("all_sqe",))
    assert [path.stem for path in from_root] == sorted(clip_name(*key) for key in CLIPS)

    with pytest.raises(BuildError, match=r"no \*.mat files found in .* or its sub-folders labels"):
        find_raw_files(tmp_path / "nucla", "*.mat", subdirs=("labels",))
    with pytest.raises(BuildError, match="does not exist"):
        find_raw_files(tmp_path / "absent", "*.json")


def test_find_raw_files_merges_glob_subfolders_and_rejects_duplicates(tmp_path: Path) -> None:
    for half, names in (("s001_to_s017", ["S001C001P001R001A001"]), ("s018_to_s032", ["S018C001P001R001A001"])):
        folder = tmp_path / half / "nturgb+d_skeletons"
        folder.mkdir(parents=True)
        for name in names:
            (folder / f"{name}.skeleton").write_text("0\n")
    found = find_raw_files(tmp_path, "*.skeleton", subdirs=("nturgb+d_skeletons", "*/nturgb+d_skeletons"))
    assert [path.stem for path in found] == ["S001C001P001R001A001", "S018C001P001R001A001"]
    (tmp_path / "s018_to_s032" / "nturgb+d_skeletons" / "S001C001P001R001A001.skeleton").write_text("0\n")
    with pytest.raises(BuildError, match="S001C001P001R001A001.skeleton occurs more than once"):
        find_raw_files(tmp_path, "*.skeleton", subdirs=("*/nturgb+d_skeletons",))


# ------------------------------------------------------------------------------------------------------------
# Building


@pytest.mark.parametrize("num_proc", [1, 2])
def test_bad_file_is_reported_and_the_good_ones_built(tmp_path: Path, num_proc: int) -> None:
    folder = write_nucla_folder(tmp_path / "all_sqe", bad="a03_s09_e00_v01")
    dataset_dict, bad_files = nucla_build(folder, num_proc=num_proc, chunk_size=2, work_dir=tmp_path / "work")
    assert len(bad_files) == 1
    bad_path, message = bad_files[0]
    assert bad_path.endswith("a03_s09_e00_v01.json") and "key 'label'" in message
    assert set(dataset_dict) == {"train", "test"}
    expected_train = sorted(clip_name(*key) for key in CLIPS if key[3] != 3)
    expected_test = sorted(clip_name(*key) for key in CLIPS if key[3] == 3)
    # Same rows in the same order whatever the number of processes.
    assert dataset_dict["train"]["sample_id"][:] == expected_train
    assert dataset_dict["test"]["sample_id"][:] == expected_test
    row = dataset_dict["test"].with_format("numpy")[0]
    clip, meta = load_nucla_clip(folder / f"{expected_test[0]}.json")
    np.testing.assert_array_equal(row["skeleton"], clip)
    assert row["label"] == meta["label"] and row["view"] == 3 and row["num_frames"] == clip.shape[0]


def test_strict_stops_at_the_first_bad_file(tmp_path: Path) -> None:
    folder = write_nucla_folder(tmp_path / "all_sqe", bad="a03_s09_e00_v01")
    with pytest.raises(BuildError, match="a03_s09_e00_v01.json, key 'label'.*strict"):
        nucla_build(folder, strict=True, work_dir=tmp_path / "work")


def _explode_on_third(path: Path):
    if path.name == sorted(f"{clip_name(*key)}.json" for key in CLIPS)[2]:
        raise RuntimeError("boom")
    return load_nucla_clip(path)


@pytest.mark.parametrize("num_proc", [1, 2])
def test_a_crash_is_not_taken_for_a_bad_file(tmp_path: Path, num_proc: int) -> None:
    folder = write_nucla_folder(tmp_path / "all_sqe")
    items = find_raw_files(folder, "*.json")
    features = NUCLA.plan(folder, "xview").features
    with pytest.raises(RuntimeError, match="boom"):
        build_dataset_dict(items, _explode_on_third, nucla_split, features, num_proc=num_proc, chunk_size=1)


def test_loader_metadata_must_cover_the_features(tmp_path: Path) -> None:
    folder = write_nucla_folder(tmp_path / "all_sqe")
    features = NUCLA.plan(folder, "xview").features
    with pytest.raises(ValueError, match="has no sample_id, num_frames, num_persons, subject, take"):
        build_dataset_dict(
            find_raw_files(folder, "*.json"),
            lambda path: (load_nucla_clip(path)[0], {"view": 1, "label": 0}),
            nucla_split,
            features,
        )


# ------------------------------------------------------------------------------------------------------------
# Saving: atomic, re-runnable, never half-written


def save_nucla(folder: Path, output: Path, load_fn=load_nucla_clip, card="card"):
    plan = NUCLA.plan(folder, "xview")
    info = datasets.DatasetInfo(config_name="xview")
    return build_and_save(plan.items, load_fn, plan.split_fn, plan.features, output, card=card, info=info)


def test_build_and_save_then_load(tmp_path: Path) -> None:
    folder = write_nucla_folder(tmp_path / "all_sqe")
    output = tmp_path / "out" / "nucla"
    saved, bad_files = save_nucla(folder, output, card=lambda dsd: f"train={len(dsd['train'])}")
    assert bad_files == [] and (output / "README.md").read_text() == "train=4"
    loaded = load_benchmark(output)
    assert isinstance(loaded, datasets.DatasetDict) and set(loaded) == {"train", "test"}
    assert (len(loaded["train"]), len(loaded["test"])) == (4, 2) == (len(saved["train"]), len(saved["test"]))
    assert siblings(output) == []  # no work folder left behind


def test_interrupted_build_leaves_no_output(tmp_path: Path) -> None:
    folder = write_nucla_folder(tmp_path / "all_sqe")
    output = tmp_path / "nucla"
    with pytest.raises(RuntimeError, match="boom"):
        save_nucla(folder, output, load_fn=_explode_on_third)
    assert not output.exists() and siblings(output) == ["all_sqe"]

    # With a previous build in place, the interrupted one leaves it untouched.
    save_nucla(folder, output)
    before = load_benchmark(output)["train"]["sample_id"][:]
    with pytest.raises(RuntimeError, match="boom"):
        save_nucla(folder, output, load_fn=_explode_on_third)
    assert load_benchmark(output)["train"]["sample_id"][:] == before
    assert siblings(output) == ["all_sqe"]


def test_interrupted_save_leaves_the_previous_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_nucla_folder(tmp_path / "all_sqe")
    output = tmp_path / "nucla"
    save_nucla(folder, output)
    original = datasets.DatasetDict.save_to_disk

    def save_then_die(self, path, **kwargs):
        original(self, path, **kwargs)
        raise KeyboardInterrupt  # killed after writing, before the rename

    monkeypatch.setattr(datasets.DatasetDict, "save_to_disk", save_then_die)
    (folder / f"{clip_name(*CLIPS[0])}.json").unlink()
    with pytest.raises(KeyboardInterrupt):
        save_nucla(folder, output)
    assert len(load_benchmark(output)["train"]) == 4  # still the previous, complete build
    assert siblings(output) == ["all_sqe"]


def test_leftover_of_a_killed_build_is_never_output_and_is_cleaned(tmp_path: Path) -> None:
    folder = write_nucla_folder(tmp_path / "all_sqe")
    output = tmp_path / "nucla"
    # What a build killed by SIGKILL in the middle of save_to_disk leaves behind.
    stale = tmp_path / ".nucla.partial-dead"
    (stale / "dataset" / "train").mkdir(parents=True)
    (stale / "dataset" / "dataset_dict.json").write_text('{"splits": ["train", "test"]}')
    assert not output.exists()
    with pytest.raises(ValueError, match="not a folder written by a dataset script"):
        load_benchmark(stale)
    save_nucla(folder, output)
    assert not stale.exists() and len(load_benchmark(output)["train"]) == 4


def test_rerun_replaces_the_output(tmp_path: Path) -> None:
    folder = write_nucla_folder(tmp_path / "all_sqe")
    output = tmp_path / "nucla"
    save_nucla(folder, output)
    (folder / f"{clip_name(*CLIPS[3])}.json").unlink()  # a view-3 clip
    save_nucla(folder, output)
    loaded = load_benchmark(output)
    assert (len(loaded["train"]), len(loaded["test"])) == (4, 1)
    assert siblings(output) == ["all_sqe"]


def test_a_rebuild_never_deletes_what_no_build_wrote(tmp_path: Path) -> None:
    # The reported loss: a raw folder kept inside a finished build, then the build run again from it.
    output = tmp_path / "nucla"
    save_nucla(write_nucla_folder(tmp_path / "all_sqe"), output)
    raw_inside = write_nucla_folder(output / "raw_inside")
    status = run_cli("nucla", ["--raw-dir", str(raw_inside), "--output-dir", str(output), "--num-proc", "1"])
    assert status == 1
    assert len(list(raw_inside.glob("*.json"))) == 6 and len(load_benchmark(output)["test"]) == 2
    # Anything else a build did not write stops a rebuild too, also inside a split folder; nothing is touched.
    for extra in (output / "notes.txt", output / "train" / "mine.npy"):
        extra.write_text("mine")
        with pytest.raises(BuildError, match=r"which no build wrote.*move them out"):
            save_nucla(tmp_path / "all_sqe", output)
        assert extra.read_text() == "mine"
        extra.unlink()
    shutil.rmtree(raw_inside)
    save_nucla(tmp_path / "all_sqe", output)  # only what a build wrote: replaced as before
    assert len(load_benchmark(output)["train"]) == 4


def test_an_unrelated_folder_is_never_replaced(tmp_path: Path) -> None:
    folder = write_nucla_folder(tmp_path / "all_sqe")
    dataset_dict, _ = nucla_build(folder, work_dir=tmp_path / "work")
    for target in (tmp_path / "all_sqe", tmp_path / "notes.txt"):
        if not target.exists():
            target.write_text("mine")
        with pytest.raises(BuildError, match="is not a dataset folder; refusing to replace it"):
            save_dataset_dict(dataset_dict, target)
    assert (tmp_path / "notes.txt").read_text() == "mine" and len(list(folder.glob("*.json"))) == 6
    empty = tmp_path / "empty"
    empty.mkdir()
    assert save_dataset_dict(dataset_dict, empty) == empty and len(load_benchmark(empty)["test"]) == 2


def test_empty_split_builds_and_loads(tmp_path: Path) -> None:
    folder = write_nucla_folder(tmp_path / "all_sqe", clips=[key for key in CLIPS if key[3] != 3])
    output = tmp_path / "nucla"
    save_nucla(folder, output)
    loaded = load_benchmark(output, "xview")
    assert len(loaded["train"]) == 4 and len(loaded["test"]) == 0
    assert loaded["test"].features == loaded["train"].features
    with pytest.raises(ValueError, match="holds configuration 'xview', not 'xsub'"):
        load_benchmark(output, "xsub")
    with pytest.raises(ValueError, match="not-built: no such dataset folder"):
        load_benchmark(tmp_path / "not-built")


def test_no_readable_clip_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "all_sqe"
    folder.mkdir()
    (folder / "a01_s01_e00_v01.json").write_text("{")
    with pytest.raises(BuildError, match="no clip could be read from the 1 raw files"):
        save_nucla(folder, tmp_path / "nucla")
    assert not (tmp_path / "nucla").exists()


# ------------------------------------------------------------------------------------------------------------
# Features survive Parquet (the Hub's format)


def write_penn_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for index, (frames, nframes_dtype) in enumerate([(4, np.uint8), (300, np.uint16)]):
        rng = np.random.default_rng(index)
        visibility = (rng.uniform(size=(frames, 13)) > 0.2).astype(np.uint8)
        scipy.io.savemat(
            folder / f"{index + 1:04d}.mat",
            {
                "action": np.array(["golf_swing" if index else "bowl"]),
                "pose": np.array(["left"]),
                "x": rng.uniform(0, 640, size=(frames, 13)),
                "y": rng.uniform(0, 480, size=(frames, 13)),
                "visibility": visibility,
                "train": np.array([[1 if index else -1]], dtype=np.int32),
                "bbox": rng.uniform(size=(frames - 1, 4)),
                "dimensions": np.array([[480, 640, frames]], dtype=np.uint16),
                "nframes": np.array([[frames]], dtype=nframes_dtype),
            },
        )
    return folder


@pytest.mark.parametrize("benchmark", ["nucla", "penn_action"])
def test_features_survive_a_parquet_round_trip(tmp_path: Path, benchmark: str) -> None:
    folder = write_nucla_folder(tmp_path / "raw") if benchmark == "nucla" else write_penn_folder(tmp_path / "raw")
    plan = BENCHMARKS[benchmark].plan(folder, BENCHMARKS[benchmark].default_config)
    dataset_dict, _ = build_dataset_dict(
        plan.items, plan.load_fn, plan.split_fn, plan.features, work_dir=tmp_path / "work"
    )
    for split, dataset in dataset_dict.items():
        path = tmp_path / f"{split}.parquet"
        dataset.to_parquet(str(path))
        back = datasets.Dataset.from_parquet(str(path), features=plan.features, cache_dir=str(tmp_path / "cache"))
        assert back.features == dataset.features == plan.features and len(back) == len(dataset) > 0
        for original, restored in zip(dataset.with_format("numpy"), back.with_format("numpy"), strict=True):
            assert original.keys() == restored.keys()
            for name, value in original.items():
                np.testing.assert_array_equal(restored[name], value)
                if isinstance(value, np.ndarray) and value.ndim:
                    assert restored[name].dtype == value.dtype
    if benchmark == "penn_action":
        row = dataset_dict["train"].with_format("numpy")[0]
        assert row["skeleton"].shape == (300, 1, 13, 2) and row["visibility"].shape == (300, 13)
        assert plan.features["visibility"].dtype == "uint8" and set(np.unique(row["visibility"])) == {0, 1}
        assert row["image_width"] == 640 and row["pose"] == "left"


# ------------------------------------------------------------------------------------------------------------
# The Hub


def test_push_keeps_the_hub_metadata_and_describes_every_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    folder = write_nucla_folder(tmp_path / "all_sqe", clips=[key for key in CLIPS if key[3] != 3])
    dataset_dict, _ = nucla_build(folder, work_dir=tmp_path / "work")
    pushed, cards = [], []

    def fake_push(self, repo_id, **kwargs):
        pushed.append((repo_id, kwargs["config_name"], {split: len(ds) for split, ds in self.items()}))

    # The README that DatasetDict.push_to_hub leaves: YAML with configs and dataset_info for two configs.
    hub_readme = """---
configs:
- config_name: other
  data_files:
  - split: train
    path: other/train-*
- config_name: xview
  data_files:
  - split: train
    path: xview/train-*
dataset_info:
- config_name: other
  splits:
  - name: train
    num_examples: 7
  - name: test
    num_examples: 3
- config_name: xview
  splits:
  - name: train
    num_examples: 4
---
"""
    monkeypatch.setattr(datasets.DatasetDict, "push_to_hub", fake_push)
    monkeypatch.setattr(huggingface_hub.DatasetCard, "load", classmethod(lambda cls, *a, **k: cls(hub_readme)))
    monkeypatch.setattr(huggingface_hub.DatasetCard, "push_to_hub", lambda self, *a, **k: cards.append(str(self)))

    def render(counts):
        return builders.render_card(NUCLA, counts, dataset_dict["train"].features)

    push_dataset_dict(dataset_dict, "org/nucla", "xview", render)
    assert pushed == [("org/nucla", "xview", {"train": 4})]  # the empty test split is left out
    (card,) = cards
    assert "config_name: other" in card and "path: xview/train-*" in card  # the YAML survives
    assert "| xview | cross-view" in card and "| 4 | 0 |" in card and "| other |  | 7 | 3 |" in card
    assert "@inproceedings{wang2014cross" in card


# ------------------------------------------------------------------------------------------------------------
# The command-line interface


def test_cli_reports_bad_files_and_strict_stops(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = write_nucla_folder(tmp_path / "all_sqe", bad="a03_s09_e00_v01")
    output = tmp_path / "nucla"
    assert run_cli("nucla", ["--raw-dir", str(folder), "--output-dir", str(output), "--num-proc", "1"]) == 0
    out, err = capsys.readouterr()
    assert "train: 4 clips, 4 classes" in out and "test: 2 clips, 2 classes" in out
    assert "bad file: " in err and "a03_s09_e00_v01.json, key 'label'" in err
    assert "1 malformed raw file skipped" in err
    card = (output / "README.md").read_text()
    assert "license: cc-by-nc-4.0" in card and "| xview | cross-view" in card and "| 4 | 2 |" in card

    status = run_cli("nucla", ["--raw-dir", str(folder), "--output-dir", str(tmp_path / "strict"), "--strict"])
    out, err = capsys.readouterr()
    assert status == 1 and not (tmp_path / "strict").exists()
    assert err.count("\n") == 1 and err.startswith("error: ") and "a03_s09_e00_v01.json" in err
    assert "Traceback" not in err

    status = run_cli("nucla", ["--raw-dir", str(tmp_path / "nowhere"), "--output-dir", str(output)])
    err = capsys.readouterr().err
    assert status == 1 and err == f"error: raw directory {tmp_path / 'nowhere'} does not exist or is not a folder\n"


def write_pku_tree(root: Path) -> None:
    """A tiny PKU-MMD release: skeletons, labels (one row reversed, one instance all zeros) and a split file."""
    skeleton_dir, label_dir, split_dir = root / "PKU_Skeleton_Renew", root / "Train_Label_PKU_final", root / "Split"
    for folder in (skeleton_dir, label_dir, split_dir):
        folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for sequence in ("0002-L", "0003-M", "0004-R"):
        frames = rng.uniform(-1, 1, size=(40, 150)).round(4)
        frames[:, 75:] = 0  # one person
        frames[30:36] = 0  # nobody tracked
        np.savetxt(skeleton_dir / f"{sequence}.txt", frames, fmt="%.4f")
        (label_dir / f"{sequence}.txt").write_text("3,1,10,1\n51,20,12,2\n7,31,36,1\n")
    (split_dir / "cross-subject.txt").write_text("Training videos: \n0002-L, 0003-M,\nValidataion videos: \n0004-R,\n")


def test_cli_builds_pku_mmd_instances(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_pku_tree(tmp_path / "pku")
    output = tmp_path / "out"
    args = ["--raw-dir", str(tmp_path / "pku"), "--output-dir", str(output), "--config", "phase1-xsub"]
    assert run_cli("pku_mmd", args) == 0
    assert "split file cross-subject.txt" in capsys.readouterr().out
    loaded = load_benchmark(output)
    assert (len(loaded["train"]), len(loaded["test"])) == (4, 2)  # the all-zero instance is dropped
    row = loaded["test"].with_format("numpy")[1]
    assert row["sample_id"] == "0004-R_01" and row["view"] == "R" and row["label"] == 50
    assert (row["start"], row["end"], row["num_frames"]) == (12, 20, 9)  # the reversed row, swapped
    assert row["skeleton"].shape == (9, 2, 25, 3) and row["num_persons"] == 1

    assert run_cli("pku_mmd", [*args[:4], "--config", "phase2-xview"]) == 1
    assert "expected one split file for phase2-xview" in capsys.readouterr().err


def test_cli_builds_ntu_from_real_samples(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    raw = tmp_path / "nturgb+d_skeletons"
    raw.mkdir()
    for path in (shared_data / "ntu").glob("*.skeleton"):
        os.symlink(path, raw / path.name)
    # Names outside NTU-60 (setup 18, action 61): ntu60.py must leave them out, ntu120.py keep them.
    os.symlink(shared_data / "ntu" / "S002C001P003R001A003.skeleton", raw / "S018C001P003R001A003.skeleton")
    os.symlink(shared_data / "ntu" / "S002C001P003R001A003.skeleton", raw / "S002C001P003R001A061.skeleton")
    missing = shared_data / "ntu" / "NTU_RGBD_samples_with_missing_skeletons.txt"
    args = ["--raw-dir", str(tmp_path), "--num-proc", "1", "--missing-list", str(missing)]

    assert run_cli("ntu60", [*args, "--output-dir", str(tmp_path / "ntu60"), "--config", "xview"]) == 0
    assert "kept 3 of 5 files: NTU-60 is setups 1-17, actions 1-60" in capsys.readouterr().out
    ntu60 = load_benchmark(tmp_path / "ntu60")
    assert ntu60["train"]["sample_id"][:] == ["S001C003P008R002A058", "S004C002P003R001A017"]  # cameras 2, 3
    assert ntu60["test"]["sample_id"][:] == ["S002C001P003R001A003"]
    handshake = ntu60["train"].with_format("numpy")[0]
    assert handshake["label"] == 57 and handshake["num_frames"] == 70 and handshake["skeleton"].shape == (70, 2, 25, 3)
    assert ntu60["train"].features["label"].num_classes == 60

    assert run_cli("ntu120", [*args, "--output-dir", str(tmp_path / "ntu120"), "--config", "xset"]) == 0
    ntu120 = load_benchmark(tmp_path / "ntu120")
    assert sorted(ntu120["train"]["sample_id"][:]) == [
        "S002C001P003R001A003",
        "S002C001P003R001A061",
        "S004C002P003R001A017",
        "S018C001P003R001A003",
    ]
    assert ntu120["test"]["sample_id"][:] == ["S001C003P008R002A058"]
    assert ntu120["train"].features["label"].num_classes == 120


@pytest.mark.slow
def test_penn_action_build_on_the_real_files(shared_data: Path, tmp_path: Path, capsys) -> None:
    raw = shared_data / "penn_action"
    assert find_raw_files(raw, "*.mat", ("labels",)) == find_raw_files(raw / "labels", "*.mat", ("labels",))
    output = tmp_path / "penn"
    start = time.perf_counter()
    assert run_cli("penn_action", ["--raw-dir", str(raw / "labels"), "--output-dir", str(output)]) == 0
    seconds = time.perf_counter() - start
    out = capsys.readouterr().out
    assert "train: 1258 clips, 15 classes, 40-135 clips per class" in out and "test: 0 clips (empty split" in out
    loaded = load_benchmark(output)
    assert len(loaded["train"]) == 1258 and len(loaded["test"]) == 0
    assert set(loaded["train"]["label"][:]) == set(range(15))
    frames = np.asarray(loaded["train"]["num_frames"][:])
    assert frames.min() >= 18 and frames.max() <= 663
    with capsys.disabled():
        print(f"\npenn_action build on the real files: {seconds:.1f} s")
