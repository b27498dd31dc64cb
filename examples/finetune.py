"""Fine-tune a CascadeFormer classifier with `transformers.Trainer` (`hf_cascadeformer.training.finetune`).

    python examples/finetune.py                                   # embedded default dataset, about a minute on CPU
    python examples/finetune.py --dataset data/nucla --recipe nucla --model runs/pretrain
    python examples/finetune.py --report_to tensorboard --dataloader_num_workers 2 --logging_steps 5
    accelerate launch --multi_gpu --num_processes 2 examples/finetune.py --max_steps 20

Every `transformers.TrainingArguments` field is an option (`--help` lists them); the package's own are the dataset
(`DataArguments`), the model (`ModelArguments`), the data used (`FinetuneArguments`) and `--recipe`.
`cascadeformer finetune` is the same command.
"""

import sys
from collections.abc import Sequence

from hf_cascadeformer.cli import run_script
from hf_cascadeformer.training import finetune, parse_finetune_args


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    model_args, data_args, finetune_args, training_args = parse_finetune_args(argv)
    return finetune(model_args, data_args, finetune_args, training_args)


if __name__ == "__main__":
    sys.exit(run_script(main))
