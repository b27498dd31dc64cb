"""A skeleton dataset as model inputs, for a plain `transformers.Trainer` with its defaults.

The package's datasets hold raw clips in a `skeleton` column; the model takes `skeletons` and `attention_mask`
prepared by its feature extractor. `SkeletonCollator` does that per batch (with augmentation, via `AugmentedDataset`)
and needs `remove_unused_columns=False`, since Trainer drops columns the model's forward does not name.
`prepare_model_inputs` does it once, ahead of training: the result has the model's input names, so Trainer's
default `remove_unused_columns=True` and default collator work as they are (no augmentation on that path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..feature_extraction_cascadeformer import CascadeFormerFeatureExtractor
from .features import LABEL_COLUMN, SKELETON_COLUMN
from .skeletons import SkeletonLayout, get_layout

if TYPE_CHECKING:
    import datasets

INPUT_COLUMNS = ("skeletons", "attention_mask")


def feature_extractor_for(
    config: Any, layout: SkeletonLayout | str | None = None, **overrides: Any
) -> CascadeFormerFeatureExtractor:
    """`CascadeFormerFeatureExtractor.from_model_config` with the root joint of the skeleton layout: `layout` (or
    its name), else the layout the config names (`skeleton_layout`), else (a config saved before layouts were
    named) the extractor's own fallback. The layout's `root_joint` is saved with the extractor, so a checkpoint
    loaded as remote code, without this package, centres clips as in training."""
    name = (
        layout if isinstance(layout, str) else None if layout is not None else getattr(config, "skeleton_layout", None)
    )
    if name is not None:
        layout = get_layout(name)
    return CascadeFormerFeatureExtractor.from_model_config(config, layout=layout, **overrides)


def prepare_model_inputs(
    dataset: datasets.Dataset | datasets.DatasetDict,
    feature_extractor: CascadeFormerFeatureExtractor,
    batch_size: int = 256,
) -> datasets.Dataset | datasets.DatasetDict:
    """Replace the `skeleton` column by the model inputs `skeletons` (persons, frames, joints, channels) and
    `attention_mask` (frames), as the feature extractor prepares them; `label` and the metadata columns stay.

    The inputs are stored as fixed-shape float32 arrays and the result is in torch format, so Trainer reads batches
    fast. The extractor needs a fixed `num_frames` (every clip is resampled to it)."""
    import datasets  # here, not at the top: `feature_extractor_for` serves `predict`, which reads no dataset

    num_frames = feature_extractor.num_frames
    if num_frames is None:
        raise ValueError("prepare_model_inputs needs a feature extractor with a fixed num_frames")
    first = next(iter(dataset.values())) if isinstance(dataset, datasets.DatasetDict) else dataset
    if SKELETON_COLUMN not in first.column_names:
        raise ValueError(f"the dataset has no {SKELETON_COLUMN!r} column (it has {', '.join(first.column_names)})")
    features = datasets.Features({name: value for name, value in first.features.items() if name != SKELETON_COLUMN})
    shape = (
        feature_extractor.num_persons,
        num_frames,
        feature_extractor.num_joints,
        feature_extractor.num_channels,
    )
    features["skeletons"] = datasets.Array4D(shape=shape, dtype="float32")
    features["attention_mask"] = datasets.Sequence(datasets.Value("int64"), length=num_frames)

    def prepare(batch: dict[str, Any]) -> dict[str, Any]:
        inputs = feature_extractor(batch[SKELETON_COLUMN])
        return {name: inputs[name] for name in INPUT_COLUMNS}

    prepared = dataset.with_format("numpy").map(
        prepare, batched=True, batch_size=batch_size, remove_columns=[SKELETON_COLUMN], features=features
    )
    return prepared.with_format("torch", columns=[*INPUT_COLUMNS, LABEL_COLUMN], output_all_columns=True)
