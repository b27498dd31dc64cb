"""The `cascadeformer` command line: help of every command, predict, render, training commands, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import pipeline

from hf_cascadeformer import (
    CascadeFormerConfig,
    CascadeFormerFeatureExtractor,
    CascadeFormerForSequenceClassification,
    cli,
)
from hf_cascadeformer.data.synthetic import generate_clip
from hf_cascadeformer.pipeline import TASK

LABELS = ["wave right hand", "clap", "sit down", "handshake", "push", "hug"]
NTU_SAMPLE = "S001C003P008R002A058.skeleton"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny randomly initialised two-person NTU-layout classifier with its feature extractor."""
    folder = tmp_path_factory.mktemp("classifier")
    torch.manual_seed(0)
    config = CascadeFormerConfig(
        num_persons=2,
        max_frames=32,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        id2label=dict(enumerate(LABELS)),
        label2id={name: index for index, name in enumerate(LABELS)},
    )
    CascadeFormerForSequenceClassification(config).save_pretrained(folder)
    CascadeFormerFeatureExtractor.from_model_config(config, num_frames=16).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def clip_files(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    paths = []
    for action in (0, 9):
        path = folder / f"clip_{action}.npy"
        np.save(path, generate_clip(action, rng, min_frames=20, max_frames=40))
        paths.append(path)
    return paths


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(status: int, err: str, command: str, fragment: str) -> None:
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"cascadeformer {command}: error: "), lines[0]
    assert fragment in lines[0]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "COMMAND"),
        (["predict"], "--top-k"),
        (["render"], "confusion"),
        (["render", "clip"], "--max-frames"),
        (["render", "curves"], "trainer_state.json"),
        (["render", "confusion"], "METRICS_JSON"),
        (["info"], "preset"),
        (["prepare"], "ntu120"),
        (["prepare", "nucla"], "--raw-dir"),
        (["pretrain"], "usage: cascadeformer pretrain"),
        (["finetune"], "usage: cascadeformer finetune"),
        (["evaluate"], "usage: cascadeformer evaluate"),
        (["pyskl-export"], "--split-prefix"),
        (["pyskl-import"], "--trust-pickle"),
        (["ensemble"], "--weights"),
    ],
)
def test_every_command_has_help(capsys, argv, expected):
    status, out, err = run(capsys, *argv, "--help")
    assert status == 0, err
    assert expected in out


def test_predict_prints_a_top_k_table_equal_to_the_pipeline(capsys, checkpoint, clip_files):
    status, out, err = run(capsys, "predict", *clip_files, "--model", checkpoint, "--top-k", "3", "--batch-size", "2")
    assert status == 0, err
    classify = pipeline(TASK, model=str(checkpoint), device="cpu")
    blocks = out.strip().split("\n\n")
    assert len(blocks) == 2
    for block, path in zip(blocks, clip_files, strict=True):
        lines = block.splitlines()
        assert lines[0] == str(path) and lines[1].split() == ["rank", "action", "probability"]
        rows = [line.rsplit(maxsplit=1) for line in lines[2:]]
        expected = classify(str(path), top_k=3)
        assert [row[0].split(maxsplit=1)[1].strip() for row in rows] == [p["label"] for p in expected]
        assert [float(row[1]) for row in rows] == pytest.approx([p["score"] for p in expected], abs=1e-4)
        assert [row[0].split()[0] for row in rows] == ["1", "2", "3"]


def test_predict_json(capsys, checkpoint, clip_files):
    status, out, _ = run(capsys, "predict", clip_files[0], "--model", checkpoint, "--json", "-k", "10")
    assert status == 0
    (result,) = json.loads(out)
    assert result["file"] == str(clip_files[0])
    assert sorted(p["label"] for p in result["predictions"]) == sorted(LABELS)
    assert sum(p["score"] for p in result["predictions"]) == pytest.approx(1.0, abs=1e-5)


def test_predict_real_ntu_file(capsys, checkpoint, shared_data):
    status, out, err = run(capsys, "predict", shared_data / "ntu" / NTU_SAMPLE, "--model", checkpoint)
    assert status == 0, err
    lines = out.strip().splitlines()
    assert lines[0].endswith(NTU_SAMPLE) and len(lines) == 2 + 5
    assert all(line.split(maxsplit=1)[1].rsplit(maxsplit=1)[0].strip() in LABELS for line in lines[2:])


def test_user_mistakes_are_one_line_errors(capsys, checkpoint, clip_files, tmp_path):
    status, _, err = run(capsys, "predict", tmp_path / "missing.skeleton", "--model", checkpoint)
    assert_one_line_error(status, err, "predict", "missing.skeleton: no such file")
    (tmp_path / "clip.csv").write_text("1,2,3\n")
    status, _, err = run(capsys, "predict", tmp_path / "clip.csv", "--model", checkpoint)
    assert_one_line_error(status, err, "predict", "unknown clip format '.csv'")
    np.save(tmp_path / "nucla_like.npy", np.ones((12, 20, 3), np.float32))
    status, _, err = run(capsys, "predict", tmp_path / "nucla_like.npy", "--model", checkpoint)
    assert_one_line_error(status, err, "predict", "20 joints x 3 channels, but the model expects 25 joints")
    (tmp_path / "broken.json").write_text("[[1, 2")
    status, _, err = run(capsys, "predict", tmp_path / "broken.json", "--model", checkpoint)
    assert_one_line_error(status, err, "predict", "broken.json, line 1: not valid JSON")
    status, _, err = run(capsys, "predict", clip_files[0], "--model", tmp_path / "no-model")
    assert_one_line_error(status, err, "predict", "no-model: no such checkpoint folder")
    status, _, err = run(capsys, "predict", clip_files[0], "--model", checkpoint, "--top-k", "0")
    assert_one_line_error(status, err, "predict", "--top-k must be at least 1")
    status, _, err = run(capsys, "render", "clip", clip_files[0], "-o", tmp_path / "clip.jpg")
    assert_one_line_error(status, err, "render", "must end in .gif")
    status, _, err = run(capsys, "render", "clip", clip_files[0], "-o", tmp_path / "c.png", "--layout", "coco")
    assert_one_line_error(status, err, "render", "unknown skeleton layout 'coco'")
    status, _, err = run(capsys, "render", "clip", clip_files[0], "-o", tmp_path / "c.png", "--layout", "penn")
    assert_one_line_error(status, err, "render", "'penn' has 13 joints x 2 channels, the skeletons 25 x 3")
    status, _, err = run(capsys, "prepare", "kinetics")
    assert_one_line_error(status, err, "prepare", "unknown benchmark 'kinetics'")
    status, _, err = run(capsys, "info", tmp_path / "no-model")
    assert_one_line_error(status, err, "info", "no such checkpoint folder")


def test_render_commands_write_pictures(capsys, checkpoint, clip_files, tmp_path):
    gif, strip = tmp_path / "clip.gif", tmp_path / "clip.png"
    status, out, err = run(capsys, "render", "clip", clip_files[1], "-o", gif, "-o", strip, "--max-frames", "6")
    assert status == 0, err
    assert out.splitlines() == [f"wrote {gif}", f"wrote {strip}"]
    assert gif.read_bytes()[:6] == b"GIF89a" and strip.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    attention = tmp_path / "attention.png"
    status, _, err = run(capsys, "render", "clip", clip_files[1], "-o", attention, "--model", checkpoint)
    assert status == 0, err
    assert attention.stat().st_size > 5_000
    mask = tmp_path / "mask.npy"
    np.save(mask, np.ones((int(np.load(clip_files[1]).shape[0]), 25), bool))
    status, _, err = run(capsys, "render", "clip", clip_files[1], "-o", tmp_path / "masked.png", "--mask", mask)
    assert status == 0, err

    state = {"log_history": [{"loss": 2.0, "step": 5}, {"eval_accuracy": 0.5, "step": 5}, {"loss": 1.0, "step": 10}]}
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "trainer_state.json").write_text(json.dumps(state))
    status, _, err = run(capsys, "render", "curves", tmp_path / "run", "-o", tmp_path / "curves.png")
    assert status == 0, err
    assert (tmp_path / "curves.png").stat().st_size > 5_000
    metrics = {"split": "test", "accuracy": 0.5, "class_names": ["a", "b"], "confusion_matrix": [[1, 1], [0, 2]]}
    (tmp_path / "metrics_test.json").write_text(json.dumps(metrics))
    status, _, err = run(capsys, "render", "confusion", tmp_path / "metrics_test.json", "-o", tmp_path / "cm.png")
    assert status == 0, err
    assert (tmp_path / "cm.png").stat().st_size > 5_000


def test_render_without_matplotlib_is_a_one_line_error(capsys, monkeypatch, clip_files, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    status, _, err = run(capsys, "render", "clip", clip_files[0], "-o", tmp_path / "clip.gif")
    assert_one_line_error(status, err, "render", 'pip install "hf-cascadeformer[viz]"')


def test_prepare_forwards_to_the_dataset_builder(capsys, tmp_path):
    raw = tmp_path / "all_sqe"
    raw.mkdir()
    rng = np.random.default_rng(0)
    for name, label in (("a01_s01_e00_v01", 1), ("a02_s02_e01_v02", 2)):
        skeletons = rng.normal(size=(6, 20, 3)).round(4).tolist()
        (raw / f"{name}.json").write_text(json.dumps({"file_name": name, "label": label, "skeletons": skeletons}))
    output = tmp_path / "nucla"
    status, out, err = run(capsys, "prepare", "nucla", "--raw-dir", raw, "--output-dir", output, "--num-proc", "1")
    assert status == 0, err
    assert "train: 2 clips" in out and (output / "dataset_dict.json").is_file()
    status, _, err = run(capsys, "prepare", "nucla", "--raw-dir", tmp_path / "nowhere", "--output-dir", output)
    assert status == 2 and "does not exist" in err and err.count("\n") == 1  # a user error: status 2


def test_training_commands_call_the_package(capsys):
    status, _, err = run(capsys, "evaluate", "--split", "test")  # --model is required
    assert status == 2 and "usage: cascadeformer evaluate" in err and "--model" in err
    # Every TrainingArguments field is an option of finetune; recipe takes its benchmark first.
    status, out, _ = run(capsys, "finetune", "--help")
    assert status == 0 and "usage: cascadeformer finetune" in out
    assert all(option in out for option in ("--report_to", "--dataloader_num_workers", "--hub_model_id"))
    status, out, _ = run(capsys, "recipe", "--help")
    assert status == 0 and "--raw_dir" in out and "--validation_protocol" in out
    status, _, err = run(capsys, "finetune", "--recipe", "nope")
    assert status == 2 and "invalid choice: 'nope'" in err


def test_info(capsys, checkpoint):
    status, out, _ = run(capsys, "info", checkpoint, "--json")
    assert status == 0
    summary = json.loads(out)
    assert summary["labels"] == LABELS and summary["skeleton"]["persons"] == 2 and summary["parameters"] > 1000
    # A preset holds its class count; info names the classes from the benchmark's data module.
    status, out, _ = run(capsys, "info", "nucla-1.0", "--json")
    labels = json.loads(out)["labels"]
    assert status == 0 and len(labels) == 10 and labels[0] == "pick up with one hand"


@pytest.mark.slow
def test_predict_with_a_hub_model_id(capsys, hub_server, checkpoint, clip_files, tmp_path):
    code = f"""
import json
from huggingface_hub import HfApi
from transformers import pipeline
from hf_cascadeformer import cli

api = HfApi()
api.create_repo("org/tiny-skeleton")
api.upload_folder(folder_path={str(checkpoint)!r}, repo_id="org/tiny-skeleton")
classify = pipeline("skeleton-action-recognition", model="org/tiny-skeleton", device="cpu")
print(json.dumps(classify({str(clip_files[1])!r}, top_k=3)))
assert cli.main(["predict", {str(clip_files[1])!r}, "--model", "org/tiny-skeleton", "--json", "-k", "3"]) == 0
"""
    lines = hub_server.run_client(code, tmp_path / "hf-home", timeout=300).stdout.strip().splitlines()
    through_pipeline, (through_cli,) = json.loads(lines[-2]), json.loads(lines[-1])
    status, out, _ = run(capsys, "predict", clip_files[1], "--model", checkpoint, "--json", "-k", "3")
    (local,) = json.loads(out)
    for remote in (through_pipeline, through_cli["predictions"]):
        assert [p["label"] for p in remote] == [p["label"] for p in local["predictions"]]
        assert [p["score"] for p in remote] == pytest.approx([p["score"] for p in local["predictions"]], abs=1e-6)


def test_debug_shows_the_traceback_instead_of_one_line(capsys, monkeypatch, tmp_path, checkpoint):
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    argv = ["predict", str(tmp_path / "missing.npy"), "--model", str(checkpoint)]
    status, _, err = run(capsys, *argv)
    assert_one_line_error(status, err, "predict", "missing.npy: no such file")
    with pytest.raises(cli.UserError, match="missing.npy: no such file"):
        cli.main(["--debug", *argv])
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    with pytest.raises(cli.UserError, match="missing.npy: no such file"):
        cli.main(argv)
    # A user error is a ValueError of the package's family.
    assert issubclass(cli.UserError, ValueError)
