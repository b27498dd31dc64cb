"""One command per benchmark (`hf_cascadeformer.training.run_recipe`): build the dataset, pretrain, fine-tune and
evaluate within a CPU budget.

    python examples/recipe.py nucla --raw-dir ../shared/data/nucla --output-dir runs/nucla
    python examples/recipe.py penn-action --raw-dir ../shared/data/penn_action --output-dir runs/penn --validate
    cascadeformer recipe nucla --raw-dir ../shared/data/nucla --output-dir runs/nucla      # the same

The recipes are data: `hf_cascadeformer.training.BENCHMARK_RECIPES`, `FINETUNE_RECIPES` and
`VALIDATION_PROTOCOLS`.
"""

from collections.abc import Sequence
from typing import Any

from hf_cascadeformer.training import parse_recipe_args, run_recipe


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_recipe(parse_recipe_args(argv))


if __name__ == "__main__":
    main()
