"""Pretraining objectives of CascadeFormer's stage-1 encoder (`CascadeFormerForMaskedSkeletonModeling`).

An objective is a `PretrainingObjective`: given the encoder and the folded persons of a batch, it masks, encodes
and returns a `CascadeFormerMaskedSkeletonModelingOutput` with the loss. The base class also declares what a
training loop needs to know without looking at the objective's name: the shape of one person's masking noise
(`noise_shape`) and whether the loss is a mean over masked tokens, which a data-parallel loop must weight by each
process's share of them (`loss_is_token_mean`). `PRETRAINING_OBJECTIVE_CLASSES` maps the config's
`pretraining_objective` names to the classes.

* `masked_joint`: the CascadeFormer paper's masked joint reconstruction on frame tokens (Peng & Yilmaz, arXiv
  2509.00692).
* `mamp`: MAMP-style masked motion prediction on joint-segment tokens (Mao et al., ICCV 2023).
* `gfp`: general feature prediction (Sun et al., ICCV 2025, arXiv 2509.03609).

To add an objective: subclass `PretrainingObjective` here, decorate it with `@register_objective("name")` and add
the name to `PRETRAINING_OBJECTIVES` in `configuration_cascadeformer.py` (the config validates names without
importing this file; registering a name the config does not list fails at import).

This file travels with saved checkpoints as remote code next to `modeling_cascadeformer.py` (which imports it):
it imports only `torch`, `transformers` and its sibling files (relative imports).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from .configuration_cascadeformer import PRETRAINING_OBJECTIVES, CascadeFormerConfig
from .modeling_cascadeformer import (
    CascadeFormerEncoder,
    CascadeFormerMaskedSkeletonModelingOutput,
    CascadeFormerTokenPositions,
    EmbeddedSkeletons,
    FoldedSkeletons,
    frame_motion,
    patchify,
    pool_segments,
)

if TYPE_CHECKING:
    from .modeling_cascadeformer import CascadeFormerModel


class PretrainingObjective(nn.Module):
    """What every pretraining objective provides (the interface `CascadeFormerForMaskedSkeletonModeling` and the
    training loop in `hf_cascadeformer/training/pretraining.py` rely on).

    Subclasses set `token_layout` and `loss_is_token_mean` and implement `noise_shape` and `forward`.
    """

    # The `pretraining_objective` name the class is registered under (set by `register_objective`).
    name: ClassVar[str]
    # True when the loss is a mean over this batch's masked tokens (or slots): a data-parallel loop then weights
    # each process's loss by its share of the global batch's masked tokens, so the mean is the global one. False
    # when the loss holds statistics of the whole batch (GFP's covariance and variance terms, like BatchNorm
    # without synchronisation): each process's loss is then taken as it is.
    loss_is_token_mean: ClassVar[bool]
    # The config's `token_layout` the objective masks and decodes (a recipe sets it from here).
    token_layout: ClassVar[str]

    def __init__(self, config: CascadeFormerConfig):
        super().__init__()
        if config.token_layout != self.token_layout:
            layout = config.token_layout
            others = sorted(name for name, cls in PRETRAINING_OBJECTIVE_CLASSES.items() if cls.token_layout == layout)
            raise ValueError(
                f"pretraining_objective={config.pretraining_objective!r} needs token_layout={self.token_layout!r} "
                f"(got {config.token_layout!r}; objectives for it: {others})"
            )
        self.config = config

    def noise_shape(self, num_frames: int) -> tuple[int, int]:
        """Shape of one person's masking noise for a clip of `num_frames` frames (the `noise` argument of
        `forward` holds one such array per present person)."""
        raise NotImplementedError

    def forward(
        self,
        encoder: CascadeFormerModel,
        folded: FoldedSkeletons,
        generator: torch.Generator | None = None,
        mask: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
    ) -> CascadeFormerMaskedSkeletonModelingOutput:
        """Mask the folded persons (by `mask`, else by `noise` `(N, *noise_shape)`, else drawn from `generator`),
        encode with `encoder` and return the loss."""
        raise NotImplementedError


PRETRAINING_OBJECTIVE_CLASSES: dict[str, type[PretrainingObjective]] = {}


def register_objective(name: str) -> Callable[[type[PretrainingObjective]], type[PretrainingObjective]]:
    """Class decorator: make an objective available as `pretraining_objective=name`."""

    def register(cls: type[PretrainingObjective]) -> type[PretrainingObjective]:
        if name not in PRETRAINING_OBJECTIVES:
            raise ValueError(
                f"objective {name!r} ({cls.__name__}) is not listed in configuration_cascadeformer."
                f"PRETRAINING_OBJECTIVES {PRETRAINING_OBJECTIVES}; add it there so configs accept it"
            )
        if name in PRETRAINING_OBJECTIVE_CLASSES:
            raise ValueError(f"objective {name!r} is registered twice")
        cls.name = name
        PRETRAINING_OBJECTIVE_CLASSES[name] = cls
        return cls

    return register


@register_objective("masked_joint")
class MaskedJointReconstruction(PretrainingObjective):
    """The paper's pretraining objective: zero a random share of (frame, joint) slots (or whole frames) of every
    present person, decode every frame token back to coordinates with a linear layer, and take the MSE over the
    masked coordinates of valid frames only."""

    loss_is_token_mean = True
    token_layout = "frame"

    def __init__(self, config: CascadeFormerConfig):
        super().__init__(config)
        self.decoder = nn.Linear(config.hidden_size, config.frame_size)

    def noise_shape(self, num_frames: int) -> tuple[int, int]:
        """Shape of one person's masking noise: `(frames, joints)`, or `(frames, 1)` when whole frames are masked."""
        return (num_frames, self.config.num_joints if self.config.mask_unit == "joint" else 1)

    def sample_mask(
        self,
        frames: torch.Tensor,
        frame_mask: torch.Tensor | None,
        generator: torch.Generator | None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Exactly round(mask_ratio x valid slots) masked slots per row, never on padding frames -> (N, T, J).

        The slots with the smallest `noise` values `(N, *noise_shape)` are masked (drawn uniformly when not given)."""
        rows, length, num_joints, _ = frames.shape
        valid = torch.ones(rows, length, dtype=torch.bool, device=frames.device) if frame_mask is None else frame_mask
        joints_per_unit = self.noise_shape(length)[1]
        if noise is None:
            noise = torch.rand(rows, length, joints_per_unit, generator=generator, device=frames.device)
        noise = noise.masked_fill(~valid.unsqueeze(-1), 2.0)  # padding sorts last, so it is never picked
        flat = noise.flatten(1)
        ranks = flat.argsort(dim=1).argsort(dim=1)
        num_masked = torch.round(valid.sum(1) * joints_per_unit * self.config.mask_ratio).long()
        mask = (ranks < num_masked.unsqueeze(1)).view(rows, length, joints_per_unit)
        return mask.expand(rows, length, num_joints)

    def forward(
        self,
        encoder: CascadeFormerModel,
        folded: FoldedSkeletons,
        generator: torch.Generator | None = None,
        mask: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
    ) -> CascadeFormerMaskedSkeletonModelingOutput:
        frames = folded.frames
        if mask is None:
            mask = self.sample_mask(frames, folded.frame_mask, generator, noise)
        corrupted = frames.masked_fill(mask.unsqueeze(-1), 0.0)
        encoded = encoder.encode(corrupted, folded.frame_mask)
        reconstruction = self.decoder(encoded.last_hidden_state).view_as(frames)
        squared_error = (reconstruction.float() - frames.float()).pow(2).mean(-1)
        weights = mask.to(squared_error.dtype)
        loss = (squared_error * weights).sum() / weights.sum().clamp_min(1.0)
        return CascadeFormerMaskedSkeletonModelingOutput(
            loss=loss,
            reconstruction=folded.unfold(reconstruction),
            mask=folded.unfold(mask),
            losses={"reconstruction": loss.detach()},
        )


@dataclass
class TokenMasking:
    """Which joint-segment tokens are hidden from the encoder.

    `mask` `(N, L)` is True for masked tokens (never padding). `visible_index` `(N, K)` lists each row's visible
    tokens first, in token order; rows with fewer than K visible tokens are filled up with hidden ones, which
    `visible_mask` `(N, K)` marks False (None when every row has K visible tokens, the usual unpadded case).
    """

    mask: torch.Tensor
    visible_index: torch.Tensor
    visible_mask: torch.Tensor | None


class MaskedTokenModeling(PretrainingObjective):
    """MAE-style masked modeling on joint-segment tokens, shared by the `mamp` and `gfp` objectives.

    Motion-aware masking picks the hidden tokens, the encoder runs on the visible tokens only (a tenth of them at
    mask ratio 0.9; this, not a kernel trick, is where most of the saving is), and `decoder_tokens` puts its output
    back among learned mask tokens, with the decoder's own temporal and joint embeddings.
    """

    _no_weight_decay = ("mask_token",)  # a learned token, not a weight matrix
    token_layout = "joint_segment"

    def __init__(self, config: CascadeFormerConfig):
        super().__init__(config)
        width = config.decoder_hidden_size
        self.decoder_embedding = nn.Linear(config.hidden_size, width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, width))
        self.decoder_positions = CascadeFormerTokenPositions(config.max_segments, config.num_joints, width)

    def decoder_stack(self, num_layers: int) -> CascadeFormerEncoder:
        config = self.config
        return CascadeFormerEncoder(
            config,
            num_layers,
            config.hidden_dropout_prob,
            hidden_size=config.decoder_hidden_size,
            num_heads=config.decoder_num_attention_heads or config.num_attention_heads,
            intermediate_size=config.decoder_intermediate_size or 4 * config.decoder_hidden_size,
        )

    @staticmethod
    def token_motion(patches: torch.Tensor) -> torch.Tensor:
        """MAMP's token motion: mean absolute difference of a token's values to the previous segment of the same
        joint (the first segment copies the second) -> `(N, S * J)`."""
        if patches.shape[1] == 1:
            return patches.new_zeros(patches.shape[0], patches.shape[2])
        motion = (patches[:, 1:] - patches[:, :-1]).abs().mean(-1)
        return torch.cat([motion[:, :1], motion], dim=1).flatten(1)

    def noise_shape(self, num_frames: int) -> tuple[int, int]:
        """Shape of one person's masking noise: `(segments, joints)`, one uniform value per token."""
        return (math.ceil(num_frames / self.config.segment_length), self.config.num_joints)

    def sample_mask(
        self,
        patches: torch.Tensor,
        token_mask: torch.Tensor | None,
        generator: torch.Generator | None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Exactly `round(mask_ratio x valid tokens)` masked tokens per row (at least one stays visible), never
        padding -> `(N, L)` bool.

        Motion-aware (MAMP): logits = motion / (max motion x tau); the ranking of logits + Gumbel noise, i.e. a
        sample without replacement from softmax(logits), picks the masked tokens, so high-motion tokens are masked
        more often. `motion_aware_tau=0` ranks uniform noise instead. `noise` `(N, segments, joints)` in [0, 1)
        replaces the uniform draw.
        """
        rows = patches.shape[0]
        length = patches.shape[1] * patches.shape[2]
        if noise is None:
            uniform = torch.rand(rows, length, generator=generator, device=patches.device)
        else:
            uniform = noise.reshape(rows, length).to(device=patches.device, dtype=torch.float32)
        tau = self.config.motion_aware_tau
        if tau > 0:
            motion = self.token_motion(patches.float())
            if token_mask is not None:
                motion = motion.masked_fill(~token_mask, 0.0)
            logits = motion / (motion.amax(dim=1, keepdim=True) * tau + 1e-10)
            scores = logits - torch.log(-torch.log(uniform + 1e-10) + 1e-10)
        else:
            scores = uniform
        if token_mask is None:
            counts = torch.full((rows,), length, device=patches.device)
        else:
            scores = scores.masked_fill(~token_mask, float("-inf"))
            counts = token_mask.sum(1)
        num_masked = torch.minimum(torch.round(counts * self.config.mask_ratio).long(), counts - 1)
        ranks = scores.argsort(dim=1, descending=True).argsort(dim=1)
        return ranks < num_masked.unsqueeze(1)

    @staticmethod
    def gather_visible(mask: torch.Tensor, token_mask: torch.Tensor | None) -> TokenMasking:
        hidden = mask if token_mask is None else mask | ~token_mask
        order = torch.sort(hidden.to(torch.uint8), dim=1, stable=True).indices
        num_visible = (~hidden).sum(1)
        width = int(num_visible.max())
        visible_mask = None
        if bool((num_visible != width).any()):
            visible_mask = torch.arange(width, device=mask.device) < num_visible.unsqueeze(1)
        return TokenMasking(mask, order[:, :width], visible_mask)

    def encode_visible(
        self,
        encoder: CascadeFormerModel,
        folded: FoldedSkeletons,
        generator: torch.Generator | None,
        mask: torch.Tensor | None,
        noise: torch.Tensor | None = None,
    ) -> tuple[EmbeddedSkeletons, TokenMasking, torch.Tensor]:
        """Embed every token, mask, and run the encoder on the visible tokens only -> (embedded, masking, latent
        `(N, K, d)`)."""
        embedded = encoder.embed(folded.frames, folded.frame_mask)
        rows, segments, joints, _ = embedded.patches.shape
        if mask is None:
            mask = self.sample_mask(embedded.patches, embedded.token_mask, generator, noise)
        else:
            if tuple(mask.shape) != (rows, segments, joints):
                raise ValueError(
                    f"mask must have shape (present persons, segments, joints) = {(rows, segments, joints)}, got "
                    f"{tuple(mask.shape)}"
                )
            mask = mask.reshape(rows, segments * joints).bool().to(embedded.tokens.device)
            if embedded.token_mask is not None:
                mask = mask & embedded.token_mask
        masking = self.gather_visible(mask, embedded.token_mask)
        index = masking.visible_index.unsqueeze(-1).expand(-1, -1, embedded.tokens.shape[-1])
        visible = embedded.tokens.gather(1, index)
        latent = encoder.encode_tokens(visible, masking.visible_mask, always_mask=True).last_hidden_state
        return embedded, masking, latent

    def decoder_tokens(self, latent: torch.Tensor, masking: TokenMasking, num_segments: int) -> torch.Tensor:
        """Encoded visible tokens back in place among mask tokens, plus decoder positions -> `(N, S, J, D)`."""
        rows, length = masking.mask.shape
        visible = self.decoder_embedding(latent)
        mask_token = self.mask_token.to(visible.dtype)
        if masking.visible_mask is not None:
            # Filler slots hold encodings of hidden tokens: they must not reach the decoder.
            visible = torch.where(masking.visible_mask.unsqueeze(-1), visible, mask_token)
        index = masking.visible_index.unsqueeze(-1).expand(-1, -1, visible.shape[-1])
        tokens = mask_token.expand(rows, length, -1).scatter(1, index, visible)
        return self.decoder_positions(tokens.view(rows, num_segments, -1, tokens.shape[-1]))

    def unfold_mask(self, folded: FoldedSkeletons, masking: TokenMasking, embedded: EmbeddedSkeletons) -> torch.Tensor:
        return folded.unfold(masking.mask.view(embedded.patches.shape[:3]))


@register_objective("mamp")
class MaskedMotionPrediction(MaskedTokenModeling):
    """MAMP-style standard masked skeleton modeling (`pretraining_objective="mamp"`): a transformer decoder over
    all tokens (visible plus mask tokens) predicts each token's frame motion `x[t + 1] - x[t]`, normalised per
    patch (mean and standard deviation over its `segment_length x C` values); MSE over masked tokens only."""

    loss_is_token_mean = True

    def __init__(self, config: CascadeFormerConfig):
        super().__init__(config)
        self.decoder = self.decoder_stack(config.decoder_num_hidden_layers)
        self.prediction_head = nn.Linear(config.decoder_hidden_size, config.patch_size)

    def motion_targets(self, folded: FoldedSkeletons) -> torch.Tensor:
        """Per-patch normalised frame motion `(N, S * J, segment_length x C)`."""
        motion = patchify(frame_motion(folded.frames.float(), folded.frame_mask), self.config.segment_length)
        mean = motion.mean(-1, keepdim=True)
        variance = motion.var(-1, keepdim=True)
        return ((motion - mean) / (variance + 1e-6).sqrt()).flatten(1, 2)

    def forward(
        self,
        encoder: CascadeFormerModel,
        folded: FoldedSkeletons,
        generator: torch.Generator | None = None,
        mask: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
    ) -> CascadeFormerMaskedSkeletonModelingOutput:
        embedded, masking, latent = self.encode_visible(encoder, folded, generator, mask, noise)
        tokens = self.decoder_tokens(latent, masking, embedded.patches.shape[1]).flatten(1, 2)
        attention_mask = encoder._attention_mask(tokens, embedded.token_mask, always=True)
        decoded = self.decoder(tokens, attention_mask).last_hidden_state
        prediction = self.prediction_head(decoded)
        target = self.motion_targets(folded)
        squared_error = (prediction.float() - target).pow(2).mean(-1)
        weights = masking.mask.to(squared_error.dtype)
        loss = (squared_error * weights).sum() / weights.sum().clamp_min(1.0)
        return CascadeFormerMaskedSkeletonModelingOutput(
            loss=loss,
            mask=self.unfold_mask(folded, masking, embedded),
            losses={"prediction": loss.detach()},
            predictions=(prediction,),
            targets=(target,),
        )


class CascadeFormerBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d that also accepts a single row while training (it then normalises with the running statistics),
    so GFP's global level works with a batch of one person."""

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.training and hidden_states.shape[0] < 2:
            return F.batch_norm(
                hidden_states, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(hidden_states)


class CascadeFormerTargetNetwork(nn.Module):
    """GFP's target generation network for one level: a 3-layer MLP (Linear -> BatchNorm -> GELU, twice, then
    Linear), as VICReg's expander; batch normalisation makes the targets independent of the coordinate units."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(input_size, hidden_size),
            CascadeFormerBatchNorm(hidden_size),
            nn.GELU(),
            nn.Linear(hidden_size, hidden_size),
            CascadeFormerBatchNorm(hidden_size),
            nn.GELU(),
            nn.Linear(hidden_size, output_size),
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.layers(inputs)


def gfp_variance_loss(targets: torch.Tensor, gamma: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """Variance hinge of `(n, C)` targets: mean over dimensions of `max(0, gamma - sqrt(Var + eps))` (0 for n < 2)."""
    if targets.shape[0] < 2:
        return targets.new_zeros(())
    std = (targets.var(dim=0) + eps).sqrt()
    return F.relu(gamma - std).mean()


def gfp_covariance_loss(targets: torch.Tensor) -> torch.Tensor:
    """Covariance penalty of `(n, C)` targets: sum of squared off-diagonal covariances divided by C (0 for n < 2)."""
    rows, width = targets.shape
    if rows < 2:
        return targets.new_zeros(())
    centred = targets - targets.mean(dim=0)
    covariance = centred.T @ centred / (rows - 1)
    return (covariance.pow(2).sum() - covariance.diagonal().pow(2).sum()) / width


@register_objective("gfp")
class GeneralFeaturePrediction(MaskedTokenModeling):
    """GFP, general feature prediction (`pretraining_objective="gfp"`).

    After mask tokens are put back, the decoder sequence is average-pooled along time at several levels (windows of
    `gfp_pool_kernels` segments per joint, plus one global token), and each level is decoded by its own small
    transformer: 150 + 75 + 25 + 1 = 251 predictions for a 120-frame clip instead of 750. The targets come from one
    target generation network (3-layer MLP) per level, fed the segment motion `patch[s + 1] - patch[s]` pooled the
    same way, and trained jointly. Per level: prediction MSE over the level's valid tokens, a covariance penalty and
    a variance hinge on its targets; loss = sum over levels of (lambda x MSE + alpha x covariance + beta x
    variance).
    """

    # The covariance and variance terms are statistics of each process's batch.
    loss_is_token_mean = False

    def __init__(self, config: CascadeFormerConfig):
        super().__init__(config)
        self.level_kernels: list[int | None] = list(config.gfp_pool_kernels)
        self.level_names = [f"pool{kernel}" for kernel in config.gfp_pool_kernels]
        if config.gfp_global_token:
            self.level_kernels.append(None)
            self.level_names.append("global")
        self.level_decoders = nn.ModuleList(
            self.decoder_stack(config.gfp_decoder_num_hidden_layers) for _ in self.level_kernels
        )
        self.level_heads = nn.ModuleList(
            nn.Linear(config.decoder_hidden_size, config.gfp_target_size) for _ in self.level_kernels
        )
        self.target_networks = nn.ModuleList(
            CascadeFormerTargetNetwork(
                config.patch_size,
                config.gfp_target_hidden_size if kernel is not None else config.gfp_global_target_hidden_size,
                config.gfp_target_size,
            )
            for kernel in self.level_kernels
        )

    @staticmethod
    def segment_motion(patches: torch.Tensor, segments: torch.Tensor | None) -> torch.Tensor:
        """Patch motion `patch[s + 1] - patch[s]` `(N, S, J, P)`, zero for the last segment and next to padding."""
        return frame_motion(patches, segments)  # the same difference, over segments instead of frames

    def pool_level(
        self, tokens: torch.Tensor, kernel: int | None, segments: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`(N, S, J, D)` -> a level's tokens `(N, L', D)` and their validity `(N, L')` (None when all valid)."""
        if kernel is None:  # global: every valid token, equally weighted
            pooled, _ = pool_segments(tokens, tokens.shape[1], segments)
            return pooled.mean(2), None
        pooled, windows = pool_segments(tokens, kernel, segments)
        valid = None if windows is None else windows.repeat_interleave(tokens.shape[2], dim=1)
        return pooled.flatten(1, 2), valid

    def forward(
        self,
        encoder: CascadeFormerModel,
        folded: FoldedSkeletons,
        generator: torch.Generator | None = None,
        mask: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
    ) -> CascadeFormerMaskedSkeletonModelingOutput:
        config = self.config
        embedded, masking, latent = self.encode_visible(encoder, folded, generator, mask, noise)
        segments = embedded.segment_mask
        tokens = self.decoder_tokens(latent, masking, embedded.patches.shape[1])
        if config.gfp_target_input == "motion":
            target_inputs = self.segment_motion(embedded.patches.float(), segments)
        else:
            target_inputs = embedded.patches.float()

        terms: dict[str, torch.Tensor] = {}
        predictions, targets = [], []
        loss = tokens.new_zeros((), dtype=torch.float32)
        for name, kernel, decoder, head, target_network in zip(
            self.level_names,
            self.level_kernels,
            self.level_decoders,
            self.level_heads,
            self.target_networks,
            strict=True,
        ):
            level_tokens, valid = self.pool_level(tokens, kernel, segments)
            level_inputs, _ = self.pool_level(target_inputs, kernel, segments)
            attention_mask = encoder._attention_mask(level_tokens, valid, always=True)
            prediction = head(decoder(level_tokens, attention_mask).last_hidden_state)
            if valid is None:
                prediction = prediction.flatten(0, 1)
                level_inputs = level_inputs.flatten(0, 1)
            else:
                prediction, level_inputs = prediction[valid], level_inputs[valid]
            target = target_network(level_inputs.to(prediction.dtype)).float()
            goal = target.detach() if config.gfp_stop_gradient else target
            prediction_loss = F.mse_loss(prediction.float(), goal)
            covariance = gfp_covariance_loss(target)
            variance = gfp_variance_loss(target, config.gfp_variance_target)
            loss = loss + (
                config.gfp_prediction_weight * prediction_loss
                + config.gfp_covariance_weight * covariance
                + config.gfp_variance_weight * variance
            )
            terms[f"prediction/{name}"] = prediction_loss.detach()
            terms[f"covariance/{name}"] = covariance.detach()
            terms[f"variance/{name}"] = variance.detach()
            predictions.append(prediction)
            targets.append(target.detach())
        for kind in ("prediction", "covariance", "variance"):
            terms[kind] = sum(terms[f"{kind}/{name}"] for name in self.level_names)
        return CascadeFormerMaskedSkeletonModelingOutput(
            loss=loss,
            mask=self.unfold_mask(folded, masking, embedded),
            losses=terms,
            predictions=tuple(predictions),
            targets=tuple(targets),
        )


# Every name the config accepts has a class: a config must never validate and then fail to build its model.
_unregistered = sorted(set(PRETRAINING_OBJECTIVES) - set(PRETRAINING_OBJECTIVE_CLASSES))
if _unregistered:
    raise ImportError(f"configuration_cascadeformer.PRETRAINING_OBJECTIVES lists {_unregistered} without a class")
