"""Linear evaluation of a pretrained encoder (MAMP's protocol; `hf_cascadeformer.training.linear_probe_checkpoint`).

    python examples/linear_probe.py --model runs/pretrain                 # embedded default dataset
    python examples/linear_probe.py --model runs/pretrain --random_init   # the same encoder, untrained: a baseline

Prints and writes `<output_dir>/linear_probe.json` with top-1 accuracy on the evaluation split.
"""

from collections.abc import Sequence
from typing import Any

from hf_cascadeformer.training import linear_probe_checkpoint, parse_linear_probe_args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    probe_args, data_args = parse_linear_probe_args(argv)
    return linear_probe_checkpoint(probe_args, data_args)


if __name__ == "__main__":
    main()
