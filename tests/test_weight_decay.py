"""Which parameters weight decay applies to: the models' `no_weight_decay()` (timm's convention) and every optimiser
the package builds (pretraining's AdamW groups, fine-tuning's Trainer)."""

from __future__ import annotations

import pytest
from torch import nn
from transformers import TrainingArguments

from hf_cascadeformer import (
    CascadeFormerConfig,
    CascadeFormerForMaskedSkeletonModeling,
    CascadeFormerForSequenceClassification,
)
from hf_cascadeformer.training import decayed_parameter_names, parameter_groups
from hf_cascadeformer.training.finetuning import CascadeFormerTrainer

TINY = dict(num_joints=5, max_frames=20, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, num_labels=3)
GFP = dict(
    token_layout="joint_segment",
    pretraining_objective="gfp",
    decoder_hidden_size=16,
    gfp_pool_kernels=[2],
    gfp_target_size=8,
    gfp_target_hidden_size=16,
    gfp_global_target_hidden_size=16,
    gfp_decoder_num_hidden_layers=1,
)


def _matrix_weights(model: nn.Module) -> set[str]:
    """The weights of the linear and convolution layers: the weight matrices."""
    return {
        f"{prefix}.weight" for prefix, module in model.named_modules() if isinstance(module, (nn.Linear, nn.Conv1d))
    }


@pytest.mark.parametrize(
    ("head", "fields", "tables"),
    [
        ("classifier", {"frame_embedding": "linear"}, {"cascadeformer.embeddings.position_embeddings"}),
        ("classifier", {"frame_embedding": "conv"}, {"cascadeformer.embeddings.position_embeddings"}),
        ("classifier", {"frame_embedding": "spatial_attention"}, {"cascadeformer.embeddings.position_embeddings"}),
        (
            "classifier",
            {"token_layout": "joint_segment"},
            {
                "cascadeformer.embeddings.positions.temporal_embeddings",
                "cascadeformer.embeddings.positions.joint_embeddings",
            },
        ),
        (
            "pretraining",
            GFP,
            {
                "cascadeformer.embeddings.positions.temporal_embeddings",
                "cascadeformer.embeddings.positions.joint_embeddings",
                "objective.decoder_positions.temporal_embeddings",
                "objective.decoder_positions.joint_embeddings",
                "objective.mask_token",
            },
        ),
        ("pretraining", {"frame_embedding": "conv"}, {"cascadeformer.embeddings.position_embeddings"}),
    ],
)
def test_exactly_the_weight_matrices_decay_never_embedding_tables_norms_or_biases(head, fields, tables):
    config = CascadeFormerConfig(**{**TINY, **fields})
    cls = CascadeFormerForSequenceClassification if head == "classifier" else CascadeFormerForMaskedSkeletonModeling
    model = cls(config)
    # The learned tables and tokens, by name: position, temporal and joint embeddings and mask tokens.
    assert model.no_weight_decay() == tables
    assert tables <= set(dict(model.named_parameters()))
    decayed = set(decayed_parameter_names(model))
    # What decays is exactly the linear and convolution weights; LayerNorm / BatchNorm weights and every bias do
    # not, nor the tables (the old name-suffix rule decayed `temporal_embeddings`).
    assert decayed == _matrix_weights(model)
    assert not decayed & tables
    norms = {f"{p}.weight" for p, m in model.named_modules() if isinstance(m, (nn.LayerNorm, nn.BatchNorm1d))}
    assert norms and not decayed & norms
    assert not any(name.endswith("bias") for name in decayed)

    decay_group, plain_group = parameter_groups(model, 0.05)
    assert (decay_group["weight_decay"], plain_group["weight_decay"]) == (0.05, 0.0)
    by_id = {id(p): name for name, p in model.named_parameters()}
    assert {by_id[id(p)] for p in decay_group["params"]} == decayed
    assert len(decay_group["params"]) + len(plain_group["params"]) == len(list(model.parameters()))


def test_frozen_parameters_are_left_out_of_the_groups():
    model = CascadeFormerForSequenceClassification(CascadeFormerConfig(**TINY, freeze_encoder=True))
    grouped = [p for group in parameter_groups(model, 0.05) for p in group["params"]]
    assert len(grouped) == sum(p.requires_grad for p in model.parameters()) < len(list(model.parameters()))


def test_fine_tunings_trainer_decays_the_same_parameters(tmp_path):
    model = CascadeFormerForSequenceClassification(CascadeFormerConfig(**TINY, token_layout="joint_segment"))
    args = TrainingArguments(str(tmp_path), weight_decay=0.05, use_cpu=True, report_to="none")
    optimizer = CascadeFormerTrainer(model=model, args=args).create_optimizer()
    by_id = {id(p): name for name, p in model.named_parameters()}
    decayed = {
        by_id[id(p)] for group in optimizer.param_groups if group["weight_decay"] == 0.05 for p in group["params"]
    }
    assert decayed == set(decayed_parameter_names(model))
    # transformers' default rule (bias / norm names) would decay the learned embedding tables.
    from transformers import Trainer

    default = set(Trainer(model=model, args=args).get_decay_parameter_names(model))
    assert "cascadeformer.embeddings.positions.temporal_embeddings" in default - decayed
