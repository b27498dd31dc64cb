"""Fine-tuning a CascadeFormer classifier with `transformers.Trainer`.

`finetune` starts from a pretrained checkpoint (`ModelArguments.model`, a folder or Hub id) or from scratch,
selects the best checkpoint on a validation split carved from the training data (never on test), evaluates the
selected model on the test split, and writes the model, its feature extractor, `eval_results.json` and a model card
into `output_dir`. Every `TrainingArguments` field applies (`FinetuneTrainingArguments` only changes defaults).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from transformers import (
    AutoFeatureExtractor,
    AutoModelForSequenceClassification,
    HfArgumentParser,
    Trainer,
    set_seed,
)
from transformers.utils import SAFE_WEIGHTS_NAME

from ..data.collator import AugmentationEpochCallback, AugmentedDataset, SkeletonCollator
from ..data.model_inputs import feature_extractor_for
from ..feature_extraction_cascadeformer import CascadeFormerFeatureExtractor
from ..hub import (
    RESULTS_FILENAME,
    add_pipeline_code,
    push_folder,
    render_model_card,
    save_results,
    write_model_card,
)
from ..metrics import compute_metrics
from .arguments import DataArguments, FinetuneArguments, FinetuneTrainingArguments, ModelArguments
from .common import (
    DataGeometry,
    build_config,
    check_geometry,
    check_model_reference,
    check_output_dir,
    decayed_parameter_names,
    earlier_run_files,
    latest_complete_checkpoint,
    layout_for,
    load_config_overrides,
    load_dataset_dict,
    recipe_augmentation,
    remove_paths,
    replace_pickled_training_args,
    stratified_fraction,
    train_or_finish,
    warn_if_bf16_is_slow,
    with_validation_split,
)
from .console import classification_summary, per_class_recall, use_console_callbacks
from .recipes import FINETUNE_RECIPES

FINETUNE_ARGUMENTS = (ModelArguments, DataArguments, FinetuneArguments, FinetuneTrainingArguments)
# Augmentations of each clip per training batch when `consistency_weight` is on.
CONSISTENCY_VIEWS = 2


def augmentation_consistency(logits: torch.Tensor, views: int, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Jensen-Shannon divergence among the predictions for `views` augmentations of each clip (AugMix's consistency
    term, Hendrycks et al., ICLR 2020): the mean over views of KL(p_view || mean of the views' p), averaged over
    clips. `logits` are `(views * clips, labels)`, view-major as `AugmentedDataset(views=...)` reads them; `labels`,
    when given, must repeat per view (a batch of distinct clips would otherwise be compared silently)."""
    if logits.shape[0] % views:
        raise ValueError(f"{logits.shape[0]} rows of logits do not split into {views} views of the same clips")
    if labels is not None and not (labels.view(views, -1) == labels.view(views, -1)[0]).all():
        raise ValueError(
            "the consistency loss needs each batch to hold views of the same clips (AugmentedDataset(views=...)); "
            "the labels of the views differ"
        )
    probs = logits.float().softmax(-1).unflatten(0, (views, -1))
    log_mixture = probs.mean(0).clamp_min(1e-7).log()
    return sum(F.kl_div(log_mixture, p, reduction="batchmean") for p in probs) / views


class CascadeFormerTrainer(Trainer):
    """`Trainer` whose optimiser decays the parameters pretraining's does (`decayed_parameter_names`: the model's
    `no_weight_decay()` and no 1-D parameters), instead of Trainer's name patterns, which decay the learned position
    embeddings.

    With `consistency_weight > 0` the training batches hold `consistency_views` augmentations of each clip
    (`AugmentedDataset(views=...)`) and the training loss adds `consistency_weight` times their
    `augmentation_consistency`; evaluation is unchanged.
    """

    def __init__(
        self, *args: Any, consistency_weight: float = 0.0, consistency_views: int = CONSISTENCY_VIEWS, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        self.consistency_weight = consistency_weight
        self.consistency_views = consistency_views

    def get_decay_parameter_names(self, model: Any) -> list[str]:
        return decayed_parameter_names(model)

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        if self.consistency_weight and model.training:
            logits = outputs["logits"] if isinstance(outputs, dict) else outputs[1]
            divergence = augmentation_consistency(logits, self.consistency_views, inputs.get("labels"))
            loss = loss + self.consistency_weight * divergence
        return (loss, outputs) if return_outputs else loss


def parse_finetune_args(
    argv: Sequence[str] | None = None, prog: str | None = None
) -> tuple[ModelArguments, DataArguments, FinetuneArguments, FinetuneTrainingArguments]:
    """The command line of fine-tuning: the package's options and every `TrainingArguments` field."""
    parser = HfArgumentParser(FINETUNE_ARGUMENTS, prog=prog, description=__doc__)
    argv = list(sys.argv[1:] if argv is None else argv)
    return parser.parse_args_into_dataclasses(args=_legacy_push_to_hub(argv))


def _legacy_push_to_hub(argv: list[str]) -> list[str]:
    """`--push-to-hub REPO_ID` (the option before `TrainingArguments` took over) means `--push_to_hub
    --hub_model_id REPO_ID`."""
    rewritten: list[str] = []
    values = iter(range(len(argv)))
    for index in values:
        option = argv[index]
        following = argv[index + 1] if index + 1 < len(argv) else None
        is_repo_id = following is not None and not following.startswith("-") and following.lower() not in _BOOLS
        if option in ("--push-to-hub", "--push_to_hub") and is_repo_id:
            rewritten += ["--push_to_hub", "--hub_model_id", following]
            next(values)
        else:
            rewritten.append(option)
    return rewritten


_BOOLS = {"yes", "no", "true", "false", "y", "n", "t", "f", "1", "0"}


def finetune(
    model_args: ModelArguments,
    data_args: DataArguments,
    finetune_args: FinetuneArguments,
    training_args: FinetuneTrainingArguments,
) -> dict[str, float]:
    """Fine-tune, select on validation, evaluate on test and save; returns the metrics (`eval_results.json`)."""
    recipe = FINETUNE_RECIPES[training_args.recipe]
    output_dir = check_output_dir(training_args.output_dir)
    seed = training_args.seed
    set_seed(seed)  # before the model is built: its initial weights come from this seed

    dataset_dict = load_dataset_dict(data_args.dataset, data_args.dataset_config, seed=seed)
    if finetune_args.validation_fraction > 0 or "validation" in dataset_dict:
        dataset_dict = with_validation_split(dataset_dict, finetune_args.validation_fraction, seed=seed)
    select = "validation" in dataset_dict
    if finetune_args.label_fraction is not None:
        dataset_dict["train"], _ = stratified_fraction(dataset_dict["train"], finetune_args.label_fraction, seed=seed)
    geometry = DataGeometry.of(dataset_dict["train"])
    dataset_dict = dataset_dict.with_format("numpy")

    model, extractor = _model_and_extractor(model_args, geometry, recipe, training_args.label_smoothing_factor)
    train_dataset = dataset_dict["train"]
    consistency = training_args.consistency_weight
    if consistency and finetune_args.no_augmentation:
        raise ValueError("--consistency_weight compares augmentations of a clip: it needs augmentation on")
    if not finetune_args.no_augmentation:
        views = CONSISTENCY_VIEWS if consistency else 1
        train_dataset = AugmentedDataset(train_dataset, recipe_augmentation(recipe, geometry), seed=seed, views=views)

    run_args = _with_steps_from_data(training_args, len(dataset_dict["train"]), recipe, select)
    if run_args.bf16:
        warn_if_bf16_is_slow(run_args.device)
    trainer = CascadeFormerTrainer(
        model=model,
        args=run_args,
        train_dataset=train_dataset,
        eval_dataset=dataset_dict["validation"] if select else None,
        data_collator=SkeletonCollator(extractor),
        compute_metrics=compute_metrics,
        # the augmentation's epoch, also where a resumed or multi-process loader does not pass it on
        callbacks=[AugmentationEpochCallback(train_dataset)] if isinstance(train_dataset, AugmentedDataset) else None,
        consistency_weight=consistency,
    )
    use_console_callbacks(trainer)
    resume = run_args.resume_from_checkpoint
    with run_args.main_process_first(local=False, desc="replacing a finished run"):
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
        if trainer.is_world_process_zero():
            print(f"resuming from {resume}" if resume else f"no complete checkpoint in {output_dir}; starting fresh")
    train_or_finish(trainer, resume)

    results: dict[str, float] = {"world_size": run_args.world_size}
    summaries = []
    evaluated_split = None
    for split in ("validation", "test"):
        if split not in dataset_dict or len(dataset_dict[split]) == 0 or (split == "validation" and not select):
            continue
        prediction = trainer.predict(dataset_dict[split], metric_key_prefix=split)
        trainer.log(prediction.metrics)  # to the console and the trackers, as `trainer.evaluate` would
        results.update(prediction.metrics)
        evaluated_split = split
        names = [model.config.id2label[i] for i in range(model.config.num_labels)]
        recall, support, _ = per_class_recall(prediction.predictions, prediction.label_ids, len(names))
        metrics = {key.removeprefix(f"{split}_"): value for key, value in prediction.metrics.items()}
        summaries.append(
            classification_summary(f"{split} ({int(support.sum())} clips)", metrics, names, recall, support)
        )

    if trainer.is_world_process_zero():
        trainer.save_model(str(output_dir))
        replace_pickled_training_args(output_dir, training_args)
        extractor.save_pretrained(str(output_dir))
        add_pipeline_code(output_dir)  # the pipeline travels with the checkpoint (remote code)
        save_results(output_dir, results)
        prefix = f"{evaluated_split}_"
        metrics = {key.removeprefix(prefix): value for key, value in results.items() if key.startswith(prefix)}
        # Without --hub_model_id, Trainer names the repository after the output folder; so does this.
        repo_id = (training_args.hub_model_id or output_dir.name) if training_args.push_to_hub else None
        card = render_model_card(
            model.config,
            model_name=repo_id or output_dir.name,
            repo_id=repo_id,
            num_parameters=sum(p.numel() for p in model.parameters()),
            preset=model_args.preset or recipe.get("preset"),
            dataset={
                "name": data_args.dataset,
                "id": data_args.dataset,
                "config": data_args.dataset_config,
                "split": evaluated_split,
            },
            training=_describe_training(model_args, data_args, finetune_args, run_args, dataset_dict),
            metrics=metrics,
            base_model=model_args.model,
        )
        write_model_card(output_dir, card)
        print("\n".join(summaries) if summaries else "no validation or test split: nothing evaluated")
        print(f"saved to {output_dir}")
        if repo_id:
            private = bool(training_args.hub_private_repo)
            push_folder(output_dir, repo_id, private=private, commit_message="Fine-tuned model")
            print(f"pushed to {repo_id}")
    return results


def _model_and_extractor(
    model_args: ModelArguments, geometry: DataGeometry, recipe: dict[str, Any], label_smoothing: float | None = None
) -> tuple[Any, CascadeFormerFeatureExtractor]:
    overrides = load_config_overrides(model_args.config)
    if label_smoothing is not None:
        # Label smoothing has one home, the model's config (see `_with_steps_from_data`).
        overrides["label_smoothing"] = label_smoothing
    if model_args.no_cascade:
        overrides["use_cascade"] = False
    if model_args.freeze_encoder:
        overrides["freeze_encoder"] = True
    num_frames = model_args.num_frames if model_args.num_frames is not None else recipe["num_frames"]
    if model_args.model:
        check_model_reference(model_args.model)
        label_fields = build_config(geometry).to_diff_dict()
        labels = {key: label_fields[key] for key in ("id2label", "label2id")}
        model = AutoModelForSequenceClassification.from_pretrained(model_args.model, **labels, **overrides)
        check_geometry(model.config, geometry, model_args.model)
        try:
            extractor = AutoFeatureExtractor.from_pretrained(model_args.model)
        except OSError:
            extractor = feature_extractor_for(model.config, layout_for(geometry))
        if num_frames is not None:
            extractor.num_frames = num_frames
        for key, value in recipe.get("extractor", {}).items():
            setattr(extractor, key, value)
        return model, extractor
    config = build_config(geometry, model_args.preset or recipe.get("preset"), recipe.get("model"), overrides)
    model = AutoModelForSequenceClassification.from_config(config)
    extractor_fields = {"num_frames": num_frames, **recipe.get("extractor", {})}
    extractor = feature_extractor_for(config, layout_for(geometry), **extractor_fields)
    if num_frames is None:
        extractor.num_frames = None  # pad each batch to its longest clip (the paper's Penn Action setting)
    return model, extractor


def _with_steps_from_data(
    args: FinetuneTrainingArguments, num_train_clips: int, recipe: dict[str, Any], select: bool
) -> FinetuneTrainingArguments:
    """The arguments of this run: what `args` left to the data (warm-up, evaluation, checkpoint and logging steps)
    set from the number of steps, evaluation and best-model selection off without a validation split, and pushing
    to the Hub left to `finetune` (it uploads once, with the card, after training)."""
    # Counted on one process's batches, as the scripts always did: the default step intervals do not change with
    # the number of processes.
    batches = num_train_clips / args.per_device_train_batch_size / args.gradient_accumulation_steps
    steps_per_epoch = max(1, math.ceil(batches))
    total_steps = args.max_steps if args.max_steps > 0 else math.ceil(steps_per_epoch * args.num_train_epochs)
    unset = set(args.steps_from_data)
    eval_every = args.eval_steps if "eval_steps" not in unset else max(1, min(steps_per_epoch, total_steps))
    # Trainer's own label smoothing stays off: with it on, Trainer pops the labels and smooths outside the model,
    # and the saved config would misreport how the model was trained. `finetune` set `config.label_smoothing`.
    changes: dict[str, Any] = {"push_to_hub": False, "label_smoothing_factor": 0.0}
    if "warmup_steps" in unset:
        changes["warmup_steps"] = round(recipe["warmup_ratio"] * total_steps)
    if "eval_steps" in unset:
        changes["eval_steps"] = eval_every
    if "save_steps" in unset:
        changes["save_steps"] = eval_every
    if "logging_steps" in unset:
        changes["logging_steps"] = max(1, min(10, eval_every))
    if not select:
        changes.update(eval_strategy="no", load_best_model_at_end=False)
    return dataclasses.replace(args, **changes)


def _describe_training(
    model_args: ModelArguments,
    data_args: DataArguments,
    finetune_args: FinetuneArguments,
    args: FinetuneTrainingArguments,
    dataset_dict: Any,
) -> str:
    counts = ", ".join(f"{name} {len(split)}" for name, split in dataset_dict.items())
    start = f"from `{model_args.model}`" if model_args.model else "from scratch"
    selection = (
        f"validation held out from train with seed {args.seed}, used to select the checkpoint"
        if "validation" in dataset_dict
        else "no validation split: the last checkpoint is kept"
    )
    length = f"{args.max_steps} steps" if args.max_steps > 0 else f"{args.num_train_epochs:g} epochs"
    return (
        f"Fine-tuned {start} on `{data_args.dataset}` ({counts} clips; {selection}) with "
        f"`cascadeformer finetune --recipe {args.recipe}`: AdamW, "
        f"learning rate {args.learning_rate:g}, weight decay {args.weight_decay:g}, cosine schedule, "
        f"batch {args.per_device_train_batch_size}, {length}"
        + (", bf16 autocast" if args.bf16 else "")
        + (
            f", consistency between two augmentations of each clip (weight {args.consistency_weight:g})"
            if args.consistency_weight
            else ""
        )
        + (f", {finetune_args.label_fraction:.0%} of the labels" if finetune_args.label_fraction else "")
        + "."
    )


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> dict[str, float]:
    """`cascadeformer finetune` / `examples/finetune.py`: parse the command line and fine-tune."""
    return finetune(*parse_finetune_args(argv, prog))
