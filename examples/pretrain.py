"""Masked skeleton pretraining with Accelerate (`hf_cascadeformer.training.pretrain`), on one process or many.

    python examples/pretrain.py                                   # embedded default dataset, one process
    accelerate launch --config_file examples/accelerate/multi_gpu.yaml examples/pretrain.py --dataset data/ntu60
    accelerate launch --config_file examples/accelerate/cpu_2proc.yaml examples/pretrain.py --max_steps 50

The options are the fields of `DataArguments` and `PretrainArguments` (`--help` lists them).
`cascadeformer pretrain` is the same command.
"""

import sys
from collections.abc import Sequence
from pathlib import Path

from hf_cascadeformer.cli import run_script
from hf_cascadeformer.training import parse_pretrain_args, pretrain


def main(argv: Sequence[str] | None = None) -> Path:
    data_args, pretrain_args = parse_pretrain_args(argv)
    return pretrain(data_args, pretrain_args)


if __name__ == "__main__":
    sys.exit(run_script(main))
