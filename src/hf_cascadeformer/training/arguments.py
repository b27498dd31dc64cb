"""Arguments of pretraining, fine-tuning, evaluation and the benchmark recipes, as dataclasses.

`transformers.HfArgumentParser` turns them into command lines (`--field_name` and `--field-name`); the aliases
below keep the option names the scripts had before they moved into the package (`--batch-size`, `--num-epochs`,
`--hub-private`). Fine-tuning takes every `transformers.TrainingArguments` field: `FinetuneTrainingArguments` only
changes defaults (the recipe's optimiser settings, no trackers unless `--report_to` names some, CPU-aware device
settings) and resolves what depends on the data in `finetune`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import torch
from transformers import TrainingArguments

from ..configuration_cascadeformer import PRESETS, PRETRAINING_OBJECTIVES, VARIANT_FRAME_EMBEDDINGS
from .common import EMBEDDED_2D_DATASET, EMBEDDED_DATASET, EMBEDDED_MULTIVIEW_DATASET
from .recipes import BENCHMARK_RECIPES, FINETUNE_RECIPES, VALIDATION_PROTOCOLS

# What `PretrainArguments.augmentation` accepts: no augmentation, make_train_transform's defaults, or the
# augmentation of a fine-tuning recipe (its "augment" settings and flip probability).
PRETRAINING_AUGMENTATIONS = ["none", "default", *sorted(FINETUNE_RECIPES)]


def _spellings(name: str) -> list[str]:
    """An option under an old name, with dashes and with underscores, like every other option."""
    return [f"--{name}", f"--{name.replace('-', '_')}"]


def _has_accelerator() -> bool:
    return torch.cuda.is_available() or torch.backends.mps.is_available()


@dataclass
class DataArguments:
    """Which dataset to train or evaluate on."""

    dataset: str = field(
        default=EMBEDDED_DATASET,
        metadata={
            "help": f"a folder built by dataset_scripts/ (or `cascadeformer prepare`), a Hub dataset id, or "
            f"'{EMBEDDED_DATASET}' / '{EMBEDDED_2D_DATASET}' for the embedded default dataset (generated, no "
            f"download), '{EMBEDDED_MULTIVIEW_DATASET}' for the synthetic multi-view pretraining corpus"
        },
    )
    dataset_config: str | None = field(
        default=None,
        metadata={"help": f"protocol of a Hub dataset, e.g. xsub; the layout of '{EMBEDDED_MULTIVIEW_DATASET}' [ntu]"},
    )


@dataclass
class ModelArguments:
    """Which model to start from and how to change it."""

    model: str | None = field(
        default=None,
        metadata={"help": "pretrained checkpoint (folder or Hub id) to fine-tune; from scratch when omitted"},
    )
    preset: str | None = field(
        default=None, metadata={"help": "a named paper configuration", "choices": sorted(PRESETS)}
    )
    config: str | None = field(
        default=None, metadata={"help": "a JSON file of CascadeFormerConfig fields (over the preset or recipe)"}
    )
    no_cascade: bool = field(default=False, metadata={"help": "plain head on pooled stage-1 features (ablation)"})
    freeze_encoder: bool = field(default=False, metadata={"help": "keep stage 1 frozen"})
    num_frames: int | None = field(
        default=None, metadata={"help": "frames per clip fed to the model [the recipe's, or the checkpoint's]"}
    )


@dataclass
class FinetuneArguments:
    """What fine-tuning does beyond `TrainingArguments`: which data it trains and selects on."""

    label_fraction: float | None = field(
        default=None, metadata={"help": "train on a stratified, seeded share of the training clips, e.g. 0.01"}
    )
    validation_fraction: float = field(
        default=0.1,
        metadata={
            "help": "held-out share of train to select the checkpoint on; 0 trains on every training clip and keeps "
            "the last model (a dataset's own validation split is always used when it has one)"
        },
    )
    no_augmentation: bool = field(default=False, metadata={"help": "train on the clips as they are"})


@dataclass
class FinetuneTrainingArguments(TrainingArguments):
    """`TrainingArguments` with this package's defaults.

    Fields left at `None` come from the fine-tuning recipe (`recipe`: learning rate, weight decay, batch size,
    epochs, label smoothing) or from the data (`finetune` sets warm-up, evaluation, checkpoint and logging steps
    from the number of training steps: validate and checkpoint once per epoch, log every 10 steps).
    """

    recipe: str = field(
        default="embedded",
        metadata={
            "help": "named settings of hf_cascadeformer.training.FINETUNE_RECIPES",
            "choices": sorted(FINETUNE_RECIPES),
        },
    )
    output_dir: str | None = field(default="runs/finetune", metadata={"help": "where checkpoints and results go"})
    seed: int = field(default=0, metadata={"help": "seed of initialisation, sampling, augmentation and splits"})
    learning_rate: float | None = field(default=None, metadata={"help": "peak AdamW learning rate [the recipe's]"})
    weight_decay: float | None = field(default=None, metadata={"help": "AdamW weight decay [the recipe's]"})
    per_device_train_batch_size: int | None = field(
        default=None,
        metadata={"help": "clips per process and step [the recipe's]", "aliases": _spellings("batch-size")},
    )
    per_device_eval_batch_size: int | None = field(
        default=None, metadata={"help": "clips per process in evaluation [the training batch size, at least 32]"}
    )
    num_train_epochs: float | None = field(
        default=None,
        metadata={"help": "passes over the training data [the recipe's]", "aliases": _spellings("num-epochs")},
    )
    warmup_steps: float | None = field(
        default=None,
        metadata={"help": "linear warm-up steps (an int), or a share of all steps (a float < 1) [the recipe's share]"},
    )
    # Not Trainer's label smoothing (which takes the labels away from the model): `finetune` writes it into the
    # model's `config.label_smoothing`, so the saved config tells how the model was trained.
    label_smoothing_factor: float | None = field(
        default=None,
        metadata={
            "help": "label smoothing, written into the model's config.label_smoothing [the recipe's, else the config's]"
        },
    )
    consistency_weight: float | None = field(
        default=None,
        metadata={
            "help": "train on two augmentations of each clip and add this times the Jensen-Shannon divergence of "
            "their predictions to the loss; 0 turns it off [the recipe's, else 0]"
        },
    )
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "learning-rate schedule"})
    eval_strategy: str = field(
        default="steps", metadata={"help": "when to validate (needs a validation split; 'no' without one)"}
    )
    eval_steps: float | None = field(default=None, metadata={"help": "steps between validations [one epoch]"})
    save_strategy: str = field(default="steps", metadata={"help": "when to save checkpoints"})
    save_steps: float | None = field(default=None, metadata={"help": "steps between checkpoints [the eval steps]"})
    save_total_limit: int | None = field(default=2, metadata={"help": "checkpoints kept (the best one stays too)"})
    logging_steps: float | None = field(default=None, metadata={"help": "steps between log lines [10, at most eval]"})
    load_best_model_at_end: bool = field(
        default=True, metadata={"help": "end with the checkpoint best on validation (needs a validation split)"}
    )
    metric_for_best_model: str | None = field(default="accuracy", metadata={"help": "what 'best' means"})
    report_to: None | str | list[str] = field(
        default="none", metadata={"help": "trackers to log to: tensorboard, wandb, mlflow, ..., 'all' or 'none'"}
    )
    use_cpu: bool = field(
        default=not _has_accelerator(),
        metadata={"help": "train on the CPU; on by default without a GPU, so `accelerate launch` runs gloo ranks"},
    )
    dataloader_pin_memory: bool = field(
        default=torch.cuda.is_available(), metadata={"help": "pin batches in memory (for GPU transfers)"}
    )
    # The package's datasets hold `skeleton` (frames, persons, joints, channels) clips; the collator turns them into
    # the model's `skeletons` and `attention_mask` with the checkpoint's feature extractor, so it needs the column.
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "drop dataset columns the model's forward does not take"}
    )
    label_names: list[str] | None = field(default_factory=lambda: ["labels"], metadata={"help": "label keys"})
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={
            "help": "resume from a checkpoint folder, or from the latest complete one in --output_dir when no path "
            "is given",
            "nargs": "?",
            "const": "latest",
        },
    )
    hub_private_repo: bool | None = field(
        default=None,
        metadata={
            "help": "make the --hub_model_id repository private",
            "aliases": _spellings("hub-private"),
            "nargs": "?",
            "const": True,
        },
    )
    disable_tqdm: bool | None = field(
        default=None,
        metadata={
            "help": "no progress bars [off on a terminal, on when output is redirected]",
            "nargs": "?",
            "const": True,
        },
    )

    def __post_init__(self) -> None:
        if self.recipe not in FINETUNE_RECIPES:
            raise ValueError(f"unknown recipe {self.recipe!r}; choose one of {', '.join(sorted(FINETUNE_RECIPES))}")
        recipe = FINETUNE_RECIPES[self.recipe]
        from_recipe = {
            "learning_rate": recipe["learning_rate"],
            "weight_decay": recipe["weight_decay"],
            "per_device_train_batch_size": recipe["batch_size"],
            "num_train_epochs": recipe["num_epochs"],
            "label_smoothing_factor": recipe.get("label_smoothing"),
            "consistency_weight": recipe.get("consistency_weight", 0.0),
        }
        for name, value in from_recipe.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.consistency_weight < 0:
            raise ValueError(f"--consistency_weight must be 0 (off) or positive, got {self.consistency_weight:g}")
        if self.per_device_eval_batch_size is None:
            self.per_device_eval_batch_size = max(self.per_device_train_batch_size, 32)
        # What depends on the number of training steps is known once the data is: `finetune` sets it (see
        # `steps_from_data`); until then these placeholders satisfy `TrainingArguments`' checks.
        self.steps_from_data = [
            name
            for name in ("warmup_steps", "eval_steps", "save_steps", "logging_steps")
            if getattr(self, name) is None
        ]
        placeholders = {"warmup_steps": 0, "eval_steps": self.save_steps or 1, "logging_steps": 1}
        placeholders["save_steps"] = self.eval_steps or placeholders["eval_steps"]
        for name in self.steps_from_data:
            setattr(self, name, placeholders[name])
        if self.disable_tqdm is None:
            # Progress bars on a terminal; redirected, one plain line per logging step (see `console.py`).
            self.disable_tqdm = not sys.stderr.isatty()
        if self.data_seed is None:
            self.data_seed = self.seed
        super().__post_init__()


@dataclass
class PretrainArguments:
    """Masked skeleton pretraining with Accelerate (`pretrain`)."""

    output_dir: str = field(default="runs/pretrain", metadata={"help": "where checkpoints and the model go"})
    objective: str | None = field(
        default=None,
        metadata={"help": "pretraining objective (config.pretraining_objective)", "choices": PRETRAINING_OBJECTIVES},
    )
    preset: str | None = field(
        default=None, metadata={"help": "a named paper configuration", "choices": sorted(PRESETS)}
    )
    config: str | None = field(default=None, metadata={"help": "a JSON file of CascadeFormerConfig fields"})
    max_steps: int = field(default=-1, metadata={"help": "stop after this many steps (overrides epochs)"})
    num_epochs: float | None = field(
        default=None, metadata={"help": "passes over the training data [20]", "aliases": _spellings("num-train-epochs")}
    )
    seed: int = field(default=0, metadata={"help": "seed of initialisation, masking and data order"})
    batch_size: int = field(
        default=32,
        metadata={"help": "clips per process per step", "aliases": _spellings("per-device-train-batch-size")},
    )
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "steps per optimizer update"})
    learning_rate: float = field(default=1e-3, metadata={"help": "peak AdamW learning rate"})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay (weight matrices only)"})
    warmup_ratio: float = field(default=0.05, metadata={"help": "share of updates with linear warm-up"})
    num_frames: int = field(default=32, metadata={"help": "frames per clip (interpolated)"})
    scale_normalization: bool = field(
        default=False, metadata={"help": "scale every clip to unit radius (feature extractor)"}
    )
    root_joint: int | None = field(
        default=None, metadata={"help": "joint to centre every clip on (feature extractor) [the skeleton layout's]"}
    )
    augmentation: str = field(
        default="none",
        metadata={
            "help": "augment every clip before it is masked: 'none', 'default' (data.transforms.make_train_transform: "
            "random temporal crop, rotation and scale, as MAMP pretrains) or a fine-tuning recipe's augmentation",
            "choices": PRETRAINING_AUGMENTATIONS,
        },
    )
    mixed_precision: str | None = field(
        default=None,
        metadata={"help": "no, bf16 or fp16 (overrides the accelerate config)", "choices": ["no", "bf16", "fp16"]},
    )
    checkpoint_every: int = field(
        default=100, metadata={"help": "steps between checkpoints", "aliases": _spellings("save-steps")}
    )
    keep_checkpoints: int = field(
        default=2, metadata={"help": "how many checkpoints to keep", "aliases": _spellings("save-total-limit")}
    )
    log_every: int = field(
        default=10, metadata={"help": "steps between log records", "aliases": _spellings("logging-steps")}
    )
    report_to: str = field(
        default="none",
        metadata={"help": "Accelerate trackers to log to (tensorboard, wandb, ..., comma-separated, 'all' or 'none')"},
    )
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={
            "help": "resume from a checkpoint folder, or the latest complete one in --output_dir when no path is given",
            "nargs": "?",
            "const": "latest",
        },
    )
    disable_tqdm: bool | None = field(
        default=None,
        metadata={
            "help": "no progress bar [off on a terminal, on when output is redirected]",
            "nargs": "?",
            "const": True,
        },
    )

    def __post_init__(self) -> None:
        if self.num_epochs is None and self.max_steps <= 0:
            self.num_epochs = 20.0
        if self.disable_tqdm is None:
            self.disable_tqdm = not sys.stderr.isatty()


@dataclass
class EvaluateArguments:
    """Metrics and a confusion matrix of a classifier on one split (`evaluate`)."""

    model: str = field(metadata={"help": "a classifier checkpoint folder or Hub id"})
    split: str = field(default="test", metadata={"help": "the split to evaluate"})
    output_dir: str | None = field(default=None, metadata={"help": "where results go [the model folder, or ./eval]"})
    batch_size: int = field(default=64, metadata={"help": "clips per forward pass"})
    bf16: bool = field(default=False, metadata={"help": "bf16 autocast"})
    no_plot: bool = field(default=False, metadata={"help": "skip the confusion-matrix picture"})
    seed: int = field(default=0, metadata={"help": "seed of the embedded dataset"})
    tta: str = field(
        default="none",
        metadata={
            "help": "test-time augmentation: 'crops' averages the softmax scores of the whole clip and three crops "
            "of 80%% of its valid frames (start, middle, end; inference.default_tta_views)",
            "choices": ["none", "crops"],
        },
    )


@dataclass
class RecipeArguments:
    """One command per benchmark: build, pretrain, fine-tune and evaluate (`run_recipe`)."""

    benchmark: str = field(metadata={"help": "which recipe", "choices": sorted(BENCHMARK_RECIPES)})
    raw_dir: str = field(metadata={"help": "the benchmark's raw files (as for dataset_scripts/)"})
    output_dir: str = field(metadata={"help": "where every stage writes"})
    seed: int = field(default=0, metadata={"help": "seed of every stage"})
    validate: bool = field(default=False, metadata={"help": "the validation protocol instead of the final run"})
    validation_protocol: str | None = field(
        default=None,
        metadata={
            "help": "validate on this protocol of the benchmark (implies --validate) [the benchmark's first]",
            "choices": sorted(VALIDATION_PROTOCOLS),
        },
    )
    variant: str | None = field(
        default=None, metadata={"help": "CascadeFormer variant", "choices": sorted(VARIANT_FRAME_EMBEDDINGS)}
    )
    objective: str | None = field(
        default=None, metadata={"help": "pretraining objective", "choices": PRETRAINING_OBJECTIVES}
    )
    no_pretraining: bool = field(default=False, metadata={"help": "fine-tune from scratch (ablation)"})
    pretrained_model: str | None = field(
        default=None,
        metadata={
            "help": "fine-tune this pretrained encoder (folder or Hub id) instead of pretraining one, e.g. the "
            "`pretrain/` of an earlier run on the same protocol and seed (fine-tuning ablations)"
        },
    )
    no_cascade: bool = field(default=False, metadata={"help": "plain head on stage-1 features (ablation)"})
    pretrain_epochs: int | None = field(default=None, metadata={"help": "[the recipe's]"})
    pretrain_augmentation: str | None = field(
        default=None,
        metadata={
            "help": "augmentation of the pretraining clips (PretrainArguments.augmentation) [the recipe's]",
            "choices": PRETRAINING_AUGMENTATIONS,
        },
    )
    synthetic_clips: int | None = field(
        default=None,
        metadata={
            "help": "clips of the synthetic multi-view corpus pretrained on beside the benchmark's (0: none) "
            "[the recipe's]"
        },
    )
    ensemble_size: int | None = field(
        default=None,
        metadata={
            "help": "classifiers to train, each pretrained and fine-tuned with its own seed, and save as one "
            "ensemble checkpoint (1: a single model) [the recipe's; 1 with --pretrained-model]"
        },
    )
    finetune_epochs: int | None = field(default=None, metadata={"help": "[the recipe's]"})
    consistency_weight: float | None = field(
        default=None,
        metadata={
            "help": "weight of the consistency loss between two augmentations of each clip; 0 off [the recipe's]"
        },
    )
    tta: str | None = field(
        default=None,
        metadata={"help": "test-time augmentation of the evaluation [the recipe's]", "choices": ["none", "crops"]},
    )
    config: str | None = field(
        default=None, metadata={"help": "JSON file of config fields that override the recipe's model (ablations)"}
    )
    smoke: bool = field(default=False, metadata={"help": "a few steps on a handful of clips (tests)"})
    push_to_hub: str | None = field(default=None, metadata={"help": "upload the final model to this repo id"})


@dataclass
class LinearProbeArguments:
    """Linear evaluation of a pretrained encoder (`linear_probe_checkpoint`)."""

    model: str = field(metadata={"help": "a pretrained checkpoint folder or Hub id"})
    random_init: bool = field(default=False, metadata={"help": "probe the same architecture, untrained"})
    split: str = field(default="test", metadata={"help": "the split to score the probe on"})
    epochs: int = field(default=100, metadata={"help": "SGD epochs of the linear classifier"})
    batch_size: int = field(default=64, metadata={"help": "clips per batch"})
    output_dir: str | None = field(default=None, metadata={"help": "where the JSON goes [the model folder]"})
    seed: int = field(default=0, metadata={"help": "seed of the classifier and of the embedded dataset"})
