"""The `cascadeformer` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from transformers import AutoConfig

from .configuration_cascadeformer import PRESETS, CascadeFormerConfig


class UserError(Exception):
    """A mistake in the command line or its inputs: reported as one line, without a traceback."""


def _info(args: argparse.Namespace) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification

    if args.checkpoint in PRESETS:
        config = CascadeFormerConfig.from_preset(args.checkpoint)
    else:
        try:
            config = AutoConfig.from_pretrained(args.checkpoint)
        except OSError as error:
            raise UserError(f"cannot read a config from {args.checkpoint!r}: {error}") from error
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cascadeformer", description="CascadeFormer skeleton action recognition on the Hugging Face stack."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="show a checkpoint's or preset's config, parameter count and labels")
    info.add_argument("checkpoint", help="a checkpoint folder, a Hub id or a preset name such as penn_action-1.0")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(handler=_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except (UserError, ValueError, FileNotFoundError) as error:
        print(f"cascadeformer {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
