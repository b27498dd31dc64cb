"""The training data pipeline: numpy-formatted rows, augmentation on the training split, collation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hf_cascadeformer import CascadeFormerFeatureExtractor
from hf_cascadeformer.data.collator import AugmentedDataset, SkeletonCollator
from hf_cascadeformer.data.skeletons import NTU_LAYOUT
from hf_cascadeformer.data.synthetic import load_synthetic_dataset
from hf_cascadeformer.data.transforms import make_train_transform


@pytest.fixture(scope="module")
def small_dataset():
    return load_synthetic_dataset(num_train_subjects=2, num_test_subjects=1, clips_per_action_per_subject=1)


def test_collator_pads_to_the_frame_count_with_an_attention_mask(small_dataset):
    rows = small_dataset["train"].with_format("numpy")
    extractor = CascadeFormerFeatureExtractor(num_persons=2, num_frames=40, max_frames=64)
    collate = SkeletonCollator(extractor)
    batch = collate([rows[i] for i in range(4)])
    assert batch["skeletons"].shape == (4, 2, 40, 25, 3)
    lengths = [min(40, int(rows[i]["num_frames"])) for i in range(4)]
    assert batch["attention_mask"].sum(1).tolist() == lengths
    assert batch["labels"].tolist() == [int(rows[i]["label"]) for i in range(4)]
    # A batch as a dict of columns (what dataset[indices] returns) collates the same way.
    as_columns = collate(rows[0:4])
    torch.testing.assert_close(as_columns["skeletons"], batch["skeletons"])
    # The preprocessing is the feature extractor's, not a copy of it.
    direct = extractor([rows[i]["skeleton"] for i in range(4)], return_tensors="pt")
    torch.testing.assert_close(batch["skeletons"], direct["skeletons"])
    assert "labels" not in SkeletonCollator(extractor, include_labels=False)(rows[0:2])


def test_augmented_dataset_is_a_function_of_seed_epoch_and_index(small_dataset):
    rows = small_dataset["train"].with_format("numpy")
    augmented = AugmentedDataset(rows, make_train_transform(NTU_LAYOUT, 3), seed=7)
    assert len(augmented) == len(rows)
    first = augmented.__getitems__([0, 1])
    torch.manual_seed(123)  # the global generator plays no part (Trainer restores it late after a resume)
    again = augmented.__getitems__([1, 0])  # nor does the batch a clip lands in, or the order
    for a, b in zip(first, reversed(again), strict=True):
        np.testing.assert_array_equal(a["skeleton"], b["skeleton"])
        assert a["label"] == b["label"]
    augmented.set_epoch(1)
    next_epoch = augmented.__getitems__([0, 1])
    assert not np.allclose(first[0]["skeleton"][:10], next_epoch[0]["skeleton"][:10])
    other_seed = AugmentedDataset(rows, make_train_transform(NTU_LAYOUT, 3), seed=8).__getitems__([0])
    assert not np.allclose(first[0]["skeleton"][:10], other_seed[0]["skeleton"][:10])
    # Without a seed it follows the seed torch was given (transformers.set_seed), as before.
    torch.manual_seed(7)
    assert AugmentedDataset(rows, make_train_transform(NTU_LAYOUT, 3)).seed == 7
    # Absent second persons stay absent after augmentation.
    single = [i for i in range(len(rows)) if rows[i]["num_persons"] == 1][0]
    assert not augmented[single]["skeleton"][:, 1].any()


def test_augmented_dataset_reads_independent_views_of_each_clip_view_major(small_dataset):
    rows = small_dataset["train"].with_format("numpy")
    transform = make_train_transform(NTU_LAYOUT, 3)
    paired = AugmentedDataset(rows, transform, seed=7, views=2)
    read = paired.__getitems__([3, 0, 5])
    assert len(read) == 6 and [row["label"] for row in read] == [rows[i]["label"] for i in (3, 0, 5)] * 2
    # The second view is another draw of the same clips.
    for first, second in zip(read[:3], read[3:], strict=True):
        assert first["skeleton"].shape[1:] == second["skeleton"].shape[1:]
        assert not np.allclose(first["skeleton"][:10], second["skeleton"][:10])
    # Still a function of (seed, epoch, index, view): another batch order reads the same views.
    again = paired.__getitems__([5, 3])
    np.testing.assert_array_equal(again[3]["skeleton"], read[3]["skeleton"])
    np.testing.assert_array_equal(again[2]["skeleton"], read[5]["skeleton"])
    with pytest.raises(ValueError, match="views must be at least 1"):
        AugmentedDataset(rows, transform, views=0)
