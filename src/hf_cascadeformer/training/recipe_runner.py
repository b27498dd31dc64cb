"""One command per benchmark: build the dataset, pretrain, fine-tune and evaluate within a CPU budget.

The final recipe trains on every training clip (N-UCLA views 1 and 2, Penn Action's training portion) with a fixed
seed and keeps the last model; when `raw_dir` also holds the test files (N-UCLA view 3, Penn's `train == -1` clips)
it evaluates on the official test split. `validate` runs the protocol that chose the hyper-parameters instead
(the benchmark's first of `VALIDATION_PROTOCOLS`), `validation_protocol` another one. `smoke` runs every stage for a
few steps on a handful of clips. `pretrained_model` skips pretraining and fine-tunes a given encoder instead (the
`pretrain/` of an earlier run of the same protocol and seed: ablations of the fine-tuning stage). With
`ensemble_size` N > 1 (the recipe's or the flag's), N classifiers are pretrained and fine-tuned, each with its own seed
(`member_seeds`), and saved as one ensemble checkpoint that averages their class probabilities.

Writes into `output_dir`: `data/` (the built benchmark), `splits/` (the splits trained and evaluated on),
`training_splits/` (the same without validation), `pretrain/`, `model/` (the classifier with its feature
extractor, `eval_results.json`, `metrics_<split>.json`, the confusion matrix `confusion_<split>.png` and the model
card), and `recipe_summary.json` with the metrics and the wall time of each stage. An ensemble's members get
`members/<i>/pretrain/` and `members/<i>/model/`; `model/` is then the ensemble.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from transformers import AutoFeatureExtractor, AutoModelForSequenceClassification, HfArgumentParser

from ..configuration_cascadeformer import VARIANT_FRAME_EMBEDDINGS
from ..data.builders import load_benchmark, run_cli
from ..data.errors import UserInputError
from ..data.features import LABEL_COLUMN
from ..hub import add_pipeline_code, push_folder, render_model_card, write_model_card
from ..modeling_cascadeformer import CascadeFormerEnsembleForSequenceClassification
from ..modeling_cascadeformer_objectives import PRETRAINING_OBJECTIVE_CLASSES
from .arguments import (
    DataArguments,
    EvaluateArguments,
    FinetuneArguments,
    FinetuneTrainingArguments,
    ModelArguments,
    PretrainArguments,
    RecipeArguments,
)
from .common import DataGeometry, check_model_reference, layout_for, load_config_overrides, stratified_fraction
from .evaluation import evaluate
from .finetuning import finetune
from .pretraining import pretrain
from .recipes import (
    BENCHMARK_RECIPES,
    FINETUNE_RECIPES,
    JOINT_SEGMENT_FIELDS,
    VALIDATION_PROTOCOLS,
    BenchmarkRecipe,
    StratifiedFraction,
)


def parse_recipe_args(argv: Sequence[str] | None = None, prog: str | None = None) -> RecipeArguments:
    """The command line of a recipe: `BENCHMARK --raw-dir DIR --output-dir OUT [options]`."""
    parser = HfArgumentParser(RecipeArguments, prog=prog, description=__doc__)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-"):
        argv = ["--benchmark", *argv]  # the benchmark comes first, as a positional argument
    (args,) = parser.parse_args_into_dataclasses(args=argv)
    return args


def validation_protocol(recipe: BenchmarkRecipe, name: str | None) -> str:
    """The protocol `validate` runs: `name`, or the benchmark's first (the one its settings were chosen on)."""
    if name is None:
        return recipe.validation_protocols[0]
    if name not in recipe.validation_protocols:
        raise SystemExit(f"validation protocol {name!r} does not apply here; choose from {recipe.validation_protocols}")
    return name


def validation_splits(protocol: str, train: datasets.Dataset, seed: int) -> datasets.DatasetDict:
    """Carve `validation` out of the training clips by a protocol of `VALIDATION_PROTOCOLS`, never from test."""
    rule = VALIDATION_PROTOCOLS[protocol]
    if isinstance(rule, StratifiedFraction):
        validation, rest = stratified_fraction(train, rule.fraction, seed)
        return datasets.DatasetDict({"train": rest, "validation": validation})
    values = np.asarray(train[rule.column])
    return datasets.DatasetDict(
        {
            "train": train.select(np.flatnonzero(np.isin(values, list(rule.train)))),
            "validation": train.select(np.flatnonzero(np.isin(values, list(rule.validation)))),
        }
    )


def smoke_subset(splits: datasets.DatasetDict, clips: int = 24) -> datasets.DatasetDict:
    """A handful of clips per split, evenly spread over each split (so several classes are present)."""
    return datasets.DatasetDict(
        {
            name: split.select(np.linspace(0, len(split) - 1, min(clips, len(split))).round().astype(int))
            for name, split in splits.items()
            if len(split) > 0
        }
    )


def build_dataset(recipe: BenchmarkRecipe, raw_dir: str, output_dir: Path) -> Path:
    """Build the benchmark with its builder, unless a complete build is already there."""
    target = output_dir / "data"
    if not (target / "dataset_dict.json").is_file():
        status = run_cli(recipe.builder, ["--raw-dir", raw_dir, "--output-dir", str(target)])
        if status != 0:
            raise SystemExit(f"building {recipe.builder} from {raw_dir} failed (status {status})")
    return target


def restart_stage(folder: Path) -> Path:
    """An empty folder for a stage: running the recipe again (after an interruption, or with other flags) restarts
    its training stages from scratch, so nothing of an earlier run is resumed or mixed in."""
    if folder.exists():
        shutil.rmtree(folder)
    return folder


def model_fields(args: RecipeArguments, recipe: BenchmarkRecipe) -> dict[str, Any]:
    """The model's config fields: the fine-tuning recipe's size, the variant, the pretraining objective."""
    fields = dict(FINETUNE_RECIPES[recipe.finetune_recipe]["model"])
    fields["frame_embedding"] = VARIANT_FRAME_EMBEDDINGS[args.variant or recipe.variant]
    objective = None if args.no_pretraining else args.objective or recipe.objective
    if objective and PRETRAINING_OBJECTIVE_CLASSES[objective].token_layout == "joint_segment":
        fields.update(JOINT_SEGMENT_FIELDS, pretraining_objective=objective, decoder_hidden_size=fields["hidden_size"])
    if args.no_cascade:
        fields["use_cascade"] = False
    fields.update(load_config_overrides(args.config))
    return fields


def with_synthetic_clips(train: datasets.Dataset, num_clips: int, seed: int) -> datasets.Dataset:
    """The training clips followed by `num_clips` of the synthetic multi-view corpus on their layout, as one
    pretraining set. Pretraining reads only the skeletons (and Penn Action's joint visibility): the synthetic clips
    get the label -1 (none), every joint visible, and zeros or empty strings for the benchmark's metadata."""
    from ..data.synthetic import load_multiview_corpus

    geometry = DataGeometry.of(train)
    if geometry.num_persons != 1:
        raise ValueError(f"the synthetic corpus has one person per clip; this benchmark has {geometry.num_persons}")
    corpus = load_multiview_corpus(num_clips, layout_for(geometry), seed=seed)
    corpus = corpus.remove_columns([name for name in corpus.column_names if name not in train.features])
    corpus = corpus.remove_columns(LABEL_COLUMN)
    for name, feature in train.features.items():
        if name in corpus.column_names:
            continue
        if name == LABEL_COLUMN:
            column = [-1] * len(corpus)
        elif name == "visibility":  # per frame and joint (Penn Action)
            column = [[[1] * geometry.num_joints] * frames for frames in corpus["num_frames"]]
        elif isinstance(feature, datasets.Value):
            column = ["" if feature.dtype == "string" else 0] * len(corpus)
        else:
            raise ValueError(f"the synthetic corpus has nothing to put in the benchmark's column {name!r}")
        corpus = corpus.add_column(name, column, feature=feature)
    corpus = corpus.select_columns(list(train.features)).cast(train.features)
    return datasets.concatenate_datasets([train, corpus])


def check_reused_encoder(args: RecipeArguments) -> None:
    """`--pretrained-model` replaces the pretraining stage and brings its own config: refuse the flags that would
    shape a stage or a model that is not built, and a local folder that is not there, before any work."""
    ignored = {
        "--no-pretraining": args.no_pretraining,
        "--objective": args.objective is not None,
        "--pretrain-epochs": args.pretrain_epochs is not None,
        "--pretrain-augmentation": args.pretrain_augmentation is not None,
        "--synthetic-clips": args.synthetic_clips is not None,
        "--variant": args.variant is not None,
        "--config": args.config is not None,
        "--ensemble-size": args.ensemble_size not in (None, 1),
    }
    given = [flag for flag, is_set in ignored.items() if is_set]
    if given:
        pronoun = "it" if len(given) == 1 else "them"
        raise UserInputError(
            f"--pretrained-model reuses an encoder and its config; {', '.join(given)} would not apply: drop {pronoun}"
        )
    check_model_reference(args.pretrained_model, "--pretrained-model")


def member_seeds(seed: int, ensemble_size: int) -> list[int]:
    """The seeds of an ensemble's members: runs with different seeds share no member, and one member is `seed`."""
    return [seed * ensemble_size + index for index in range(ensemble_size)]


def fuse_members(member_dirs: Sequence[Path], output_dir: Path, description: str, repo_id: str | None) -> Path:
    """One checkpoint of the members' classifiers (`CascadeFormerEnsembleForSequenceClassification`), with their
    feature extractor (the members' must agree), its pipeline code and a model card, in `output_dir`."""
    extractors = [AutoFeatureExtractor.from_pretrained(folder) for folder in member_dirs]
    for folder, extractor in zip(member_dirs[1:], extractors[1:], strict=True):
        if extractor.to_dict() != extractors[0].to_dict():
            raise ValueError(f"{folder}: its feature extractor differs from {member_dirs[0]}'s")
    members = [AutoModelForSequenceClassification.from_pretrained(folder) for folder in member_dirs]
    ensemble = CascadeFormerEnsembleForSequenceClassification.from_members(members)
    ensemble.save_pretrained(output_dir)
    extractors[0].save_pretrained(output_dir)
    add_pipeline_code(output_dir)
    card = render_model_card(
        ensemble.config,
        model_name=repo_id or output_dir.name,
        repo_id=repo_id,
        num_parameters=sum(p.numel() for p in ensemble.parameters()),
        training=description,
    )
    write_model_card(output_dir, card)
    return output_dir


def run_recipe(args: RecipeArguments) -> dict[str, Any]:
    """Run a benchmark recipe end to end; returns what `recipe_summary.json` holds."""
    started = time.perf_counter()
    recipe = BENCHMARK_RECIPES[args.benchmark]
    validate = args.validate or args.validation_protocol is not None
    protocol = validation_protocol(recipe, args.validation_protocol) if validate else None
    # Flags are checked before the output folder is touched: a refused command leaves an earlier run as it was.
    if args.synthetic_clips is not None and args.synthetic_clips < 0:
        raise ValueError(f"--synthetic-clips must be 0 or more, got {args.synthetic_clips}")
    if args.ensemble_size is not None and args.ensemble_size < 1:
        raise ValueError(f"--ensemble-size must be 1 or more, got {args.ensemble_size}")
    if args.pretrained_model is not None:
        check_reused_encoder(args)
    # A reused encoder is one model's: it fine-tunes one classifier, whatever the recipe's ensemble.
    ensemble_size = args.ensemble_size or (1 if args.pretrained_model else recipe.ensemble_size)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    summary_file = output_dir / "recipe_summary.json"
    summary_file.unlink(missing_ok=True)  # written last: an interrupted run never looks finished
    settings = FINETUNE_RECIPES[recipe.finetune_recipe]
    seconds: dict[str, float] = {}

    def lap(stage: str, since: float) -> float:
        now = time.perf_counter()
        seconds[stage] = round(seconds.get(stage, 0.0) + now - since, 1)  # summed over an ensemble's members
        return now

    mark = time.perf_counter()
    built = load_benchmark(build_dataset(recipe, args.raw_dir, output_dir))
    if protocol is not None:
        splits = validation_splits(protocol, built["train"], args.seed)
    else:
        splits = datasets.DatasetDict({name: split for name, split in built.items() if len(split) > 0})
    if args.smoke:
        splits = smoke_subset(splits)
    splits_dir = output_dir / "splits"
    splits.save_to_disk(str(splits_dir))
    # Training sees no validation split: it keeps the last model, so the validation figure is not a selected best.
    training_dir = output_dir / "training_splits"
    datasets.DatasetDict({name: split for name, split in splits.items() if name != "validation"}).save_to_disk(
        str(training_dir)
    )
    mark = lap("data", mark)

    fields = model_fields(args, recipe)
    config_file = output_dir / "model_config.json"
    if args.pretrained_model is None:
        config_file.write_text(json.dumps(fields, indent=2))
    else:  # the reused encoder brings its config: an earlier run's file in this folder would describe another model
        config_file.unlink(missing_ok=True)
    max_steps = 2 if args.smoke else -1
    training_data = DataArguments(dataset=str(training_dir))

    objective = None if args.no_pretraining or args.pretrained_model else args.objective or recipe.objective
    epochs = args.pretrain_epochs if args.pretrain_epochs is not None else recipe.pretrain_epochs
    pretrain_augmentation = (args.pretrain_augmentation or recipe.pretrain_augmentation) if objective else None
    synthetic_clips = 0
    if objective:
        synthetic_clips = args.synthetic_clips if args.synthetic_clips is not None else recipe.synthetic_clips
    if args.smoke:
        synthetic_clips = min(synthetic_clips, 16)

    consistency_weight = None

    def train_member(folder: Path, seed: int, push: bool) -> Path:
        """Pretrain (unless skipped or reused) and fine-tune one classifier in `folder`; returns its folder."""
        nonlocal mark, consistency_weight
        model_dir = args.pretrained_model
        pretraining_data = training_data
        if synthetic_clips:
            pretraining_dir = folder / "pretraining_splits"
            pretraining_train = with_synthetic_clips(splits["train"], synthetic_clips, seed)
            datasets.DatasetDict({"train": pretraining_train}).save_to_disk(str(pretraining_dir))
            pretraining_data = DataArguments(dataset=str(pretraining_dir))
            mark = lap("synthetic", mark)
        if objective:
            model_dir = restart_stage(folder / "pretrain")
            extractor_fields = settings.get("extractor", {})
            unsupported = sorted(set(extractor_fields) - {"scale_normalization", "root_joint"})
            if unsupported:
                raise ValueError(
                    f"recipe {recipe.finetune_recipe}: pretraining cannot set extractor fields {unsupported}"
                )
            pretrain_args = PretrainArguments(
                output_dir=str(model_dir),
                config=str(config_file),
                objective=objective,
                num_frames=settings["num_frames"],
                learning_rate=recipe.pretrain_learning_rate,
                batch_size=8 if args.smoke else 32,
                checkpoint_every=1_000_000,  # a short run: the recipe restarts a stage, never resumes
                # Pretraining prepares clips as fine-tuning will (`_model_and_extractor` sets the same fields).
                scale_normalization=bool(extractor_fields.get("scale_normalization")),
                root_joint=extractor_fields.get("root_joint"),
                augmentation=pretrain_augmentation,
                max_steps=max_steps,
                num_epochs=None if args.smoke else float(epochs),
                seed=seed,
            )
            pretrain(pretraining_data, pretrain_args)
            mark = lap("pretrain", mark)

        classifier_dir = restart_stage(folder / "model")
        training_args = FinetuneTrainingArguments(
            output_dir=str(classifier_dir),
            recipe=recipe.finetune_recipe,
            seed=seed,
            max_steps=max_steps,
            num_train_epochs=float(args.finetune_epochs) if args.finetune_epochs is not None else None,
            consistency_weight=args.consistency_weight,
            per_device_train_batch_size=8 if args.smoke else None,
            push_to_hub=push,
            hub_model_id=args.push_to_hub if push else None,
        )
        consistency_weight = training_args.consistency_weight  # the flag's, or the fine-tuning recipe's
        finetune(
            ModelArguments(
                model=str(model_dir) if model_dir else None,
                config=None if model_dir else str(config_file),
                no_cascade=args.no_cascade,
            ),
            training_data,
            FinetuneArguments(validation_fraction=0.0),  # every training clip; the last model is kept
            training_args,
        )
        mark = lap("finetune", mark)
        return classifier_dir

    seeds = member_seeds(args.seed, ensemble_size)
    members_dir = restart_stage(output_dir / "members")  # an earlier ensemble's members are not this run's
    if ensemble_size == 1:
        final_dir = train_member(output_dir, args.seed, push=args.push_to_hub is not None)
    else:
        for stale in ("pretrain", "pretraining_splits"):  # an earlier single-model run's are not this run's either
            restart_stage(output_dir / stale)
        member_dirs = [train_member(members_dir / str(index), seed, push=False) for index, seed in enumerate(seeds)]
        final_dir = fuse_members(
            member_dirs,
            restart_stage(output_dir / "model"),
            f"An ensemble of {ensemble_size} classifiers trained by `cascadeformer recipe {args.benchmark}` with "
            f"seeds {', '.join(map(str, seeds))}, each pretrained and fine-tuned on its own; their class "
            "probabilities are averaged.",
            args.push_to_hub,
        )
        if args.push_to_hub:
            push_folder(final_dir, args.push_to_hub, commit_message="Ensemble of fine-tuned models")
            print(f"pushed to {args.push_to_hub}")
        mark = lap("fuse", mark)

    metrics = {}
    tta = args.tta or recipe.tta
    for split in ("validation", "test"):
        if split in splits:
            metrics[split] = evaluate(
                EvaluateArguments(model=str(final_dir), split=split, seed=args.seed, tta=tta),
                DataArguments(dataset=str(splits_dir)),
            )
    lap("evaluate", mark)
    if args.pretrained_model:  # the model's fields are the reused encoder's, not the recipe's
        trained = json.loads((final_dir / "config.json").read_text())
        fields = {key: trained.get(key) for key in fields}
    seconds["total"] = round(time.perf_counter() - started, 1)
    summary = {
        "benchmark": args.benchmark,
        "protocol": f"validation ({VALIDATION_PROTOCOLS[protocol].description})"
        if protocol
        else "final (all training clips)",
        "clips": {name: len(split) for name, split in splits.items()},
        "model": fields,
        "ensemble_size": ensemble_size,
        "pretraining": objective,
        "pretrained_model": args.pretrained_model,
        "pretrain_epochs": epochs if objective else None,
        "pretrain_augmentation": pretrain_augmentation,
        "synthetic_clips": synthetic_clips,
        "seed": args.seed,
        "member_seeds": seeds,
        "tta": tta,
        "consistency_weight": consistency_weight,
        "smoke": args.smoke,
        "metrics": {split: {k: v for k, v in m.items() if isinstance(v, float)} for split, m in metrics.items()},
        "seconds": seconds,
    }
    summary_file.write_text(json.dumps(summary, indent=2))
    for split, values in summary["metrics"].items():
        top1, top5 = 100 * values["accuracy"], 100 * values["top5_accuracy"]
        print(f"{args.benchmark} {split}: top-1 {top1:.2f}%, top-5 {top5:.2f}%")
    if protocol is None and "test" not in metrics:
        print(f"{args.raw_dir} holds no test clips: nothing to evaluate the final model on")
    print(f"wall time: {seconds['total'] / 60:.1f} min ({', '.join(f'{k} {v:.0f} s' for k, v in seconds.items())})")
    return summary


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> dict[str, Any]:
    """`cascadeformer recipe` / `examples/recipe.py`: parse the command line and run the recipe."""
    return run_recipe(parse_recipe_args(argv, prog))
