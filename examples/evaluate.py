"""Evaluate a classifier checkpoint on one split (`hf_cascadeformer.training.evaluate`): metrics JSON, a confusion
matrix with action names, and a summary with per-class results.

    python examples/evaluate.py --model runs/finetune                       # embedded default, test split
    python examples/evaluate.py --model org/cascadeformer-ntu60 --dataset data/ntu60 --split test --bf16

`cascadeformer evaluate` is the same command.
"""

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Run as a script, this folder comes first on sys.path and this file would stand in for the `evaluate` library.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

from hf_cascadeformer.training import evaluate, parse_evaluate_args  # noqa: E402


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    evaluate_args, data_args = parse_evaluate_args(argv)
    return evaluate(evaluate_args, data_args)


if __name__ == "__main__":
    main()
