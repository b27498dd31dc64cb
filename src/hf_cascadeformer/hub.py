"""Model cards and Hub publishing for trained checkpoints.

The card is `MODEL_CARD.md` (the repository's template, shipped in the package) filled from the model's config,
the training protocol and the last evaluation, with a `model-index` block the Hub shows as evaluation results.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from .configuration_cascadeformer import CascadeFormerConfig

CARD_FILENAME = "README.md"
RESULTS_FILENAME = "eval_results.json"
_METRIC_NAMES = {
    "accuracy": "Top-1 accuracy",
    "top5_accuracy": "Top-5 accuracy",
    "precision_weighted": "Weighted precision",
    "recall_weighted": "Weighted recall",
    "f1_weighted": "Weighted F1",
}


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


def card_template() -> str:
    return resources.files("hf_cascadeformer").joinpath("MODEL_CARD.md").read_text(encoding="utf-8")


def _model_index(model_name: str, dataset: Mapping[str, str], metrics: Mapping[str, float]) -> str:
    if not metrics:
        return ""
    lines = [
        "model-index:",
        f"- name: {json.dumps(model_name)}",
        "  results:",
        "  - task:",
        "      type: skeleton-action-recognition",
        "      name: Skeleton-based action recognition",
        "    dataset:",
        f"      name: {json.dumps(dataset.get('name', 'unknown'))}",
        f"      type: {json.dumps(dataset.get('id', dataset.get('name', 'unknown')))}",
        f"      split: {json.dumps(dataset.get('split', 'test'))}",
    ]
    if dataset.get("config"):
        lines.append(f"      config: {json.dumps(dataset['config'])}")
    lines.append("    metrics:")
    for key, label in _METRIC_NAMES.items():
        if key in metrics:
            lines += [
                f"    - type: {key}",
                f"      value: {round(100 * float(metrics[key]), 2)}",
                f"      name: {json.dumps(label)}",
            ]
    return "\n".join(lines)


def render_model_card(
    config: CascadeFormerConfig,
    *,
    model_name: str,
    repo_id: str | None = None,
    num_parameters: int | None = None,
    preset: str | None = None,
    dataset: Mapping[str, str] | None = None,
    training: str = "",
    metrics: Mapping[str, float] | None = None,
) -> str:
    """Fill the model card template. `metrics` are fractions (as `classification_metrics` returns them)."""
    dataset = dict(dataset or {})
    metrics = dict(metrics or {})
    stage2 = config.cascade_num_hidden_layers or config.num_hidden_layers
    architecture = f"{config.hidden_size} / {config.num_attention_heads} / {config.num_hidden_layers}"
    architecture += f" + {stage2}" if config.use_cascade else " (no cascade)"
    if metrics:
        rows = [
            f"| {label} | {100 * float(metrics[key]):.2f} |" for key, label in _METRIC_NAMES.items() if key in metrics
        ]
        split = dataset.get("split", "test")
        evaluation = f"On the `{split}` split of {dataset.get('name', 'the dataset')}:\n\n| metric | % |\n|---|---|\n"
        evaluation += "\n".join(rows)
    else:
        evaluation = "Not evaluated yet."
    model_index = _model_index(model_name, dataset, metrics)
    card = card_template().replace("{{ model_index }}\n", model_index + "\n" if model_index else "")
    values = {
        "model_name": model_name,
        "repo_id": repo_id or model_name,
        "num_labels": str(config.num_labels),
        "preset": preset or "custom",
        "frame_embedding": config.frame_embedding,
        "architecture": architecture,
        "layer_norm_position": config.layer_norm_position,
        "num_joints": str(config.num_joints),
        "num_channels": str(config.num_channels),
        "num_persons": str(config.num_persons),
        "max_frames": str(config.max_frames),
        "num_parameters": f"{num_parameters:,}" if num_parameters is not None else "unknown",
        "training": training or "Not recorded.",
        "evaluation": evaluation,
    }
    for key, value in values.items():
        card = card.replace("{{ " + key + " }}", value)
    return card


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
