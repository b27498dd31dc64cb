"""The one feature schema shared by every benchmark dataset and the embedded default dataset."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import datasets

SKELETON_COLUMN = "skeleton"
LABEL_COLUMN = "label"


def skeleton_features(
    class_names: Sequence[str],
    num_persons: int,
    num_joints: int,
    num_channels: int,
    metadata: Mapping[str, datasets.Value] | None = None,
) -> datasets.Features:
    """Features of a skeleton action dataset.

    Columns: ``skeleton`` as ``Array4D`` (frames, persons, joints, channels) float32 with a variable frame axis,
    ``label`` as a ``ClassLabel`` carrying the action names, ``sample_id``, ``num_frames``, ``num_persons`` and the
    dataset-specific metadata columns (subject, view, setup, ...).
    """
    columns = {
        SKELETON_COLUMN: datasets.Array4D(shape=(None, num_persons, num_joints, num_channels), dtype="float32"),
        LABEL_COLUMN: datasets.ClassLabel(names=list(class_names)),
        "sample_id": datasets.Value("string"),
        "num_frames": datasets.Value("int32"),
        "num_persons": datasets.Value("int32"),
    }
    for name, value in (metadata or {}).items():
        if name in columns:
            raise ValueError(f"metadata column {name!r} clashes with a standard column")
        columns[name] = value
    return datasets.Features(columns)
