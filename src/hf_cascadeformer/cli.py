"""The `cascadeformer` command line: thin wrappers over the package's pipeline, dataset builders, training functions
and pictures.

    cascadeformer predict CLIP [CLIP ...] --model CKPT [--top-k 5] [--json]
    cascadeformer render clip CLIP -o clip.gif -o strip.png [--model CKPT | --mask mask.npy]
    cascadeformer render curves RUN_DIR -o curves.png
    cascadeformer render confusion metrics_test.json -o confusion.png
    cascadeformer prepare BENCHMARK --raw-dir DIR --output-dir OUT [...]   (dataset_scripts/BENCHMARK.py)
    cascadeformer pretrain|finetune|evaluate|recipe [...]                  (hf_cascadeformer.training)
    cascadeformer info CHECKPOINT_OR_PRESET
    cascadeformer convert-official --dataset penn --variant 1.0 --checkpoint-dir DIR --output-dir OUT
    cascadeformer export --model CKPT --output model.onnx|model.pt2 [--num-frames N] [--format onnx|torch]
    cascadeformer pyskl-export DATASET -o annotations.pkl [--split-prefix xsub_]
    cascadeformer pyskl-import annotations.pkl --output-dir OUT [--split xsub_train=train ...] [--trust-pickle]
    cascadeformer ensemble MODEL [MODEL ...] --dataset DATASET [--split test] [--weights W ...] [--tta]

Mistakes in the command line or its inputs (a missing file, an unknown format, a clip that does not fit the model)
end with one line `cascadeformer <command>: error: ...` naming the file or option, and exit status 2: every
`ValueError` (the package's `UserInputError` family, which `SkeletonFileError` belongs to, and invalid arguments) and
`OSError` (missing or unreadable files) is reported so. `cascadeformer --debug ...` or `CASCADEFORMER_DEBUG=1` shows
the traceback instead. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from transformers import AutoConfig

from .configuration_cascadeformer import PRESETS, CascadeFormerConfig
from .data.errors import UserInputError
from .hub import is_local_reference
from .io import CLIP_FORMATS

TRAINING_COMMANDS = {
    "pretrain": "masked skeleton pretraining with Accelerate; --help for its options",
    "finetune": "fine-tune a classifier with Trainer (every TrainingArguments option); --help for its options",
    "evaluate": "metrics, per-class results and a confusion matrix of a classifier; --help for its options",
    "recipe": "build, pretrain, fine-tune and evaluate a benchmark in one command; --help for its options",
}


class UserError(UserInputError):
    """A mistake in the command line or its inputs: reported as one line, without a traceback."""


DEBUG_ENV = "CASCADEFORMER_DEBUG"
USER_ERRORS = (ValueError, OSError, ImportError)
"""What `main` reports as one line with exit status 2: `UserInputError` and any other `ValueError` (invalid input),
`OSError` (missing or unreadable files, no network), `ImportError` (a missing optional extra)."""


# ----------------------------------------------------------------------------------------------------------------
# info


def _info(args: argparse.Namespace) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification

    if args.checkpoint in PRESETS:
        config = CascadeFormerConfig.from_preset(args.checkpoint)
        names = _benchmark_label_names(args.checkpoint)
        if names is not None and len(names) == config.num_labels:
            config.id2label = dict(enumerate(names))  # presets hold the count; the names live in data/
    else:
        _check_model_reference(args.checkpoint)
        try:
            config = AutoConfig.from_pretrained(args.checkpoint)
        except OSError as error:
            raise UserError(f"cannot read a config from {args.checkpoint!r}: {_first_line(error)}") from error
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(config)
    summary = {
        "model_type": config.model_type,
        "frame_embedding": config.frame_embedding,
        "hidden_size": config.hidden_size,
        "layers": [config.num_hidden_layers, config.cascade_num_hidden_layers or config.num_hidden_layers],
        "skeleton": {
            "joints": config.num_joints,
            "channels": config.num_channels,
            "persons": config.num_persons,
            "max_frames": config.max_frames,
        },
        "parameters": sum(p.numel() for p in model.parameters()),
        "labels": [config.id2label[i] for i in range(config.num_labels)],
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    for key, value in summary.items():
        print(f"{key:>16}: {value}")


def _benchmark_label_names(preset: str) -> tuple[str, ...] | None:
    """The class names of a preset's benchmark, from its data module."""
    from .data.ntu import NTU60_ACTIONS, NTU120_ACTIONS
    from .data.nucla import NUCLA_LABELS
    from .data.penn_action import PENN_ACTION_LABELS

    names = {"penn_action": PENN_ACTION_LABELS, "nucla": NUCLA_LABELS, "ntu60": NTU60_ACTIONS, "ntu120": NTU120_ACTIONS}
    return names.get(preset.split("-")[0])


# ----------------------------------------------------------------------------------------------------------------
# predict


def _predict(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        raise UserError(f"--top-k must be at least 1, got {args.top_k}")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.num_frames is not None and args.num_frames < 1:
        raise UserError(f"--num-frames must be at least 1, got {args.num_frames}")
    device = _check_device(args.device)
    failures: dict[str, str] = {}
    for clip in args.clips:
        try:
            _check_clip_path(clip)
        except UserError as error:
            if args.debug:
                raise
            failures[clip] = str(error)
    classify = _load_pipeline(args.model, device)
    options = {"top_k": args.top_k, "batch_size": args.batch_size}
    preprocess_options = {} if args.num_frames is None else {"num_frames": args.num_frames}
    options.update(preprocess_options)
    # Each file is read and checked on its own first: a bad file is reported and the others are still classified.
    inputs, names = [], []
    for clip in args.clips:
        if clip in failures:
            continue
        try:
            skeleton, _ = classify.read_clip(clip)
            classify.preprocess({"skeleton": skeleton, "sample_id": clip}, **preprocess_options)
        except USER_ERRORS as error:
            if args.debug:
                raise
            failures[clip] = _first_line(error) if clip in str(error) else f"{clip}: {_first_line(error)}"
            continue
        inputs.append({"skeleton": skeleton, "sample_id": clip})
        names.append(clip)
    for message in failures.values():
        print(f"cascadeformer predict: error: {message}", file=sys.stderr)
    results = classify(inputs, **options) if inputs else []
    status = 2 if failures else 0
    if args.json:
        records = [{"file": clip, "predictions": top} for clip, top in zip(names, results, strict=True)]
        print(json.dumps(records, allow_nan=False))  # the pipeline never returns a NaN score; never write one
        return status
    if not results:
        return status
    width = max(len("action"), *(len(p["label"]) for top in results for p in top))
    for index, (clip, top) in enumerate(zip(names, results, strict=True)):
        if index:
            print()
        print(clip)
        print(f"  {'rank':>4}  {'action':<{width}}  {'probability':>11}")
        for rank, prediction in enumerate(top, start=1):
            print(f"  {rank:>4}  {prediction['label']:<{width}}  {prediction['score']:>11.4f}")
    return status


def _check_device(device: str | None) -> str | None:
    """`--device` must name a device this torch can use (checked before the model loads)."""
    if device is None:
        return None
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise UserError(f"--device {device!r}: not a device; expected cpu, cuda, cuda:N, mps, ...") from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }.get(parsed.type, True)
    if not available:
        raise UserError(f"--device {device}: this torch installation has no {parsed.type} device; use --device cpu")
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise UserError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    return device


def _load_pipeline(model: str, device: str | None) -> Any:
    from transformers import pipeline

    from .pipeline import TASK

    _check_model_reference(model)
    _quiet_transformers()
    try:
        return pipeline(TASK, model=model, device=device)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot load a classifier from {model!r}: {_first_line(error)}") from error


def _check_model_reference(model: str) -> None:
    """A model meant as a local folder must exist; a name that may be a Hub id and is not a local folder is looked
    up once on the Hub first, without retries (transformers' download retries for about 30 s when the Hub is
    unreachable, then reports a connection error that does not say the local folder is missing)."""
    if Path(model).expanduser().is_dir():
        return
    if is_local_reference(model):
        raise UserError(f"{model}: no such checkpoint folder")
    from huggingface_hub import HfApi, constants, try_to_load_from_cache
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    if constants.HF_HUB_OFFLINE or isinstance(try_to_load_from_cache(model, "config.json"), str):
        return  # transformers reads the cache
    try:
        HfApi().model_info(model, timeout=10)
    except RepositoryNotFoundError:
        raise UserError(f"{model}: no such local folder, nor a model on the Hub") from None
    except HfHubHTTPError as error:
        if error.response is not None and error.response.status_code < 500:
            return  # gated, rate-limited, ...: transformers says so
        raise UserError(f"{model}: no such local folder, and the Hub answered {_first_line(error)}") from None
    except Exception as error:  # no network: httpx's transport errors (not OSErrors), timeouts
        raise UserError(
            f"{model}: no such local folder, and the Hub could not be reached to look it up as a model id "
            f"({type(error).__name__})"
        ) from None


def _check_clip_path(clip: str) -> None:
    path = Path(clip)
    if not path.exists():
        raise UserError(f"{clip}: no such file")
    if path.suffix.lower() not in CLIP_FORMATS:
        raise UserError(f"{clip}: unknown clip format {path.suffix or '(no suffix)'!r}; supported: {_formats()}")


# ----------------------------------------------------------------------------------------------------------------
# render


def _render_clip(args: argparse.Namespace) -> None:
    import numpy as np

    from .io import load_clip
    from .visualization import frame_importance, render_clip_gif, render_clip_strip, require_matplotlib

    require_matplotlib()
    for output in args.output:
        if Path(output).suffix.lower() not in (".gif", ".png"):
            raise UserError(f"{output}: the output must end in .gif (animation) or .png (strip of frames)")
    if args.model and args.mask:
        raise UserError("--model (attention) and --mask (masked joints) colour the clip differently; pick one")
    _check_clip_path(args.clip)
    clip, metadata = load_clip(args.clip)
    title = args.title if args.title is not None else metadata["sample_id"]
    layout = _clip_layout(args.layout or metadata.get("skeleton_layout"), clip, args.clip)
    importance = mask = None
    if args.model:
        model, extractor = _load_model_and_extractor(args.model)
        if clip.shape[2:] != (extractor.num_joints, extractor.num_channels):
            raise UserError(
                f"{args.clip}: the clip has {clip.shape[2]} joints x {clip.shape[3]} channels, but {args.model} "
                f"expects {extractor.num_joints} x {extractor.num_channels}"
            )
        importance = frame_importance(model, extractor, clip)
    if args.mask:
        try:
            mask = np.load(args.mask, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise UserError(f"{args.mask}: not a readable .npy mask ({error})") from error
    for output in args.output:
        if Path(output).suffix.lower() == ".gif":
            written = render_clip_gif(
                clip,
                output,
                fps=args.fps,
                importance=importance,
                joint_mask=mask,
                title=title,
                max_frames=args.max_frames,
                layout=layout,
            )
        else:
            written = render_clip_strip(
                clip, output, num_panels=args.panels, importance=importance, joint_mask=mask, title=title, layout=layout
            )
        print(f"wrote {written}")


def _clip_layout(name: str | None, clip: Any, path: str) -> Any:
    """The skeleton layout a clip is drawn with: the one named (checked against the clip), else by joint count."""
    from .data.skeletons import resolve_layout

    _, _, joints, channels = clip.shape
    try:
        return resolve_layout(name, joints, channels)
    except (KeyError, ValueError) as error:
        raise UserError(f"{path}: {error}") from None


def _render_curves(args: argparse.Namespace) -> None:
    from .visualization import plot_training_curves

    print(f"wrote {plot_training_curves(args.run, args.output, title=args.title)}")


def _render_confusion(args: argparse.Namespace) -> None:
    from .visualization import plot_confusion_matrix

    path = Path(args.metrics)
    try:
        metrics = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise UserError(f"{path}: no such file") from error
    except (OSError, json.JSONDecodeError) as error:
        raise UserError(f"{path}: not a readable JSON file ({error})") from error
    if not isinstance(metrics, dict) or not {"confusion_matrix", "class_names"} <= metrics.keys():
        raise UserError(f"{path}: expected the metrics JSON of evaluate (with confusion_matrix and class_names)")
    title = args.title
    if title is None:
        title = f"{metrics.get('split', 'evaluation')}"
        if isinstance(metrics.get("accuracy"), float):
            title += f": top-1 {100 * metrics['accuracy']:.1f}%"
    print(f"wrote {plot_confusion_matrix(metrics['confusion_matrix'], metrics['class_names'], args.output, title)}")


def _load_model_and_extractor(checkpoint: str) -> tuple[Any, Any]:
    from transformers import AutoFeatureExtractor, AutoModelForSequenceClassification

    from .data.model_inputs import feature_extractor_for

    _check_model_reference(checkpoint)
    _quiet_transformers()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(checkpoint)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot load a classifier from {checkpoint!r}: {_first_line(error)}") from error
    try:
        extractor = AutoFeatureExtractor.from_pretrained(checkpoint)
    except OSError:
        extractor = feature_extractor_for(model.config)
    return model, extractor


# ----------------------------------------------------------------------------------------------------------------
# prepare, pretrain, finetune, evaluate, recipe: forwarded to the dataset builders and the training functions


def _prepare(argv: Sequence[str]) -> int:
    from .data.benchmarks import BENCHMARKS
    from .data.dataset_cli import run_cli

    names = ", ".join(BENCHMARKS)
    usage = (
        "usage: cascadeformer prepare BENCHMARK --raw-dir DIR --output-dir OUT [options]\n\n"
        f"Build a benchmark's train/test DatasetDict from its raw files. BENCHMARK is one of: {names}.\n"
        "`cascadeformer prepare BENCHMARK --help` lists the options (the same as dataset_scripts/BENCHMARK.py)."
    )
    if not argv or argv[0] in ("-h", "--help"):
        print(usage, file=sys.stdout if argv else sys.stderr)
        if argv:
            return 0
        raise UserError(f"name a benchmark: {names}")
    name = argv[0].replace("-", "_").lower()
    if name not in BENCHMARKS:
        raise UserError(f"unknown benchmark {argv[0]!r}; choose one of: {names}")
    # The dataset scripts exit with 1 on a build error (their own convention); the command line's is 2.
    status = run_cli(name, list(argv[1:]))
    return 2 if status == 1 else status


def _train(name: str, argv: Sequence[str]) -> int:
    """`pretrain`, `finetune`, `evaluate` and `recipe`: the `hf_cascadeformer.training` functions, called with
    their arguments parsed from the command line."""
    from .training import evaluation, finetuning, pretraining, recipe_runner

    modules = {"pretrain": pretraining, "finetune": finetuning, "evaluate": evaluation, "recipe": recipe_runner}
    modules[name].main(list(argv), prog=f"cascadeformer {name}")
    return 0


FORWARDED: dict[str, Callable[[Sequence[str]], int]] = {
    "prepare": _prepare,
    **{name: (lambda argv, name=name: _train(name, argv)) for name in TRAINING_COMMANDS},
}


# ----------------------------------------------------------------------------------------------------------------
# The parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cascadeformer",
        description="CascadeFormer skeleton action recognition on the Hugging Face stack.",
        epilog="`cascadeformer COMMAND --help` describes each command.",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"before COMMAND: show the full traceback of an error instead of one line (or set {DEBUG_ENV}=1)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_predict(commands)
    _add_render(commands)
    commands.add_parser(
        "prepare",
        add_help=False,
        help="build a benchmark dataset from its raw files (dataset_scripts/*.py); prepare BENCHMARK --help",
    )
    for name, text in TRAINING_COMMANDS.items():
        commands.add_parser(name, add_help=False, help=text)
    _add_info(commands)
    _add_convert_official(commands)
    _add_export(commands)
    _add_pyskl(commands)
    _add_ensemble(commands)
    return parser


def _add_predict(commands: Any) -> None:
    predict = commands.add_parser(
        "predict",
        help="top-k actions of clip files with a classifier checkpoint",
        description="Classify skeleton clip files with the skeleton-action-recognition pipeline and print the top-k "
        f"actions of each. Clip files: {_formats()}.",
    )
    predict.add_argument("clips", nargs="+", metavar="CLIP", help="clip files (NTU .skeleton, N-UCLA .json, ...)")
    predict.add_argument("--model", "-m", required=True, help="a classifier checkpoint folder or Hub id")
    predict.add_argument("--top-k", "-k", type=int, default=5, help="actions per clip [%(default)s]")
    predict.add_argument("--json", action="store_true", help="print JSON instead of a table")
    predict.add_argument("--batch-size", type=int, default=8, help="clips per forward pass [%(default)s]")
    predict.add_argument("--num-frames", type=int, default=None, help="frames per clip [the checkpoint's setting]")
    predict.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps, ... [first GPU, else cpu]")
    predict.set_defaults(handler=_predict)


def _add_render(commands: Any) -> None:
    render = commands.add_parser(
        "render",
        help="draw a clip (GIF or PNG strip), training curves or a confusion matrix (needs matplotlib)",
        description='Pictures. Needs matplotlib: pip install "hf-cascadeformer[viz]".',
    )
    kinds = render.add_subparsers(dest="kind", required=True, metavar="WHAT")
    clip = kinds.add_parser(
        "clip",
        help="a clip as an animated GIF and/or a strip of frames (PNG)",
        description="Draw a clip with its dataset's bone graph (chosen from the joint count: NTU 25, N-UCLA 20, "
        "Penn Action 13), one colour per person. --model colours each frame by the classifier's stage-1 attention; "
        "--mask marks the masked joints of masked pretraining.",
    )
    clip.add_argument("clip", metavar="CLIP", help=f"a clip file: {_formats()}")
    clip.add_argument(
        "-o", "--output", action="append", required=True, help="out.gif (animation) or out.png (strip); repeatable"
    )
    clip.add_argument("--model", help="colour frames by the attention of this classifier checkpoint")
    clip.add_argument("--mask", help="a boolean .npy mask, (frames, joints) or (persons, frames, joints), True=masked")
    clip.add_argument("--fps", type=float, default=15.0, help="GIF frames per second [%(default)s]")
    clip.add_argument("--max-frames", type=int, default=None, help="GIF: at most this many evenly spaced frames")
    clip.add_argument("--panels", type=int, default=8, help="PNG strip: number of frames shown [%(default)s]")
    clip.add_argument("--title", default=None, help="title [the sample name]")
    clip.add_argument(
        "--layout",
        default=None,
        help="skeleton layout whose bones are drawn (ntu, ntu_2d, nucla, penn) [the clip file's, else by joints]",
    )
    clip.set_defaults(handler=_render_clip)

    curves = kinds.add_parser(
        "curves",
        help="losses, metrics and learning rate of a training run",
        description="Plot a run folder's trainer_state.json (finetune; also found in its latest checkpoint-*) "
        "and/or pretrain_log.jsonl (pretrain) against the step.",
    )
    curves.add_argument("run", metavar="RUN", help="a run folder (or one trainer_state.json / pretrain_log.jsonl)")
    curves.add_argument("-o", "--output", required=True, help="the PNG to write")
    curves.add_argument("--title", default=None)
    curves.set_defaults(handler=_render_curves)

    confusion = kinds.add_parser(
        "confusion",
        help="a confusion matrix from the metrics JSON of `cascadeformer evaluate`",
        description="Plot the row-normalised confusion matrix stored in metrics_<split>.json by evaluate.",
    )
    confusion.add_argument("metrics", metavar="METRICS_JSON")
    confusion.add_argument("-o", "--output", required=True, help="the PNG to write")
    confusion.add_argument("--title", default=None)
    confusion.set_defaults(handler=_render_confusion)


def _convert_official(args: argparse.Namespace) -> None:
    from .convert_official import convert_official

    output = convert_official(
        args.checkpoint_dir,
        args.dataset,
        args.variant,
        args.output_dir,
        cross_attention_heads=args.cross_attention_heads,
    )
    print(f"converted the official {args.dataset} {args.variant} checkpoint to {output}")


def _add_convert_official(commands: Any) -> None:
    convert = commands.add_parser(
        "convert-official",
        help="convert the authors' released checkpoints (five .pt state dicts) to a Hugging Face checkpoint",
        description="Read {Penn,NUCLA,NTU}_finetuned_{T1,T2,cross_attn,head}.pt (torch.load with weights_only=True), "
        "check every key and shape, and save_pretrained a classifier that reproduces the official computation "
        "(post-LN, ReLU, unmasked padding).",
    )
    convert.add_argument("--dataset", required=True, choices=("penn", "nucla", "ntu"))
    convert.add_argument("--variant", required=True, choices=("1.0", "1.1", "1.2"))
    convert.add_argument("--checkpoint-dir", required=True, help="folder with the official .pt files")
    convert.add_argument("--output-dir", required=True, help="where the converted checkpoint goes")
    convert.add_argument(
        "--cross-attention-heads",
        type=int,
        default=None,
        help="override the cross-attention head count (the official Penn/N-UCLA inference scripts use 4) "
        "[the training value, 8]",
    )
    convert.set_defaults(handler=_convert_official)


# ----------------------------------------------------------------------------------------------------------------
# export

EXPORT_SUFFIXES = {".onnx": "onnx", ".pt2": "torch"}


def _export(args: argparse.Namespace) -> None:
    from . import export

    output = Path(args.output)
    suffix_format = EXPORT_SUFFIXES.get(output.suffix.lower())
    export_format = args.format or suffix_format
    if export_format is None:
        raise UserError(f"{output}: name the output .onnx or .pt2, or choose --format onnx|torch")
    if suffix_format is not None and suffix_format != export_format:
        raise UserError(f"{output}: --format {export_format} does not write a {output.suffix} file")
    if args.num_frames is not None and args.num_frames < 1:
        raise UserError(f"--num-frames must be at least 1, got {args.num_frames}")
    if args.batch_size is not None and args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    if output.is_dir():
        raise UserError(f"{output}: is a folder; name the file to write")
    if export_format == "onnx":
        export.require_onnx()  # before the model loads: a missing extra is the quicker answer
    model, extractor = _load_model_and_extractor(args.model)
    num_frames = args.num_frames if args.num_frames is not None else extractor.num_frames
    if num_frames is None:
        raise UserError(f"{args.model} pads clips to the longest of a batch; give the frame count with --num-frames")
    options = {"batch_size": args.batch_size, "attention_mask": not args.no_attention_mask}
    if export_format == "onnx":
        written = export.export_onnx(model, output, num_frames, **options)
    else:
        written = export.save_exported(export.export_classifier(model, num_frames, **options), output)
    batch = "any batch size" if args.batch_size is None else f"batch size {args.batch_size}"
    inputs = "skeletons" if args.no_attention_mask else "skeletons, attention_mask"
    print(f"wrote {written} ({export_format}; inputs {inputs}; {num_frames} frames, {batch}; logits match eager)")


def _add_export(commands: Any) -> None:
    export = commands.add_parser(
        "export",
        help="export a classifier for deployment: ONNX (.onnx) or torch.export (.pt2), checked against eager",
        description="Export a classifier checkpoint for a fixed frame count: inputs skeletons (batch, persons, "
        "frames, joints, channels) float32 and attention_mask (batch, frames) int64, output logits (batch, labels). "
        "The batch axis is dynamic unless --batch-size is given. The written model's logits are compared with the "
        'eager model\'s before the file is put in place. ONNX needs pip install "hf-cascadeformer[onnx]"; load a '
        ".pt2 with torch.export.load(path).module().",
    )
    export.add_argument("--model", "-m", required=True, help="a classifier checkpoint folder or Hub id")
    export.add_argument("--output", "-o", required=True, help="the file to write: model.onnx or model.pt2")
    export.add_argument(
        "--num-frames",
        type=int,
        default=None,
        help="frames per clip, fixed in the exported model [the checkpoint's feature extractor setting]",
    )
    export.add_argument(
        "--format", choices=("onnx", "torch"), default=None, help="onnx or torch (.pt2) [from the output suffix]"
    )
    export.add_argument("--batch-size", type=int, default=None, help="a fixed batch size [dynamic]")
    export.add_argument(
        "--no-attention-mask", action="store_true", help="take skeletons only (every frame counts as valid)"
    )
    export.set_defaults(handler=_export)


# ----------------------------------------------------------------------------------------------------------------
# pyskl annotation files


def _pyskl_export(args: argparse.Namespace) -> None:
    from .data.builders import load_benchmark
    from .data.pyskl import export_pyskl

    output = Path(args.output)
    if output.is_dir():
        raise UserError(f"{output}: is a folder; name the .pkl file to write")
    dataset_dict = load_benchmark(args.dataset, args.dataset_config)
    written = export_pyskl(dataset_dict, output, split_prefix=args.split_prefix)
    counts = ", ".join(f"{args.split_prefix}{name} {len(split)}" for name, split in dataset_dict.items())
    print(f"wrote {written} (pyskl annotations; {counts})")


def _pyskl_import(args: argparse.Namespace) -> None:
    import shutil
    import tempfile

    from .data.builders import save_dataset_dict
    from .data.pyskl import import_pyskl

    splits = None
    if args.split:
        splits = {}
        for item in args.split:
            source, _, target = item.partition("=")
            if not source:
                raise UserError(f"--split {item!r}: expected PYSKL_SPLIT or PYSKL_SPLIT=NAME")
            splits[source] = target or source
    class_names = None
    if args.class_names:
        try:
            class_names = [line.strip() for line in Path(args.class_names).read_text().splitlines() if line.strip()]
        except OSError as error:
            raise UserError(f"{args.class_names}: cannot read the class names ({error.strerror})") from error
    work_dir = Path(tempfile.mkdtemp(prefix="hf-cascadeformer-pyskl-"))
    try:
        dataset_dict = import_pyskl(
            args.annotations,
            splits=splits,
            class_names=class_names,
            num_persons=args.num_persons,
            append_scores=args.append_scores,
            trust_pickle=args.trust_pickle,
            work_dir=work_dir,
            layout=args.layout,
        )
        output = save_dataset_dict(dataset_dict, args.output_dir)
        counts = ", ".join(f"{name} {len(split)}" for name, split in dataset_dict.items())
        del dataset_dict  # drop the memory maps of the work files before they go
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    print(f"saved {counts} clips to {output}")


def _add_pyskl(commands: Any) -> None:
    export = commands.add_parser(
        "pyskl-export",
        help="write a built dataset as a pyskl / mmaction2 annotation file (.pkl)",
        description="Write a dataset built by `cascadeformer prepare` (a folder or Hub id) as pyskl's annotation "
        "pickle: split (name -> frame_dir list) and annotations (keypoint (persons, frames, joints, channels), "
        "label, frame_dir, total_frames, plus the metadata columns).",
    )
    export.add_argument("dataset", help="a dataset folder built by `cascadeformer prepare`, or a Hub dataset id")
    export.add_argument("--output", "-o", required=True, help="the .pkl file to write")
    export.add_argument("--dataset-config", default=None, help="protocol of a Hub dataset, e.g. xview")
    export.add_argument("--split-prefix", default="", help="prefix of the split names, e.g. xsub_ [none]")
    export.set_defaults(handler=_pyskl_export)

    imported = commands.add_parser(
        "pyskl-import",
        help="turn a pyskl / mmaction2 annotation file (.pkl) into a dataset folder",
        description="Read pyskl's annotation pickle into a dataset folder with this package's columns (load it "
        "with load_benchmark or --dataset). Only lists, dicts and numpy arrays are unpickled unless you pass "
        "--trust-pickle: a pickle can run code when loaded.",
    )
    imported.add_argument("annotations", help="the pyskl .pkl file")
    imported.add_argument("--output-dir", required=True, help="the dataset folder to write")
    imported.add_argument(
        "--split",
        action="append",
        metavar="PYSKL_SPLIT[=NAME]",
        help="import this split (renamed to NAME), e.g. --split xsub_train=train --split xsub_val=test; "
        "repeatable [every split, under its own name]",
    )
    imported.add_argument("--class-names", default=None, help="a text file with one action name per line [0, 1, ...]")
    imported.add_argument("--num-persons", type=int, default=None, help="person slots [the most in any clip]")
    imported.add_argument("--append-scores", action="store_true", help="keep keypoint_score as a last channel")
    imported.add_argument(
        "--layout",
        default=None,
        help="skeleton layout the dataset records, e.g. ntu, ntu_2d, nucla, penn (data.skeletons.LAYOUTS) "
        "[the file's, if written by pyskl-export; else inferred from the joint count where needed]",
    )
    imported.add_argument(
        "--trust-pickle",
        action="store_true",
        help="unpickle anything the file holds (runs its code): trusted files only",
    )
    imported.set_defaults(handler=_pyskl_import)


# ----------------------------------------------------------------------------------------------------------------
# ensemble


def _ensemble(args: argparse.Namespace) -> None:
    from .inference import IDENTITY_VIEWS, default_tta_views, ensemble_predictions, random_tta_views
    from .training import load_dataset_dict

    if args.weights is not None and len(args.weights) != len(args.models):
        raise UserError(f"--weights: got {len(args.weights)} weights for {len(args.models)} models")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.tta_views is not None and args.tta_views < 1:
        raise UserError(f"--tta-views must be at least 1, got {args.tta_views}")
    splits = load_dataset_dict(args.dataset, args.dataset_config)
    if args.split not in splits:
        raise UserError(f"split {args.split!r} not in {args.dataset} (it has {', '.join(splits)})")
    dataset = splits[args.split]
    if len(dataset) == 0:
        raise UserError(f"split {args.split!r} of {args.dataset} is empty")
    models = {}
    for reference in args.models:
        if reference in models:
            raise UserError(f"{reference} is given twice; weight it with --weights instead")
        models[reference] = _load_model_and_extractor(reference)
    if args.tta_views is not None:
        views = random_tta_views(args.tta_views, seed=args.seed, max_rotation_radians=args.tta_max_rotation)
    elif args.tta:
        views = default_tta_views()
    else:
        views = IDENTITY_VIEWS  # the plain prediction
    result = ensemble_predictions(
        models, dataset, weights=args.weights, views=views, scores=args.scores, batch_size=args.batch_size
    )
    summary = {
        "dataset": args.dataset,
        "split": args.split,
        "num_clips": len(result.labels),
        "scores": args.scores,
        "tta_views": [vars(view) for view in views] if len(views) > 1 else None,
        "class_names": list(dataset.features["label"].names),
        **result.summary(),
    }
    output = Path(args.output or f"ensemble_{args.split}.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(summary, indent=2) + "\n")
    width = max(len("ensemble"), *(len(name) for name in result.names))
    print(f"{args.dataset} {args.split}: {len(result.labels)} clips, {args.scores} scores, {len(views)} view(s)")
    print(f"  {'model':<{width}}  {'weight':>6}  {'top-1':>6}  {'top-5':>6}  {'mean class':>10}")
    rows = [*zip(result.names, result.weights, strict=True), ("ensemble", 1.0)]
    for name, weight in rows:
        metrics = result.metrics[name]
        print(
            f"  {name:<{width}}  {weight:>6.3f}  {100 * metrics['accuracy']:>5.1f}%  "
            f"{100 * metrics['top5_accuracy']:>5.1f}%  {100 * metrics['mean_class_accuracy']:>9.1f}%"
        )
    print(f"wrote {output}")


def _add_ensemble(commands: Any) -> None:
    ensemble = commands.add_parser(
        "ensemble",
        help="score-level fusion of several classifiers (streams) on a dataset split, with metrics",
        description="Classify a dataset split with each model, add their scores with weights (softmax "
        "probabilities by default; --scores logits adds raw outputs, as CTR-GCN's ensemble does) and report "
        "top-1, top-5 and mean class accuracy of every model and of the fusion. The models must share the "
        "dataset's class names; each uses its own feature extractor.",
    )
    ensemble.add_argument("models", nargs="+", metavar="MODEL", help="classifier checkpoint folders or Hub ids")
    ensemble.add_argument("--dataset", required=True, help="a built dataset folder, a Hub id, or 'embedded'")
    ensemble.add_argument("--dataset-config", default=None, help="protocol of a Hub dataset, e.g. xsub")
    ensemble.add_argument("--split", default="test", help="the split to classify [%(default)s]")
    ensemble.add_argument("--weights", type=float, nargs="+", default=None, help="one weight per model [equal]")
    ensemble.add_argument("--scores", choices=("softmax", "logits"), default="softmax", help="[%(default)s]")
    ensemble.add_argument(
        "--tta", action="store_true", help="test-time views: whole clip + 3 crops of 80%% (start, middle, end)"
    )
    ensemble.add_argument("--tta-views", type=int, default=None, help="N random views drawn from --seed instead")
    ensemble.add_argument(
        "--tta-max-rotation", type=float, default=0.0, help="random views turn 3D clips up to this (radians) [0]"
    )
    ensemble.add_argument("--seed", type=int, default=0, help="seed of the random views [%(default)s]")
    ensemble.add_argument("--batch-size", type=int, default=64, help="clips per forward pass [%(default)s]")
    ensemble.add_argument("--output", "-o", default=None, help="metrics JSON to write [ensemble_SPLIT.json]")
    ensemble.set_defaults(handler=_ensemble)


def _add_info(commands: Any) -> None:
    info = commands.add_parser("info", help="show a checkpoint's or preset's config, parameter count and labels")
    info.add_argument("checkpoint", help="a checkpoint folder, a Hub id or a preset name such as penn_action-1.0")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(handler=_info)


# ----------------------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = bool(os.environ.get(DEBUG_ENV))
    if argv and argv[0] == "--debug":  # before the command: the traceback of any error, not one line
        debug, argv = True, argv[1:]
    command = argv[0] if argv else None
    try:
        if command in FORWARDED:
            # Their own parsers read the rest of the line, --help included.
            return _exit_status(command, lambda: FORWARDED[command](argv[1:]), debug)
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exit_:  # --help (0) or a usage error argparse has already reported (2)
            return exit_.code if isinstance(exit_.code, int) else 2
        args.debug = debug
        return _exit_status(args.command, lambda: args.handler(args), debug)
    except UserError as error:
        if debug:
            raise
        return _fail(command, str(error))
    except BrokenPipeError:  # `cascadeformer ... | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _exit_status(command: str, run: Callable[[], Any], debug: bool = False) -> int:
    """Run a command; user mistakes become one line on stderr and exit status 2 (unless `debug`)."""
    if debug or os.environ.get(DEBUG_ENV):
        status = run()
        return status if isinstance(status, int) else 0
    try:
        status = run()
    except BrokenPipeError:
        raise
    except USER_ERRORS as error:
        return _fail(command, _first_line(error))
    except SystemExit as exit_:  # a forwarded script's argparse (already reported) or `SystemExit("error: ...")`
        if isinstance(exit_.code, str):
            return _fail(command, exit_.code.removeprefix("error: "))
        return exit_.code or 0
    return status if isinstance(status, int) else 0


def run_script(main_function: Callable[[list[str]], Any], argv: Sequence[str] | None = None) -> int:
    """The exit status of an example script's `main(argv)`, with the command line's error rule: a user mistake is
    one line on stderr and status 2 (`CASCADEFORMER_DEBUG=1` shows the traceback). For `sys.exit(run_script(main))`.
    """
    program = Path(sys.argv[0]).name
    arguments = list(sys.argv[1:] if argv is None else argv)
    status = _exit_status(program, lambda: main_function(arguments))
    return status


def _fail(command: str | None, message: str) -> int:
    program = (
        command if command and command.endswith(".py") else f"cascadeformer {command}" if command else "cascadeformer"
    )
    print(f"{program}: error: {message}", file=sys.stderr)
    return 2


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _formats() -> str:
    return ", ".join(f"{suffix} ({what})" for suffix, what in CLIP_FORMATS.items())


def _quiet_transformers() -> None:
    from transformers.utils import logging

    logging.disable_progress_bar()


if __name__ == "__main__":
    sys.exit(main())
