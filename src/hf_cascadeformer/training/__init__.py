"""Training as library functions: `pretrain` (Accelerate), `finetune` (`transformers.Trainer`), `evaluate` and the
benchmark recipes (`run_recipe`), each taking argument dataclasses that `transformers.HfArgumentParser` parses from
a command line. `cascadeformer pretrain|finetune|evaluate|recipe` and `examples/*.py` are thin layers over them.

    from hf_cascadeformer.training import (
        DataArguments, FinetuneArguments, FinetuneTrainingArguments, ModelArguments, finetune,
    )
    finetune(ModelArguments(), DataArguments(), FinetuneArguments(), FinetuneTrainingArguments(max_steps=50))
"""

from .arguments import (
    DataArguments,
    EvaluateArguments,
    FinetuneArguments,
    FinetuneTrainingArguments,
    LinearProbeArguments,
    ModelArguments,
    PretrainArguments,
    RecipeArguments,
)
from .common import (
    EMBEDDED_2D_DATASET,
    EMBEDDED_DATASET,
    EMBEDDED_MULTIVIEW_DATASET,
    TRAINING_ARGS_JSON,
    DataGeometry,
    build_config,
    check_geometry,
    cpu_has_native_bf16,
    decayed_parameter_names,
    earlier_run_files,
    latest_complete_checkpoint,
    layout_for,
    load_config_overrides,
    load_dataset_dict,
    parameter_groups,
    remove_paths,
    replace_pickled_training_args,
    stratified_fraction,
    warn_if_bf16_is_slow,
    with_validation_split,
)
from .evaluation import evaluate, parse_evaluate_args
from .finetuning import finetune, parse_finetune_args
from .pretraining import parse_pretrain_args, pretrain
from .probing import linear_probe_checkpoint, parse_linear_probe_args
from .recipe_runner import parse_recipe_args, run_recipe
from .recipes import BENCHMARK_RECIPES, FINETUNE_RECIPES, VALIDATION_PROTOCOLS

__all__ = [
    "BENCHMARK_RECIPES",
    "EMBEDDED_2D_DATASET",
    "EMBEDDED_DATASET",
    "EMBEDDED_MULTIVIEW_DATASET",
    "FINETUNE_RECIPES",
    "TRAINING_ARGS_JSON",
    "VALIDATION_PROTOCOLS",
    "DataArguments",
    "DataGeometry",
    "EvaluateArguments",
    "FinetuneArguments",
    "FinetuneTrainingArguments",
    "LinearProbeArguments",
    "ModelArguments",
    "PretrainArguments",
    "RecipeArguments",
    "build_config",
    "check_geometry",
    "cpu_has_native_bf16",
    "decayed_parameter_names",
    "earlier_run_files",
    "evaluate",
    "finetune",
    "latest_complete_checkpoint",
    "layout_for",
    "linear_probe_checkpoint",
    "load_config_overrides",
    "load_dataset_dict",
    "parameter_groups",
    "parse_evaluate_args",
    "parse_finetune_args",
    "parse_linear_probe_args",
    "parse_pretrain_args",
    "parse_recipe_args",
    "pretrain",
    "remove_paths",
    "replace_pickled_training_args",
    "run_recipe",
    "stratified_fraction",
    "warn_if_bf16_is_slow",
    "with_validation_split",
]
