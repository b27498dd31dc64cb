"""Skeleton layouts by name: datasets record theirs, one lookup resolves it, and nothing picks a layout by joint count
when the data names one (a second 25-joint format keeps its own bones, flip pairs and root joint)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import datasets
import numpy as np
import pytest

from hf_cascadeformer import CascadeFormerFeatureExtractor
from hf_cascadeformer.data import skeletons
from hf_cascadeformer.data.benchmarks import BENCHMARKS
from hf_cascadeformer.data.builders import build_and_save, load_benchmark
from hf_cascadeformer.data.features import layout_name_of, layout_of, skeleton_features
from hf_cascadeformer.data.model_inputs import feature_extractor_for
from hf_cascadeformer.data.nucla import NUCLA_ACTION_IDS, NUCLA_LABELS
from hf_cascadeformer.data.penn_action import PENN_ACTION_LABELS
from hf_cascadeformer.data.pyskl import export_pyskl, import_pyskl
from hf_cascadeformer.data.skeletons import (
    NTU_2D_LAYOUT,
    NTU_LAYOUT,
    NUCLA_LAYOUT,
    PENN_LAYOUT,
    SkeletonLayout,
    UnknownLayoutError,
    get_layout,
    legacy_layout,
    register_layout,
)
from hf_cascadeformer.data.synthetic import load_synthetic_dataset
from hf_cascadeformer.data.transforms import HorizontalFlip
from hf_cascadeformer.io import load_clip
from hf_cascadeformer.training.common import DataGeometry, build_config, layout_for

# OpenPose BODY_25 (0-based, as OpenPose writes it): 25 joints like Kinect v2, in another order, with another root.
BODY_25 = SkeletonLayout(
    name="openpose_body25",
    joint_names=(
        "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
        "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye",
        "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe", "left_heel", "right_big_toe",
        "right_small_toe", "right_heel",
    ),
    bones=(
        (1, 0), (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (10, 11), (8, 12), (12, 13),
        (13, 14), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19), (19, 20), (14, 21), (11, 22), (22, 23), (11, 24),
    ),
    left_right_pairs=((5, 2), (6, 3), (7, 4), (12, 9), (13, 10), (14, 11), (16, 15), (18, 17), (19, 22), (20, 23),
                      (21, 24)),
    root_joint=8,
    num_channels=2,
)  # fmt: skip


@pytest.fixture
def body25():
    register_layout(BODY_25)
    yield BODY_25
    del skeletons.LAYOUTS[BODY_25.name]


def tiny_dataset(num_joints: int, num_channels: int, layout=None, clips: int = 4) -> datasets.Dataset:
    features = skeleton_features(("a", "b"), 1, num_joints, num_channels, layout=layout)
    rng = np.random.default_rng(0)
    rows = {
        "skeleton": [rng.normal(size=(5, 1, num_joints, num_channels)).astype(np.float32) for _ in range(clips)],
        "label": [index % 2 for index in range(clips)],
        "sample_id": [f"clip{index}" for index in range(clips)],
        "num_frames": [5] * clips,
        "num_persons": [1] * clips,
    }
    return datasets.Dataset.from_dict(rows, features=features)


# ------------------------------------------------------------------------------------------------------------
# Benchmarks name their layout and own their labels


def test_every_benchmark_names_its_layout_and_owns_its_labels():
    assert {name: benchmark.layout.name for name, benchmark in BENCHMARKS.items()} == {
        "nucla": "nucla",
        "penn_action": "penn",
        "ntu60": "ntu",
        "ntu120": "ntu",
        "pku_mmd": "ntu",
    }
    assert BENCHMARKS["penn_action"].class_names is PENN_ACTION_LABELS
    assert BENCHMARKS["nucla"].class_names is NUCLA_LABELS


def write_nucla_clips(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for index, (action, view) in enumerate([(1, 1), (2, 2), (8, 1), (12, 3)]):
        name = f"a{action:02d}_s01_e00_v{view:02d}"
        joints = np.random.default_rng(index).normal(size=(3, 20, 3)).round(4).tolist()
        content = {"file_name": name, "skeletons": joints, "label": NUCLA_ACTION_IDS[action]}
        (folder / f"{name}.json").write_text(json.dumps(content))
    return folder


def test_a_built_dataset_records_its_layout_through_save_load_and_parquet(tmp_path: Path):
    benchmark = BENCHMARKS["nucla"]
    plan = benchmark.plan(write_nucla_clips(tmp_path / "all_sqe"), "xview")
    build_and_save(plan.items, plan.load_fn, plan.split_fn, plan.features, tmp_path / "out", num_proc=1)
    train = load_benchmark(tmp_path / "out")["train"]
    assert layout_name_of(train.features) == "nucla"
    geometry = DataGeometry.of(train)
    assert geometry.layout_name == "nucla" and layout_for(geometry) is NUCLA_LAYOUT
    # What training does to a dataset (select, map, numpy format) keeps the name.
    assert layout_name_of(train.select([0]).map(lambda row: row).with_format("numpy").features) == "nucla"
    # Parquet shards (what push_to_hub uploads) and the card's YAML features (what the Hub's loader reads) keep it.
    train.to_parquet(str(tmp_path / "train.parquet"))
    from_parquet = datasets.load_dataset("parquet", data_files=str(tmp_path / "train.parquet"), split="train")
    assert layout_name_of(from_parquet.features) == "nucla"
    from_yaml = datasets.Features._from_yaml_list(train.features._to_yaml_list())
    assert layout_name_of(from_yaml) == "nucla"


def test_the_embedded_dataset_names_its_layout():
    three_d = load_synthetic_dataset(num_train_subjects=1, num_test_subjects=1, clips_per_action_per_subject=1)
    two_d = load_synthetic_dataset(
        num_train_subjects=1, num_test_subjects=1, clips_per_action_per_subject=1, two_d=True
    )
    assert layout_of(three_d["train"].features) is NTU_LAYOUT
    assert layout_of(two_d["train"].features) is NTU_2D_LAYOUT


def test_pyskl_files_carry_the_layout_name(tmp_path: Path):
    dataset = datasets.DatasetDict({"train": tiny_dataset(13, 2, layout="penn")})
    back = import_pyskl(export_pyskl(dataset, tmp_path / "penn.pkl"), work_dir=tmp_path / "work")
    assert layout_name_of(back["train"].features) == "penn"


def test_a_benchmark_clip_file_names_its_layout(tmp_path: Path):
    folder = write_nucla_clips(tmp_path / "all_sqe")
    _, metadata = load_clip(next(folder.glob("*.json")))
    assert metadata["skeleton_layout"] == "nucla"
    np.save(tmp_path / "plain.npy", np.zeros((3, 20, 3), np.float32))
    assert "skeleton_layout" not in load_clip(tmp_path / "plain.npy")[1]


# ------------------------------------------------------------------------------------------------------------
# Datasets that name no layout (built before it was recorded): the documented joint-count fallback


def test_a_dataset_without_a_layout_name_falls_back_to_its_joint_count():
    for joints, channels, expected in [
        (25, 3, NTU_LAYOUT),
        (25, 2, NTU_2D_LAYOUT),
        (20, 3, NUCLA_LAYOUT),
        (13, 2, PENN_LAYOUT),
    ]:
        dataset = tiny_dataset(joints, channels)
        assert layout_name_of(dataset.features) is None
        assert layout_of(dataset.features) is expected
        assert layout_for(DataGeometry.of(dataset)) is expected
    with pytest.raises(ValueError, match="no known skeleton layout has 17 joints"):
        layout_for(DataGeometry.of(tiny_dataset(17, 2)))


def test_a_layout_that_does_not_fit_the_skeletons_is_refused():
    with pytest.raises(ValueError, match="'nucla' has 20 joints x 3 channels, the skeletons 25 x 3"):
        skeleton_features(("a",), 1, 25, 3, layout="nucla")


# ------------------------------------------------------------------------------------------------------------
# A second 25-joint format, and unknown names


def test_a_second_25_joint_format_keeps_its_own_bones_flip_pairs_and_root(body25):
    dataset = tiny_dataset(25, 2, layout="openpose_body25")
    geometry = DataGeometry.of(dataset)
    layout = layout_for(geometry)
    assert layout is BODY_25 and layout.bones != NTU_2D_LAYOUT.bones
    assert legacy_layout(25, 2) is NTU_2D_LAYOUT  # what a joint-count lookup would have given

    # Bone stream: the config's bone tree is BODY_25's, hung from the mid hip.
    config = build_config(
        geometry,
        defaults={"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "max_frames": 16},
        overrides={"input_streams": ["joint", "bone"]},
    )
    assert config.skeleton_layout == "openpose_body25"  # the data's layout, saved with the model
    parents = BODY_25.parents()
    assert config.bone_parents == [joint if parent < 0 else parent for joint, parent in enumerate(parents)]
    assert config.bone_parents[BODY_25.joint_index("left_wrist")] == BODY_25.joint_index("left_elbow")

    # Flip: left and right swap as BODY_25 pairs them (the left wrist is joint 7 there, not NTU's 6).
    clip = np.random.default_rng(1).normal(size=(4, 1, 25, 2)).astype(np.float32)
    flipped = HorizontalFlip(layout, p=1.0)(clip, np.random.default_rng(0))
    np.testing.assert_allclose(flipped[:, 0, 7, 1], clip[:, 0, 4, 1])  # left wrist <- right wrist (y kept)

    # Feature extractor: centred on BODY_25's root (mid hip, 8), not NTU's spine middle (1).
    extractor = feature_extractor_for(config, layout)
    assert extractor.root_joint == 8
    named = SimpleNamespace(
        skeleton_layout="openpose_body25", num_joints=25, num_channels=2, num_persons=1, max_frames=16
    )
    assert feature_extractor_for(named).root_joint == 8
    with pytest.raises(ValueError, match="names skeleton layout 'openpose_body25': pass its root joint"):
        CascadeFormerFeatureExtractor.from_model_config(named)


def test_the_renderer_draws_the_named_layouts_bones(body25):
    pytest.importorskip("matplotlib")
    from hf_cascadeformer.visualization import _Scene

    clip = np.random.default_rng(2).normal(size=(3, 1, 25, 2)).astype(np.float32)
    assert _Scene(clip, None, None, "openpose_body25", None).layout is BODY_25
    assert _Scene(clip, None, None, None, None).layout is NTU_2D_LAYOUT  # a bare array: the joint-count fallback


def test_an_unknown_layout_name_is_a_one_line_error():
    dataset = tiny_dataset(25, 2)
    renamed = dataset.cast(datasets.Features({**dataset.features, "skeleton": datasets.Array4D(
        shape=(None, 1, 25, 2), dtype="float32", id="coco_wholebody")}))  # fmt: skip
    with pytest.raises(UnknownLayoutError) as caught:
        layout_for(DataGeometry.of(renamed))
    message = str(caught.value)
    assert "\n" not in message and message.startswith("unknown skeleton layout 'coco_wholebody'")
    assert isinstance(caught.value, ValueError)  # the command line prints ValueErrors as one line


def test_registering_keeps_names_unique(body25):
    assert get_layout("OpenPose-BODY25") is BODY_25  # case and separators are ignored, as for the built-in ones
    register_layout(BODY_25)  # the same layout again: a no-op
    with pytest.raises(ValueError, match="already registered"):
        register_layout(SkeletonLayout("openpose_body25", ("a", "b"), ((0, 1),), (), 0, 2))


# ------------------------------------------------------------------------------------------------------------
# The feature extractor's root joint


def test_build_config_names_the_datas_layout_not_the_presets():
    two_d = DataGeometry.of(tiny_dataset(25, 2, layout="ntu_2d"))
    assert build_config(two_d, "ntu60-xsub-1.0").skeleton_layout == "ntu_2d"  # the preset says "ntu"
    assert build_config(DataGeometry.of(tiny_dataset(25, 3)), "penn_action-1.0").skeleton_layout == "ntu"
    custom = build_config(DataGeometry.of(tiny_dataset(5, 3)), "penn_action-1.0")
    assert custom.skeleton_layout is None  # no layout has 5 joints: the config names none


def test_the_extractor_file_knows_the_built_in_layouts_root_joints():
    # The remote-code file keeps its own copy (it cannot import data/); it must equal the layouts.
    from hf_cascadeformer.feature_extraction_cascadeformer import BUILTIN_LAYOUT_ROOT_JOINTS

    assert BUILTIN_LAYOUT_ROOT_JOINTS == {name: layout.root_joint for name, layout in skeletons.LAYOUTS.items()}
    for name, layout in skeletons.LAYOUTS.items():
        config = SimpleNamespace(
            skeleton_layout=name, num_joints=layout.num_joints, num_channels=3, num_persons=1, max_frames=16
        )
        assert CascadeFormerFeatureExtractor.from_model_config(config).root_joint == layout.root_joint


def test_the_extractor_root_joint_comes_from_the_layout_and_is_saved(tmp_path: Path):
    config = SimpleNamespace(num_joints=20, num_channels=3, num_persons=1, max_frames=16)
    assert feature_extractor_for(config, "nucla").root_joint == NUCLA_LAYOUT.root_joint == 1
    penn = SimpleNamespace(num_joints=13, num_channels=2, num_persons=1, max_frames=16, skeleton_layout="penn")
    assert feature_extractor_for(penn).root_joint == PENN_LAYOUT.root_joint == 0
    # A config that names no layout (saved before layouts were named): the former rule, 1 for 25 joints, else 0.
    assert feature_extractor_for(config).root_joint == 0
    assert feature_extractor_for(SimpleNamespace(**{**vars(config), "num_joints": 25})).root_joint == 1
    with pytest.raises(ValueError, match="'penn' has 13 joints, the config 20"):
        feature_extractor_for(config, "penn")
    feature_extractor_for(config, "nucla").save_pretrained(tmp_path)
    assert CascadeFormerFeatureExtractor.from_pretrained(tmp_path).root_joint == 1
