"""The CascadeFormer model family: shapes, numerics, persistence, bad input and learning."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import tiny_config
from transformers import AutoConfig, AutoModel, AutoModelForPreTraining, AutoModelForSequenceClassification

from hf_cascadeformer import (
    PRESETS,
    CascadeFormerConfig,
    CascadeFormerForMaskedSkeletonModeling,
    CascadeFormerForSequenceClassification,
    CascadeFormerModel,
)
from hf_cascadeformer.data.skeletons import NUCLA_LAYOUT
from hf_cascadeformer.modeling_cascadeformer import skeleton_streams
from hf_cascadeformer.training import DataGeometry, build_config

VARIANTS = [
    {"frame_embedding": "linear"},
    {"frame_embedding": "conv"},
    {"frame_embedding": "spatial_attention", "spatial_attention_style": "project_back"},
    {"frame_embedding": "spatial_attention", "spatial_attention_style": "split", "spatial_num_attention_heads": 2},
]


def modeling_config(**overrides) -> CascadeFormerConfig:
    """The shared tiny model, two layers at width 20 (a multiple of the 5 joints, for the split 1.2 embedding)."""
    return tiny_config(**{"hidden_size": 20, "num_hidden_layers": 2, "num_attention_heads": 4, **overrides})


def random_clips(batch=3, persons=2, frames=12, joints=5, channels=3, seed=0) -> torch.Tensor:
    return torch.randn(batch, persons, frames, joints, channels, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(map(str, v.values())))
@pytest.mark.parametrize("norm", ["pre", "post"])
def test_every_variant_and_head_gives_the_documented_shapes(variant, norm):
    config = modeling_config(**variant, layer_norm_position=norm)
    clips = random_clips()
    mask = torch.ones(3, 12, dtype=torch.long)

    base = CascadeFormerModel(config).eval()
    hidden = base(clips, mask, output_hidden_states=True, output_attentions=True)
    assert hidden.last_hidden_state.shape == (3, 2, 12, 20)
    assert hidden.person_mask.shape == (3, 2)
    assert len(hidden.hidden_states) == 3 and len(hidden.attentions) == 2
    assert hidden.attentions[0].shape == (6, 4, 12, 12)
    assert base(clips[:, 0]).last_hidden_state.shape == (3, 12, 20)

    pretraining = CascadeFormerForMaskedSkeletonModeling(config)
    out = pretraining(clips, mask, seed=0)
    assert out.loss.ndim == 0 and out.loss > 0
    assert out.reconstruction.shape == clips.shape
    assert out.mask.shape == (3, 2, 12, 5)
    assert set(out.losses) == {"reconstruction"}

    for cascade in (True, False):
        for head in ("linear", "mlp"):
            classifier = CascadeFormerForSequenceClassification(
                modeling_config(**variant, layer_norm_position=norm, use_cascade=cascade, classifier_head=head)
            )
            out = classifier(clips, mask, labels=torch.tensor([0, 1, 2]))
            assert out.logits.shape == (3, 3)
            assert out.pooled_output.shape == (3, 20)
            assert out.loss.ndim == 0


def test_presets_match_the_official_parameter_counts():
    # The official checkpoints' counts (the fine-tuning model without the decoder; YusenPeng/CascadeFormerCheckpoints
    # on the Hub, the state dicts convert_official.py reads). The official N-UCLA head has 12 outputs for 10
    # classes; ours has 10, which stays within 1%.
    official = {
        "penn_action-1.0": 11_051_023,
        "penn_action-1.1": 11_319_331,
        "penn_action-1.2": 12_635_665,
        "nucla-1.0": 11_327_244,
        "nucla-1.1": 11_327_286,
        "ntu60-xsub-1.0": 180_739_900,
        "ntu60-xview-1.0": 77_601_340,
    }
    for name, expected in official.items():
        with torch.device("meta"):
            model = CascadeFormerForSequenceClassification(CascadeFormerConfig.from_preset(name))
        count = sum(p.numel() for p in model.parameters())
        assert abs(count - expected) / expected < 0.01, (name, count, expected)
    # Penn Action and NTU-CS 1.0 are reproduced exactly.
    with torch.device("meta"):
        penn = CascadeFormerForSequenceClassification(CascadeFormerConfig.from_preset("penn_action-1.0"))
    assert sum(p.numel() for p in penn.parameters()) == 11_051_023


def test_presets_cover_every_benchmark_and_variant_with_their_layout_and_class_count():
    from hf_cascadeformer.data.skeletons import LAYOUTS

    for benchmark in ("penn_action", "nucla", "ntu60-xsub", "ntu60-xview"):
        for variant in ("1.0", "1.1", "1.2"):
            assert f"{benchmark}-{variant}" in PRESETS
    # Every preset names a layout of data/skeletons.py that fits its skeletons; the label names live with the data
    # modules (the dataset's ClassLabel gives them to a fine-tuned model), the presets keep the count.
    for name in PRESETS:
        config = CascadeFormerConfig.from_preset(name)
        layout = LAYOUTS[config.skeleton_layout]
        assert (layout.num_joints, layout.num_channels) == (config.num_joints, config.num_channels), name
    counts = {"penn_action-1.0": 15, "nucla-1.2": 10, "ntu60-xview-1.1": 60, "ntu120-xset-gfp": 120}
    for name, count in counts.items():
        assert CascadeFormerConfig.from_preset(name).num_labels == count
    penn = CascadeFormerConfig.from_preset("penn_action-1.0")
    assert penn.skeleton_layout == "penn" and CascadeFormerConfig.from_preset("nucla-1.0").skeleton_layout == "nucla"
    assert penn.layer_norm_position == "post" and penn.hidden_act == "relu" and penn.intermediate_size == 2048
    ntu = CascadeFormerConfig.from_preset("ntu60-xsub-1.0", num_labels=60)
    assert ntu.classifier_head == "mlp" and ntu.cross_attention_feed_forward and ntu.label_smoothing == 0.05
    with pytest.raises(ValueError, match="unknown preset 'penn-9.9'"):
        CascadeFormerConfig.from_preset("penn-9.9")


def test_save_and_load_round_trip_gives_identical_logits_and_all_auto_classes(tmp_path):
    config = modeling_config(id2label={0: "wave", 1: "clap", 2: "jump"}, label2id={"wave": 0, "clap": 1, "jump": 2})
    model = CascadeFormerForSequenceClassification(config).eval()
    clips = random_clips()
    expected = model(clips).logits
    model.save_pretrained(tmp_path)

    assert (tmp_path / "model.safetensors").exists()
    assert (tmp_path / "modeling_cascadeformer.py").exists()
    assert (tmp_path / "configuration_cascadeformer.py").exists()
    saved = json.loads((tmp_path / "config.json").read_text())
    assert set(saved["auto_map"]) == {
        "AutoConfig",
        "AutoModel",
        "AutoModelForPreTraining",
        "AutoModelForSequenceClassification",
    }
    assert saved["id2label"]["1"] == "clap"

    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert isinstance(reloaded, CascadeFormerForSequenceClassification)
    torch.testing.assert_close(reloaded(clips).logits, expected, rtol=0, atol=0)
    base = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(base, CascadeFormerModel)
    torch.testing.assert_close(
        base(clips).last_hidden_state, model.cascadeformer(clips).last_hidden_state, rtol=0, atol=0
    )
    assert isinstance(AutoConfig.from_pretrained(tmp_path), CascadeFormerConfig)


def test_pretraining_checkpoint_loads_into_the_classifier_without_missing_encoder_keys(tmp_path):
    pretrained = CascadeFormerForMaskedSkeletonModeling(modeling_config())
    pretrained.save_pretrained(tmp_path)
    assert isinstance(AutoModelForPreTraining.from_pretrained(tmp_path), CascadeFormerForMaskedSkeletonModeling)

    classifier, info = CascadeFormerForSequenceClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert not any(key.startswith("cascadeformer.") for key in info["missing_keys"])
    assert all(key.startswith(("cascade_encoder.", "fusion.", "classifier.")) for key in info["missing_keys"])
    assert set(info["unexpected_keys"]) <= {"objective.decoder.weight", "objective.decoder.bias"}
    for name, tensor in pretrained.cascadeformer.state_dict().items():
        torch.testing.assert_close(classifier.cascadeformer.state_dict()[name], tensor, rtol=0, atol=0)


def test_padding_frames_do_not_change_the_logits():
    model = CascadeFormerForSequenceClassification(modeling_config(layer_norm_position="post")).eval()
    clips = random_clips(frames=10)
    padded = torch.cat([clips, 5 * torch.randn(3, 2, 7, 5, 3)], dim=2)  # padding filled with junk on purpose
    mask = torch.cat([torch.ones(3, 10), torch.zeros(3, 7)], dim=1).long()
    with torch.no_grad():
        torch.testing.assert_close(model(padded, mask).logits, model(clips).logits, rtol=1e-5, atol=1e-5)
        # The official behaviour (mask_padding_frames=False) attends to the junk, so the logits move.
        model.config.mask_padding_frames = False
        assert not torch.allclose(model(padded, mask).logits, model(clips).logits, atol=1e-3)


def test_ragged_batch_matches_clips_run_one_by_one():
    model = CascadeFormerForSequenceClassification(modeling_config()).eval()
    clips = random_clips(frames=12)
    mask = torch.ones(3, 12, dtype=torch.long)
    mask[0, 5:] = 0
    mask[2, 9:] = 0
    with torch.no_grad():
        batched = model(clips, mask).logits
        singles = torch.cat([model(clips[i : i + 1, :, : int(mask[i].sum())]).logits for i in range(3)])
    torch.testing.assert_close(batched, singles, rtol=1e-5, atol=1e-5)


def test_sdpa_and_eager_attention_agree():
    config = modeling_config(frame_embedding="spatial_attention")
    model = CascadeFormerForSequenceClassification(config).eval()
    assert model.config._attn_implementation == "sdpa"
    clips = random_clips()
    mask = torch.ones(3, 12, dtype=torch.long)
    mask[1, 4:] = 0
    with torch.no_grad():
        sdpa = model(clips, mask).logits
        model.set_attn_implementation("eager")
        assert model.config._attn_implementation == "eager"
        eager = model(clips, mask).logits
    torch.testing.assert_close(sdpa, eager, rtol=1e-5, atol=1e-5)


def test_an_absent_second_person_changes_nothing():
    model = CascadeFormerForSequenceClassification(modeling_config()).eval()
    one_person = random_clips(persons=1)
    with_absent = torch.cat([one_person, torch.zeros_like(one_person)], dim=1)
    with torch.no_grad():
        reference = model(one_person).logits
        torch.testing.assert_close(model(with_absent).logits, reference, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(model(one_person[:, 0]).logits, reference, rtol=1e-6, atol=1e-6)
        # A present second person does count.
        assert not torch.allclose(model(random_clips(persons=2)).logits, reference)
    hidden = CascadeFormerModel(modeling_config()).eval()(with_absent)
    assert hidden.person_mask.tolist() == [[True, False]] * 3
    assert hidden.last_hidden_state[:, 1].abs().sum() == 0


def test_a_single_frame_clip_works():
    model = CascadeFormerForSequenceClassification(modeling_config()).eval()
    assert model(random_clips(frames=1)).logits.shape == (3, 3)


def test_bone_and_motion_streams_are_computed_from_the_joints():
    frames = torch.randn(2, 6, 5, 3)
    frame_mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], dtype=torch.bool)
    parents = (0, 0, 1, 1, 3)
    streams = skeleton_streams(frames, frame_mask, ("joint", "bone", "motion"), parents)
    assert streams.shape == (2, 6, 5, 9)
    torch.testing.assert_close(streams[..., :3], frames)
    torch.testing.assert_close(streams[:, :, 4, 3:6], frames[:, :, 4] - frames[:, :, 3])
    assert streams[:, :, 0, 3:6].abs().sum() == 0  # the root is its own parent
    torch.testing.assert_close(streams[0, :5, :, 6:], frames[0, 1:] - frames[0, :5])
    torch.testing.assert_close(streams[1, :3, :, 6:], frames[1, 1:4] - frames[1, :3])
    # No motion out of the last frame, nor out of the last valid frame into padding.
    assert streams[0, 5, :, 6:].abs().sum() == 0 and streams[1, 3:, :, 6:].abs().sum() == 0


def test_a_model_with_input_streams_ignores_padding_and_round_trips(tmp_path):
    config = modeling_config(input_streams=["joint", "bone", "motion"], bone_parents=[0, 0, 1, 1, 3])
    model = CascadeFormerForSequenceClassification(config).eval()
    assert model.cascadeformer.embeddings.projection.in_features == 5 * 9
    clips = random_clips(frames=10)
    padded = torch.cat([clips, 5 * torch.randn(3, 2, 7, 5, 3)], dim=2)
    mask = torch.cat([torch.ones(3, 10), torch.zeros(3, 7)], dim=1).long()
    with torch.no_grad():
        logits = model(clips).logits
        torch.testing.assert_close(model(padded, mask).logits, logits, rtol=1e-5, atol=1e-5)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert loaded.config.input_streams == ["joint", "bone", "motion"]
    with torch.no_grad():
        torch.testing.assert_close(loaded(clips).logits, logits, rtol=0, atol=0)


def test_build_config_takes_the_bone_tree_from_the_skeleton_layout():
    geometry = DataGeometry(num_persons=1, num_joints=20, num_channels=3, class_names=("a", "b"))
    config = build_config(geometry, defaults={"input_streams": ["joint", "bone"]})
    parents = config.bone_parents
    assert parents[NUCLA_LAYOUT.root_joint] == NUCLA_LAYOUT.root_joint
    edges = {frozenset(bone) for bone in NUCLA_LAYOUT.bones}
    assert all(frozenset((joint, parent)) in edges for joint, parent in enumerate(parents) if joint != parent)
    assert build_config(geometry).bone_parents is None  # joints only: no tree needed


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"input_streams": ["joint", "velocity"]}, "input_streams must be distinct names"),
        ({"input_streams": []}, "input_streams must be distinct names"),
        ({"input_streams": ["bone"]}, "needs bone_parents"),
        ({"input_streams": ["motion"], "token_layout": "joint_segment"}, "need token_layout='frame'"),
        ({"bone_parents": [0, 0, 1]}, "one joint index in"),
    ],
)
def test_bad_input_streams_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        modeling_config(**fields)


@pytest.mark.parametrize(
    ("skeletons", "mask", "message"),
    [
        (torch.randn(3, 12, 15), None, r"must have shape \(batch, frames, joints, channels\)"),
        (torch.randn(3, 12, 6, 3), None, "6 joints x 3 channels, but the model expects 5 joints x 3 channels"),
        (torch.randn(3, 12, 5, 2), None, "5 joints x 2 channels, but the model expects 5 joints x 3 channels"),
        (torch.randn(3, 3, 12, 5, 3), None, "3 persons, more than config.num_persons=2"),
        (torch.randn(3, 25, 5, 3), None, "25 frames, more than config.max_frames=24"),
        (torch.randn(3, 0, 5, 3), None, "at least one clip, person and frame"),
        (torch.full((3, 12, 5, 3), float("nan")), None, "NaN or infinite"),
        (torch.full((3, 12, 5, 3), float("inf")), None, "NaN or infinite"),
        (torch.randn(3, 12, 5, 3), torch.ones(3, 11), r"attention_mask must have shape \(batch, frames\)"),
        (torch.randn(3, 12, 5, 3), torch.ones(3, 12).index_fill(0, torch.tensor([1]), 0), r"no valid frame .*\[1\]"),
    ],
)
def test_bad_input_raises_a_value_error_naming_the_problem(skeletons, mask, message):
    config = modeling_config()
    for model in (
        CascadeFormerModel(config),
        CascadeFormerForSequenceClassification(config),
        CascadeFormerForMaskedSkeletonModeling(config),
    ):
        with pytest.raises(ValueError, match=message):
            model(skeletons, mask)


def test_invalid_config_values_are_refused():
    with pytest.raises(ValueError, match="frame_embedding must be one of"):
        CascadeFormerConfig(frame_embedding="graph")
    with pytest.raises(ValueError, match="divisible by num_attention_heads"):
        CascadeFormerConfig(hidden_size=30, num_attention_heads=4)
    with pytest.raises(ValueError, match="divisible by num_joints"):
        CascadeFormerConfig(frame_embedding="spatial_attention", spatial_attention_style="split", hidden_size=256)


def test_masked_joint_mask_is_exact_seeded_and_never_on_padding():
    model = CascadeFormerForMaskedSkeletonModeling(modeling_config(mask_ratio=0.3)).eval()  # no dropout noise
    clips = random_clips()
    mask = torch.ones(3, 12, dtype=torch.long)
    mask[0, 7:] = 0
    first = model(clips, mask, seed=3)
    again = model(clips, mask, generator=torch.Generator().manual_seed(3))
    other = model(clips, mask, seed=4)
    assert torch.equal(first.mask, again.mask) and torch.equal(first.loss, again.loss)
    assert not torch.equal(first.mask, other.mask)
    per_person = first.mask.flatten(2).sum(-1)
    assert per_person[0].tolist() == [round(0.3 * 7 * 5)] * 2
    assert per_person[1].tolist() == [round(0.3 * 12 * 5)] * 2
    assert not first.mask[0, :, 7:].any()
    # The loss is the mean squared error over masked coordinates only.
    errors = (first.reconstruction - clips).pow(2).mean(-1)
    torch.testing.assert_close(first.loss, errors[first.mask].mean())

    frame_masking = CascadeFormerForMaskedSkeletonModeling(modeling_config(mask_unit="frame"))(clips, seed=0).mask
    assert (frame_masking.all(-1) | ~frame_masking.any(-1)).all()  # whole frames only


def test_absent_persons_are_not_masked_or_scored():
    model = CascadeFormerForMaskedSkeletonModeling(modeling_config()).eval()
    clips = random_clips(persons=1)
    out = model(torch.cat([clips, torch.zeros_like(clips)], dim=1), seed=0)
    assert not out.mask[:, 1].any() and out.mask[:, 0].any()
    torch.testing.assert_close(out.loss, model(clips, seed=0).loss)


def test_freezing_stage_one_keeps_its_weights():
    model = CascadeFormerForSequenceClassification(modeling_config(freeze_encoder=True))
    assert not any(p.requires_grad for p in model.cascadeformer.parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())
    before = {k: v.clone() for k, v in model.cascadeformer.state_dict().items()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model(random_clips(), labels=torch.tensor([0, 1, 2])).loss.backward()
    optimizer.step()
    for name, tensor in model.cascadeformer.state_dict().items():
        assert torch.equal(tensor, before[name])


def test_gradient_checkpointing_gives_the_same_loss_and_gradients():
    torch.manual_seed(0)
    model = CascadeFormerForSequenceClassification(
        modeling_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    )
    clips, labels = random_clips(), torch.tensor([0, 1, 2])
    model.train()
    loss = model(clips, labels=labels).loss
    loss.backward()
    reference = model.cascadeformer.embeddings.projection.weight.grad.clone()
    model.zero_grad()
    model.activation_checkpointing_enable()
    assert all(layer.gradient_checkpointing for layer in model.cascadeformer.encoder.layers)
    checkpointed = model(clips, labels=labels).loss
    checkpointed.backward()
    torch.testing.assert_close(checkpointed, loss)
    torch.testing.assert_close(model.cascadeformer.embeddings.projection.weight.grad, reference)


def _train(model, steps, batch) -> list[float]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for step in range(steps):
        loss = model(**batch, **({"seed": step} if "labels" not in batch else {})).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_a_few_steps_lower_the_loss_of_both_heads():
    torch.manual_seed(0)
    config = modeling_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    # Class-dependent motion, so the labels are learnable from the clips.
    labels = torch.arange(6) % 3
    time = torch.linspace(0, 1, 12)
    clips = torch.randn(6, 1, 12, 5, 3) * 0.1
    clips[..., 0] += torch.sin((labels[:, None] + 1) * 3.0 * time)[:, None, :, None]

    classifier = CascadeFormerForSequenceClassification(config)
    losses = _train(classifier, 30, {"skeletons": clips, "labels": labels})
    assert losses[-1] < 0.5 * losses[0], losses
    assert (classifier.eval()(clips).logits.argmax(-1) == labels).all()

    pretraining = CascadeFormerForMaskedSkeletonModeling(config)
    losses = _train(pretraining, 30, {"skeletons": clips})
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5, losses


def test_fast_dropout_keeps_the_rate_and_the_expectation():
    from hf_cascadeformer.modeling_cascadeformer import fast_dropout

    torch.manual_seed(0)
    values = torch.rand(200_000) + 0.5
    for p in (0.1, 0.3):
        dropped = fast_dropout(values, p, training=True)
        zeros = (dropped == 0).double().mean().item()
        assert abs(zeros - p) < 4e-3, (p, zeros)  # about 6 standard deviations
        kept = dropped != 0
        torch.testing.assert_close(dropped[kept], values[kept] / (1 - round(p * 65536) / 65536))
        assert abs(dropped.double().mean().item() - values.double().mean().item()) < 5e-3
    assert fast_dropout(values, 0.1, training=False) is values
    assert fast_dropout(values, 1.0, training=True).abs().sum() == 0
    # Its masks come from the seeded generator, so a run repeats; each call draws a new mask.
    torch.manual_seed(1)
    first, second = fast_dropout(values, 0.5, True), fast_dropout(values, 0.5, True)
    torch.manual_seed(1)
    torch.testing.assert_close(fast_dropout(values, 0.5, True), first, rtol=0, atol=0)
    assert not torch.equal(first != 0, second != 0)
    # Odd sizes and bf16 work; the gradient is the forward mask times the same scale.
    odd = torch.randn(3, 5, 7, dtype=torch.bfloat16, requires_grad=True)
    out = fast_dropout(odd, 0.25, True)
    out.sum().backward()
    scale = 65536 / (65536 - round(0.25 * 65536))
    torch.testing.assert_close(odd.grad, (out != 0).to(odd.dtype) * scale)


def test_attention_dropout_on_cpu_is_random_in_training_only():
    # With dropout on CPU, attention takes the eager path with the cheap mask; without dropout, SDPA and eager
    # give the same outputs in training mode, and in eval mode nothing is random.
    config = modeling_config(attention_probs_dropout_prob=0.0, hidden_dropout_prob=0.0)
    model = CascadeFormerForSequenceClassification(config).train()
    clips = random_clips(frames=12)
    eager = CascadeFormerForSequenceClassification(config).train()
    eager.load_state_dict(model.state_dict())
    eager.set_attn_implementation("eager")
    torch.testing.assert_close(model(clips).logits, eager(clips).logits, rtol=1e-5, atol=1e-5)
    noisy = CascadeFormerForSequenceClassification(modeling_config(attention_probs_dropout_prob=0.5)).train()
    assert not torch.equal(noisy(clips).logits, noisy(clips).logits)
    noisy.eval()
    torch.testing.assert_close(noisy(clips).logits, noisy(clips).logits, rtol=0, atol=0)


@pytest.mark.parametrize("layer_norm_position", ["pre", "post"])
def test_packed_layers_give_the_padded_outputs_and_gradients(layer_norm_position):
    # With padding masked, the encoder runs its position-wise parts on the valid tokens only (TokenPacking):
    # the valid tokens' outputs and every gradient equal those of the padded computation; padding outputs are 0.
    from hf_cascadeformer.modeling_cascadeformer import CascadeFormerEncoder

    config = modeling_config(
        layer_norm_position=layer_norm_position, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )
    encoder = CascadeFormerEncoder(config, 2, 0.0)
    tokens = torch.randn(3, 7, config.hidden_size, requires_grad=True)
    token_mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5], dtype=torch.bool)
    attention_mask = torch.zeros(3, 1, 7, 7).masked_fill(~token_mask[:, None, None, :], torch.finfo(torch.float32).min)
    packed = encoder(tokens, attention_mask, output_hidden_states=True, token_mask=token_mask)
    padded = encoder(tokens, attention_mask, output_hidden_states=True)
    valid = token_mask[:, :, None]
    torch.testing.assert_close(packed.last_hidden_state * valid, padded.last_hidden_state * valid)
    assert packed.last_hidden_state[~token_mask].abs().sum() == 0
    for ours, theirs in zip(packed.hidden_states, padded.hidden_states, strict=True):
        torch.testing.assert_close(ours * valid, theirs * valid)
    (packed.last_hidden_state * valid).sum().backward()
    grads = [tokens.grad.clone()] + [p.grad.clone() for p in encoder.parameters()]
    tokens.grad = None
    encoder.zero_grad()
    (padded.last_hidden_state * valid).sum().backward()
    for ours, theirs in zip(grads, [tokens.grad] + [p.grad for p in encoder.parameters()], strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_config_fields_are_dataclass_fields_written_once_and_old_fields_are_dropped():
    import dataclasses

    from hf_cascadeformer.configuration_cascadeformer import CONFIG_FIELDS

    own = [field for field in dataclasses.fields(CascadeFormerConfig) if field.name in CONFIG_FIELDS]
    assert [field.name for field in own] == list(CONFIG_FIELDS) and "skeleton_layout" in CONFIG_FIELDS
    assert "decoder_type" not in CONFIG_FIELDS
    defaults = CascadeFormerConfig()
    for field in own:  # the dataclass default is the value a config gets (tuples become lists)
        value = getattr(defaults, field.name)
        assert value == (list(field.default) if isinstance(field.default, tuple) else field.default), field.name
    # A config.json written before `decoder_type` was removed still loads, and saves without it.
    old = CascadeFormerConfig.from_dict({**defaults.to_dict(), "decoder_type": "linear"})
    assert not hasattr(old, "decoder_type") and "decoder_type" not in old.to_dict()
    with pytest.raises(ValueError, match=r"config field hidden_size must be an integer, got '32' \(str\)"):
        CascadeFormerConfig(hidden_size="32")
