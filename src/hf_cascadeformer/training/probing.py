"""Linear evaluation of a pretrained checkpoint (MAMP's protocol, `hf_cascadeformer.linear_probe`): frozen encoder,
features mean-pooled over persons, time and joints, BatchNorm without affine + Linear trained with SGD. Writes
`<output_dir>/linear_probe.json` (`linear_probe_random_init.json` for the untrained baseline)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, HfArgumentParser, set_seed

from ..linear_probe import linear_probe
from .arguments import DataArguments, LinearProbeArguments
from .common import DataGeometry, check_geometry, load_dataset_dict


def parse_linear_probe_args(
    argv: Sequence[str] | None = None, prog: str | None = None
) -> tuple[LinearProbeArguments, DataArguments]:
    parser = HfArgumentParser((LinearProbeArguments, DataArguments), prog=prog, description=__doc__)
    return parser.parse_args_into_dataclasses(args=list(argv) if argv is not None else None)


def linear_probe_checkpoint(args: LinearProbeArguments, data_args: DataArguments | None = None) -> dict[str, Any]:
    """Probe `args.model`'s encoder on `data_args`' dataset; returns the summary the JSON file holds."""
    data_args = data_args or DataArguments()
    set_seed(args.seed)
    splits = load_dataset_dict(data_args.dataset, data_args.dataset_config, seed=args.seed)
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
        "dataset": data_args.dataset,
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
    what = "untrained encoder" if args.random_init else "encoder"
    print(
        f"linear probe of the {what} of {args.model} on {args.split}: top-1 {100 * result.accuracy:.2f}% "
        f"(train {100 * result.train_accuracy:.2f}%, {result.epochs} epochs); wrote {output_dir / name}"
    )
    return summary
