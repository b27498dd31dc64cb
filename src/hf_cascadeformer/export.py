"""Export a CascadeFormer classifier for deployment: a `torch.export` program (`.pt2`) or an ONNX model.

Both take `skeletons` `(batch, persons, frames, joints, channels)` float32, as the feature extractor makes them, and
optionally `attention_mask` `(batch, frames)` int64, and return `logits` `(batch, num_labels)`. The frame count
and the persons axis (`config.num_persons`) are fixed at export time; the batch axis is dynamic unless a batch
size is given. While tracing, the classifier keeps every (clip, person) row instead of dropping absent persons by
boolean indexing (see `fold_persons`), so the graph has no data-dependent shape and gives the eager logits.

Unlike the eager model, an exported program does not check its inputs: NaN coordinates or a clip whose
`attention_mask` marks no valid frame give NaN logits instead of a `ValueError`.

    from hf_cascadeformer.export import export_classifier, export_onnx, save_exported

    program = export_classifier(model, num_frames=64)        # torch.export.ExportedProgram
    save_exported(program, "model.pt2")                       # torch.export.load("model.pt2").module()(x, mask)
    export_onnx(model, "model.onnx", num_frames=64)           # needs: pip install "hf-cascadeformer[onnx]"
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from .configuration_cascadeformer import CascadeFormerConfig

ONNX_EXTRA = "onnx"
INPUT_NAMES = ("skeletons", "attention_mask")
OUTPUT_NAME = "logits"
# The classifiers this module exports (an ensemble's logits are its fused log-probabilities).
CLASSIFIER_CLASSES = ("CascadeFormerForSequenceClassification", "CascadeFormerEnsembleForSequenceClassification")


class ClassifierLogits(nn.Module):
    """The classifier reduced to what a deployed model needs: skeletons (and the frame mask) in, logits out."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, skeletons: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(skeletons=skeletons, attention_mask=attention_mask, return_dict=True).logits


def example_inputs(
    config: CascadeFormerConfig,
    num_frames: int,
    batch_size: int = 2,
    attention_mask: bool = True,
    seed: int = 0,
) -> tuple[torch.Tensor, ...]:
    """Random inputs of the exported signature: `(skeletons,)` or `(skeletons, attention_mask)`.

    With two or more clips and persons, the last clip's later persons are absent (all zeros) and, with a mask,
    its last quarter of frames is padding, so that a check on these inputs covers both."""
    generator = torch.Generator().manual_seed(seed)
    shape = (batch_size, config.num_persons, num_frames, config.num_joints, config.num_channels)
    skeletons = torch.randn(shape, generator=generator)
    if batch_size > 1 and config.num_persons > 1:
        skeletons[-1, 1:] = 0.0
    if not attention_mask:
        return (skeletons,)
    mask = torch.ones(batch_size, num_frames, dtype=torch.long)
    if batch_size > 1 and num_frames > 1:
        mask[-1, num_frames - max(1, num_frames // 4) :] = 0
        skeletons[-1, :, num_frames - max(1, num_frames // 4) :] = 0.0
    return skeletons, mask


def export_classifier(
    model: nn.Module,
    num_frames: int,
    *,
    batch_size: int | None = None,
    attention_mask: bool = True,
    check: bool = True,
    atol: float = 1e-5,
) -> torch.export.ExportedProgram:
    """Export a `CascadeFormerForSequenceClassification` (in evaluation mode) with `torch.export`.

    Args:
        model: the classifier; its training mode is restored afterwards.
        num_frames: the frame count of every input (at most `config.max_frames`); fixed in the program.
        batch_size: a fixed batch size, or None for a dynamic batch axis.
        attention_mask: whether the program takes `attention_mask` as its second input (without it every frame
            counts as valid).
        check: run the program and the eager model on fresh inputs (another batch size when the batch is dynamic)
            and raise `RuntimeError` when the logits differ by more than `atol` (plus the same relative share).

    Returns:
        The `torch.export.ExportedProgram`; `program.module()(skeletons[, attention_mask])` returns the logits.
    """
    config = _check_classifier(model)
    _check_sizes(config, num_frames, batch_size)
    wrapper = ClassifierLogits(model)
    traced_batch = 2 if batch_size is None else batch_size
    inputs = tuple(x.to(_device(model)) for x in example_inputs(config, num_frames, traced_batch, attention_mask))
    dynamic_shapes = None
    if batch_size is None:
        batch = torch.export.Dim("batch", min=1)
        dynamic_shapes = tuple({0: batch} for _ in inputs)
    with _evaluation_mode(model):
        program = torch.export.export(wrapper, inputs, dynamic_shapes=dynamic_shapes)
        if check:
            module = program.module()
            _check_against_eager(wrapper, module, config, num_frames, batch_size, attention_mask, atol)
    return program


def save_exported(program: torch.export.ExportedProgram, path: str | os.PathLike) -> Path:
    """`torch.export.save` to `path` through a temporary file, so a failure never leaves a partial `.pt2`."""
    path = Path(path)

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as handle:
            torch.export.save(program, handle)

    return _write_atomically(path, write)


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    num_frames: int,
    *,
    batch_size: int | None = None,
    attention_mask: bool = True,
    check: bool = True,
    atol: float = 1e-4,
) -> Path:
    """Export the classifier to one ONNX file (`torch.onnx.export(..., dynamo=True)` of `export_classifier`'s
    program), with inputs `skeletons` and `attention_mask` and output `logits`.

    The file is written through a temporary file and renamed into place only after it was saved and, with `check`,
    after onnxruntime's logits on fresh inputs matched the eager model's within `atol` (plus the same relative
    share); otherwise `RuntimeError` and no file. Needs `onnx` and `onnxscript`, and `onnxruntime` for the check:
    `pip install "hf-cascadeformer[onnx]"`, else `ImportError` naming that extra.
    """
    require_onnx(runtime=check)
    config = _check_classifier(model)
    program = export_classifier(model, num_frames, batch_size=batch_size, attention_mask=attention_mask, check=False)
    names = list(INPUT_NAMES[: 2 if attention_mask else 1])
    with _quiet_onnx_exporter():
        onnx_program = torch.onnx.export(
            program, dynamo=True, input_names=names, output_names=[OUTPUT_NAME], verbose=False
        )

    def write(temporary: Path) -> None:
        # One self-contained file: the weights of these models are far below ONNX's 2 GB protobuf limit.
        onnx_program.save(temporary, external_data=False)
        if check:
            run = onnxruntime_runner(temporary)
            with _evaluation_mode(model):
                _check_against_eager(ClassifierLogits(model), run, config, num_frames, batch_size, attention_mask, atol)

    return _write_atomically(Path(path), write)


def onnxruntime_runner(path: str | os.PathLike) -> Callable[..., torch.Tensor]:
    """A function `run(skeletons[, attention_mask]) -> logits` over an exported ONNX file, on onnxruntime's CPU
    provider; tensors in, a tensor out."""
    require_onnx(runtime=True)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [node.name for node in session.get_inputs()]

    def run(*inputs: torch.Tensor) -> torch.Tensor:
        feeds = {name: tensor.detach().cpu().numpy() for name, tensor in zip(names, inputs, strict=True)}
        return torch.from_numpy(session.run([OUTPUT_NAME], feeds)[0])

    return run


def require_onnx(runtime: bool = True) -> None:
    """Raise `ImportError` naming the `onnx` extra when the ONNX exporter's packages (and onnxruntime) are missing."""
    import importlib.util

    needed = ["onnx", "onnxscript"] + (["onnxruntime"] if runtime else [])
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(
            f'ONNX export needs {", ".join(missing)}: pip install "hf-cascadeformer[{ONNX_EXTRA}]" '
            f"(or pip install {' '.join(needed)})"
        )


# ----------------------------------------------------------------------------------------------------------------


def _check_classifier(model: nn.Module) -> CascadeFormerConfig:
    config = getattr(model, "config", None)
    # By name: a checkpoint loaded as remote code has its own copies of the classes.
    if type(model).__name__ not in CLASSIFIER_CLASSES:
        raise ValueError(
            f"expected one of {', '.join(CLASSIFIER_CLASSES)}, got {type(model).__name__}; load the checkpoint "
            "with AutoModelForSequenceClassification"
        )
    return config


def _check_sizes(config: CascadeFormerConfig, num_frames: int, batch_size: int | None) -> None:
    if not 1 <= num_frames <= config.max_frames:
        raise ValueError(f"num_frames must be between 1 and config.max_frames={config.max_frames}, got {num_frames}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be at least 1 (or None for a dynamic batch), got {batch_size}")


@contextlib.contextmanager
def _evaluation_mode(model: nn.Module) -> Iterator[None]:
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(training)


def _check_against_eager(
    eager: nn.Module,
    exported: Callable[..., torch.Tensor],
    config: CascadeFormerConfig,
    num_frames: int,
    batch_size: int | None,
    attention_mask: bool,
    atol: float,
) -> None:
    """Compare on inputs other than the traced ones: another seed, and another batch size when it is dynamic."""
    inputs = example_inputs(config, num_frames, 3 if batch_size is None else batch_size, attention_mask, seed=1)
    inputs = tuple(tensor.to(_device(eager)) for tensor in inputs)
    with torch.no_grad():
        expected = eager(*inputs).float().cpu()
        got = exported(*inputs).float().cpu()
    if got.shape != expected.shape or not torch.allclose(got, expected, rtol=atol, atol=atol):
        difference = (got - expected).abs().max().item() if got.shape == expected.shape else float("nan")
        raise RuntimeError(
            f"the exported model's logits differ from the eager model's (max abs difference {difference:.3g}, "
            f"shapes {tuple(got.shape)} and {tuple(expected.shape)}); the export is not faithful"
        )


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _write_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """Let `write` fill a hidden temporary file next to `path`, then rename it into place (atomic on one file
    system); on any failure the temporary file is removed and `path` is left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def _quiet_onnx_exporter() -> Iterator[None]:
    """Silence the exporter's chatter that says nothing about this model (torchvision operators it skips, a
    deprecation inside torch, the dynamic axis name it reuses)."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*LeafSpec.*", category=FutureWarning)
            warnings.filterwarnings("ignore", message=r"# The axis name", category=UserWarning)
            yield
    finally:
        registration.setLevel(level)
