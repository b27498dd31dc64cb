"""Linear evaluation of a pretrained encoder (MAMP's protocol): frozen encoder, features mean-pooled over persons,
time and joints, BatchNorm without affine + Linear trained with SGD.

    python examples/linear_probe.py --model runs/pretrain                 # embedded default dataset
    python examples/linear_probe.py --model runs/pretrain --random-init   # the same encoder, untrained: a baseline

Prints and writes `<output-dir>/linear_probe.json` with top-1 accuracy on the evaluation split.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, set_seed

import hf_cascadeformer  # noqa: F401  (registers the Auto classes)
from hf_cascadeformer.linear_probe import linear_probe
from hf_cascadeformer.training import EMBEDDED_DATASET, DataGeometry, check_geometry, load_dataset_dict


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a pretrained checkpoint folder or Hub id")
    parser.add_argument("--random-init", action="store_true", help="probe the same architecture, untrained")
    parser.add_argument("--dataset", default=EMBEDDED_DATASET)
    parser.add_argument("--dataset-config", default=None)
    parser.add_argument("--split", default="test", help="the split to score the probe on")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output-dir", default=None, help="where the JSON goes [the model folder]")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    set_seed(args.seed)
    splits = load_dataset_dict(args.dataset, args.dataset_config, seed=args.seed)
    if args.random_init:
        model = AutoModel.from_config(AutoConfig.from_pretrained(args.model))
    else:
        model = AutoModel.from_pretrained(args.model)
    check_geometry(model.config, DataGeometry.of(splits["train"]), args.model)
    extractor = AutoFeatureExtractor.from_pretrained(args.model)
    result = linear_probe(
        model.eval(),
        splits["train"].with_format("numpy"),
        splits[args.split].with_format("numpy"),
        extractor,
        batch_size=args.batch_size,
        epochs=args.epochs,
    )
    summary = {
        "model": args.model,
        "random_init": args.random_init,
        "dataset": args.dataset,
        "split": args.split,
        "accuracy": result.accuracy,
        "train_accuracy": result.train_accuracy,
        "epochs": result.epochs,
    }
    local = Path(args.model)
    output_dir = Path(args.output_dir) if args.output_dir else local if local.is_dir() else Path("eval")
    output_dir.mkdir(parents=True, exist_ok=True)
    name = "linear_probe_random_init.json" if args.random_init else "linear_probe.json"
    (output_dir / name).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
