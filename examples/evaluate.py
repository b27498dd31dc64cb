"""Evaluate a classifier checkpoint on one split: metrics JSON and a confusion matrix with action names.

    python examples/evaluate.py --model runs/finetune                       # embedded default, test split
    python examples/evaluate.py --model org/cascadeformer-ntu60 --dataset data/ntu60 --split test --bf16

Writes `<output-dir>/metrics_<split>.json` (top-1, top-5, weighted precision/recall/F1, per-class recall, the
confusion matrix) and `<output-dir>/confusion_<split>.png` (needs matplotlib: `pip install ".[viz]"`).
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from transformers import AutoFeatureExtractor, AutoModelForSequenceClassification

import hf_cascadeformer  # noqa: F401  (registers the Auto classes)
from hf_cascadeformer.data.collator import SkeletonCollator
from hf_cascadeformer.metrics import classification_metrics, confusion_matrix
from hf_cascadeformer.training import (
    EMBEDDED_DATASET,
    DataGeometry,
    check_geometry,
    load_dataset_dict,
    warn_if_bf16_is_slow,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a classifier checkpoint folder or Hub id")
    parser.add_argument("--dataset", default=EMBEDDED_DATASET, help="built dataset folder, Hub id or 'embedded'")
    parser.add_argument("--dataset-config", default=None)
    parser.add_argument("--split", default="test")
    parser.add_argument("--output-dir", default=None, help="where results go [the model folder, or ./eval]")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast")
    parser.add_argument("--no-plot", action="store_true", help="skip the confusion-matrix picture")
    parser.add_argument("--seed", type=int, default=0, help="seed of the embedded dataset")
    return parser.parse_args(argv)


@torch.inference_mode()
def predict(model, dataset, collate: SkeletonCollator, batch_size: int, bf16: bool) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels of every clip of a numpy-formatted split."""
    autocast = torch.autocast(model.device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    logits, labels = [], []
    for start in range(0, len(dataset), batch_size):
        batch = collate(dataset[start : start + batch_size])
        labels.append(batch.pop("labels").numpy())
        with autocast:
            logits.append(model(**{k: v.to(model.device) for k, v in batch.items()}).logits.float().cpu().numpy())
    return np.concatenate(logits), np.concatenate(labels)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    splits = load_dataset_dict(args.dataset, args.dataset_config, seed=args.seed)
    if args.split not in splits:
        raise SystemExit(f"error: split {args.split!r} not in the dataset (it has {', '.join(splits)})")
    dataset = splits[args.split].with_format("numpy")
    if len(dataset) == 0:
        raise SystemExit(f"error: split {args.split!r} is empty")
    model = AutoModelForSequenceClassification.from_pretrained(args.model).eval()
    extractor = AutoFeatureExtractor.from_pretrained(args.model)
    geometry = DataGeometry.of(dataset)
    check_geometry(model.config, geometry, args.model)
    if args.bf16:
        warn_if_bf16_is_slow(model.device)

    logits, labels = predict(model, dataset, SkeletonCollator(extractor), args.batch_size, args.bf16)
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    matrix = confusion_matrix(labels, logits.argmax(1), len(names))
    support = matrix.sum(1)
    recall = np.divide(np.diag(matrix), support, out=np.zeros(len(names)), where=support > 0)
    results = {
        "model": args.model,
        "dataset": args.dataset,
        "split": args.split,
        "num_clips": len(labels),
        **classification_metrics(logits, labels, len(names)),
        "per_class_recall": {name: float(r) for name, r in zip(names, recall, strict=True)},
        "class_names": names,
        "confusion_matrix": matrix.tolist(),
    }
    local_model = Path(args.model)
    output_dir = Path(args.output_dir) if args.output_dir else local_model if local_model.is_dir() else Path("eval")
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / f"metrics_{args.split}.json").write_text(json.dumps(results, indent=2) + "\n")
    if not args.no_plot:
        from hf_cascadeformer.visualization import plot_confusion_matrix

        title = f"{args.dataset} {args.split}: top-1 {100 * results['accuracy']:.1f}%"
        plot_confusion_matrix(matrix, names, output_dir / f"confusion_{args.split}.png", title=title)
    summary = {k: round(v, 4) for k, v in results.items() if isinstance(v, float)}
    print(json.dumps({"split": args.split, "clips": len(labels), **summary}))
    return results


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except ImportError as error:
        raise SystemExit(f"error: {error}") from None
