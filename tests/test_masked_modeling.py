"""Joint-segment tokens, MAE-style MAMP and GFP pretraining, and the linear probe."""

from __future__ import annotations

import textwrap

import pytest
import torch
from conftest import run_without_package, tiny_config
from transformers import AutoModelForPreTraining

from hf_cascadeformer import (
    CascadeFormerConfig,
    CascadeFormerFeatureExtractor,
    CascadeFormerForMaskedSkeletonModeling,
    CascadeFormerForSequenceClassification,
    CascadeFormerModel,
)
from hf_cascadeformer.linear_probe import extract_features, linear_probe, train_linear_probe
from hf_cascadeformer.modeling_cascadeformer_objectives import gfp_covariance_loss, gfp_variance_loss


@pytest.fixture(autouse=True)
def one_thread():
    """These models are tiny: one thread runs them as fast as two, and does not stall when another process holds
    the second core (multi-threaded small operations wait for each other then)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def segment_config(**overrides) -> CascadeFormerConfig:
    """The shared tiny model on joint-segment tokens, without dropout, with small decoders."""
    settings = {
        "token_layout": "joint_segment",
        "segment_length": 4,
        "num_hidden_layers": 2,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "mask_ratio": 0.75,
        "decoder_hidden_size": 16,
        "decoder_num_hidden_layers": 1,
        "gfp_pool_kernels": [2, 3],
        "gfp_target_size": 8,
        "gfp_target_hidden_size": 16,
        "gfp_global_target_hidden_size": 32,
    }
    return tiny_config(**{**settings, **overrides})


def random_clips(batch=3, persons=2, frames=16, joints=5, seed=0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, persons, frames, joints, 3, generator=generator).cumsum(2) * 0.1


def test_the_preset_encoder_is_mamps_backbone_with_750_tokens():
    config = CascadeFormerConfig.from_preset("ntu60-xsub-gfp")
    assert (config.token_layout, config.max_segments * config.num_joints, config.patch_size) == (
        "joint_segment",
        750,
        12,
    )
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (256, 8, 8)
    assert (config.intermediate_size, config.layer_norm_position, config.mask_ratio) == (1024, "pre", 0.9)
    assert config.pretraining_objective == "gfp" and config.motion_aware_tau == 0.8
    assert CascadeFormerConfig.from_preset("ntu120-xsub-mamp").decoder_num_hidden_layers == 5
    with torch.device("meta"):
        encoder = CascadeFormerModel(config)
    # MAMP's encoder: Conv2d(3, 256, (4, 1)) 3,328 + embeddings 30 x 256 + 25 x 256 + 8 blocks of 789,760 + norm 512.
    assert sum(p.numel() for p in encoder.parameters()) == 6_336_000


@pytest.mark.parametrize(("frames", "segments"), [(16, 4), (14, 4), (1, 1)])
def test_token_counts_and_shapes_of_both_layouts(frames, segments):
    clips = random_clips(frames=frames)
    segment = CascadeFormerModel(segment_config()).eval()(clips)
    assert segment.last_hidden_state.shape == (3, 2, segments * 5, 16)
    assert segment.pooler_output.shape == (3, 16)
    frame = CascadeFormerModel(segment_config(token_layout="frame")).eval()(clips)
    assert frame.last_hidden_state.shape == (3, 2, frames, 16)
    classifier = CascadeFormerForSequenceClassification(segment_config())
    assert classifier(clips, labels=torch.tensor([0, 1, 2])).logits.shape == (3, 3)


def test_joint_segment_padding_and_ragged_batches_do_not_change_the_logits():
    model = CascadeFormerForSequenceClassification(segment_config()).eval()
    clips = random_clips(frames=10)  # not a multiple of 4: the last segment is half padding
    junk = 5 * torch.randn(3, 2, 7, 5, 3)  # padding filled with junk on purpose, also inside the third segment
    mask = torch.cat([torch.ones(3, 10), torch.zeros(3, 7)], dim=1).long()
    mask[1, 6:] = 0
    with torch.no_grad():
        padded = model(torch.cat([clips, junk], dim=2), mask).logits
        torch.testing.assert_close(padded[[0, 2]], model(clips[[0, 2]]).logits, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(padded[1], model(clips[1:2, :, :6]).logits[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("objective", "layout", "noise_shape"),
    [("masked_joint", "frame", (16, 5)), ("mamp", "joint_segment", (4, 5)), ("gfp", "joint_segment", (4, 5))],
)
def test_per_clip_noise_gives_each_clip_its_mask_whatever_the_batch(objective, layout, noise_shape):
    model = CascadeFormerForMaskedSkeletonModeling(
        segment_config(pretraining_objective=objective, token_layout=layout)
    ).eval()
    assert model.mask_noise_shape(16) == noise_shape
    clips = random_clips(batch=4, frames=16)
    clips[1, 1] = 0.0  # an absent second person: its noise is dropped with it when persons are folded
    noise = torch.rand(4, 2, *noise_shape, generator=torch.Generator().manual_seed(1))
    together = model(clips, noise=noise).mask
    for index in range(4):
        alone = model(clips[index : index + 1], noise=noise[index : index + 1]).mask
        assert torch.equal(alone[0], together[index])
    assert not together[1, 1].any()
    # The mask masks the smallest noise values (masked_joint) or follows the motion-weighted ranking of the noise.
    if objective == "masked_joint":
        expected = noise[0, 0].flatten().argsort()[: round(0.75 * 80)]
        assert together[0, 0].flatten()[expected].all() and together[0, 0].sum() == round(0.75 * 80)
    # The same noise again gives the same mask and loss; other noise another mask.
    assert torch.equal(model(clips, noise=noise).loss, model(clips, noise=noise).loss)
    assert not torch.equal(together, model(clips, noise=torch.rand_like(noise)).mask)
    # Without a persons axis, noise has none either.
    single = model(clips[:, 0], noise=noise[:, 0]).mask
    assert single.shape == (4, *together.shape[2:])
    with pytest.raises(ValueError, match=r"noise must have shape .*\(4, 2, " + str(noise_shape[0])):
        model(clips, noise=noise[:, :, :-1])


@pytest.mark.parametrize("objective", ["mamp", "gfp"])
def test_exactly_round_ratio_times_valid_tokens_are_masked_never_padding(objective):
    model = CascadeFormerForMaskedSkeletonModeling(segment_config(pretraining_objective=objective)).eval()
    clips = random_clips(frames=16)
    mask = torch.ones(3, 16, dtype=torch.long)
    mask[0, 9:] = 0  # 9 frames -> 3 segments (the third one partly valid) -> 15 valid tokens
    first = model(clips, mask, seed=3)
    assert first.mask.shape == (3, 2, 4, 5)
    per_person = first.mask.flatten(2).sum(-1)
    assert per_person[0].tolist() == [round(0.75 * 15)] * 2
    assert per_person[1:].flatten().tolist() == [round(0.75 * 20)] * 4
    assert not first.mask[0, :, 3:].any()
    again = model(clips, mask, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first.mask, again.mask) and torch.equal(first.loss, again.loss)
    assert not torch.equal(first.mask, model(clips, mask, seed=4).mask)


def test_motion_aware_masking_prefers_high_motion_tokens():
    clips = torch.zeros(256, 1, 16, 5, 3)
    clips[..., 0, :] = torch.linspace(0, 1, 16)[:, None].pow(2)  # joint 0 moves, faster and faster
    clips += 0.001 * torch.randn(clips.shape, generator=torch.Generator().manual_seed(0))
    frequency, masks = {}, {}
    for tau in (0.8, 0.0):
        config = segment_config(num_persons=1, mask_ratio=0.5, motion_aware_tau=tau, pretraining_objective="mamp")
        masks[tau] = CascadeFormerForMaskedSkeletonModeling(config).eval()(clips, seed=0).mask[:, 0].float()
        frequency[tau] = (masks[tau][:, :, 0].mean().item(), masks[tau][:, :, 1:].mean().item())
    moving, still = frequency[0.8]  # 256 clips x 4 segments: the standard error of each share is about 0.016
    assert moving > still + 0.12, frequency
    uniform_moving, uniform_still = frequency[0.0]
    assert abs(uniform_moving - uniform_still) < 0.06, frequency
    # Within the moving joint, the fastest (last) segment is masked more often than the slowest (second) one.
    assert masks[0.8][:, 3, 0].mean() > masks[0.8][:, 1, 0].mean() + 0.1


@pytest.mark.parametrize("objective", ["mamp", "gfp"])
def test_the_encoder_sees_only_the_visible_tokens(objective):
    config = segment_config(pretraining_objective=objective, max_frames=120, mask_ratio=0.9, num_joints=25)
    model = CascadeFormerForMaskedSkeletonModeling(config)
    seen = {}

    def record(name):
        def hook(module, inputs, output):
            seen.setdefault(name, []).append(tuple(inputs[0].shape))

        return hook

    model.cascadeformer.encoder.register_forward_hook(record("encoder"))
    if objective == "mamp":
        model.objective.decoder.register_forward_hook(record("decoder"))
    else:
        for decoder in model.objective.level_decoders:
            decoder.register_forward_hook(record("decoder"))
    model(random_clips(batch=2, frames=120, joints=25), seed=0)
    assert seen["encoder"] == [(4, 75, 16)]  # 750 tokens per person, 10% visible, 2 clips x 2 persons
    if objective == "mamp":
        assert seen["decoder"] == [(4, 750, 16)]
    else:  # levels of 5, 10 and 30 segments (kernels [2, 3] here: 15 and 10 temporal tokens) plus the global token
        assert seen["decoder"] == [(4, 15 * 25, 16), (4, 10 * 25, 16), (4, 1, 16)]


def test_variance_and_covariance_terms_on_known_inputs():
    signs = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0], [1.0, -1.0, -1.0, 1.0]])
    decorrelated = 2 * signs[:, 1:]  # columns of a Hadamard matrix: zero mean, orthogonal, std 2.31 > gamma
    assert gfp_variance_loss(decorrelated, gamma=1.0) == 0
    assert gfp_covariance_loss(decorrelated).abs() < 1e-12
    constant = torch.ones(8, 3)
    torch.testing.assert_close(gfp_variance_loss(constant, gamma=1.0, eps=1e-4), torch.tensor(1 - 0.01))
    assert gfp_covariance_loss(constant) == 0
    column = torch.tensor([1.0, -1.0, 2.0, -2.0])
    duplicated = torch.stack([column, column], dim=1)  # covariance 10/3 off the diagonal, twice, over width 2
    torch.testing.assert_close(gfp_covariance_loss(duplicated), torch.tensor((10 / 3) ** 2))
    assert gfp_variance_loss(torch.ones(1, 3)) == 0 and gfp_covariance_loss(torch.ones(1, 3)) == 0


@pytest.mark.parametrize("stop_gradient", [True, False])
def test_gradients_reach_encoder_decoders_and_target_networks(stop_gradient):
    model = CascadeFormerForMaskedSkeletonModeling(
        segment_config(pretraining_objective="gfp", gfp_stop_gradient=stop_gradient)
    )
    out = model(random_clips(), seed=0)
    assert set(out.losses) >= {"prediction", "covariance", "variance", "prediction/pool2", "variance/global"}
    expected = out.losses["prediction"] * 5 + out.losses["covariance"] * 5 + out.losses["variance"]
    torch.testing.assert_close(out.loss.detach(), expected, rtol=1e-5, atol=1e-6)
    out.loss.backward()
    groups = {
        "encoder": model.cascadeformer.encoder,
        "patch embedding": model.cascadeformer.embeddings.patch_embedding,
        "level decoders": model.objective.level_decoders,
        "level heads": model.objective.level_heads,
        "target networks": model.objective.target_networks,
    }
    for name, module in groups.items():
        gradients = [p.grad for p in module.parameters()]
        assert all(g is not None for g in gradients), name
        assert sum(float(g.abs().sum()) for g in gradients) > 0, name
    assert model.objective.mask_token.grad.abs().sum() > 0

    mamp = CascadeFormerForMaskedSkeletonModeling(segment_config(pretraining_objective="mamp"))
    mamp(random_clips(), seed=0).loss.backward()
    for module in (mamp.cascadeformer.encoder, mamp.objective.decoder, mamp.objective.prediction_head):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


def test_stop_gradient_keeps_the_prediction_loss_out_of_the_target_networks():
    gradients = {}
    for stop_gradient in (True, False):
        torch.manual_seed(0)
        model = CascadeFormerForMaskedSkeletonModeling(
            segment_config(pretraining_objective="gfp", gfp_stop_gradient=stop_gradient, gfp_covariance_weight=0.0)
        )
        model.config.gfp_variance_weight = 0.0  # only the prediction term is left
        model(random_clips(), seed=0).loss.backward()
        gradients[stop_gradient] = model.objective.target_networks[0].layers[0].weight.grad
    assert gradients[True] is None or gradients[True].abs().sum() == 0
    assert gradients[False].abs().sum() > 0


def test_mamp_loss_is_normalised_motion_mse_over_masked_tokens():
    model = CascadeFormerForMaskedSkeletonModeling(segment_config(pretraining_objective="mamp")).eval()
    clips = random_clips(persons=1)
    out = model(clips, seed=0)
    (prediction,), (target,) = out.predictions, out.targets
    motion = torch.zeros_like(clips[:, 0])
    motion[:, :-1] = clips[:, 0, 1:] - clips[:, 0, :-1]
    patches = motion.view(3, 4, 4, 5, 3).transpose(2, 3).reshape(3, 20, 12)  # segments x joints, time-major
    normalised = (patches - patches.mean(-1, keepdim=True)) / (patches.var(-1, keepdim=True) + 1e-6).sqrt()
    torch.testing.assert_close(target, normalised)
    errors = (prediction - target).pow(2).mean(-1)
    torch.testing.assert_close(out.loss, errors[out.mask[:, 0].flatten(1)].mean())


def test_a_given_mask_is_used_and_checked():
    model = CascadeFormerForMaskedSkeletonModeling(segment_config(pretraining_objective="mamp")).eval()
    mask = torch.zeros(6, 4, 5, dtype=torch.bool)
    mask[:, 1:] = True
    assert torch.equal(model(random_clips(), mask=mask).mask.flatten(0, 1), mask)
    with pytest.raises(ValueError, match=r"mask must have shape \(present persons, segments, joints\)"):
        model(random_clips(), mask=mask[:, :2])


def test_objectives_refuse_the_wrong_token_layout():
    with pytest.raises(ValueError, match="needs token_layout='joint_segment'"):
        CascadeFormerForMaskedSkeletonModeling(segment_config(token_layout="frame", pretraining_objective="gfp"))
    with pytest.raises(ValueError, match="masked_joint' needs token_layout='frame'"):
        CascadeFormerForMaskedSkeletonModeling(segment_config(pretraining_objective="masked_joint"))
    with pytest.raises(ValueError, match="token_layout must be one of"):
        CascadeFormerConfig(token_layout="graph")


def test_the_config_names_and_the_objective_registry_agree():
    from hf_cascadeformer.configuration_cascadeformer import PRETRAINING_OBJECTIVES
    from hf_cascadeformer.modeling_cascadeformer_objectives import (
        PRETRAINING_OBJECTIVE_CLASSES,
        PretrainingObjective,
        register_objective,
    )

    assert tuple(PRETRAINING_OBJECTIVE_CLASSES) == PRETRAINING_OBJECTIVES
    for name, cls in PRETRAINING_OBJECTIVE_CLASSES.items():
        assert issubclass(cls, PretrainingObjective) and cls.name == name
    with pytest.raises(ValueError, match="'contrastive'.*not listed in configuration_cascadeformer"):
        register_objective("contrastive")(type("Contrastive", (PretrainingObjective,), {}))
    with pytest.raises(ValueError, match="'gfp' is registered twice"):
        register_objective("gfp")(type("AnotherGFP", (PretrainingObjective,), {}))


@pytest.mark.parametrize(
    ("objective", "layout", "token_mean"),
    [("masked_joint", "frame", True), ("mamp", "joint_segment", True), ("gfp", "joint_segment", False)],
)
def test_the_objective_says_whether_its_loss_is_a_mean_over_masked_tokens(objective, layout, token_mean):
    # What the data-parallel pretraining loop relies on (training/pretraining.py): for a token-mean loss, the two
    # halves of a batch weighted by their masked-token counts give the whole batch's loss; GFP's batch statistics
    # (covariance, variance) do not combine that way, and it says so.
    torch.manual_seed(0)
    model = CascadeFormerForMaskedSkeletonModeling(
        segment_config(pretraining_objective=objective, token_layout=layout)
    ).train()  # no dropout in segment_config; GFP's target networks then normalise with batch statistics
    assert model.loss_is_token_mean is token_mean
    clips = random_clips(batch=4, frames=16)
    noise = torch.rand(4, 2, *model.mask_noise_shape(16), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        whole = model(clips, noise=noise)
        halves = [model(clips[part], noise=noise[part]) for part in (slice(0, 2), slice(2, 4))]
    counts = [half.mask.sum().float() for half in halves]
    weighted = sum(half.loss * count for half, count in zip(halves, counts, strict=True)) / sum(counts)
    if token_mean:
        torch.testing.assert_close(weighted, whole.loss, rtol=1e-5, atol=1e-6)
    else:
        weighted_covariance = sum(h.losses["covariance"] * c for h, c in zip(halves, counts, strict=True)) / sum(counts)
        assert not torch.allclose(weighted_covariance, whole.losses["covariance"], rtol=1e-2)


def _collate_all(dataset, collate) -> dict[str, torch.Tensor]:
    columns = dataset.select_columns(["skeleton", "label"]).with_format("numpy")[:]  # bulk decoding: fast
    return collate([{"skeleton": s, "label": y} for s, y in zip(columns["skeleton"], columns["label"], strict=True)])


def _embedded_batch(num_frames=16):
    from hf_cascadeformer.data.collator import SkeletonCollator
    from hf_cascadeformer.data.synthetic import load_synthetic_dataset

    data = load_synthetic_dataset(num_train_subjects=1, num_test_subjects=1, clips_per_action_per_subject=1)
    config = segment_config(num_joints=25)
    extractor = CascadeFormerFeatureExtractor.from_model_config(config, num_frames=num_frames, resampling="interpolate")
    return data, _collate_all(data["train"], SkeletonCollator(extractor)), extractor


def _relative_errors(output) -> list[float]:
    """Prediction MSE over the targets' variance, per level: 1 for predicting the mean, 0 for a perfect fit."""
    pairs = zip(output.predictions, output.targets, strict=True)
    return [float((p.detach() - t).pow(2).mean() / t.var(0).mean()) for p, t in pairs]


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["mamp", "gfp"])
def test_each_objective_learns_on_the_embedded_dataset(objective):
    _, batch, _ = _embedded_batch()
    torch.manual_seed(0)
    model = CascadeFormerForMaskedSkeletonModeling(
        segment_config(num_joints=25, pretraining_objective=objective, gfp_target_size=16)
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    outputs = []
    for _ in range(30):
        output = model(batch["skeletons"], batch["attention_mask"], seed=0)  # one mask: can the batch be fitted?
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        outputs.append(output)
    first, last = outputs[:5], outputs[-5:]
    if objective == "mamp":
        assert sum(o.loss.item() for o in last) < 0.95 * sum(o.loss.item() for o in first), [o.loss for o in outputs]
    else:
        # GFP's total can rise at first while the target networks grow their outputs towards unit variance, so
        # look at what learning means for each part: the variance hinge falls, and the predictions explain more of
        # the targets' variance on every level.
        assert last[-1].losses["variance"] < 0.85 * first[0].losses["variance"]
        for start, end in zip(_relative_errors(outputs[5]), _relative_errors(last[-1]), strict=True):
            assert end < 0.95 * start, (start, end)


def test_gfp_checkpoint_round_trip_and_loading_into_the_classifier(tmp_path):
    torch.manual_seed(0)
    model = CascadeFormerForMaskedSkeletonModeling(segment_config(pretraining_objective="gfp"))
    model.train()
    model(random_clips(), seed=0).loss.backward()  # moves the BatchNorm running statistics away from their init
    model.eval()
    clips = random_clips(seed=5)
    expected = model(clips, seed=7)
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForPreTraining.from_pretrained(tmp_path).eval()
    assert isinstance(reloaded, CascadeFormerForMaskedSkeletonModeling)
    assert reloaded.config.pretraining_objective == "gfp" and reloaded.config.gfp_pool_kernels == [2, 3]
    again = reloaded(clips, seed=7)
    torch.testing.assert_close(again.loss, expected.loss, rtol=0, atol=0)
    for new, old in zip(again.predictions + again.targets, expected.predictions + expected.targets, strict=True):
        torch.testing.assert_close(new, old, rtol=0, atol=0)

    classifier, info = CascadeFormerForSequenceClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert not any(key.startswith("cascadeformer.") for key in info["missing_keys"])
    assert all(key.startswith(("cascade_encoder.", "fusion.", "classifier.")) for key in info["missing_keys"])
    assert all(key.startswith("objective.") for key in info["unexpected_keys"])
    for name, tensor in model.cascadeformer.state_dict().items():
        torch.testing.assert_close(classifier.cascadeformer.state_dict()[name], tensor, rtol=0, atol=0)


@pytest.mark.slow
def test_collapse_guard_gfp_keeps_target_variance_and_beats_a_random_encoder():
    from hf_cascadeformer.data.collator import SkeletonCollator
    from hf_cascadeformer.data.synthetic import load_synthetic_dataset

    data = load_synthetic_dataset()  # 600 training and 192 test clips
    config = segment_config(
        num_joints=25,
        max_frames=32,
        hidden_size=32,
        num_attention_heads=4,
        intermediate_size=64,
        mask_ratio=0.9,
        decoder_hidden_size=32,
        gfp_pool_kernels=[2, 4, 8],
        gfp_target_size=32,
        gfp_target_hidden_size=64,
        gfp_global_target_hidden_size=128,
        pretraining_objective="gfp",
        num_labels=12,
    )
    assert config.gfp_stop_gradient and config.gfp_decoder_num_hidden_layers == 2  # the defaults under test
    extractor = CascadeFormerFeatureExtractor.from_model_config(config, num_frames=32, resampling="interpolate")
    train, test = (_collate_all(data[split], SkeletonCollator(extractor)) for split in ("train", "test"))

    def probe(model) -> float:
        batches = [
            [{key: value[i : i + 200] for key, value in split.items()} for i in range(0, len(split["labels"]), 200)]
            for split in (train, test)
        ]
        features = [extract_features(model, split) for split in batches]
        return train_linear_probe(*features[0], *features[1], num_labels=12).accuracy

    torch.manual_seed(0)
    model = CascadeFormerForMaskedSkeletonModeling(config)
    random_accuracy = probe(model)  # the same encoder before pretraining
    epochs, batch_size = 10, 32
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * -(-600 // batch_size))
    generator = torch.Generator().manual_seed(0)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(600, generator=generator)
        for start in range(0, 600, batch_size):
            index = order[start : start + batch_size]
            output = model(train["skeletons"][index], train["attention_mask"][index], seed=epoch * 1000 + start)
            optimizer.zero_grad()
            output.loss.backward()
            optimizer.step()
            schedule.step()
    # Every level's targets keep their spread in every dimension (without the stop-gradient they sink to ~0.1).
    output = model(train["skeletons"][:128], train["attention_mask"][:128], seed=1)
    for name, targets in zip(model.objective.level_names, output.targets, strict=True):
        assert targets.std(0).min() > 0.15, (name, targets.std(0).min())
    pretrained_accuracy = probe(model)
    assert pretrained_accuracy > random_accuracy + 0.03, (pretrained_accuracy, random_accuracy)


def test_linear_probe_trains_on_features_and_extracts_from_rows():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(90) % 3
    features = torch.randn(90, 8, generator=generator) * 0.1 + torch.nn.functional.one_hot(labels, 8).float() * 3
    result = train_linear_probe(features[:60], labels[:60], features[60:], labels[60:], epochs=20)
    assert result.accuracy == 1.0 and result.train_accuracy == 1.0 and len(result.history) == 20
    shuffled = train_linear_probe(
        features[:60], labels[:60][torch.randperm(60, generator=generator)], features[60:], labels[60:], epochs=20
    )
    assert shuffled.accuracy < 0.8

    data, batch, extractor = _embedded_batch()
    model = CascadeFormerForSequenceClassification(segment_config(num_joints=25, num_labels=12))
    train, train_labels = extract_features(model, data["train"], extractor, batch_size=5)
    assert train.shape == (12, 16) and train_labels.tolist() == list(range(12))
    with torch.no_grad():
        direct = model.cascadeformer(batch["skeletons"], batch["attention_mask"]).pooler_output
    torch.testing.assert_close(train, direct, rtol=1e-5, atol=1e-5)
    assert 0.0 <= linear_probe(model, data["train"], data["test"], extractor, epochs=2).accuracy <= 1.0


REMOTE_LOADER = textwrap.dedent(
    """
    import torch
    from transformers import AutoModelForPreTraining, AutoModelForSequenceClassification

    path, clips_file = sys.argv[1], sys.argv[2]
    clips = torch.load(clips_file, weights_only=True)
    pretraining = AutoModelForPreTraining.from_pretrained(path, trust_remote_code=True).eval()
    classifier = AutoModelForSequenceClassification.from_pretrained(path, trust_remote_code=True).eval()
    with torch.no_grad():
        print(json.dumps({
            "pretraining": type(pretraining).__name__,
            "loss": pretraining(clips, seed=0).loss.item(),
            "hidden": classifier.cascadeformer(clips).last_hidden_state.tolist(),
        }))
    """
)


@pytest.mark.slow
def test_a_gfp_checkpoint_loads_as_remote_code_without_the_package(tmp_path):
    model = CascadeFormerForMaskedSkeletonModeling(segment_config(pretraining_objective="gfp")).eval()
    model.save_pretrained(tmp_path / "ckpt")
    clips = random_clips(frames=14)
    torch.save(clips, tmp_path / "clips.pt")
    remote = run_without_package(
        REMOTE_LOADER, tmp_path / "ckpt", tmp_path / "clips.pt", modules_cache=tmp_path / "modules"
    )
    assert remote["pretraining"] == "CascadeFormerForMaskedSkeletonModeling"
    with torch.no_grad():
        assert remote["loss"] == pytest.approx(model(clips, seed=0).loss.item(), rel=1e-5)
        hidden = model.cascadeformer(clips).last_hidden_state
    assert torch.tensor(remote["hidden"]).shape == (3, 2, 20, 16)
    torch.testing.assert_close(torch.tensor(remote["hidden"]), hidden, rtol=1e-5, atol=1e-5)
