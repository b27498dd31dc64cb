"""Fine-tune a CascadeFormer classifier with `transformers.Trainer`.

    python examples/finetune.py                                   # embedded default dataset, about a minute on CPU
    python examples/finetune.py --dataset data/nucla --recipe nucla --model runs/pretrain
    accelerate launch --multi_gpu --num_processes 2 examples/finetune.py --max-steps 20

Starts from a pretrained checkpoint (`--model`, a folder or Hub id) or from scratch, selects the best checkpoint on
a validation split carved from the training data (never on test), evaluates the selected model on the test split,
and writes the model, its feature extractor, `eval_results.json` and a model card into `--output-dir`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import torch
from transformers import (
    AutoFeatureExtractor,
    AutoModelForSequenceClassification,
    Trainer,
    TrainingArguments,
    set_seed,
)
from transformers.utils import SAFE_WEIGHTS_NAME

import hf_cascadeformer  # noqa: F401  (registers the Auto classes)
from hf_cascadeformer import CascadeFormerFeatureExtractor
from hf_cascadeformer.cli import run_script
from hf_cascadeformer.data.collator import AugmentationEpochCallback, AugmentedDataset, SkeletonCollator
from hf_cascadeformer.data.transforms import make_train_transform
from hf_cascadeformer.hub import RESULTS_FILENAME, push_folder, render_model_card, save_results, write_model_card
from hf_cascadeformer.metrics import compute_metrics
from hf_cascadeformer.training import (
    DataGeometry,
    add_common_arguments,
    build_config,
    check_geometry,
    check_model_reference,
    check_output_dir,
    earlier_run_files,
    latest_complete_checkpoint,
    layout_for,
    load_config_overrides,
    load_dataset_dict,
    remove_paths,
    replace_pickled_training_args,
    stratified_fraction,
    train_or_finish,
    warn_if_bf16_is_slow,
    with_validation_split,
)

# Named recipes: model fields (used when training from scratch without --preset) and training settings.
# The paper recipes keep the paper's optimiser settings (REFERENCE section 2); their epoch counts are the paper's
# GPU budgets, so pass --num-epochs to fit a CPU. Optional keys: "augment" (keyword arguments of
# `make_train_transform`), "extractor" (feature-extractor fields, e.g. scale normalisation) and "label_smoothing".
# What the CPU recipes share: a small model trained from scratch for 60 epochs on unit-radius clips.
CPU_RECIPE: dict[str, Any] = {
    "model": {
        "hidden_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 256,
        "max_frames": 64,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.0,
    },
    "num_frames": 32,
    "learning_rate": 1e-3,
    "weight_decay": 0.05,
    "batch_size": 32,
    "num_epochs": 60,
    "warmup_ratio": 0.1,
    "flip": 0.0,
    "label_smoothing": 0.1,
    "augment": {"scale": (0.8, 1.2)},
    "extractor": {"scale_normalization": True},
}
RECIPES: dict[str, dict[str, Any]] = {
    "embedded": {
        "model": {
            "hidden_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 256,
            "max_frames": 64,
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.0,
        },
        "num_frames": 32,
        "learning_rate": 1e-3,
        "weight_decay": 0.05,
        "batch_size": 32,
        "num_epochs": 12,
        "warmup_ratio": 0.1,
        "flip": 0.0,
    },
    # The CPU recipes of `examples/recipe.py` (chosen on the validation protocols, see the README).
    "nucla-cpu": {
        **CPU_RECIPE,
        # Cross-view: a wide rotation about the vertical axis stands in for the unseen camera.
        "augment": {"max_rotation_radians": {"x": 0.3, "y": 1.0, "z": 0.3}, "scale": (0.8, 1.2)},
    },
    "penn_action-cpu": {**CPU_RECIPE, "flip": 0.5},
    "penn_action": {
        "preset": "penn_action-1.0",
        "num_frames": None,
        "learning_rate": 3e-5,
        "weight_decay": 1e-4,
        "batch_size": 4,
        "num_epochs": 1000,
        "warmup_ratio": 0.0,
        "flip": 0.5,
    },
    "nucla": {
        "preset": "nucla-1.1",
        "num_frames": 64,
        "learning_rate": 1e-4,
        "weight_decay": 1e-2,
        "batch_size": 16,
        "num_epochs": 1000,
        "warmup_ratio": 0.0,
        "flip": 0.0,
    },
    "ntu60-xsub": {
        "preset": "ntu60-xsub-1.0",
        "num_frames": 64,
        "learning_rate": 3e-5,
        "weight_decay": 1e-2,
        "batch_size": 64,
        "num_epochs": 100,
        "warmup_ratio": 0.05,
        "flip": 0.0,
    },
    "ntu60-xview": {
        "preset": "ntu60-xview-1.0",
        "num_frames": 64,
        "learning_rate": 1e-4,
        "weight_decay": 1e-2,
        "batch_size": 64,
        "num_epochs": 100,
        "warmup_ratio": 0.05,
        "flip": 0.0,
    },
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, default_output_dir="runs/finetune")
    parser.add_argument("--recipe", default="embedded", choices=sorted(RECIPES), help="named settings [%(default)s]")
    parser.add_argument("--model", default=None, help="pretrained checkpoint (folder or Hub id); scratch if omitted")
    parser.add_argument("--no-cascade", action="store_true", help="plain head on pooled stage-1 features (ablation)")
    parser.add_argument("--freeze-encoder", action="store_true", help="keep stage 1 frozen")
    parser.add_argument("--label-fraction", type=float, default=None, help="train on a stratified share, e.g. 0.01")
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=0.1,
        help="held-out share of train to select the checkpoint on [%(default)s]; 0 trains on every training clip "
        "and keeps the last model (a dataset's own validation split is always used when it has one)",
    )
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--weight-decay", type=float, default=None)
    parser.add_argument("--num-frames", type=int, default=None, help="frames per clip fed to the model")
    parser.add_argument("--no-augmentation", action="store_true", help="train on the clips as they are")
    parser.add_argument("--gradient-accumulation-steps", type=int, default=1)
    parser.add_argument("--eval-steps", type=int, default=None, help="steps between validation+checkpoint [epoch]")
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--bf16", action="store_true", help="bf16 autocast (CPU and GPU)")
    precision.add_argument("--fp16", action="store_true", help="fp16 mixed precision (GPU)")
    parser.add_argument(
        "--resume-from-checkpoint",
        nargs="?",
        const="latest",
        default=None,
        help="resume from a checkpoint folder, or the latest one in --output-dir when no path is given",
    )
    parser.add_argument("--push-to-hub", default=None, metavar="REPO_ID", help="upload the result to this repo")
    parser.add_argument("--hub-private", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    recipe = RECIPES[args.recipe]
    output_dir = check_output_dir(args.output_dir)
    set_seed(args.seed)  # before the model is built: its initial weights come from this seed

    dataset_dict = load_dataset_dict(args.dataset, args.dataset_config, seed=args.seed)
    if args.validation_fraction > 0 or "validation" in dataset_dict:
        dataset_dict = with_validation_split(dataset_dict, args.validation_fraction, seed=args.seed)
    select = "validation" in dataset_dict
    if args.label_fraction is not None:
        dataset_dict["train"], _ = stratified_fraction(dataset_dict["train"], args.label_fraction, seed=args.seed)
    geometry = DataGeometry.of(dataset_dict["train"])
    dataset_dict = dataset_dict.with_format("numpy")

    overrides = load_config_overrides(args.config)
    if args.no_cascade:
        overrides["use_cascade"] = False
    if args.freeze_encoder:
        overrides["freeze_encoder"] = True
    num_frames = args.num_frames if args.num_frames is not None else recipe["num_frames"]
    if args.model:
        check_model_reference(args.model)
        label_fields = build_config(geometry).to_diff_dict()
        labels = {key: label_fields[key] for key in ("id2label", "label2id")}
        model = AutoModelForSequenceClassification.from_pretrained(args.model, **labels, **overrides)
        check_geometry(model.config, geometry, args.model)
        try:
            extractor = AutoFeatureExtractor.from_pretrained(args.model)
        except OSError:
            extractor = CascadeFormerFeatureExtractor.from_model_config(model.config)
        if num_frames is not None:
            extractor.num_frames = num_frames
        for key, value in recipe.get("extractor", {}).items():
            setattr(extractor, key, value)
    else:
        config = build_config(geometry, args.preset or recipe.get("preset"), recipe.get("model"), overrides)
        model = AutoModelForSequenceClassification.from_config(config)
        extractor = CascadeFormerFeatureExtractor.from_model_config(
            config, num_frames=num_frames, **recipe.get("extractor", {})
        )
        if num_frames is None:
            extractor.num_frames = None  # pad each batch to its longest clip (the paper's Penn Action setting)

    train_dataset = dataset_dict["train"]
    if not args.no_augmentation:
        layout = layout_for(geometry)
        augment = make_train_transform(
            layout, geometry.num_channels, flip_probability=recipe["flip"], **recipe.get("augment", {})
        )
        train_dataset = AugmentedDataset(train_dataset, augment, seed=args.seed)
    batch_size = args.batch_size or recipe["batch_size"]
    num_epochs = args.num_epochs if args.num_epochs is not None else recipe["num_epochs"]
    steps_per_epoch = max(1, math.ceil(len(dataset_dict["train"]) / batch_size / args.gradient_accumulation_steps))
    total_steps = args.max_steps if args.max_steps > 0 else math.ceil(steps_per_epoch * num_epochs)
    eval_every = args.eval_steps or max(1, min(steps_per_epoch, total_steps))
    training_args = TrainingArguments(
        output_dir=str(output_dir),
        seed=args.seed,
        data_seed=args.seed,
        num_train_epochs=num_epochs,
        max_steps=args.max_steps,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=max(batch_size, 32),
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        learning_rate=args.learning_rate or recipe["learning_rate"],
        weight_decay=args.weight_decay if args.weight_decay is not None else recipe["weight_decay"],
        lr_scheduler_type="cosine",
        warmup_steps=round(recipe["warmup_ratio"] * total_steps),
        bf16=args.bf16,
        fp16=args.fp16,
        label_smoothing_factor=recipe.get("label_smoothing", 0.0),
        eval_strategy="steps" if select else "no",
        eval_steps=eval_every,
        save_strategy="steps",
        save_steps=eval_every,
        save_total_limit=2,
        load_best_model_at_end=select,
        metric_for_best_model="accuracy",
        logging_steps=max(1, min(10, eval_every)),
        remove_unused_columns=False,
        label_names=["labels"],
        report_to="none",
        # Without a GPU, use_cpu makes Trainer run distributed (gloo) under `accelerate launch`/`torchrun`.
        use_cpu=not (torch.cuda.is_available() or torch.backends.mps.is_available()),
        dataloader_pin_memory=torch.cuda.is_available(),
        dataloader_num_workers=0,
        disable_tqdm=not sys.stderr.isatty(),
    )
    if args.bf16:
        warn_if_bf16_is_slow(training_args.device)
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=dataset_dict["validation"] if select else None,
        data_collator=SkeletonCollator(extractor),
        compute_metrics=compute_metrics,
        callbacks=[AugmentationEpochCallback(train_dataset)] if isinstance(train_dataset, AugmentedDataset) else None,
    )
    resume = args.resume_from_checkpoint
    with training_args.main_process_first(local=False, desc="replacing a finished run"):
        # The main process looks (and deletes) first; the others then find nothing left to replace.
        outputs = (RESULTS_FILENAME, SAFE_WEIGHTS_NAME)
        replaced = [] if resume else earlier_run_files(output_dir, RESULTS_FILENAME, outputs)
        if replaced and trainer.is_world_process_zero():
            print(f"replacing the finished run in {output_dir}: {', '.join(p.name for p in replaced)}")
            remove_paths(replaced)
    if resume == "latest":
        # Trainer writes trainer_state.json last: a checkpoint without it was interrupted mid-save.
        latest = latest_complete_checkpoint(output_dir, "trainer_state.json")
        resume = str(latest) if latest else None
        print(f"resuming from {resume}" if resume else f"no complete checkpoint in {output_dir}; starting fresh")
    train_or_finish(trainer, resume)

    results: dict[str, float] = {"world_size": training_args.world_size}
    evaluated_split = None
    if select:
        results.update(trainer.evaluate(dataset_dict["validation"], metric_key_prefix="validation"))
        evaluated_split = "validation"
    if "test" in dataset_dict and len(dataset_dict["test"]) > 0:
        results.update(trainer.evaluate(dataset_dict["test"], metric_key_prefix="test"))
        evaluated_split = "test"

    if trainer.is_world_process_zero():
        trainer.save_model(str(output_dir))
        replace_pickled_training_args(output_dir, training_args)
        extractor.save_pretrained(str(output_dir))
        save_results(output_dir, results)
        prefix = f"{evaluated_split}_"
        metrics = {key.removeprefix(prefix): value for key, value in results.items() if key.startswith(prefix)}
        card = render_model_card(
            model.config,
            model_name=args.push_to_hub or output_dir.name,
            repo_id=args.push_to_hub,
            num_parameters=sum(p.numel() for p in model.parameters()),
            preset=args.preset or recipe.get("preset"),
            dataset={"name": args.dataset, "id": args.dataset, "config": args.dataset_config, "split": evaluated_split},
            training=_describe_training(args, training_args, dataset_dict),
            metrics=metrics,
        )
        write_model_card(output_dir, card)
        print(json.dumps({key: round(value, 4) for key, value in results.items()}, indent=2))
        if args.push_to_hub:
            push_folder(output_dir, args.push_to_hub, private=args.hub_private, commit_message="Fine-tuned model")
    return results


def _describe_training(args: argparse.Namespace, training_args: TrainingArguments, dataset_dict: Any) -> str:
    counts = ", ".join(f"{name} {len(split)}" for name, split in dataset_dict.items())
    start = f"from `{args.model}`" if args.model else "from scratch"
    selection = (
        f"validation held out from train with seed {args.seed}, used to select the checkpoint"
        if "validation" in dataset_dict
        else "no validation split: the last checkpoint is kept"
    )
    return (
        f"Fine-tuned {start} on `{args.dataset}` ({counts} clips; {selection}) with "
        f"`examples/finetune.py --recipe {args.recipe}`: AdamW, "
        f"learning rate {training_args.learning_rate:g}, weight decay {training_args.weight_decay:g}, cosine schedule, "
        f"batch {training_args.per_device_train_batch_size}, "
        + (
            f"{training_args.max_steps} steps"
            if training_args.max_steps > 0
            else f"{args.num_epochs or 'recipe'} epochs"
        )
        + (", bf16 autocast" if args.bf16 else "")
        + (f", {args.label_fraction:.0%} of the labels" if args.label_fraction else "")
        + "."
    )


if __name__ == "__main__":
    sys.exit(run_script(main))
