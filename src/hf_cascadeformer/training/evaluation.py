"""Evaluating a classifier checkpoint on one split: metrics JSON, a confusion matrix with action names, and a
readable summary with per-class results.

Writes `<output_dir>/metrics_<split>.json` (top-1, top-5, mean class accuracy, weighted precision/recall/F1,
per-class recall, the confusion matrix) and `<output_dir>/confusion_<split>.png` (needs matplotlib:
`pip install "hf-cascadeformer[viz]"`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoFeatureExtractor, AutoModelForSequenceClassification, HfArgumentParser

from ..data.collator import SkeletonCollator
from ..inference import default_tta_views, predict_dataset
from ..metrics import classification_metrics
from .arguments import DataArguments, EvaluateArguments
from .common import DataGeometry, check_geometry, load_dataset_dict, warn_if_bf16_is_slow
from .console import classification_summary, per_class_recall, per_class_table, quiet_progress_bars


def parse_evaluate_args(
    argv: Sequence[str] | None = None, prog: str | None = None
) -> tuple[EvaluateArguments, DataArguments]:
    """The command line of evaluation."""
    parser = HfArgumentParser((EvaluateArguments, DataArguments), prog=prog, description=__doc__)
    return parser.parse_args_into_dataclasses(args=list(argv) if argv is not None else None)


@torch.inference_mode()
def predict(
    model: Any, dataset: Any, collate: SkeletonCollator, batch_size: int, bf16: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels of every clip of a numpy-formatted split."""
    autocast = torch.autocast(model.device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    logits, labels = [], []
    for start in range(0, len(dataset), batch_size):
        batch = collate(dataset[start : start + batch_size])
        labels.append(batch.pop("labels").numpy())
        with autocast:
            logits.append(model(**{k: v.to(model.device) for k, v in batch.items()}).logits.float().cpu().numpy())
    return np.concatenate(logits), np.concatenate(labels)


def evaluate(args: EvaluateArguments, data_args: DataArguments | None = None) -> dict[str, Any]:
    """Evaluate `args.model` on a split; returns what `metrics_<split>.json` holds."""
    data_args = data_args or DataArguments()
    if not sys.stderr.isatty():
        quiet_progress_bars()  # no carriage-return bars in redirected output
    splits = load_dataset_dict(data_args.dataset, data_args.dataset_config, seed=args.seed)
    if args.split not in splits:
        raise SystemExit(f"error: split {args.split!r} not in the dataset (it has {', '.join(splits)})")
    dataset = splits[args.split].with_format("numpy")
    if len(dataset) == 0:
        raise SystemExit(f"error: split {args.split!r} is empty")
    model = AutoModelForSequenceClassification.from_pretrained(args.model).eval()
    extractor = AutoFeatureExtractor.from_pretrained(args.model)
    check_geometry(model.config, DataGeometry.of(dataset), args.model)
    if args.bf16:
        warn_if_bf16_is_slow(model.device)

    if args.tta == "none":
        logits, labels = predict(model, dataset, SkeletonCollator(extractor), args.batch_size, args.bf16)
    else:  # averaged softmax scores: argmax, top-5 and the confusion matrix read them as they read logits
        views = default_tta_views()
        logits, labels = predict_dataset(model, extractor, dataset, views, batch_size=args.batch_size, bf16=args.bf16)
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    recall, support, matrix = per_class_recall(logits, labels, len(names))
    metrics = classification_metrics(logits, labels, len(names))
    results = {
        "model": args.model,
        "dataset": data_args.dataset,
        "split": args.split,
        "num_clips": len(labels),
        "tta": args.tta,
        **metrics,
        "per_class_recall": {name: float(r) for name, r in zip(names, recall, strict=True)},
        "class_names": names,
        "confusion_matrix": matrix.tolist(),
    }
    local_model = Path(args.model)
    output_dir = Path(args.output_dir) if args.output_dir else local_model if local_model.is_dir() else Path("eval")
    output_dir.mkdir(parents=True, exist_ok=True)
    metrics_file = output_dir / f"metrics_{args.split}.json"
    metrics_file.write_text(json.dumps(results, indent=2) + "\n")
    written = [metrics_file]
    if not args.no_plot:
        from ..visualization import plot_confusion_matrix

        title = f"{data_args.dataset} {args.split}: top-1 {100 * results['accuracy']:.1f}%"
        written.append(plot_confusion_matrix(matrix, names, output_dir / f"confusion_{args.split}.png", title=title))
    print(classification_summary(f"{args.split} ({len(labels)} clips)", results, names, recall, support))
    print(per_class_table(names, recall, support))
    print(f"wrote {', '.join(str(path) for path in written)}")
    return results


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> dict[str, Any]:
    """`cascadeformer evaluate` / `examples/evaluate.py`: parse the command line and evaluate."""
    return evaluate(*parse_evaluate_args(argv, prog))
