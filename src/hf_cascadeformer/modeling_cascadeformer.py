"""PyTorch CascadeFormer: cascading transformers for skeleton-based action recognition.

Paper: Peng & Yilmaz, "CascadeFormer: A Family of Two-stage Cascading Transformers for Skeleton-based Human Action
Recognition" (arXiv 2509.00692). Stage 1 encodes one token per frame and is pretrained by masked joint
reconstruction; stage 2 is a second transformer stacked on it for fine-tuning, fused back by cross-attention.

This file travels with saved checkpoints as remote code: it imports only `torch`, `transformers` and its sibling
configuration file (relative import).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import ModelOutput

from .configuration_cascadeformer import CascadeFormerConfig

# ----------------------------------------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class CascadeFormerModelOutput(ModelOutput):
    """Output of the stage-1 encoder.

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch, [persons,] frames, hidden)`):
            Frame tokens after the last layer; the persons axis is there when the input had one. Absent persons
            (all-zero skeletons) are not encoded and their states are zeros.
        person_mask (`torch.BoolTensor` of shape `(batch, persons)`):
            Which persons were present and encoded.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            Embedding output and the output of every layer, each `(present persons, frames, hidden)`.
        attentions (`tuple(torch.FloatTensor)`, *optional*):
            Attention probabilities of every layer, each `(present persons, heads, frames, frames)`.
    """

    last_hidden_state: torch.FloatTensor | None = None
    person_mask: torch.BoolTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class CascadeFormerMaskedSkeletonModelingOutput(ModelOutput):
    """Output of masked skeleton pretraining.

    Args:
        loss (`torch.FloatTensor` of shape `()`):
            The objective's total loss.
        reconstruction (`torch.FloatTensor`, same shape as the input skeletons):
            Decoded coordinates for every (frame, joint) slot.
        mask (`torch.BoolTensor` of shape `(batch, [persons,] frames, joints)`):
            True where a slot was masked (and counted in the loss).
        losses (`dict[str, torch.FloatTensor]`):
            Every loss term by name, for logging.
    """

    loss: torch.FloatTensor | None = None
    reconstruction: torch.FloatTensor | None = None
    mask: torch.BoolTensor | None = None
    losses: dict[str, torch.FloatTensor] | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class CascadeFormerSequenceClassifierOutput(ModelOutput):
    """Output of the action classifier.

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            Cross-entropy (with the configured label smoothing) when `labels` are given.
        logits (`torch.FloatTensor` of shape `(batch, num_labels)`):
            Action scores before softmax.
        pooled_output (`torch.FloatTensor` of shape `(batch, hidden)`):
            The clip feature fed to the head: fused tokens averaged over valid frames and present persons.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    pooled_output: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


# ----------------------------------------------------------------------------------------------------------------
# Input checking and person folding
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class FoldedSkeletons:
    """Present persons folded into the batch: what every head runs its transformers on.

    `frames` is `(N, T, J, C)` with one row per present person, `frame_mask` is `(N, T)` (None when every frame is
    valid), `person_mask` is `(B, M)` and `has_person_axis` tells whether outputs get a persons axis back.
    """

    frames: torch.Tensor
    frame_mask: torch.Tensor | None
    person_mask: torch.Tensor
    has_person_axis: bool

    def unfold(self, rows: torch.Tensor) -> torch.Tensor:
        """Scatter per-person rows `(N, ...)` back to `(B, [M,] ...)`, zeros for absent persons."""
        batch, persons = self.person_mask.shape
        out = rows.new_zeros((batch, persons, *rows.shape[1:]))
        out[self.person_mask] = rows
        return out if self.has_person_axis else out[:, 0]

    def mean_over_persons(self, rows: torch.Tensor) -> torch.Tensor:
        """Average per-person features `(N, D)` over the present persons of each clip -> `(B, D)`."""
        per_clip = self.unfold(rows)
        if not self.has_person_axis:
            return per_clip
        weights = self.person_mask.to(rows.dtype).unsqueeze(-1)
        return (per_clip * weights).sum(1) / weights.sum(1)


def fold_persons(
    config: CascadeFormerConfig, skeletons: torch.Tensor, attention_mask: torch.Tensor | None
) -> FoldedSkeletons:
    """Check the inputs against the config and fold the present persons into the batch.

    A person is present when any of its coordinates in a valid frame is non-zero; the first person always counts
    as present so that every clip yields an output. Raises `ValueError` naming what was expected and given.
    """
    if not isinstance(skeletons, torch.Tensor):
        raise ValueError(f"skeletons must be a torch.Tensor, got {type(skeletons).__name__}")
    if skeletons.dim() not in (4, 5):
        raise ValueError(
            "skeletons must have shape (batch, frames, joints, channels) or (batch, persons, frames, joints, "
            f"channels), got {tuple(skeletons.shape)}"
        )
    has_person_axis = skeletons.dim() == 5
    if not has_person_axis:
        skeletons = skeletons.unsqueeze(1)
    batch, persons, frames, joints, channels = skeletons.shape
    if (joints, channels) != (config.num_joints, config.num_channels):
        raise ValueError(
            f"skeletons have {joints} joints x {channels} channels, but the model expects "
            f"{config.num_joints} joints x {config.num_channels} channels (config.num_joints, config.num_channels)"
        )
    if persons > config.num_persons:
        raise ValueError(f"skeletons have {persons} persons, more than config.num_persons={config.num_persons}")
    if frames == 0 or batch == 0 or persons == 0:
        raise ValueError(f"skeletons must hold at least one clip, person and frame, got {tuple(skeletons.shape)}")
    if frames > config.max_frames:
        raise ValueError(
            f"skeletons have {frames} frames, more than config.max_frames={config.max_frames}; resample them "
            "(the feature extractor does) or use a config with a longer position table"
        )
    if not skeletons.is_floating_point():
        raise ValueError(f"skeletons must be a floating point tensor, got {skeletons.dtype}")
    if not torch.compiler.is_compiling() and not torch.isfinite(skeletons).all():
        raise ValueError("skeletons contain NaN or infinite coordinates")

    frame_mask = None
    if attention_mask is not None:
        if tuple(attention_mask.shape) != (batch, frames):
            raise ValueError(
                f"attention_mask must have shape (batch, frames) = {(batch, frames)}, got {tuple(attention_mask.shape)}"
            )
        frame_mask = attention_mask.bool()
        if not torch.compiler.is_compiling():
            if not frame_mask.any(dim=1).all():
                empty = torch.nonzero(~frame_mask.any(dim=1)).flatten().tolist()
                raise ValueError(f"attention_mask marks no valid frame for clip(s) {empty}")
            if frame_mask.all():
                frame_mask = None

    valid = skeletons if frame_mask is None else skeletons * frame_mask[:, None, :, None, None]
    person_mask = valid.flatten(2).ne(0).any(-1)
    person_mask[:, 0] = True
    if persons == 1 or bool(person_mask.all()):
        # Every person present: a view, no copy.
        folded_frames = skeletons.reshape(batch * persons, frames, joints, channels)
        if frame_mask is not None:
            frame_mask = frame_mask.repeat_interleave(persons, dim=0)
    else:
        folded_frames = skeletons[person_mask]
        if frame_mask is not None:
            frame_mask = frame_mask.unsqueeze(1).expand(batch, persons, frames)[person_mask]
    return FoldedSkeletons(folded_frames, frame_mask, person_mask, has_person_axis)


def masked_mean(hidden_states: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor:
    """Average `(N, T, D)` over the valid frames of each row."""
    if frame_mask is None:
        return hidden_states.mean(1)
    weights = frame_mask.to(hidden_states.dtype).unsqueeze(-1)
    return (hidden_states * weights).sum(1) / weights.sum(1)


# ----------------------------------------------------------------------------------------------------------------
# Layers
# ----------------------------------------------------------------------------------------------------------------


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain attention; `attention_mask` is additive (0 to keep, large negative to drop)."""
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        scores = scores + attention_mask
    weights = F.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = F.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, weights


class CascadeFormerAttention(nn.Module):
    """Multi-head attention with packed query/key/value projections (the layout of `nn.MultiheadAttention`).

    Self-attention when `key_value_states` is None, cross-attention otherwise (query from `hidden_states`, keys and
    values from `key_value_states`). Runs through the Transformers attention interface (SDPA by default).
    """

    def __init__(self, config: CascadeFormerConfig, hidden_size: int, num_heads: int, dropout: float):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden size {hidden_size} is not divisible by {num_heads} heads")
        self.config = config
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.scaling = self.head_dim**-0.5
        self.dropout = dropout
        self.is_causal = False
        self.in_proj = nn.Linear(hidden_size, 3 * hidden_size)
        self.out_proj = nn.Linear(hidden_size, hidden_size)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        key_value_states: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch, length, width = hidden_states.shape
        if key_value_states is None:
            query, key, value = self.in_proj(hidden_states).chunk(3, dim=-1)
        else:
            query = F.linear(hidden_states, self.in_proj.weight[:width], self.in_proj.bias[:width])
            key, value = F.linear(key_value_states, self.in_proj.weight[width:], self.in_proj.bias[width:]).chunk(
                2, dim=-1
            )
        query, key, value = (
            t.unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2) for t in (query, key, value)
        )

        implementation = "eager" if output_attentions else self.config._attn_implementation
        attention: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(implementation, eager_attention_forward)
        output, weights = attention(
            self,
            query,
            key,
            value,
            attention_mask,
            scaling=self.scaling,
            dropout=self.dropout if self.training else 0.0,
        )
        output = self.out_proj(output.reshape(batch, length, width))
        return output, weights


class CascadeFormerMLP(nn.Module):
    """Feed-forward block: Linear -> activation -> dropout -> Linear."""

    def __init__(self, hidden_size: int, intermediate_size: int, hidden_act: str, dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(hidden_size, intermediate_size)
        self.activation = ACT2FN[hidden_act]
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(intermediate_size, hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(self.activation(self.fc1(hidden_states))))


class CascadeFormerLayer(GradientCheckpointingLayer):
    """One transformer layer, pre-LN or post-LN (`nn.TransformerEncoderLayer` with `norm_first` False/True)."""

    def __init__(
        self,
        config: CascadeFormerConfig,
        hidden_size: int,
        num_heads: int,
        intermediate_size: int,
        hidden_dropout: float,
        attention_dropout: float,
    ):
        super().__init__()
        self.pre_norm = config.layer_norm_position == "pre"
        self.attention = CascadeFormerAttention(config, hidden_size, num_heads, attention_dropout)
        self.norm1 = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.mlp = CascadeFormerMLP(hidden_size, intermediate_size, config.hidden_act, hidden_dropout)
        self.norm2 = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(hidden_dropout)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.pre_norm:
            attended, weights = self.attention(self.norm1(hidden_states), attention_mask, None, output_attentions)
            hidden_states = hidden_states + self.dropout(attended)
            hidden_states = hidden_states + self.dropout(self.mlp(self.norm2(hidden_states)))
        else:
            attended, weights = self.attention(hidden_states, attention_mask, None, output_attentions)
            hidden_states = self.norm1(hidden_states + self.dropout(attended))
            hidden_states = self.norm2(hidden_states + self.dropout(self.mlp(hidden_states)))
        return hidden_states, weights


@dataclass
class EncoderOutput(ModelOutput):
    """Internal output of a layer stack; `attention_mask` is the 4D mask it used, for reuse by later stages."""

    last_hidden_state: torch.Tensor | None = None
    attention_mask: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class CascadeFormerEncoder(nn.Module):
    """A stack of layers; pre-LN stacks end in a LayerNorm, post-LN stacks (like PyTorch's) do not."""

    def __init__(self, config: CascadeFormerConfig, num_layers: int, hidden_dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(
            CascadeFormerLayer(
                config,
                config.hidden_size,
                config.num_attention_heads,
                config.intermediate_size,
                hidden_dropout,
                config.attention_probs_dropout_prob,
            )
            for _ in range(num_layers)
        )
        pre_norm = config.layer_norm_position == "pre"
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if pre_norm else nn.Identity()

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> EncoderOutput:
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layers:
            hidden_states, weights = layer(hidden_states, attention_mask, output_attentions)
            if output_hidden_states:
                all_hidden += (hidden_states,)
            if output_attentions:
                all_attentions += (weights,)
        hidden_states = self.norm(hidden_states)
        if output_hidden_states:
            all_hidden = all_hidden[:-1] + (hidden_states,)
        return EncoderOutput(last_hidden_state=hidden_states, hidden_states=all_hidden, attentions=all_attentions)


class CascadeFormerFrameEmbedding(nn.Module):
    """Turns each frame (joints x channels) into one token and adds a learned temporal position.

    Variants: `linear` (1.0), `conv` (1.1: joint-axis convolutions, then linear) and `spatial_attention` (1.2: a
    one-layer transformer across the joints of each frame). Frames are flattened joint-major (index j * C + c).
    """

    def __init__(self, config: CascadeFormerConfig):
        super().__init__()
        self.variant = config.frame_embedding
        num_joints, channels, width = config.num_joints, config.num_channels, config.hidden_size
        self.joint_conv = None
        self.spatial_layer = None
        self.split_joints = self.variant == "spatial_attention" and config.spatial_attention_style == "split"
        if self.variant == "conv":
            self.joint_conv = nn.Sequential(
                nn.Conv1d(channels, channels, 3, padding=1), nn.ReLU(), nn.Conv1d(channels, channels, 1)
            )
        elif self.variant == "spatial_attention":
            joint_width = width // num_joints if self.split_joints else width
            heads = config.spatial_num_attention_heads or config.num_attention_heads
            self.joint_embedding = nn.Linear(channels, joint_width)
            self.spatial_layer = CascadeFormerLayer(
                config,
                joint_width,
                heads,
                config.intermediate_size,
                config.hidden_dropout_prob,
                config.attention_probs_dropout_prob,
            )
            if not self.split_joints:
                self.output_projection = nn.Linear(joint_width, channels)
        # The split 1.2 form concatenates its joint tokens straight to the hidden size, so it has no projection.
        self.projection = None if self.split_joints else nn.Linear(num_joints * channels, width)
        self.position_embeddings = nn.Parameter(torch.zeros(1, config.max_frames, width))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        rows, length, num_joints, channels = frames.shape
        if self.joint_conv is not None:
            per_frame = frames.reshape(rows * length, num_joints, channels).transpose(1, 2)
            frames = self.joint_conv(per_frame).transpose(1, 2).reshape(rows, length, num_joints, channels)
        if self.spatial_layer is not None:
            joint_tokens = self.joint_embedding(frames.reshape(rows * length, num_joints, channels))
            joint_tokens, _ = self.spatial_layer(joint_tokens)
            if self.split_joints:
                tokens = joint_tokens.reshape(rows, length, -1)
            else:
                frames = self.output_projection(joint_tokens).reshape(rows, length, num_joints, channels)
        if self.projection is not None:
            tokens = self.projection(frames.reshape(rows, length, num_joints * channels))
        return tokens + self.position_embeddings[:, :length]


class CascadeFormerCrossAttentionFusion(nn.Module):
    """Fuses stage 1 (query) with stage 2 (keys and values): LayerNorm(x1 + Dropout(CrossAttention(x1, x2))),
    optionally followed by the NTU code's feed-forward block with its own residual and LayerNorm."""

    def __init__(self, config: CascadeFormerConfig):
        super().__init__()
        width = config.hidden_size
        heads = config.cross_attention_num_heads or config.num_attention_heads
        self.attention = CascadeFormerAttention(config, width, heads, config.cross_attention_dropout)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.norm1 = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.feed_forward = None
        if config.cross_attention_feed_forward:
            self.feed_forward = CascadeFormerMLP(width, width, "relu", config.hidden_dropout_prob)
            self.norm2 = nn.LayerNorm(width, eps=config.layer_norm_eps)

    def forward(
        self, stage1: torch.Tensor, stage2: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        attended, _ = self.attention(stage1, attention_mask, key_value_states=stage2)
        fused = self.norm1(stage1 + self.dropout(attended))
        if self.feed_forward is not None:
            fused = self.norm2(fused + self.dropout(self.feed_forward(fused)))
        return fused


class CascadeFormerClassificationHead(nn.Module):
    """`linear`: one Linear(d -> classes). `mlp` (NTU recipe): LayerNorm -> Dropout -> Linear(d, d) -> ReLU ->
    Dropout -> Linear(d, classes)."""

    def __init__(self, config: CascadeFormerConfig):
        super().__init__()
        width = config.hidden_size
        if config.classifier_head == "linear":
            self.layers = nn.Sequential(nn.Linear(width, config.num_labels))
        else:
            self.layers = nn.Sequential(
                nn.LayerNorm(width, eps=config.layer_norm_eps),
                nn.Dropout(config.classifier_dropout),
                nn.Linear(width, width),
                nn.ReLU(),
                nn.Dropout(config.classifier_dropout),
                nn.Linear(width, config.num_labels),
            )

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.layers(pooled)


# ----------------------------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------------------------


class CascadeFormerPreTrainedModel(PreTrainedModel):
    config_class = CascadeFormerConfig
    config: CascadeFormerConfig
    base_model_prefix = "cascadeformer"
    main_input_name = "skeletons"
    supports_gradient_checkpointing = True
    _no_split_modules = ["CascadeFormerLayer", "CascadeFormerFrameEmbedding"]
    _supports_sdpa = True
    _supports_attention_backend = True

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Conv1d)):
            init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, CascadeFormerFrameEmbedding):
            init.trunc_normal_(module.position_embeddings, std=std)

    def _attention_mask(self, hidden_states: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor | None:
        """The 4D mask the attention implementation wants, or None when nothing is masked."""
        if frame_mask is None or not self.config.mask_padding_frames:
            return None
        return create_bidirectional_mask(config=self.config, inputs_embeds=hidden_states, attention_mask=frame_mask)

    def _pooling_mask(self, frame_mask: torch.Tensor | None) -> torch.Tensor | None:
        return frame_mask if self.config.mask_padding_frames else None


class CascadeFormerModel(CascadeFormerPreTrainedModel):
    """The stage-1 encoder: frame embedding and a transformer over frame tokens."""

    # Loading the encoder alone from a classifier or pretraining checkpoint leaves their heads behind on purpose.
    _keys_to_ignore_on_load_unexpected = [r"^cascade_encoder\.", r"^fusion\.", r"^classifier\.", r"^objective\."]

    def __init__(self, config: CascadeFormerConfig):
        super().__init__(config)
        self.embeddings = CascadeFormerFrameEmbedding(config)
        self.encoder = CascadeFormerEncoder(config, config.num_hidden_layers, config.hidden_dropout_prob)
        self.post_init()

    def encode(
        self,
        frames: torch.Tensor,
        frame_mask: torch.Tensor | None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> EncoderOutput:
        """Encode already folded persons `(N, T, J, C)` with their frame mask `(N, T)`."""
        hidden_states = self.embeddings(frames)
        attention_mask = self._attention_mask(hidden_states, frame_mask)
        encoded = self.encoder(hidden_states, attention_mask, output_attentions, output_hidden_states)
        encoded.attention_mask = attention_mask
        return encoded

    def forward(
        self,
        skeletons: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> CascadeFormerModelOutput | tuple:
        r"""
        skeletons (`torch.FloatTensor` of shape `(batch, frames, joints, channels)` or `(batch, persons, frames,
        joints, channels)`):
            Joint coordinates, as produced by `CascadeFormerFeatureExtractor`.
        attention_mask (`torch.LongTensor` of shape `(batch, frames)`, *optional*):
            1 for real frames, 0 for padding.
        """
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        folded = fold_persons(self.config, skeletons, attention_mask)
        encoded = self.encode(folded.frames, folded.frame_mask, output_attentions, output_hidden_states)
        output = CascadeFormerModelOutput(
            last_hidden_state=folded.unfold(encoded.last_hidden_state),
            person_mask=folded.person_mask,
            hidden_states=encoded.hidden_states,
            attentions=encoded.attentions,
        )
        return output if return_dict is not False else output.to_tuple()


class MaskedJointReconstruction(nn.Module):
    """The paper's pretraining objective: zero a random share of (frame, joint) slots (or whole frames) of every
    present person, decode every frame token back to coordinates with a linear layer, and take the MSE over the
    masked coordinates of valid frames only."""

    def __init__(self, config: CascadeFormerConfig):
        super().__init__()
        self.config = config
        self.decoder = nn.Linear(config.hidden_size, config.frame_size)

    def sample_mask(
        self, frames: torch.Tensor, frame_mask: torch.Tensor | None, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Exactly round(mask_ratio x valid slots) masked slots per row, never on padding frames -> (N, T, J)."""
        rows, length, num_joints, _ = frames.shape
        valid = torch.ones(rows, length, dtype=torch.bool, device=frames.device) if frame_mask is None else frame_mask
        joints_per_unit = num_joints if self.config.mask_unit == "joint" else 1
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
    ) -> CascadeFormerMaskedSkeletonModelingOutput:
        frames = folded.frames
        if mask is None:
            mask = self.sample_mask(frames, folded.frame_mask, generator)
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


PRETRAINING_OBJECTIVES: dict[str, type[nn.Module]] = {"masked_joint": MaskedJointReconstruction}


class CascadeFormerForMaskedSkeletonModeling(CascadeFormerPreTrainedModel):
    """Stage-1 encoder with a masked skeleton modeling objective on top (`config.pretraining_objective`)."""

    def __init__(self, config: CascadeFormerConfig):
        super().__init__(config)
        self.cascadeformer = CascadeFormerModel(config)
        self.objective = PRETRAINING_OBJECTIVES[config.pretraining_objective](config)
        self.post_init()

    def forward(
        self,
        skeletons: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        mask: torch.Tensor | None = None,
        return_loss: bool = True,
        return_dict: bool | None = None,
    ) -> CascadeFormerMaskedSkeletonModelingOutput | tuple:
        r"""
        skeletons, attention_mask: as for `CascadeFormerModel`.
        generator (`torch.Generator`, *optional*) / seed (`int`, *optional*):
            Make the random mask reproducible.
        mask (`torch.BoolTensor` of shape `(present persons, frames, joints)`, *optional*):
            A mask to use instead of sampling one.
        return_loss (`bool`, defaults to `True`):
            Present so that `Trainer` reports `eval_loss` for this model; the loss is always computed.
        """
        folded = fold_persons(self.config, skeletons, attention_mask)
        if generator is None and seed is not None:
            generator = torch.Generator(device=folded.frames.device).manual_seed(seed)
        output = self.objective(self.cascadeformer, folded, generator=generator, mask=mask)
        return output if return_dict is not False else output.to_tuple()


class CascadeFormerForSequenceClassification(CascadeFormerPreTrainedModel):
    """The cascading classifier: x1 = stage1(x); x2 = stage2(x1); fused = CrossAttention(x1, x2); mean over valid
    frames and present persons; head. With `config.use_cascade=False`, pooled stage-1 features go straight to the
    head (the plain ablation and the linear-probe setting)."""

    def __init__(self, config: CascadeFormerConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.cascadeformer = CascadeFormerModel(config)
        if config.use_cascade:
            dropout = config.cascade_hidden_dropout_prob
            self.cascade_encoder = CascadeFormerEncoder(
                config,
                config.cascade_num_hidden_layers or config.num_hidden_layers,
                config.hidden_dropout_prob if dropout is None else dropout,
            )
            self.fusion = CascadeFormerCrossAttentionFusion(config)
        else:
            self.cascade_encoder = None
            self.fusion = None
        self.classifier = CascadeFormerClassificationHead(config)
        self.post_init()
        if config.freeze_encoder:
            self.freeze_encoder()

    def freeze_encoder(self, frozen: bool = True) -> None:
        """Stop (or resume) training stage 1; the paper's ablation shows freezing it costs accuracy."""
        self.cascadeformer.requires_grad_(not frozen)

    def forward(
        self,
        skeletons: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> CascadeFormerSequenceClassifierOutput | tuple:
        r"""
        skeletons, attention_mask: as for `CascadeFormerModel`.
        labels (`torch.LongTensor` of shape `(batch,)`, *optional*):
            Action indices; when given, the output holds the cross-entropy loss.
        """
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        folded = fold_persons(self.config, skeletons, attention_mask)
        stage1 = self.cascadeformer.encode(folded.frames, folded.frame_mask, output_attentions, output_hidden_states)
        tokens = stage1.last_hidden_state
        if self.cascade_encoder is not None:
            stage2 = self.cascade_encoder(tokens, stage1.attention_mask).last_hidden_state
            tokens = self.fusion(tokens, stage2, stage1.attention_mask)
        pooled = folded.mean_over_persons(masked_mean(tokens, self._pooling_mask(folded.frame_mask)))
        logits = self.classifier(pooled)

        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits.float(), labels.to(logits.device).long(), label_smoothing=self.config.label_smoothing
            )
        output = CascadeFormerSequenceClassifierOutput(
            loss=loss,
            logits=logits,
            pooled_output=pooled,
            hidden_states=stage1.hidden_states,
            attentions=stage1.attentions,
        )
        return output if return_dict is not False else output.to_tuple()


__all__ = [
    "CascadeFormerForMaskedSkeletonModeling",
    "CascadeFormerForSequenceClassification",
    "CascadeFormerModel",
    "CascadeFormerPreTrainedModel",
]
