"""The fused evaluation path (`CascadeFormerEncoder.fused_inference_forward`: PyTorch's native encoder-layer kernel
for stacks without masked padding) gives the layer-by-layer logits, and runs only where it may. No timing here:
the speed is measured in benchmarks/."""

from __future__ import annotations

import pytest
import torch

from hf_cascadeformer import CascadeFormerConfig, CascadeFormerForSequenceClassification, CascadeFormerModel
from hf_cascadeformer.modeling_cascadeformer import CascadeFormerEncoder, masked_mean

# Paper layers (post-LN, ReLU, padding unmasked) and the package defaults (pre-LN, GELU, padding masked).
LAYERS = {
    "paper": {"layer_norm_position": "post", "hidden_act": "relu", "mask_padding_frames": False},
    "defaults": {"layer_norm_position": "pre", "hidden_act": "gelu", "mask_padding_frames": True},
}


def config_of(layers: str, **overrides) -> CascadeFormerConfig:
    settings = {
        "num_joints": 5,
        "num_channels": 3,
        "num_persons": 2,
        "max_frames": 24,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 48,
        "num_labels": 4,
        # Wide initial weights, so logits spread over several units and a wrong path cannot hide in tiny values.
        "initializer_range": 0.3,
        **LAYERS[layers],
        **overrides,
    }
    return CascadeFormerConfig(**settings)


def clips_and_mask(persons: int, padded: bool, batch: int = 3, frames: int = 12):
    generator = torch.Generator().manual_seed(1)
    clips = torch.randn(batch, persons, frames, 5, 3, generator=generator)
    if persons == 1:
        clips = clips[:, 0]
    if not padded:
        return clips, None
    lengths = torch.tensor([frames, frames // 3, frames - 2])
    mask = (torch.arange(frames)[None] < lengths[:, None]).long()
    clips = clips * mask.view(batch, *(1,) * (clips.dim() - 4), frames, 1, 1)
    return clips, mask


def set_fused(model: torch.nn.Module, enabled: bool) -> None:
    for module in model.modules():
        if isinstance(module, CascadeFormerEncoder):
            module.fused_inference = enabled


@pytest.fixture
def kernel_calls(monkeypatch):
    """Counts calls of PyTorch's fused encoder-layer kernel."""
    calls = []
    kernel = torch._transformer_encoder_layer_fwd

    def counting(*args, **kwargs):
        calls.append(args[0].shape)
        return kernel(*args, **kwargs)

    monkeypatch.setattr(torch, "_transformer_encoder_layer_fwd", counting)
    return calls


def logits_both_ways(model, clips, mask) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    with torch.inference_mode():
        set_fused(model, True)
        fused = model(clips, attention_mask=mask).logits
        set_fused(model, False)
        layered = model(clips, attention_mask=mask).logits
    set_fused(model, True)
    return fused, layered


@pytest.mark.parametrize("layers", ["paper", "defaults"])
@pytest.mark.parametrize("persons", [1, 2])
@pytest.mark.parametrize("padded", [True, False], ids=["padded", "unpadded"])
def test_fused_logits_equal_the_layer_by_layer_logits_fp32(layers, persons, padded, kernel_calls):
    torch.manual_seed(0)
    model = CascadeFormerForSequenceClassification(config_of(layers))
    clips, mask = clips_and_mask(persons, padded)
    fused, layered = logits_both_ways(model, clips, mask)
    assert layered.std() > 0.5  # logits of several units: the comparison is not between near-zero numbers
    torch.testing.assert_close(fused, layered, rtol=0, atol=1e-5)
    # Both stacks (stage 1 and stage 2) ran in the kernel, except where masked padding keeps the packed path.
    fused_runs = len(kernel_calls)
    assert fused_runs == (0 if layers == "defaults" and padded else 4)


@pytest.mark.parametrize("layers", ["paper", "defaults"])
@pytest.mark.parametrize("persons", [1, 2])
@pytest.mark.parametrize("padded", [True, False], ids=["padded", "unpadded"])
def test_fused_logits_of_a_bf16_model_equal_the_fp32_ones(layers, persons, padded, kernel_calls):
    """`model.to(torch.bfloat16)` (serving in bf16): the kernel runs on bf16 weights and tokens and stays within
    2e-2 of the fp32 layer-by-layer logits (relative to their scale)."""
    torch.manual_seed(0)
    model = CascadeFormerForSequenceClassification(config_of(layers))
    clips, mask = clips_and_mask(persons, padded)
    _, reference = logits_both_ways(model, clips, mask)
    model.to(torch.bfloat16)
    fused, layered = logits_both_ways(model, clips.bfloat16(), mask)
    scale = reference.abs().max()
    assert fused.dtype == torch.bfloat16
    assert (fused.float() - reference).abs().max() / scale < 2e-2
    assert (fused.float() - layered.float()).abs().max() / scale < 2e-2
    assert len(kernel_calls) == (0 if layers == "defaults" and padded else 8)  # the fp32 and the bf16 forward


def test_bf16_autocast_runs_the_kernel_within_tolerance(kernel_calls):
    """Under CPU autocast the kernel runs too (as `nn.TransformerEncoderLayer` does there), its products in bf16:
    within 2e-2 of the fp32 logits and of the layer-by-layer autocast logits."""
    torch.manual_seed(0)
    model = CascadeFormerForSequenceClassification(config_of("paper")).eval()
    clips, mask = clips_and_mask(2, True)
    with torch.inference_mode():
        reference = model(clips, attention_mask=mask).logits
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fused, layered = logits_both_ways(model, clips, mask)
    assert len(kernel_calls) == 8
    scale = reference.abs().max()
    assert (fused.float() - reference).abs().max() / scale < 2e-2
    assert (fused.float() - layered.float()).abs().max() / scale < 2e-2


def test_the_kernel_never_runs_where_it_must_not(kernel_calls):
    """Training, gradients on in evaluation, an explicitly chosen eager attention, an odd head count or an
    activation the kernel lacks: no stack runs in the kernel. Attention outputs or hidden states asked for, or a
    hook on a layer of stage 1: stage 1 runs layer by layer, stage 2 (which returns neither) in the kernel."""
    torch.manual_seed(0)
    model = CascadeFormerForSequenceClassification(config_of("paper"))
    clips, _ = clips_and_mask(1, False)
    model.train()
    model(clips, labels=torch.tensor([0, 1, 2])).loss.backward()
    model.eval()
    model(clips)  # gradients on
    with torch.no_grad():
        model.set_attn_implementation("eager")
        model(clips)
        model.set_attn_implementation("sdpa")
        assert kernel_calls == []
        model(clips)
        assert len(kernel_calls) == 4
        model(clips, output_attentions=True)
        assert len(kernel_calls) == 6
        model(clips, output_hidden_states=True)
        assert len(kernel_calls) == 8
        handle = model.cascadeformer.encoder.layers[0].mlp.register_forward_hook(lambda *args: None)
        model(clips)
        handle.remove()
        assert len(kernel_calls) == 10
    for overrides in ({"num_attention_heads": 1}, {"hidden_act": "silu"}):
        other = CascadeFormerForSequenceClassification(config_of("paper", **overrides)).eval()
        with torch.no_grad():
            other(clips)
    assert len(kernel_calls) == 10


def test_encoder_hidden_states_match_with_the_fused_path():
    """The stage-1 model's outputs (tokens and pooled clip feature), not only the classifier's logits."""
    torch.manual_seed(0)
    model = CascadeFormerModel(config_of("defaults")).eval()
    clips, _ = clips_and_mask(2, False)
    with torch.inference_mode():
        fused = model(clips)
        set_fused(model, False)
        layered = model(clips)
    torch.testing.assert_close(fused.last_hidden_state, layered.last_hidden_state, rtol=0, atol=1e-5)
    torch.testing.assert_close(fused.pooler_output, layered.pooler_output, rtol=0, atol=1e-5)


def test_training_is_unchanged_by_the_fused_path():
    """Same seed, same weights, same step: the kernel plays no part in training (dropout and gradients)."""
    results = []
    for enabled in (True, False):
        torch.manual_seed(0)
        model = CascadeFormerForSequenceClassification(config_of("defaults"))
        set_fused(model, enabled)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        clips, mask = clips_and_mask(2, True)
        model.train()
        model(clips, attention_mask=mask, labels=torch.tensor([0, 1, 2])).loss.backward()
        optimizer.step()
        results.append({name: value.detach().clone() for name, value in model.state_dict().items()})
    for name, value in results[0].items():
        assert torch.equal(value, results[1][name]), name


# ----------------------------------------------------------------------------------------------------------------
# CPU evaluation of padded batches with padding masked: the valid tokens packed once, attention row by row
# (`CascadeFormerEncoder.attends_row_by_row`, `attend_rows`, `CascadeFormerForSequenceClassification.packed_features`)
# ----------------------------------------------------------------------------------------------------------------


def set_packed(model: torch.nn.Module, enabled: bool) -> None:
    for module in model.modules():
        if isinstance(module, CascadeFormerEncoder):
            module.packed_inference = enabled


@pytest.fixture
def row_attention_calls(monkeypatch):
    """Counts the row-by-row attention calls (one per attention layer and forward)."""
    from hf_cascadeformer import modeling_cascadeformer

    calls = []
    attend_rows = modeling_cascadeformer.attend_rows

    def counting(query, key, value, spans, scaling):
        calls.append(len(spans))
        return attend_rows(query, key, value, spans, scaling)

    monkeypatch.setattr(modeling_cascadeformer, "attend_rows", counting)
    return calls


def logits_packed_and_padded(model, clips, mask) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits with the packed evaluation path, and with attention on the padded batch (the path before it)."""
    model.eval()
    with torch.inference_mode():
        packed = model(clips, attention_mask=mask).logits
        set_packed(model, False)
        padded = model(clips, attention_mask=mask).logits
    set_packed(model, True)
    return packed, padded


PACKED_CONFIGS = {
    "defaults": {},
    "no-cascade": {"use_cascade": False},
    "ntu-fusion": {"cross_attention_feed_forward": True, "classifier_head": "mlp"},
    "joint-segment": {"token_layout": "joint_segment", "segment_length": 2},
}


@pytest.mark.parametrize("variant", list(PACKED_CONFIGS))
@pytest.mark.parametrize("persons", [1, 2])
@pytest.mark.parametrize("padded", [True, False], ids=["padded", "unpadded"])
def test_packed_evaluation_logits_equal_the_padded_attention_logits(variant, persons, padded, row_attention_calls):
    torch.manual_seed(0)
    config = config_of("defaults", **PACKED_CONFIGS[variant])
    model = CascadeFormerForSequenceClassification(config)
    clips, mask = clips_and_mask(persons, padded)
    packed, reference = logits_packed_and_padded(model, clips, mask)
    assert reference.std() > 0.5
    torch.testing.assert_close(packed, reference, rtol=0, atol=1e-5)
    # Padded batches attend row by row in every layer of both stacks and in the fusion, once per present person
    # (absent second persons of the 2-person clips are not encoded); unpadded ones take the fused kernel.
    layers = 2 if variant == "no-cascade" else 2 + 2 + 1
    assert len(row_attention_calls) == (layers if padded else 0)
    if padded:
        assert set(row_attention_calls) == {3 if persons == 1 else 6}


def test_packed_evaluation_ignores_what_padding_frames_hold(row_attention_calls):
    """Masked padding frames (here random values, and a gap inside a clip) change nothing: the packed logits equal
    the padded-attention logits and those of the clips with the padding zeroed."""
    torch.manual_seed(0)
    model = CascadeFormerForSequenceClassification(config_of("defaults")).eval()
    clips, mask = clips_and_mask(2, True)
    mask[0, 3:5] = 0  # valid tokens need not be a prefix of the clip
    noisy = (
        clips
        + torch.randn(clips.shape, generator=torch.Generator().manual_seed(2)) * (1 - mask)[:, None, :, None, None]
    )
    packed, reference = logits_packed_and_padded(model, noisy, mask)
    with torch.inference_mode():
        zeroed = model(clips * mask[:, None, :, None, None], attention_mask=mask).logits
    torch.testing.assert_close(packed, reference, rtol=0, atol=1e-5)
    torch.testing.assert_close(packed, zeroed, rtol=0, atol=1e-5)
    assert len(row_attention_calls) == 2 * 5


def test_packed_stage1_outputs_equal_the_padded_ones(row_attention_calls):
    """`CascadeFormerModel` (stage 1 alone) attends row by row too: valid tokens and the pooled feature equal the
    padded-attention ones, padding tokens stay zero."""
    torch.manual_seed(0)
    model = CascadeFormerModel(config_of("defaults")).eval()
    clips, mask = clips_and_mask(2, True)
    with torch.inference_mode():
        packed = model(clips, attention_mask=mask)
        set_packed(model, False)
        padded = model(clips, attention_mask=mask)
    assert len(row_attention_calls) == 2
    valid = mask[:, None, :, None].bool()
    torch.testing.assert_close(packed.last_hidden_state, padded.last_hidden_state, rtol=0, atol=1e-5)
    assert packed.last_hidden_state.masked_select(~valid).abs().sum() == 0
    torch.testing.assert_close(packed.pooler_output, padded.pooler_output, rtol=0, atol=1e-5)


def test_row_attention_runs_only_in_cpu_evaluation_without_gradients(row_attention_calls):
    """Training, gradients on in evaluation, an explicitly chosen eager attention, padding not masked: attention
    stays on the padded batch. Attention outputs asked for: stage 1 runs on the padded batch (its weights are
    returned), stage 2 (which returns none) row by row."""
    torch.manual_seed(0)
    model = CascadeFormerForSequenceClassification(config_of("defaults"))
    clips, mask = clips_and_mask(1, True)
    model.train()
    model(clips, attention_mask=mask, labels=torch.tensor([0, 1, 2])).loss.backward()
    model.eval()
    model(clips, attention_mask=mask)  # gradients on
    with torch.no_grad():
        model.set_attn_implementation("eager")
        model(clips, attention_mask=mask)
        model.set_attn_implementation("sdpa")
        unmasked = CascadeFormerForSequenceClassification(config_of("defaults", mask_padding_frames=False)).eval()
        unmasked(clips, attention_mask=mask)
        assert row_attention_calls == []
        output = model(clips, attention_mask=mask, output_attentions=True)
        assert len(output.attentions) == 2 and output.attentions[0].shape == (3, 4, 12, 12)
        assert len(row_attention_calls) == 2
        model(clips, attention_mask=mask)
    assert len(row_attention_calls) == 2 + 5


def test_packed_cross_attention_equals_the_padded_one_with_and_without_row_spans():
    """The fusion's cross-attention on packed stage-1 / stage-2 tokens: row by row (`TokenPacking.spans`) and
    through the padded batch (a packing without spans, with the 4D mask) both give the padded computation's valid
    tokens."""
    from hf_cascadeformer.modeling_cascadeformer import TokenPacking

    torch.manual_seed(0)
    model = CascadeFormerForSequenceClassification(config_of("defaults")).eval()
    stage1, stage2 = torch.randn(2, 3, 12, 32).unbind(0)
    token_mask = torch.arange(12)[None] < torch.tensor([12, 4, 9])[:, None]
    attention_mask = model._attention_mask(stage1, token_mask)
    with torch.inference_mode():
        padded = model.fusion(stage1, stage2, attention_mask)[token_mask]
        for packing in (TokenPacking.of(token_mask, row_spans=True), TokenPacking.of(token_mask)):
            packed = model.fusion(packing.pack(stage1), packing.pack(stage2), attention_mask, packing=packing)
            torch.testing.assert_close(packed, padded, rtol=0, atol=1e-5)
        torch.testing.assert_close(
            packing.mean_per_row(packed),
            masked_mean(stage1.new_zeros(3, 12, 32).index_put_((token_mask,), packed), token_mask),
            rtol=0,
            atol=1e-6,
        )
