"""Model cards, pipeline code and Hub publishing for saved checkpoints.

The card's metadata (YAML header) is `huggingface_hub`'s `ModelCardData`: `base_model`, `datasets`, tags, and the
evaluation as `EvalResult`s (the `model-index` block the Hub shows). The body is `MODEL_CARD.md` (classifiers) or
`PRETRAINING_CARD.md` (pretraining outputs), templates shipped in the package, filled from the model's config, the
training protocol and the last evaluation.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .configuration_cascadeformer import CascadeFormerConfig

CARD_FILENAME = "README.md"
RESULTS_FILENAME = "eval_results.json"
CONFIG_FILENAME = "config.json"
TAGS = ["skeleton-action-recognition", "cascadeformer", "hf-cascadeformer"]
_METRIC_NAMES = {
    "accuracy": "Top-1 accuracy",
    "top5_accuracy": "Top-5 accuracy",
    "mean_class_accuracy": "Mean class accuracy",
    "precision_weighted": "Weighted precision",
    "recall_weighted": "Weighted recall",
    "f1_weighted": "Weighted F1",
}
# `org/name`: a Hub model or dataset id (a local folder is not one).
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def is_local_reference(name: str | Path) -> bool:
    """Whether a model or dataset reference can only mean a local folder: a path that starts with ``/``, ``.`` or
    ``~``, has more than one ``/`` or a backslash, ends with a separator, or whose first part is an existing local
    folder (``runs/finetune`` where ``runs/`` exists). Anything else may be a Hub id. Checking these locally first
    turns a mistyped folder into an immediate error instead of a Hub lookup (with retries when offline)."""
    text = str(name)
    if isinstance(name, Path) or text.startswith(("/", ".", "~")) or text.endswith(("/", os.sep)):
        return True
    if text.count("/") > 1 or "\\" in text:
        return True
    return "/" in text and Path(text.split("/", 1)[0]).is_dir()


def card_template(name: str = "MODEL_CARD.md") -> str:
    return resources.files("hf_cascadeformer").joinpath(name).read_text(encoding="utf-8")


def hub_id(reference: str | os.PathLike | None) -> str | None:
    """`reference` when it names a Hub repository (`org/name`), `None` for local paths and the embedded datasets:
    only Hub ids belong in a card's `base_model` / `datasets` metadata."""
    from .data.synthetic import EMBEDDED_DATASETS  # here: the generator imports `datasets`, cards do not need it

    if reference is None:
        return None
    text = str(reference)
    if text in EMBEDDED_DATASETS or text.startswith(("/", ".", "~")):
        return None
    if Path(text).expanduser().exists():
        return None
    return text if _HUB_ID.match(text) else None


def eval_results(metrics: Mapping[str, float], dataset: Mapping[str, str | None]) -> list[EvalResult]:
    """The metrics (fractions) as `EvalResult`s in percent, for the card's `model-index`."""
    name = dataset.get("name") or "unknown"
    results = []
    for key, label in _METRIC_NAMES.items():
        if key in metrics:
            results.append(
                EvalResult(
                    task_type="skeleton-action-recognition",
                    task_name="Skeleton-based action recognition",
                    dataset_type=dataset.get("id") or name,
                    dataset_name=name,
                    dataset_config=dataset.get("config") or None,
                    dataset_split=dataset.get("split") or "test",
                    metric_type=key,
                    metric_name=label,
                    metric_value=round(100 * float(metrics[key]), 2),
                )
            )
    return results


def model_card_data(
    *,
    model_name: str,
    metrics: Mapping[str, float] | None = None,
    dataset: Mapping[str, str | None] | None = None,
    base_model: str | None = None,
    datasets: Sequence[str] | None = None,
    pipeline_tag: str = "other",
    extra_tags: Sequence[str] = (),
) -> ModelCardData:
    """The card's metadata. `base_model` and `datasets` keep only Hub ids (see :func:`hub_id`); with
    `datasets=None` the evaluated dataset's id is used when it is one."""
    dataset = dict(dataset or {})
    if datasets is None:
        datasets = [dataset.get("id") or dataset.get("name")]
    dataset_ids = [d for d in (hub_id(reference) for reference in datasets) if d]
    results = eval_results(metrics or {}, dataset)
    return ModelCardData(
        model_name=model_name if results else None,
        library_name="transformers",
        license="mit",
        base_model=hub_id(base_model),
        datasets=dataset_ids or None,
        tags=[*TAGS, *extra_tags],
        pipeline_tag=pipeline_tag,
        eval_results=results or None,
    )


def _card(data: ModelCardData, body: str) -> str:
    """A complete `README.md`: the metadata as YAML front matter, then the Markdown body."""
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n{body.lstrip()}"))


def _architecture(config: CascadeFormerConfig) -> str:
    stage2 = config.cascade_num_hidden_layers or config.num_hidden_layers
    architecture = f"{config.hidden_size} / {config.num_attention_heads} / {config.num_hidden_layers}"
    architecture += f" + {stage2}" if config.use_cascade else " (no cascade)"
    members = getattr(config, "ensemble_size", 1)  # `CascadeFormerEnsembleConfig`: that many such classifiers
    return architecture + (f", ensemble of {members}" if members > 1 else "")


def _fill(template: str, values: Mapping[str, str]) -> str:
    for key, value in values.items():
        template = template.replace("{{ " + key + " }}", value)
    return template


def render_model_card(
    config: CascadeFormerConfig,
    *,
    model_name: str,
    repo_id: str | None = None,
    num_parameters: int | None = None,
    preset: str | None = None,
    dataset: Mapping[str, str | None] | None = None,
    training: str = "",
    metrics: Mapping[str, float] | None = None,
    base_model: str | None = None,
    datasets: Sequence[str] | None = None,
) -> str:
    """The classifier's card. `metrics` are fractions (as `classification_metrics` returns them); `base_model` is
    the pretrained checkpoint it was fine-tuned from (kept in the metadata when it is a Hub id); `datasets` the Hub
    datasets it was trained on (default: `dataset["id"]` when that is a Hub id)."""
    dataset = dict(dataset or {})
    metrics = dict(metrics or {})
    if metrics:
        rows = [
            f"| {label} | {100 * float(metrics[key]):.2f} |" for key, label in _METRIC_NAMES.items() if key in metrics
        ]
        split = dataset.get("split") or "test"
        evaluation = f"On the `{split}` split of {dataset.get('name') or 'the dataset'}:\n\n| metric | % |\n|---|---|\n"
        evaluation += "\n".join(rows)
    else:
        evaluation = "Not evaluated yet."
    data = model_card_data(
        model_name=model_name, metrics=metrics, dataset=dataset, base_model=base_model, datasets=datasets
    )
    body = _fill(
        card_template("MODEL_CARD.md"),
        {
            "model_name": model_name,
            "repo_id": repo_id or model_name,
            "num_labels": str(config.num_labels),
            "preset": preset or "custom",
            "frame_embedding": config.frame_embedding,
            "architecture": _architecture(config),
            "layer_norm_position": config.layer_norm_position,
            "num_joints": str(config.num_joints),
            "num_channels": str(config.num_channels),
            "num_persons": str(config.num_persons),
            "max_frames": str(config.max_frames),
            "num_parameters": f"{num_parameters:,}" if num_parameters is not None else "unknown",
            "training": training or "Not recorded.",
            "evaluation": evaluation,
        },
    )
    return _card(data, body)


def render_pretraining_card(
    config: CascadeFormerConfig,
    *,
    model_name: str,
    repo_id: str | None = None,
    num_parameters: int | None = None,
    preset: str | None = None,
    dataset: Mapping[str, str | None] | None = None,
    training: str = "",
    results: Mapping[str, float] | None = None,
    base_model: str | None = None,
    datasets: Sequence[str] | None = None,
) -> str:
    """The card of a pretraining output (masked skeleton modeling): an encoder to fine-tune, not a classifier.

    `results` are the run's final figures to show (e.g. `{"train_loss": 0.41, "eval_loss": 0.44}`); they are
    losses, not benchmark metrics, so they go in the body only. `dataset` names the pretraining data (`name`,
    `id`, `config`); `datasets` / `base_model` as in :func:`render_model_card`.
    """
    dataset = dict(dataset or {})
    if results:
        rows = [f"| {key} | {value:.4g} |" for key, value in results.items() if isinstance(value, (int, float))]
        figures = "| figure | value |\n|---|---|\n" + "\n".join(rows)
    else:
        figures = "Not recorded."
    data = model_card_data(
        model_name=model_name,
        dataset=dataset,
        base_model=base_model,
        datasets=datasets,
        pipeline_tag="feature-extraction",
        extra_tags=["masked-skeleton-modeling"],
    )
    data_name = dataset.get("name") or "unknown data"
    if dataset.get("config"):
        data_name += f" (configuration `{dataset['config']}`)"
    body = _fill(
        card_template("PRETRAINING_CARD.md"),
        {
            "model_name": model_name,
            "repo_id": repo_id or model_name,
            "preset": preset or "custom",
            "objective": config.pretraining_objective,
            "token_layout": config.token_layout,
            "frame_embedding": config.frame_embedding,
            "architecture": _architecture(config),
            "num_joints": str(config.num_joints),
            "num_channels": str(config.num_channels),
            "num_persons": str(config.num_persons),
            "max_frames": str(config.max_frames),
            "num_parameters": f"{num_parameters:,}" if num_parameters is not None else "unknown",
            "dataset": data_name,
            "training": training or "Not recorded.",
            "results": figures,
        },
    )
    return _card(data, body)


def add_pipeline_code(checkpoint_dir: str | os.PathLike) -> list[Path]:
    """Make a saved classifier checkpoint carry its pipeline: `custom_pipelines` in `config.json` and the pipeline
    code (`pipeline.py` and the flat files it imports) next to the weights.

    Then `pipeline("skeleton-action-recognition", model=folder, trust_remote_code=True)` works where this package
    is not installed, as `AutoModelForSequenceClassification` already does through the config's `auto_map`. Where
    the package is installed, its own registered pipeline is used and `trust_remote_code` is not needed (see
    `CascadeFormerConfig.custom_pipelines`). Call it after the model is saved; running it again changes nothing.
    Returns the files written.
    """
    from transformers import AutoModelForSequenceClassification
    from transformers.dynamic_module_utils import custom_object_save

    from .pipeline import TASK, SkeletonActionRecognitionPipeline

    folder = Path(checkpoint_dir)
    config_path = folder / CONFIG_FILENAME
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{config_path}: no such file; save the model before adding its pipeline") from None
    if not any(name.endswith("ForSequenceClassification") for name in config.get("architectures") or ()):
        raise ValueError(f"{config_path}: not a classifier checkpoint (architectures {config.get('architectures')})")
    # The entry `transformers.Pipeline.save_pretrained` writes (transformers/pipelines/base.py): "module.Class" of
    # the copied file and the Auto class that loads the model.
    config["custom_pipelines"] = {
        TASK: {
            "impl": f"{SkeletonActionRecognitionPipeline.__module__.rsplit('.', 1)[-1]}."
            f"{SkeletonActionRecognitionPipeline.__name__}",
            "pt": [AutoModelForSequenceClassification.__name__],
        }
    }
    partial = config_path.with_name(config_path.name + ".tmp")
    partial.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    partial.replace(config_path)  # atomic: the config is never half written
    written = [Path(path) for path in custom_object_save(SkeletonActionRecognitionPipeline, folder)]
    return [config_path, *written]


def write_model_card(output_dir: str | Path, card: str) -> Path:
    path = Path(output_dir) / CARD_FILENAME
    path.write_text(card, encoding="utf-8")
    return path


def push_folder(folder: str | Path, repo_id: str, *, private: bool = False, commit_message: str = "Upload") -> str:
    """Create `repo_id` if needed and upload a checkpoint folder (model, feature extractor, card) as one commit."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT"))
    api.create_repo(repo_id=repo_id, private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        folder_path=str(folder),
        commit_message=commit_message,
        # training_args.bin is a pickle (Trainer's); the scripts keep the arguments as JSON instead.
        ignore_patterns=["checkpoint-*", "checkpoint-*/**", "runs/**", "*.tmp", "training_args.bin"],
    )
    return commit.oid if hasattr(commit, "oid") else str(commit)


def save_results(output_dir: str | Path, results: Mapping[str, Any]) -> Path:
    path = Path(output_dir) / RESULTS_FILENAME
    path.write_text(json.dumps(dict(results), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
