"""The bad-input catalogue: one table per public entry point, each row an input and what it must give.

Outcome classes (the README's "Reliability" section counts them from these tables, see
`test_readme_reliability_table_matches_the_catalogue`):

* ``error``: a `ValueError`-family error (or `OSError` for a missing file) whose one-line message names the file,
  option or field and what was expected; through the command line, one line on stderr and exit status 2, never a
  traceback; nothing written or deleted that should not be;
* ``handled``: the input is valid after all (another dtype, a zero-loss batch, a bad file among good ones) and the
  result is checked to be the right one.

Every row asserts its outcome, so a traceback, a silently wrong result or lost data fails the row. The property-based
tests at the end (hypothesis) fuzz the raw-format parsers and the feature extractor.
"""

from __future__ import annotations

import io as _io
import json
import math
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import scipy.io
import torch
from conftest import tiny_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import AutoConfig, pipeline

from hf_cascadeformer import (
    CascadeFormerConfig,
    CascadeFormerFeatureExtractor,
    CascadeFormerForSequenceClassification,
    cli,
)
from hf_cascadeformer.data import builders
from hf_cascadeformer.data.nucla import load_nucla_clip
from hf_cascadeformer.data.pku_mmd import read_pku_skeleton
from hf_cascadeformer.io import load_clip
from hf_cascadeformer.pipeline import TASK

REPO_ROOT = Path(__file__).resolve().parents[1]
LABELS = ["wave right hand", "clap", "sit down"]


@dataclass(frozen=True)
class Case:
    """One row: `run(tmp_path)` feeds the input to the entry point (and returns what a `handled` row checks)."""

    name: str
    outcome: str  # "error" or "handled"
    expected: str  # a fragment of the one-line message (error), or what is checked (handled)
    run: Callable[[Path], Any]


def _one_line_error(error: BaseException, *fragments: str) -> None:
    message = str(error)
    assert "\n" not in message.strip(), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def _cli(capsys, *argv: Any) -> tuple[int, str, str]:
    status = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _assert_cli_error(status: int, err: str, command: str, *fragments: str) -> None:
    assert status == 2, err
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{command}: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# ----------------------------------------------------------------------------------------------------------------
# Raw-format parsers (hf_cascadeformer.io.load_clip, which dispatches to every format's reader; PKU-MMD's own reader)


def ntu_text(frames: int = 2, value: str | None = None) -> bytes:
    """A format-exact NTU .skeleton file of one body; `value` replaces the first joint's x."""
    lines = [str(frames)]
    for _ in range(frames):
        lines += ["1", "72057594037944738 0 1 1 1 1 0 0.01119184 -0.256052 2", "25"]
        for joint in range(25):
            x = value if value is not None and joint == 0 else f"{0.01 * joint:.7f}"
            lines.append(f"{x} 0.2000000 3.1000000 256.1 212.3 960.2 540.1 0.1 0.2 0.3 0.9 2")
    return ("\r\n".join(lines) + "\r\n").encode()


def nucla_json(skeletons: Any = None, label: Any = 1) -> bytes:
    if skeletons is None:
        skeletons = np.random.default_rng(0).normal(size=(4, 20, 3)).round(4).tolist()
    return json.dumps({"file_name": "a01_s01_e00_v01", "skeletons": skeletons, "label": label}).encode()


def npy_bytes(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = _io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = _io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def object_npz() -> bytes:
    buffer = _io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("skeleton.npy", npy_bytes(np.array([None, 1], dtype=object), allow_pickle=True))
    return buffer.getvalue()


def penn_mat(**overrides: Any) -> bytes:
    frames = 5
    rng = np.random.default_rng(0)
    annotation = {
        "action": np.array(["bench_press"]),
        "pose": np.array(["front"]),
        "x": rng.uniform(0, 480, size=(frames, 13)),
        "y": rng.uniform(0, 270, size=(frames, 13)),
        "visibility": np.ones((frames, 13), dtype=np.uint8),
        "train": np.array([[1]], dtype=np.int32),
        "bbox": rng.uniform(0, 200, size=(frames, 4)),
        "dimensions": np.array([[270, 480, frames]], dtype=np.uint16),
        "nframes": np.array([[frames]], dtype=np.uint8),
    }
    annotation.update(overrides)
    annotation = {key: value for key, value in annotation.items() if value is not None}
    buffer = _io.BytesIO()
    scipy.io.savemat(buffer, annotation)
    return buffer.getvalue()


def pku_text(value: str = "0.5", columns: int = 150, rows: int = 3) -> bytes:
    line = " ".join([value] + ["0.1"] * (columns - 1))
    return ("\n".join([line] * rows) + "\n").encode()


def raw_error(file_name: str, content: bytes | Callable[[], bytes], fragment: str, reader=load_clip) -> Case:
    def run(tmp_path: Path) -> None:
        path = tmp_path / file_name
        path.write_bytes(content() if callable(content) else content)
        with pytest.raises((ValueError, OSError)) as caught:
            reader(path)
        _one_line_error(caught.value, str(path), fragment)

    return Case(f"{file_name}: {fragment}", "error", fragment, run)


def raw_loads(file_name: str, content: bytes | Callable[[], bytes], shape: tuple[int, ...], reader=load_clip) -> Case:
    def run(tmp_path: Path) -> None:
        path = tmp_path / file_name
        path.write_bytes(content() if callable(content) else content)
        result = reader(path)
        clip = result[0] if isinstance(result, tuple) else result
        assert clip.shape == shape and clip.dtype == np.float32 and np.isfinite(clip).all()

    return Case(f"{file_name}: loads {shape}", "handled", f"shape {shape}", run)


NUCLA = "a01_s01_e00_v01.json"
RAW_FORMATS = [
    raw_error("S001C001P001R001A001.skeleton", b"", "file ends early"),
    raw_error("S001C001P001R001A001.skeleton", lambda: ntu_text()[:700], "joint line needs 12 values"),
    raw_error("S001C001P001R001A001.skeleton", lambda: ntu_text(value="abc"), "non-numeric joint value"),
    raw_error("S001C001P001R001A001.skeleton", lambda: ntu_text(value="1e30"), "exceeds the bound"),
    raw_error("S001C001P001R001A001.skeleton", lambda: ntu_text(value="nan"), "NaN or infinite"),
    raw_error("S001C001P001R001A001.skeleton", bytes(range(256)) * 4, "S001C001P001R001A001.skeleton"),
    raw_error("S001C001P001R001A001.skeleton", b"-1\r\n", "must not be negative"),
    raw_loads("S001C001P001R001A001.skeleton", ntu_text, (2, 2, 25, 3)),
    raw_error(NUCLA, b"{not json", "not valid JSON"),
    raw_error(NUCLA, lambda: nucla_json(np.zeros((4, 19, 3)).tolist()), "expected shape"),
    raw_error(NUCLA, lambda: nucla_json([[[1e30, 0.0, 0.0]] * 20]), "exceeds the bound"),
    raw_error(NUCLA, lambda: nucla_json(label=11), "label"),
    raw_loads(NUCLA, nucla_json, (4, 1, 20, 3)),
    raw_error(NUCLA, b'{"a": ' * 100_000, "nested too deeply", load_nucla_clip),  # what the N-UCLA builder calls
    raw_error("clip.json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    raw_error("clip.json", b"[]", "expected shape"),
    raw_error("clip.json", json.dumps([[[0, 0, 0]] * 5, [[0, 0]] * 5]).encode(), "not a numeric"),
    raw_error("clip.json", json.dumps([[["a", "b", "c"]] * 5] * 2).encode(), "not a numeric"),
    raw_error("clip.json", json.dumps([[[0, 0, 0, 0]] * 5] * 2).encode(), "expected 2 or 3 coordinates"),
    raw_error("clip.json", json.dumps({"frames": []}).encode(), "needs one of the keys"),
    raw_loads("clip.json", json.dumps([[[0.1, 0.2, 0.3]] * 5] * 2).encode(), (2, 1, 5, 3)),
    raw_error("clip.npy", b"", "not a readable numpy file"),
    raw_error("clip.npy", lambda: npy_bytes(np.zeros((4, 5, 3)))[:100], "not a readable numpy file"),
    raw_error("clip.npy", lambda: npy_bytes(np.ones((4, 5, 3)) * (1 + 2j)), "complex numbers"),
    raw_error("clip.npy", lambda: npy_bytes(np.full((4, 5, 3), 1e38, np.float32)), "exceeds the bound"),
    raw_error("clip.npy", lambda: npy_bytes(np.full((4, 5, 3), np.nan)), "NaN or infinite"),
    raw_error("clip.npy", lambda: npy_bytes(np.zeros((4, 5))), "expected shape"),
    raw_error("clip.npy", lambda: npy_bytes(np.array([None, 1], dtype=object), allow_pickle=True), "readable"),
    raw_loads("clip.npy", lambda: npy_bytes(np.zeros((4, 5, 3), np.float64)), (4, 1, 5, 3)),
    raw_error("clip.npz", object_npz, "not a readable array"),
    raw_error("clip.npz", lambda: npz_bytes(a=np.zeros((2, 5, 3)), b=np.zeros((2, 5, 3))), "name the clip"),
    raw_error("clip.npz", b"PK\x03\x04 not really a zip", "not a readable numpy file"),
    raw_loads("clip.npz", lambda: npz_bytes(skeleton=np.zeros((3, 2, 5, 2))), (3, 2, 5, 2)),
    raw_error("0001.mat", b"", "not a readable MATLAB file"),
    raw_error("0001.mat", bytes(range(256)), "not a readable MATLAB file"),
    raw_error("0001.mat", lambda: penn_mat(x=None), "missing key"),
    raw_error("0001.mat", lambda: penn_mat(x=np.full((5, 13), 1e30)), "exceeds the bound"),
    raw_loads("0001.mat", penn_mat, (5, 1, 13, 2)),
    raw_error("0001-M.txt", lambda: pku_text(columns=149), "a frame needs 150 values", read_pku_skeleton),
    raw_error("0001-M.txt", lambda: pku_text(value="x"), "non-numeric value", read_pku_skeleton),
    raw_error("0001-M.txt", lambda: pku_text(value="1e39"), "exceeds the bound", read_pku_skeleton),
    raw_error("0001-M.txt", b"", "no frames", read_pku_skeleton),
    raw_loads("0001-M.txt", pku_text, (3, 2, 25, 3), read_pku_skeleton),
    raw_error("clip.csv", b"1,2,3", "unknown clip format"),
]


@pytest.mark.parametrize("case", RAW_FORMATS, ids=lambda case: case.name)
def test_raw_formats(case: Case, tmp_path: Path) -> None:
    case.run(tmp_path)


def test_a_missing_clip_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.npy: no such file"):
        load_clip(tmp_path / "missing.npy")


# ----------------------------------------------------------------------------------------------------------------
# Feature extractor

EXTRACTOR = CascadeFormerFeatureExtractor(num_joints=5, num_channels=3, num_persons=2, num_frames=8, max_frames=16)
GOOD = np.random.default_rng(0).normal(size=(10, 5, 3)).astype(np.float32)


def extractor_error(name: str, fragment: str, call: Callable[[], Any]) -> Case:
    def run(tmp_path: Path) -> None:
        with pytest.raises(ValueError) as caught:
            call()
        _one_line_error(caught.value, fragment)

    return Case(name, "error", fragment, run)


def extractor_handles(name: str, clip: Any) -> Case:
    def run(tmp_path: Path) -> None:
        expected = EXTRACTOR(GOOD)["skeletons"]
        np.testing.assert_allclose(EXTRACTOR(clip)["skeletons"], expected, rtol=1e-6, atol=1e-6)

    return Case(name, "handled", "same features as float32", run)


FEATURE_EXTRACTOR = [
    extractor_error("num_frames=0", "num_frames must be at least 1", lambda: EXTRACTOR(GOOD, num_frames=0)),
    extractor_error("num_frames=-3", "num_frames must be at least 1", lambda: EXTRACTOR(GOOD, num_frames=-3)),
    extractor_error("num_frames=2.5", "positive integer", lambda: EXTRACTOR(GOOD, num_frames=2.5)),
    extractor_error("num_frames>max", "exceeds max_frames", lambda: EXTRACTOR(GOOD, num_frames=17)),
    extractor_error(
        "constructor num_frames=0", "positive integer", lambda: CascadeFormerFeatureExtractor(num_frames=0)
    ),
    extractor_error("complex clip", "complex numbers", lambda: EXTRACTOR(GOOD * (1 + 1j))),
    extractor_error("coordinate 1e30", "exceeds the bound", lambda: EXTRACTOR(np.full((4, 5, 3), 1e30))),
    extractor_error("NaN", "NaN or infinite", lambda: EXTRACTOR(np.full((4, 5, 3), np.nan))),
    extractor_error("wrong joints", "expected 5 joints x 3 channels", lambda: EXTRACTOR(np.zeros((4, 6, 3)))),
    extractor_error("rank 2", "expected a clip of rank 3 or 4", lambda: EXTRACTOR(np.zeros((4, 5)))),
    extractor_error("empty list", "empty list of clips", lambda: EXTRACTOR([])),
    extractor_error("0 frames", "empty (0 frames)", lambda: EXTRACTOR(np.zeros((0, 5, 3)))),
    extractor_error("strings", "not a numeric array", lambda: EXTRACTOR([np.full((4, 5, 3), "x")])),
    extractor_handles("float64 clip", GOOD.astype(np.float64)),
    extractor_handles("torch clip", torch.from_numpy(GOOD)),
]


@pytest.mark.parametrize("case", FEATURE_EXTRACTOR, ids=lambda case: case.name)
def test_feature_extractor(case: Case, tmp_path: Path) -> None:
    case.run(tmp_path)


# ----------------------------------------------------------------------------------------------------------------
# Model forward


def labelled_config(**overrides: Any) -> CascadeFormerConfig:
    return tiny_config(
        max_frames=16,
        id2label=dict(enumerate(LABELS)),
        label2id={name: index for index, name in enumerate(LABELS)},
        **overrides,
    )


@pytest.fixture(scope="module")
def model() -> CascadeFormerForSequenceClassification:
    torch.manual_seed(0)
    return CascadeFormerForSequenceClassification(labelled_config()).eval()


SKELETONS = torch.from_numpy(np.random.default_rng(1).normal(size=(2, 2, 8, 5, 3)).astype(np.float32))


def forward_error(name: str, fragment: str, **inputs: Any) -> Case:
    def run(model) -> None:
        with pytest.raises(ValueError) as caught:
            model(**{"skeletons": SKELETONS, **inputs})
        _one_line_error(caught.value, fragment)

    return Case(name, "error", fragment, run)


def forward_cast(dtype: torch.dtype, tolerance: float) -> Case:
    def run(model) -> None:
        with torch.no_grad():
            expected = model(SKELETONS).logits
            actual = model(SKELETONS.to(dtype)).logits
        assert actual.dtype == torch.float32
        torch.testing.assert_close(actual, expected, rtol=0, atol=tolerance)

    return Case(f"{dtype} skeletons", "handled", "cast to the model's dtype", run)


def all_labels_ignored(model) -> None:
    output = model(SKELETONS, labels=torch.tensor([-100, -100]))
    assert torch.isfinite(output.loss) and output.loss.item() == 0.0
    output.loss.backward()  # a zero loss that still reaches the parameters
    model.zero_grad()


MODEL_FORWARD = [
    forward_cast(torch.float64, 1e-5),
    forward_cast(torch.float16, 1e-2),
    forward_cast(torch.bfloat16, 5e-2),
    Case("labels all -100", "handled", "loss 0, not NaN", all_labels_ignored),
    forward_error("int64 skeletons", "floating point", skeletons=SKELETONS.long()),
    forward_error("numpy skeletons", "must be a torch.Tensor", skeletons=SKELETONS.numpy()),
    forward_error("NaN", "NaN or infinite", skeletons=torch.full((1, 8, 5, 3), float("nan"))),
    forward_error("coordinate 1e30", "beyond the bound", skeletons=torch.full((1, 8, 5, 3), 1e30)),
    forward_error("float64 1e300", "beyond the bound", skeletons=torch.full((1, 8, 5, 3), 1e300, dtype=torch.float64)),
    forward_error("wrong joints", "6 joints x 3 channels", skeletons=torch.zeros(1, 8, 6, 3)),
    forward_error("too many frames", "more than config.max_frames", skeletons=torch.zeros(1, 17, 5, 3)),
    forward_error("three persons", "more than config.num_persons", skeletons=torch.zeros(1, 3, 8, 5, 3)),
    forward_error("rank 3", "must have shape", skeletons=torch.zeros(8, 5, 3)),
    forward_error("mask shape", "attention_mask must have shape", attention_mask=torch.ones(2, 7)),
    forward_error("empty mask", "no valid frame", attention_mask=torch.zeros(2, 8)),
]


@pytest.mark.parametrize("case", MODEL_FORWARD, ids=lambda case: case.name)
def test_model_forward(case: Case, model) -> None:
    case.run(model)


# ----------------------------------------------------------------------------------------------------------------
# predict (command line) and the pipeline


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("classifier")
    torch.manual_seed(0)
    config = labelled_config()
    CascadeFormerForSequenceClassification(config).save_pretrained(folder)
    CascadeFormerFeatureExtractor.from_model_config(config, num_frames=8).save_pretrained(folder)
    return folder


def write_clip(folder: Path, name: str, clip: np.ndarray | None = None) -> Path:
    path = folder / name
    np.save(path, GOOD if clip is None else clip)
    return path


def predict_error(name: str, fragment: str, make_argv: Callable[[Path, Path], list[Any]]) -> Case:
    def run(capsys, checkpoint: Path, tmp_path: Path) -> None:
        status, out, err = _cli(capsys, "predict", *make_argv(checkpoint, tmp_path))
        _assert_cli_error(status, err, "cascadeformer predict", fragment)
        assert out in ("", "[]\n")  # --json: the (empty) list of classified clips

    return Case(name, "error", fragment, run)


def bad_file_among_good(capsys, checkpoint: Path, tmp_path: Path) -> None:
    good = write_clip(tmp_path, "good.npy")
    bad = write_clip(tmp_path, "huge.npy", np.full((4, 5, 3), 1e30))
    wrong = write_clip(tmp_path, "wrong.npy", np.zeros((4, 6, 3)))
    status, out, err = _cli(capsys, "predict", bad, good, wrong, "--model", checkpoint, "--json")
    assert status == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 2 and f"{bad}: " in lines[0] and "exceeds the bound" in lines[0]
    assert f"{wrong}: the clip has 6 joints" in lines[1]
    records = json.loads(out, parse_constant=lambda constant: pytest.fail(f"{constant} in the JSON"))
    assert [record["file"] for record in records] == [str(good)]
    assert math.isclose(sum(p["score"] for p in records[0]["predictions"]), 1.0, rel_tol=1e-5)


def cuda_argv(checkpoint: Path, tmp_path: Path) -> list[Any]:
    device = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"
    return [write_clip(tmp_path, "good.npy"), "--model", checkpoint, "--device", device]


PREDICT = [
    Case(
        "a bad file among good ones",
        "handled",
        "bad files reported, the rest classified, status 2",
        bad_file_among_good,
    ),
    predict_error("missing file", "missing.npy: no such file", lambda c, t: [t / "missing.npy", "--model", c]),
    predict_error(
        "unknown suffix",
        "unknown clip format '.txt'",
        lambda c, t: [(t / "clip.txt").write_text("1") and t / "clip.txt", "--model", c],
    ),
    predict_error(
        "huge coordinate",
        "exceeds the bound",
        lambda c, t: [write_clip(t, "huge.npy", np.full((4, 5, 3), 1e30)), "--model", c, "--json"],
    ),
    predict_error(
        "--device bogus",
        "--device 'bogus': not a device",
        lambda c, t: [write_clip(t, "a.npy"), "-m", c, "--device", "bogus"],
    ),
    predict_error("--device cuda without CUDA", "--device cuda", cuda_argv),
    predict_error("--top-k 0", "--top-k must be at least 1", lambda c, t: [write_clip(t, "a.npy"), "-m", c, "-k", "0"]),
    predict_error(
        "--num-frames 0",
        "--num-frames must be at least 1",
        lambda c, t: [write_clip(t, "a.npy"), "-m", c, "--num-frames", "0"],
    ),
    predict_error(
        "--batch-size 0",
        "--batch-size must be at least 1",
        lambda c, t: [write_clip(t, "a.npy"), "-m", c, "--batch-size", "0"],
    ),
    predict_error(
        "missing local model folder",
        "no such checkpoint folder",
        lambda c, t: [write_clip(t, "a.npy"), "--model", t / "runs" / "missing"],
    ),
    predict_error(
        "model folder under an existing folder",
        "no such checkpoint folder",
        lambda c, t: [write_clip(t, "a.npy"), "--model", f"{t.name}/missing"],
    ),
    predict_error(
        "a file as the model",
        "config.json: no such checkpoint folder",
        lambda c, t: [write_clip(t, "a.npy"), "--model", c / "config.json"],
    ),
]


@pytest.mark.parametrize("case", PREDICT, ids=lambda case: case.name)
def test_predict(case: Case, capsys, checkpoint: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path.parent)  # "<tmp_path name>/missing" is then a path under an existing folder
    case.run(capsys, checkpoint, tmp_path)


@pytest.fixture(scope="module")
def classify(checkpoint: Path):
    return pipeline(TASK, model=str(checkpoint), device="cpu")


def pipeline_error(name: str, fragment: str, inputs: Any, **options: Any) -> Case:
    def run(classify, tmp_path: Path) -> None:
        with pytest.raises((ValueError, OSError)) as caught:
            classify(inputs(tmp_path) if callable(inputs) else inputs, **options)
        _one_line_error(caught.value, fragment)

    return Case(name, "error", fragment, run)


def pipeline_float64(classify, tmp_path: Path) -> None:
    expected = classify(GOOD, top_k=3)
    actual = classify(torch.from_numpy(GOOD.astype(np.float64)), top_k=3)
    assert [p["label"] for p in actual] == [p["label"] for p in expected]
    assert [p["score"] for p in actual] == pytest.approx([p["score"] for p in expected], abs=1e-6)


def pipeline_broken_weights(classify, tmp_path: Path) -> None:
    parameter = next(classify.model.classifier.parameters())
    saved = parameter.detach().clone()
    try:
        with torch.no_grad():
            parameter.fill_(float("nan"))
        with pytest.raises(ValueError, match="NaN or infinite logits"):
            classify(GOOD)
    finally:
        with torch.no_grad():
            parameter.copy_(saved)


PIPELINE = [
    Case("float64 tensor", "handled", "same scores as float32", pipeline_float64),
    Case("NaN weights", "error", "NaN or infinite logits", pipeline_broken_weights),
    pipeline_error("dict without skeleton", "needs a 'skeleton' entry", {"pose": GOOD}),
    pipeline_error("coordinate 1e30", "exceeds the bound", np.full((4, 5, 3), 1e30)),
    pipeline_error("complex clip", "complex numbers", GOOD * 1j),
    pipeline_error("wrong joints", "6 joints x 3 channels", np.zeros((4, 6, 3))),
    pipeline_error("missing file", "no such file", lambda t: str(t / "missing.npy")),
    pipeline_error("num_frames=0", "at least 1", GOOD, num_frames=0),
    pipeline_error("top_k=0", "top_k must be at least 1", GOOD, top_k=0),
]


@pytest.mark.parametrize("case", PIPELINE, ids=lambda case: case.name)
def test_pipeline(case: Case, classify, tmp_path: Path) -> None:
    case.run(classify, tmp_path)


# ----------------------------------------------------------------------------------------------------------------
# Dataset builders (the dataset scripts' command line)


def write_nucla(folder: Path, count: int = 3, huge: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        name = f"a0{index + 1}_s01_e00_v0{index % 3 + 1}"
        skeletons = np.random.default_rng(index).normal(size=(4, 20, 3)).round(4)
        if huge and index == 0:
            skeletons[0, 0, 0] = 1e30
        (folder / f"{name}.json").write_text(
            json.dumps({"file_name": name, "skeletons": skeletons.tolist(), "label": index + 1})
        )
    return folder


def build(tmp_path: Path, raw: Path, output: Path, *extra: str) -> int:
    return builders.run_cli("nucla", ["--raw-dir", str(raw), "--output-dir", str(output), "--num-proc", "1", *extra])


def builder_error(name: str, fragment: str, setup: Callable[[Path], tuple[Path, Path, list[str]]]) -> Case:
    def run(capsys, tmp_path: Path) -> None:
        raw, output, extra = setup(tmp_path)
        before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
        status = build(tmp_path, raw, output, *extra)
        err = capsys.readouterr().err
        assert status == 1 and err.startswith("error: ") and err.count("\n") == 1 and fragment in err, err
        assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing added or lost

    return Case(name, "error", fragment, run)


def built(tmp_path: Path) -> Path:
    output = tmp_path / "built"
    assert build(tmp_path, write_nucla(tmp_path / "raw"), output) == 0
    return output


def raw_inside_the_output(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    output = built(tmp_path)
    return write_nucla(output / "raw_inside"), output, []


def a_huge_clip_is_a_bad_file(capsys, tmp_path: Path) -> None:
    status = build(tmp_path, write_nucla(tmp_path / "raw", huge=True), tmp_path / "out")
    err = capsys.readouterr().err
    assert status == 0 and "a01_s01_e00_v01.json, key 'skeletons'" in err and "exceeds the bound" in err
    loaded = builders.load_benchmark(tmp_path / "out")
    assert sum(len(split) for split in loaded.values()) == 2  # the other two clips


BUILDERS = [
    Case("a huge-coordinate file among good ones", "handled", "reported and skipped", a_huge_clip_is_a_bad_file),
    builder_error("missing raw folder", "does not exist", lambda t: (t / "nowhere", t / "out", [])),
    builder_error(
        "raw folder without clips",
        "no *.json files found",
        lambda t: ((t / "raw").mkdir() or t / "raw", t / "out", []),
    ),
    builder_error(
        "output is a file",
        "is not a dataset folder",
        lambda t: (write_nucla(t / "raw"), (t / "out").write_text("mine") and t / "out", []),
    ),
    builder_error("raw folder inside the finished output", "which no build wrote", raw_inside_the_output),
    builder_error(
        "--num-proc 0",
        "--num-proc must be at least 1",
        lambda t: (write_nucla(t / "raw"), t / "out", ["--num-proc", "0"]),
    ),
    builder_error(
        "every clip bad",
        "no clip could be read",
        lambda t: (write_nucla(t / "raw", count=1, huge=True), t / "out", []),
    ),
]


@pytest.mark.parametrize("case", BUILDERS, ids=lambda case: case.name)
def test_builders(case: Case, capsys, tmp_path: Path) -> None:
    case.run(capsys, tmp_path)


# ----------------------------------------------------------------------------------------------------------------
# from_pretrained / config loading (AutoConfig, and `cascadeformer info` on the folder)


def tampered_checkpoint(tmp_path: Path, change: Callable[[dict], Any]) -> Path:
    folder = tmp_path / "checkpoint"
    labelled_config().save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    text = change(config)
    (folder / "config.json").write_text(text if isinstance(text, str) else json.dumps(config))
    return folder


def config_error(name: str, fragment: str, change: Callable[[dict], Any]) -> Case:
    def run(capsys, tmp_path: Path) -> None:
        folder = tampered_checkpoint(tmp_path, change)
        with pytest.raises((ValueError, OSError)) as caught:
            AutoConfig.from_pretrained(folder)
        assert fragment in str(caught.value).splitlines()[0]
        status, _, err = _cli(capsys, "info", folder)
        _assert_cli_error(status, err, "cascadeformer info", fragment)

    return Case(name, "error", fragment, run)


def missing_model_folder(capsys, tmp_path: Path) -> None:
    status, _, err = _cli(capsys, "info", tmp_path / "nope")
    _assert_cli_error(status, err, "cascadeformer info", "nope: no such checkpoint folder")


def unreachable_hub(capsys, tmp_path: Path) -> None:
    import huggingface_hub.constants

    # A name that may be a Hub id, no such local folder, and a Hub that refuses connections: one quick lookup
    # without retries (transformers alone would retry for about 30 s and not mention the local folder).
    patch = pytest.MonkeyPatch()
    patch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    patch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    try:
        status, _, err = _cli(capsys, "info", "no-such-org/no-such-model")
    finally:
        patch.undo()
    _assert_cli_error(status, err, "cascadeformer info", "no such local folder, and the Hub could not be reached")


CONFIG_LOADING = [
    config_error(
        "string hidden_size", "hidden_size must be an integer, got '32'", lambda c: c.update(hidden_size="32")
    ),
    config_error(
        "string dropout", "hidden_dropout_prob must be a number", lambda c: c.update(hidden_dropout_prob="0.1")
    ),
    config_error("string flag", "use_cascade must be true or false", lambda c: c.update(use_cascade="yes")),
    config_error("null max_frames", "max_frames must be an integer", lambda c: c.update(max_frames=None)),
    config_error("unknown choice", "frame_embedding must be one of", lambda c: c.update(frame_embedding="bogus")),
    config_error("heads do not divide", "must be divisible", lambda c: c.update(num_attention_heads=3)),
    config_error("not JSON", "config.json", lambda c: "{not json"),
    Case("missing local folder", "error", "no such checkpoint folder", missing_model_folder),
    Case("not a folder, Hub unreachable", "error", "no such local folder, and the Hub", unreachable_hub),
]


@pytest.mark.parametrize("case", CONFIG_LOADING, ids=lambda case: case.name)
def test_config_loading(case: Case, capsys, tmp_path: Path) -> None:
    case.run(capsys, tmp_path)


# ----------------------------------------------------------------------------------------------------------------
# convert-official


class RunsCode:
    """A pickle that would create a file if unpickled with code execution allowed."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def official_files(tmp_path: Path, damage: Callable[[Path, dict], None]) -> Path:
    from test_convert_official import official_model

    folder = tmp_path / "official"
    folder.mkdir()
    state_dicts, _, _ = official_model("penn", "1.0")
    for part, state in state_dicts.items():
        torch.save(state, folder / f"Penn_finetuned_{part}.pt")
    damage(folder, state_dicts)
    return folder


def convert_error(name: str, fragment: str, damage: Callable[[Path, dict], None]) -> Case:
    def run(capsys, tmp_path: Path) -> None:
        folder = official_files(tmp_path, damage)
        args = ["--dataset", "penn", "--variant", "1.0", "--checkpoint-dir", folder, "--output-dir", tmp_path / "out"]
        status, _, err = _cli(capsys, "convert-official", *args)
        _assert_cli_error(status, err, "cascadeformer convert-official", fragment)
        assert "weights_only" not in err and not (tmp_path / "out").exists()
        assert not (tmp_path / "ran").exists()  # no code from the file ran

    return Case(name, "error", fragment, run)


def nan_head(folder: Path, state_dicts: dict) -> None:
    torch.save(
        {k: torch.full_like(v, float("nan")) for k, v in state_dicts["head"].items()}, folder / "Penn_finetuned_head.pt"
    )


CONVERT_OFFICIAL = [
    convert_error("empty .pt", "not a readable torch file", lambda f, s: (f / "Penn_finetuned_T1.pt").write_bytes(b"")),
    convert_error(
        "truncated .pt",
        "not a readable torch file",
        lambda f, s: (f / "Penn_finetuned_T2.pt").write_bytes((f / "Penn_finetuned_T2.pt").read_bytes()[:300]),
    ),
    convert_error(
        "code-executing pickle",
        "holds objects other than tensors",
        lambda f, s: torch.save({"x": RunsCode(f.parent / "ran")}, f / "Penn_finetuned_head.pt"),
    ),
    convert_error(
        "plain pickle of code",
        "Penn_finetuned_head.pt",
        lambda f, s: (f / "Penn_finetuned_head.pt").write_bytes(pickle.dumps(RunsCode(f.parent / "ran"))),
    ),
    convert_error("NaN weights", "holds NaN or infinite values", nan_head),
    convert_error(
        "missing part", "missing official checkpoint file", lambda f, s: (f / "Penn_finetuned_T2.pt").unlink()
    ),
    convert_error(
        "a list instead of a state dict",
        "not a state dict of tensors",
        lambda f, s: torch.save([torch.zeros(2)], f / "Penn_finetuned_head.pt"),
    ),
]


@pytest.mark.parametrize("case", CONVERT_OFFICIAL, ids=lambda case: case.name)
@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch, before it refuses the plain pickle
def test_convert_official(case: Case, capsys, tmp_path: Path) -> None:
    case.run(capsys, tmp_path)


# ----------------------------------------------------------------------------------------------------------------
# Training scripts, through the command line (`cascadeformer finetune|pretrain`, wherever the loops live)


def training_error(command: str, name: str, fragment: str, make_argv: Callable[[Path], list[Any]]) -> Case:
    def run(capsys, tmp_path: Path) -> None:
        status, _, err = _cli(capsys, command, *make_argv(tmp_path), "--max-steps", "1")
        _assert_cli_error(status, err, f"cascadeformer {command}", fragment)
        assert not list(tmp_path.rglob("checkpoint-*"))

    return Case(f"{command}: {name}", "error", fragment, run)


def a_file(tmp_path: Path) -> Path:
    (tmp_path / "notes.txt").write_text("mine")
    return tmp_path / "notes.txt"


def raw_folder(tmp_path: Path) -> Path:
    return write_nucla(tmp_path / "raw")


def config_file(tmp_path: Path, **fields: Any) -> Path:
    (tmp_path / "config.json").write_text(json.dumps(fields))
    return tmp_path / "config.json"


TRAINING_SCRIPTS = [
    training_error(
        "finetune", "output dir under a file", "which is a file", lambda t: ["--output-dir", a_file(t) / "run"]
    ),
    training_error("finetune", "output dir is a file", "is a file", lambda t: ["--output-dir", a_file(t)]),
    training_error(
        "finetune", "missing dataset folder", "no such dataset folder", lambda t: ["--dataset", t / "data" / "nucla"]
    ),
    training_error(
        "finetune",
        "raw folder as dataset",
        "not a folder written by a dataset script",
        lambda t: ["--dataset", raw_folder(t), "--output-dir", t / "run"],
    ),
    training_error(
        "finetune",
        "string number in --config",
        "hidden_size must be an integer",
        lambda t: ["--config", config_file(t, hidden_size="32"), "--output-dir", t / "run"],
    ),
    training_error(
        "finetune",
        "missing --model folder",
        "no such checkpoint folder",
        lambda t: ["--model", t / "runs" / "pretrain", "--output-dir", t / "run"],
    ),
    training_error(
        "pretrain", "output dir under a file", "which is a file", lambda t: ["--output-dir", a_file(t) / "run"]
    ),
    training_error(
        "pretrain", "missing dataset folder", "no such dataset folder", lambda t: ["--dataset", t / "data" / "nucla"]
    ),
    training_error(
        "pretrain",
        "unknown layout of the multi-view corpus",
        "unknown skeleton layout 'kinect3'",
        lambda t: ["--dataset", "embedded-multiview", "--dataset-config", "kinect3", "--output-dir", t / "run"],
    ),
]


@pytest.mark.parametrize("case", TRAINING_SCRIPTS, ids=lambda case: case.name)
def test_training_scripts(case: Case, capsys, tmp_path: Path) -> None:
    case.run(capsys, tmp_path)


# ----------------------------------------------------------------------------------------------------------------
# The summary in the README


CATALOGUE = {
    "raw-format parsers": RAW_FORMATS,
    "feature extractor": FEATURE_EXTRACTOR,
    "model forward": MODEL_FORWARD,
    "`cascadeformer predict`": PREDICT,
    "pipeline": PIPELINE,
    "dataset builders": BUILDERS,
    "config / `from_pretrained`": CONFIG_LOADING,
    "`cascadeformer convert-official`": CONVERT_OFFICIAL,
    "training scripts": TRAINING_SCRIPTS,
}


def test_readme_reliability_table_matches_the_catalogue() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    rows = {}
    for line in readme.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in CATALOGUE:
            rows[cells[0]] = tuple(cells[1:])
    expected = {
        name: (
            str(len(cases)),
            str(sum(case.outcome == "error" for case in cases)),
            str(sum(case.outcome == "handled" for case in cases)),
        )
        for name, cases in CATALOGUE.items()
    }
    assert rows == expected


# ----------------------------------------------------------------------------------------------------------------
# Property-based fuzzing: any bytes / any array gives a clip or a ValueError-family error naming the file, never
# another exception, a hang (hypothesis' deadline) or a non-finite clip.

FUZZ = settings(
    max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True
)
FUZZ_FILES = ["S001C001P001R001A001.skeleton", NUCLA, "clip.json", "clip.npy", "clip.npz", "0001.mat", "0001-M.txt"]
VALID = {
    "S001C001P001R001A001.skeleton": ntu_text(),
    NUCLA: nucla_json(),
    "clip.json": json.dumps([[[0.1, 0.2, 0.3]] * 5] * 2).encode(),
    "clip.npy": npy_bytes(np.zeros((4, 5, 3))),
    "clip.npz": npz_bytes(skeleton=np.zeros((3, 2, 5, 2))),
    "0001.mat": penn_mat(),
    "0001-M.txt": pku_text(),
}


def _read(path: Path) -> np.ndarray:
    return read_pku_skeleton(path) if path.suffix == ".txt" else load_clip(path)[0]


def _clip_or_named_error(path: Path) -> None:
    try:
        clip = _read(path)
    except ValueError as error:
        assert str(path) in str(error), str(error)
        return
    assert clip.ndim == 4 and clip.dtype == np.float32 and np.isfinite(clip).all()
    assert np.abs(clip).max(initial=0) <= 1e6


@st.composite
def mutated(draw, valid: bytes) -> bytes:
    """A valid file with a few byte ranges replaced, cut short or extended: near misses reach deeper code."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["replace", "truncate", "insert"]))
        position = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data[position:position] = draw(st.binary(max_size=16))
        else:
            text = draw(
                st.sampled_from([b"nan", b"1e39", b"-", b"", b" ", b"\n", b"x", b"1e30", b"99999999999", b"-1"])
            )
            data[position : position + draw(st.integers(0, 12))] = text
    return bytes(data)


@pytest.mark.parametrize("file_name", FUZZ_FILES)
@pytest.mark.filterwarnings("ignore::UserWarning")  # scipy warns about some damaged .mat headers before refusing
@FUZZ
@given(data=st.data())
def test_fuzz_raw_parsers(file_name: str, data, tmp_path: Path) -> None:
    content = data.draw(st.one_of(st.binary(max_size=600), mutated(VALID[file_name])), label="content")
    path = tmp_path / file_name
    path.write_bytes(content)
    _clip_or_named_error(path)


ARRAYS = hnp.arrays(
    dtype=st.sampled_from([np.float16, np.float32, np.float64, np.int32, np.uint8, np.bool_, np.complex64]),
    shape=hnp.array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=6),
)


@st.composite
def arrays(draw) -> np.ndarray:
    array = draw(ARRAYS)
    if array.dtype.kind == "f" and array.size and draw(st.booleans()):
        array = array.copy()
        with np.errstate(over="ignore"):  # 1e30 in float16 is inf: also a value to refuse
            array.flat[draw(st.integers(0, array.size - 1))] = draw(
                st.sampled_from([np.nan, np.inf, -np.inf, 1e30, -1e7, 3e38])
            )
    return array


@FUZZ
@given(array=arrays(), num_frames=st.one_of(st.none(), st.integers(-2, 20)))
def test_fuzz_feature_extractor(array: np.ndarray, num_frames: int | None) -> None:
    extractor = CascadeFormerFeatureExtractor(num_joints=5, num_channels=3, num_persons=2, num_frames=8, max_frames=16)
    try:
        features = extractor(array, num_frames=num_frames)
    except ValueError as error:
        assert "\n" not in str(error).strip()
        return
    skeletons = np.asarray(features["skeletons"])
    assert skeletons.dtype == np.float32 and np.isfinite(skeletons).all()
    assert skeletons.shape[1:] == (2, 8 if num_frames is None else num_frames, 5, 3)
