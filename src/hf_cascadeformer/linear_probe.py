"""Linear evaluation of a pretrained encoder: the standard way to compare self-supervised objectives by accuracy.

MAMP's protocol: the encoder is frozen, each clip's feature is its tokens mean-pooled over time, joints and the
persons present, and a BatchNorm without affine parameters plus one Linear layer is trained on top with SGD
(learning rate 0.1, momentum 0.9, no weight decay, linear warm-up then cosine decay). Features are extracted once,
so the probe itself trains in well under a second on a CPU; the encoder forward passes are the only real cost.

    from hf_cascadeformer.linear_probe import linear_probe
    result = linear_probe(model, dataset["train"], dataset["test"])
    print(result.accuracy)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .data.collator import SkeletonCollator
from .data.features import LABEL_COLUMN, SKELETON_COLUMN
from .data.model_inputs import feature_extractor_for
from .feature_extraction_cascadeformer import CascadeFormerFeatureExtractor
from .modeling_cascadeformer import CascadeFormerModel, CascadeFormerPreTrainedModel


@dataclass
class LinearProbeResult:
    """Top-1 accuracies (fractions) of a trained linear probe, and its per-epoch test accuracy."""

    accuracy: float
    train_accuracy: float
    epochs: int
    history: list[float] = field(default_factory=list)


def _encoder(model: CascadeFormerPreTrainedModel) -> CascadeFormerModel:
    encoder = model if isinstance(model, CascadeFormerModel) else getattr(model, "cascadeformer", None)
    if not isinstance(encoder, CascadeFormerModel):
        raise ValueError(f"expected a CascadeFormer model with a stage-1 encoder, got {type(model).__name__}")
    return encoder


@torch.inference_mode()
def extract_features(
    model: CascadeFormerPreTrainedModel,
    data: Iterable[Mapping[str, Any]],
    feature_extractor: CascadeFormerFeatureExtractor | None = None,
    batch_size: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clip features `(clips, hidden)` of the frozen stage-1 encoder, and the labels `(clips,)`.

    `data` is a dataset of rows (`skeleton` `(frames, persons, joints, channels)` and `label`, e.g. a split of
    `load_synthetic_dataset()`), batched here with `feature_extractor` (default: the model config's own,
    `data.model_inputs.feature_extractor_for`), or an iterable of ready batches with `skeletons`,
    `attention_mask` and `labels`. Each feature is the encoder's `pooler_output`: tokens averaged over valid time
    steps and joints, then over the persons present.
    """
    encoder = _encoder(model)
    was_training = encoder.training
    encoder.eval()
    if isinstance(data, Mapping):
        raise ValueError("pass a dataset split (e.g. dataset['train']) or an iterable of batches, not a mapping")
    if hasattr(data, "features") and hasattr(data, "with_format"):  # a datasets.Dataset of rows
        extractor = feature_extractor or feature_extractor_for(encoder.config)
        batches: Iterable[Mapping[str, Any]] = _dataset_batches(data, SkeletonCollator(extractor), batch_size)
    else:
        batches = data
    features, labels = [], []
    device = next(encoder.parameters()).device
    for batch in batches:
        mask = batch.get("attention_mask")
        output = encoder(batch["skeletons"].to(device), None if mask is None else mask.to(device))
        features.append(output.pooler_output.float().cpu())
        labels.append(torch.as_tensor(batch["labels"]).long().cpu())
    encoder.train(was_training)
    if not features:
        raise ValueError("no clips to extract features from")
    return torch.cat(features), torch.cat(labels)


def _dataset_batches(dataset: Any, collate: SkeletonCollator, batch_size: int) -> Iterable[Mapping[str, Any]]:
    # Column slices in numpy format decode a whole batch at once, about 100x faster than row by row.
    columns = dataset.select_columns([SKELETON_COLUMN, LABEL_COLUMN]).with_format("numpy")
    for start in range(0, len(dataset), batch_size):
        chunk = columns[start : start + batch_size]
        rows = [
            {SKELETON_COLUMN: skeleton, LABEL_COLUMN: label}
            for skeleton, label in zip(chunk[SKELETON_COLUMN], chunk[LABEL_COLUMN], strict=True)
        ]
        yield collate(rows)


def train_linear_probe(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    num_labels: int | None = None,
    epochs: int = 100,
    batch_size: int = 256,
    learning_rate: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    warmup_epochs: int = 10,
    seed: int = 0,
) -> LinearProbeResult:
    """Train BatchNorm1d(affine=False) + Linear on fixed features with SGD (MAMP's linear probe) and report top-1
    accuracy on the test features after the last epoch (no best-epoch picking on the test set)."""
    if train_features.ndim != 2 or test_features.ndim != 2 or train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            f"features must be (clips, width) with equal widths, got {tuple(train_features.shape)} and "
            f"{tuple(test_features.shape)}"
        )
    if len(train_features) != len(train_labels) or len(test_features) != len(test_labels):
        raise ValueError("features and labels must have the same number of clips")
    num_labels = num_labels or int(max(train_labels.max(), test_labels.max())) + 1
    generator = torch.Generator().manual_seed(seed)
    width = train_features.shape[1]
    probe = nn.Sequential(nn.BatchNorm1d(width, affine=False, eps=1e-6), nn.Linear(width, num_labels))
    with torch.no_grad():
        nn.init.trunc_normal_(probe[1].weight, std=0.01, generator=generator)
        nn.init.zeros_(probe[1].bias)
    optimizer = torch.optim.SGD(probe.parameters(), lr=learning_rate, momentum=momentum, weight_decay=weight_decay)
    train_features, test_features = train_features.float(), test_features.float()
    steps_per_epoch = max(1, math.ceil(len(train_features) / batch_size))
    total_steps, warmup_steps = epochs * steps_per_epoch, warmup_epochs * steps_per_epoch

    history = []
    step = 0
    for _ in range(epochs):
        probe.train()
        order = torch.randperm(len(train_features), generator=generator)
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            if len(index) < 2:  # BatchNorm needs two rows
                continue
            if step < warmup_steps:
                scale = (step + 1) / warmup_steps
            else:
                scale = 0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / max(1, total_steps - warmup_steps)))
            for group in optimizer.param_groups:
                group["lr"] = learning_rate * scale
            loss = nn.functional.cross_entropy(probe(train_features[index]), train_labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
        history.append(_accuracy(probe, test_features, test_labels))
    return LinearProbeResult(
        accuracy=history[-1] if history else _accuracy(probe, test_features, test_labels),
        train_accuracy=_accuracy(probe, train_features, train_labels),
        epochs=epochs,
        history=history,
    )


@torch.no_grad()
def _accuracy(probe: nn.Module, features: torch.Tensor, labels: torch.Tensor) -> float:
    probe.eval()
    return float((probe(features).argmax(-1) == labels).float().mean())


def linear_probe(
    model: CascadeFormerPreTrainedModel,
    train_data: Iterable[Mapping[str, Any]],
    test_data: Iterable[Mapping[str, Any]],
    feature_extractor: CascadeFormerFeatureExtractor | None = None,
    batch_size: int = 64,
    **probe_arguments: Any,
) -> LinearProbeResult:
    """Extract features of both splits with the frozen encoder, then train and score the linear probe
    (`probe_arguments` go to `train_linear_probe`, e.g. `epochs=100`)."""
    train = extract_features(model, train_data, feature_extractor, batch_size)
    test = extract_features(model, test_data, feature_extractor, batch_size)
    num_labels = probe_arguments.pop("num_labels", None) or getattr(_encoder(model).config, "num_labels", None)
    num_labels = max(num_labels or 0, int(max(train[1].max(), test[1].max())) + 1)
    return train_linear_probe(*train, *test, num_labels=num_labels, **probe_arguments)


__all__ = ["LinearProbeResult", "extract_features", "linear_probe", "train_linear_probe"]
