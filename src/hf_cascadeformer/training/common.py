"""What pretraining, fine-tuning and evaluation share: loading a dataset, carving a validation split, label
fractions, building a model config that fits the data, and the bookkeeping of run folders."""

from __future__ import annotations

import difflib
import json
import shutil
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import torch

from ..configuration_cascadeformer import CONFIG_FIELDS, PRESETS, CascadeFormerConfig
from ..data.errors import UserInputError
from ..data.features import LABEL_COLUMN, SKELETON_COLUMN, layout_name_of
from ..data.skeletons import SkeletonLayout, resolve_layout
from ..data.synthetic import EMBEDDED_2D_DATASET, EMBEDDED_DATASET, EMBEDDED_MULTIVIEW_DATASET
from ..data.transforms import Compose, make_train_transform
from ..hub import is_local_reference


@dataclass(frozen=True)
class DataGeometry:
    """What a model needs to know about a dataset's clips and labels.

    `layout_name` is the skeleton layout the dataset records (`data.features.layout_name_of`), `None` for a dataset
    built before layouts were recorded (see `layout_for`)."""

    num_persons: int
    num_joints: int
    num_channels: int
    class_names: tuple[str, ...]
    layout_name: str | None = None

    @classmethod
    def of(cls, dataset: datasets.Dataset) -> DataGeometry:
        skeleton = dataset.features[SKELETON_COLUMN]
        _, persons, joints, channels = skeleton.shape
        names = tuple(dataset.features[LABEL_COLUMN].names)
        return cls(persons, joints, channels, names, layout_name_of(dataset.features))


def load_dataset_dict(
    name: str = EMBEDDED_DATASET, config_name: str | None = None, seed: int = 0
) -> datasets.DatasetDict:
    """The embedded default dataset, the multi-view corpus, a folder built by `dataset_scripts/` or a Hub id."""
    if name in (EMBEDDED_DATASET, EMBEDDED_2D_DATASET):
        from ..data.synthetic import load_synthetic_dataset

        return load_synthetic_dataset(two_d=name == EMBEDDED_2D_DATASET, seed=seed)
    if name == EMBEDDED_MULTIVIEW_DATASET:
        from ..data.synthetic import load_multiview_corpus

        return datasets.DatasetDict({"train": load_multiview_corpus(layout=config_name or "ntu", seed=seed)})
    from ..data.builders import load_benchmark

    return load_benchmark(name, config_name)


def stratified_fraction(
    dataset: datasets.Dataset, fraction: float, seed: int
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Split off a seeded, stratified `fraction` of the rows: returns (the fraction, the rest).

    Deterministic given the seed, so every process of a distributed run selects the same rows.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    num_classes = dataset.features[LABEL_COLUMN].num_classes
    size = max(num_classes, round(fraction * len(dataset)))
    if size >= len(dataset):
        raise ValueError(f"a {fraction:.0%} split of {len(dataset)} clips leaves nothing for the rest")
    parts = dataset.train_test_split(test_size=size, stratify_by_column=LABEL_COLUMN, seed=seed)
    return parts["test"], parts["train"]


def with_validation_split(
    dataset_dict: datasets.DatasetDict, fraction: float = 0.1, seed: int = 0
) -> datasets.DatasetDict:
    """Make sure there is a `validation` split to select checkpoints on: an existing one is kept; otherwise a
    stratified `fraction` of `train` is held out. The test split is never used for selection."""
    if "validation" in dataset_dict:
        return dataset_dict
    validation, train = stratified_fraction(dataset_dict["train"], fraction, seed)
    splits = {"train": train, "validation": validation}
    if "test" in dataset_dict:
        splits["test"] = dataset_dict["test"]
    return datasets.DatasetDict(splits)


def layout_for(geometry: DataGeometry) -> SkeletonLayout:
    """The skeleton layout of a dataset: the one it names (`data.skeletons.get_layout`), checked against its joints
    and channels; a dataset that names none (built before layouts were recorded) gets the layout its joint and
    channel counts imply (`data.skeletons.legacy_layout`: NTU 25, N-UCLA 20, Penn Action 13)."""
    return resolve_layout(geometry.layout_name, geometry.num_joints, geometry.num_channels)


def recipe_augmentation(recipe: Mapping[str, Any], geometry: DataGeometry) -> Compose:
    """A fine-tuning recipe's training augmentation (`data.transforms.make_train_transform` with the recipe's
    "augment" settings and flip probability) for a dataset; an empty recipe gives that function's defaults."""
    return make_train_transform(
        layout_for(geometry),
        geometry.num_channels,
        flip_probability=recipe.get("flip", 0.0),
        **recipe.get("augment", {}),
    )


def load_config_overrides(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    file = Path(path)
    try:
        overrides = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read config file {file}: {error}") from error
    if not isinstance(overrides, dict):
        raise ValueError(f"config file {file} must hold a JSON object of CascadeFormerConfig fields")
    # `PretrainedConfig` keeps unknown keyword arguments as attributes, so a misspelt field would silently do nothing.
    known = set(CONFIG_FIELDS)
    unknown = sorted(set(overrides) - known)
    if unknown:
        hints = [
            f"{name!r} (did you mean {close[0]!r}?)"
            if (close := difflib.get_close_matches(name, known, 1))
            else repr(name)
            for name in unknown
        ]
        raise ValueError(f"config file {file}: unknown CascadeFormerConfig field(s) {', '.join(hints)}")
    return overrides


def build_config(
    geometry: DataGeometry,
    preset: str | None = None,
    defaults: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> CascadeFormerConfig:
    """A config that fits the data: preset (or `defaults`), then `overrides`, then the data's geometry, labels and
    skeleton layout name (`None` for a joint set no layout describes), and the layout's bone tree when the `"bone"`
    input stream is asked for."""
    fields: dict[str, Any] = dict(PRESETS[preset]) if preset else dict(defaults or {})
    fields.update(overrides or {})
    fields.pop("num_labels", None)
    fields.update(
        num_persons=geometry.num_persons,
        num_joints=geometry.num_joints,
        num_channels=geometry.num_channels,
        id2label=dict(enumerate(geometry.class_names)),
        label2id={name: index for index, name in enumerate(geometry.class_names)},
    )
    try:  # the data's layout, not the preset's: a preset's benchmark may be built in 2D, or another format
        fields["skeleton_layout"] = layout_for(geometry).name
    except ValueError:  # a custom joint set (an unknown name or joint count)
        fields["skeleton_layout"] = None
    if "bone" in fields.get("input_streams", ()) and fields.get("bone_parents") is None:
        parents = layout_for(geometry).parents()
        fields["bone_parents"] = [joint if parent < 0 else parent for joint, parent in enumerate(parents)]
    return CascadeFormerConfig(**fields)


def check_geometry(config: CascadeFormerConfig, geometry: DataGeometry, source: str) -> None:
    """A pretrained checkpoint must fit the dataset's skeletons."""
    expected = (config.num_joints, config.num_channels)
    given = (geometry.num_joints, geometry.num_channels)
    if expected != given:
        raise ValueError(
            f"{source} expects {expected[0]} joints x {expected[1]} channels, the dataset has {given[0]} x {given[1]}"
        )


def decayed_parameter_names(model: torch.nn.Module) -> list[str]:
    """The parameters weight decay applies to: weight matrices (two or more dimensions), except what the model's
    `no_weight_decay()` names (learned embedding tables and mask tokens; timm's convention). Biases and norm
    weights have one dimension."""
    excluded = set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
    return [name for name, parameter in model.named_parameters() if parameter.ndim >= 2 and name not in excluded]


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: `weight_decay` on `decayed_parameter_names(model)`, none on the rest; frozen parameters are
    left out."""
    decayed = set(decayed_parameter_names(model))
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (decay if name in decayed else no_decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def check_output_dir(output_dir: str | Path) -> Path:
    """`--output-dir` must be a folder or creatable as one: refuse an existing file, or a path under a file, with
    a one-line error before any work is done."""
    folder = Path(output_dir).expanduser()
    for path in (folder, *folder.parents):
        if path.exists():
            if not path.is_dir():
                where = "is a file" if path == folder else f"is under {path}, which is a file"
                raise UserInputError(f"--output-dir {output_dir} {where}; name a folder")
            break
    return folder


def check_model_reference(model: str | Path, option: str = "--model") -> None:
    """A model meant as a local folder (see `hub.is_local_reference`) must exist; else transformers would look it
    up on the Hub (about 20 s of retries offline) and report a connection error."""
    if is_local_reference(model) and not Path(model).expanduser().is_dir():
        raise UserInputError(f"{option} {model}: no such checkpoint folder")


def train_or_finish(trainer: Any, resume_from_checkpoint: str | None = None) -> None:
    """`trainer.train(resume_from_checkpoint=...)`, except that resuming from a checkpoint that already holds the
    run's last step (`max_steps`) trains nothing more: `Trainer` checks `max_steps` only after a step, so it would
    take a step beyond it when the last step is not at an epoch's end (transformers/trainer.py, `_run_epoch`).
    The checkpoint's weights (or, with `load_best_model_at_end`, the best checkpoint's) and state are loaded
    instead, as at the end of the uninterrupted run."""
    from transformers.trainer_callback import TrainerState

    state_file = Path(resume_from_checkpoint or "") / "trainer_state.json"
    max_steps = trainer.args.max_steps
    if resume_from_checkpoint and max_steps > 0 and state_file.is_file():
        state = TrainerState.load_from_json(str(state_file))
        if state.global_step >= max_steps:
            trainer.state = state
            trainer._load_from_checkpoint(resume_from_checkpoint)
            best = state.best_model_checkpoint
            if trainer.args.load_best_model_at_end and best and Path(best).is_dir():
                trainer._load_best_model()
            return
    trainer.train(resume_from_checkpoint=resume_from_checkpoint)


def latest_complete_checkpoint(output_dir: str | Path, marker: str) -> Path | None:
    """The `checkpoint-<step>` folder with the highest step that holds `marker`, the file written last when a
    checkpoint is saved (so a checkpoint interrupted while being written is never picked)."""
    check_output_dir(output_dir)
    folders = [p for p in Path(output_dir).glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    complete = [p for p in folders if (p / marker).is_file()]
    return max(complete, key=lambda p: int(p.name.split("-")[-1]), default=None)


def earlier_run_files(output_dir: str | Path, finished_marker: str, outputs: Sequence[str]) -> list[Path]:
    """What a fresh run (no `--resume-from-checkpoint`) replaces in `output_dir`: the `checkpoint-*` folders and
    `outputs` of an earlier run that finished (`finished_marker` is the file it writes last). Left in place, old
    checkpoints would be rotated in with the new ones (rotation goes by step number), be picked by a later resume,
    and an interrupted new run would look finished. Checkpoints of an earlier run that did not finish are what
    `--resume-from-checkpoint` continues from: they raise `SystemExit` with that advice instead of being deleted."""
    folder = check_output_dir(output_dir)
    if not folder.is_dir():
        return []
    checkpoints = sorted(path for path in folder.glob("checkpoint-*") if path.is_dir())
    if checkpoints and not (folder / finished_marker).is_file():
        raise SystemExit(
            f"{folder} holds checkpoints of an unfinished run ({', '.join(path.name for path in checkpoints)}): pass "
            "--resume-from-checkpoint to continue it, or choose another --output-dir"
        )
    return checkpoints + [folder / name for name in outputs if (folder / name).exists()]


def remove_paths(paths: Sequence[Path]) -> None:
    """Delete files and folders (what `earlier_run_files` lists)."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


TRAINING_ARGS_JSON = "training_args.json"


def replace_pickled_training_args(output_dir: str | Path, training_args: Any) -> Path:
    """`Trainer.save_model` pickles its `TrainingArguments` into `training_args.bin` next to the weights, and
    whoever loads that file unpickles it. Keep them as JSON instead, so a folder shared on the Hub holds no pickle."""
    folder = Path(output_dir)
    (folder / "training_args.bin").unlink(missing_ok=True)
    path = folder / TRAINING_ARGS_JSON
    path.write_text(training_args.to_json_string(), encoding="utf-8")
    return path


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (AVX512-BF16 or AMX), as oneDNN reports it (False on a
    torch build without oneDNN, which has no fast bf16 path either)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def warn_if_bf16_is_slow(device: str | torch.device) -> bool:
    """Warn, and return True, when bf16 is asked for on a CPU without native bf16 matrix instructions.

    There oneDNN emulates bf16 products: on an AVX2-only EPYC a bf16 linear layer ran about 10x slower than fp32
    (8 against 82 GFLOP/s on one thread), so bf16 autocast slows training and inference down instead of speeding
    them up."""
    if torch.device(device).type != "cpu" or cpu_has_native_bf16():
        return False
    warnings.warn(
        f"bf16 was requested, but this CPU ({torch.backends.cpu.get_cpu_capability()}) has no native bf16 matrix "
        "instructions: bf16 products are emulated and run several times slower than fp32 here; drop the bf16 "
        "flag for speed",
        stacklevel=2,
    )
    return True
