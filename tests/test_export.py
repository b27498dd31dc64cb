"""Export for deployment: torch.export and ONNX programs give the eager logits; the `export` command."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_config

from hf_cascadeformer import (
    CascadeFormerEnsembleForSequenceClassification,
    CascadeFormerFeatureExtractor,
    CascadeFormerForSequenceClassification,
    cli,
    export,
)

NUM_FRAMES = 10  # not a multiple of segment_length=4: the joint-segment layout pads its last segment

CASES = {
    "frame-cascade": {},
    "frame-plain": {"use_cascade": False},
    "joint_segment-cascade": {"token_layout": "joint_segment"},
    "joint_segment-plain": {"token_layout": "joint_segment", "use_cascade": False},
    # The official computation: post-LN, ReLU, padding attended to and averaged, the NTU head and fusion block.
    "frame-paper": {
        "layer_norm_position": "post",
        "hidden_act": "relu",
        "mask_padding_frames": False,
        "cross_attention_feed_forward": True,
        "classifier_head": "mlp",
    },
}


def tiny_classifier(**overrides) -> CascadeFormerForSequenceClassification:
    torch.manual_seed(0)
    return CascadeFormerForSequenceClassification(tiny_config(**overrides)).eval()


def clips(batch: int, seed: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    """Two-person clips where clip 1's second person is absent and the last clip ends in padding frames."""
    skeletons = torch.randn(batch, 2, NUM_FRAMES, 5, 3, generator=torch.Generator().manual_seed(seed))
    mask = torch.ones(batch, NUM_FRAMES, dtype=torch.long)
    if batch > 1:
        skeletons[1, 1] = 0.0
        mask[-1, 7:] = 0
        skeletons[-1, :, 7:] = 0.0
    return skeletons, mask


def eager_logits(model: torch.nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(*inputs).logits


def max_difference(got: torch.Tensor, expected: torch.Tensor) -> float:
    assert got.shape == expected.shape
    return (got - expected).abs().max().item()


@pytest.mark.parametrize("overrides", CASES.values(), ids=CASES.keys())
def test_the_exported_program_gives_the_eager_logits_for_any_batch_size(overrides):
    model = tiny_classifier(**overrides).train()
    program = export.export_classifier(model, NUM_FRAMES)
    assert model.training  # restored
    model.eval()
    run = program.module()
    for batch in (5, 1):  # traced with 2 clips
        skeletons, mask = clips(batch)
        with torch.no_grad():
            got = run(skeletons, mask)
        assert max_difference(got, eager_logits(model, skeletons, mask)) <= 1e-5
    # The graph folds persons by a reshape: no boolean indexing (nonzero), no scatter, no data-dependent shapes.
    targets = " ".join(str(node.target) for node in program.graph.nodes if node.op == "call_function")
    for data_dependent in ("nonzero", "index_put", "masked_select", ".item", "masked_scatter"):
        assert data_dependent not in targets


def test_an_ensemble_exports_with_its_fused_logits():
    members = []
    for seed in range(2):
        torch.manual_seed(seed)
        members.append(CascadeFormerForSequenceClassification(tiny_config()).eval())
    model = CascadeFormerEnsembleForSequenceClassification.from_members(members).eval()
    run = export.export_classifier(model, NUM_FRAMES).module()
    for batch in (5, 1):
        skeletons, mask = clips(batch)
        with torch.no_grad():
            got = run(skeletons, mask)
        assert max_difference(got, eager_logits(model, skeletons, mask)) <= 1e-5


def test_a_fixed_batch_without_attention_mask():
    model = tiny_classifier(token_layout="joint_segment")
    program = export.export_classifier(model, NUM_FRAMES, batch_size=3, attention_mask=False)
    assert [spec.arg.name for spec in program.graph_signature.input_specs if spec.kind.name == "USER_INPUT"] == [
        "skeletons"
    ]
    skeletons, _ = clips(3, seed=11)
    with torch.no_grad():
        got = program.module()(skeletons)
    assert max_difference(got, eager_logits(model, skeletons)) <= 1e-5


def test_export_refuses_what_it_cannot_export():
    model = tiny_classifier()
    with pytest.raises(ValueError, match="max_frames=24"):
        export.export_classifier(model, 25)
    with pytest.raises(ValueError, match="batch_size"):
        export.export_classifier(model, NUM_FRAMES, batch_size=0)
    with pytest.raises(ValueError, match="CascadeFormerForSequenceClassification"):
        export.export_classifier(model.cascadeformer, NUM_FRAMES)


def test_onnx_through_onnxruntime_gives_the_eager_logits(tmp_path):
    pytest.importorskip("onnxscript")
    onnxruntime = pytest.importorskip("onnxruntime")
    model = tiny_classifier(token_layout="joint_segment")
    path = export.export_onnx(model, tmp_path / "model.onnx", NUM_FRAMES)
    assert path == tmp_path / "model.onnx"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # no temporary file left behind
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [node.name for node in session.get_inputs()] == ["skeletons", "attention_mask"]
    assert [node.name for node in session.get_outputs()] == ["logits"]
    for batch in (4, 1):
        skeletons, mask = clips(batch, seed=3)
        (got,) = session.run(["logits"], {"skeletons": skeletons.numpy(), "attention_mask": mask.numpy()})
        assert max_difference(torch.from_numpy(got), eager_logits(model, skeletons, mask)) <= 1e-4


def test_a_failed_onnx_export_leaves_no_file(tmp_path, monkeypatch):
    class HalfWritten:
        def save(self, destination, **kwargs):
            Path(destination).write_bytes(b"\x08\x07")  # the start of a model, then a crash
            raise OSError("disk full")

    monkeypatch.setattr(export, "require_onnx", lambda runtime=True: None)
    monkeypatch.setattr(torch.onnx, "export", lambda *args, **kwargs: HalfWritten())
    previous = tmp_path / "model.onnx"
    previous.write_bytes(b"the previous export")
    with pytest.raises(OSError, match="disk full"):
        export.export_onnx(tiny_classifier(), previous, NUM_FRAMES, check=False)
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
    assert previous.read_bytes() == b"the previous export"


def test_missing_onnx_packages_name_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # import fails, find_spec says missing
    with pytest.raises(ImportError, match=r'onnxscript: pip install "hf-cascadeformer\[onnx\]"'):
        export.export_onnx(tiny_classifier(), "unused.onnx", NUM_FRAMES)


# ----------------------------------------------------------------------------------------------------------------
# The command


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny two-person classifier whose feature extractor makes NUM_FRAMES frames."""
    folder = tmp_path_factory.mktemp("classifier")
    model = tiny_classifier()
    model.save_pretrained(folder)
    CascadeFormerFeatureExtractor.from_model_config(model.config, num_frames=NUM_FRAMES).save_pretrained(folder)
    return folder


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_export_command_writes_a_program_that_loads_and_gives_the_eager_logits(capsys, checkpoint, tmp_path):
    output = tmp_path / "deploy" / "model.pt2"
    status, out, err = run(capsys, "export", "--model", checkpoint, "--output", output)
    assert status == 0, err
    assert out.startswith(f"wrote {output} (torch; inputs skeletons, attention_mask; {NUM_FRAMES} frames")
    program = torch.export.load(output)
    skeletons, mask = clips(4, seed=5)
    with torch.no_grad():
        got = program.module()(skeletons, mask)
    model = CascadeFormerForSequenceClassification.from_pretrained(checkpoint).eval()
    assert max_difference(got, eager_logits(model, skeletons, mask)) <= 1e-5


def test_export_command_writes_onnx(capsys, checkpoint, tmp_path):
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    output = tmp_path / "model.onnx"
    status, out, err = run(capsys, "export", "-m", checkpoint, "-o", output, "--num-frames", NUM_FRAMES)
    assert status == 0, err
    assert out.startswith(f"wrote {output} (onnx;")
    skeletons, mask = clips(3, seed=9)
    got = export.onnxruntime_runner(output)(skeletons, mask)
    model = CascadeFormerForSequenceClassification.from_pretrained(checkpoint).eval()
    assert max_difference(got, eager_logits(model, skeletons, mask)) <= 1e-4


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--output", "model.bin"], "name the output .onnx or .pt2"),
        (["--output", "model.onnx", "--format", "torch"], "--format torch does not write a .onnx file"),
        (["--output", "model.pt2", "--num-frames", "0"], "--num-frames must be at least 1"),
        (["--output", "model.pt2", "--num-frames", "25"], "max_frames=24"),
        (["--output", "model.pt2", "--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_export_command_mistakes_are_one_line_errors(capsys, checkpoint, tmp_path, monkeypatch, extra, fragment):
    monkeypatch.chdir(tmp_path)
    status, _, err = run(capsys, "export", "--model", checkpoint, *extra)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("cascadeformer export: error: ") and fragment in lines[0], lines[0]
    assert list(tmp_path.iterdir()) == []


def test_export_command_needs_an_existing_checkpoint_and_the_onnx_extra(capsys, tmp_path, monkeypatch):
    status, _, err = run(capsys, "export", "--model", tmp_path / "missing", "--output", tmp_path / "model.pt2")
    assert status == 2 and "no such checkpoint folder" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setitem(sys.modules, "onnx", None)
    status, _, err = run(capsys, "export", "--model", tmp_path / "missing", "--output", tmp_path / "model.onnx")
    assert status == 2 and 'hf-cascadeformer[onnx]"' in err and len(err.strip().splitlines()) == 1
