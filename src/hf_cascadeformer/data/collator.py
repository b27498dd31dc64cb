"""Batching dataset rows into model inputs with the model's own feature extractor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..feature_extraction_cascadeformer import CascadeFormerFeatureExtractor
from .features import LABEL_COLUMN, SKELETON_COLUMN


class SkeletonCollator:
    """Collates rows of a skeleton dataset (`skeleton` (frames, persons, joints, channels) and `label`) into
    `skeletons`, `attention_mask` and `labels` tensors.

    Resampling, padding, centring and person selection are the feature extractor's, so training sees exactly the
    preprocessing that a saved checkpoint applies at inference. Use it as `data_collator` of `transformers.Trainer`
    (with `remove_unused_columns=False`) or as `collate_fn` of a `DataLoader`.
    """

    def __init__(self, feature_extractor: CascadeFormerFeatureExtractor, num_frames: int | None = None):
        self.feature_extractor = feature_extractor
        self.num_frames = num_frames

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("cannot collate an empty batch")
        clips = [np.asarray(row[SKELETON_COLUMN], dtype=np.float32) for row in rows]
        batch = self.feature_extractor(clips, return_tensors="pt", num_frames=self.num_frames)
        inputs = {"skeletons": batch["skeletons"], "attention_mask": batch["attention_mask"]}
        if LABEL_COLUMN in rows[0]:
            inputs["labels"] = torch.tensor([int(row[LABEL_COLUMN]) for row in rows], dtype=torch.long)
        return inputs
