"""The one feature schema shared by every benchmark dataset and the embedded default dataset.

A dataset records its skeleton layout by name as the ``id`` of its ``skeleton`` feature: features are what
``save_to_disk`` / ``load_from_disk``, Parquet shards and the Hub card's ``dataset_info`` all keep (a
``DatasetInfo`` description is lost on the Hub), and they follow a dataset through ``map``, ``select`` and splits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .skeletons import SkeletonLayout, get_layout, resolve_layout

if TYPE_CHECKING:
    import datasets

SKELETON_COLUMN = "skeleton"
LABEL_COLUMN = "label"


def skeleton_features(
    class_names: Sequence[str],
    num_persons: int,
    num_joints: int,
    num_channels: int,
    metadata: Mapping[str, datasets.Value] | None = None,
    layout: str | SkeletonLayout | None = None,
) -> datasets.Features:
    """Features of a skeleton action dataset.

    Columns: ``skeleton`` as ``Array4D`` (frames, persons, joints, channels) float32 with a variable frame axis,
    ``label`` as a ``ClassLabel`` carrying the action names, ``sample_id``, ``num_frames``, ``num_persons`` and the
    dataset-specific metadata columns (subject, view, setup, ...). ``layout`` (a layout or its name, checked
    against the joint and channel counts) is recorded as the skeleton feature's ``id``; see :func:`layout_of`.
    """
    import datasets  # here, not at the top: the column names and layout lookups are needed without it

    layout_name = None
    if layout is not None:
        layout_name = get_layout(layout if isinstance(layout, str) else layout.name).name
        resolve_layout(layout_name, num_joints, num_channels)
    columns = {
        SKELETON_COLUMN: datasets.Array4D(
            shape=(None, num_persons, num_joints, num_channels), dtype="float32", id=layout_name
        ),
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


def layout_name_of(features: datasets.Features) -> str | None:
    """The skeleton layout name a dataset's features record, or ``None`` (datasets built before it was recorded)."""
    return getattr(features[SKELETON_COLUMN], "id", None) or None


def layout_of(features: datasets.Features) -> SkeletonLayout:
    """The skeleton layout of a dataset: the one its features name (:func:`~.skeletons.get_layout`), or, for a
    dataset that names none, the one its joint and channel counts imply (:func:`~.skeletons.legacy_layout`)."""
    _, _, num_joints, num_channels = features[SKELETON_COLUMN].shape
    return resolve_layout(layout_name_of(features), num_joints, num_channels)
