"""PyTorch CascadeFormer: cascading transformers for skeleton-based action recognition, with masked skeleton modeling.

Paper: Peng & Yilmaz, "CascadeFormer: A Family of Two-stage Cascading Transformers for Skeleton-based Human Action
Recognition" (arXiv 2509.00692). Stage 1 encodes skeleton tokens and is pretrained by masked skeleton modeling;
stage 2 is a second transformer stacked on it for fine-tuning, fused back by cross-attention.

Tokens are frames (CascadeFormer) or joint segments (MAMP / GFP: one token per joint per few frames). On
joint-segment tokens the encoder can be pretrained MAE-style (it sees only the visible tokens) by MAMP-style masked
motion prediction (Mao et al., ICCV 2023) or by GFP, general feature prediction (Sun et al., ICCV 2025, arXiv
2509.03609): a light multi-level decoder predicts features made by jointly trained target generation networks.

Sections: outputs; input checking and person folding; layers (first the CPU speed helpers `fast_dropout`,
`CascadeFormerDropout` and `TokenPacking`, then attention, MLP, layer and encoder); embeddings and heads; models.
The pretraining objectives are in `modeling_cascadeformer_objectives.py`.

This file travels with saved checkpoints as remote code: it imports only `torch`, `transformers` and its sibling
files (relative imports; the objectives file is imported where the pretraining head is built).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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
from transformers.utils import ModelOutput, can_return_tuple

from .configuration_cascadeformer import MAX_ABS_COORDINATE, CascadeFormerConfig, CascadeFormerEnsembleConfig

# ----------------------------------------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class CascadeFormerModelOutput(ModelOutput):
    """Output of the stage-1 encoder.

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch, [persons,] tokens, hidden)`):
            Tokens after the last layer: one per frame, or with joint-segment tokens one per (segment, joint),
            segment-major. The persons axis is there when the input had one. Absent persons (all-zero skeletons)
            are not encoded and their states are zeros.
        person_mask (`torch.BoolTensor` of shape `(batch, persons)`):
            Which persons were present and encoded.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            Embedding output and the output of every layer, each `(present persons, tokens, hidden)`.
        attentions (`tuple(torch.FloatTensor)`, *optional*):
            Attention probabilities of every layer, each `(present persons, heads, tokens, tokens)`.
        pooler_output (`torch.FloatTensor` of shape `(batch, hidden)`):
            The clip feature: tokens averaged over valid tokens (time and joints) and present persons, as a linear
            probe uses it.
    """

    last_hidden_state: torch.FloatTensor | None = None
    person_mask: torch.BoolTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    pooler_output: torch.FloatTensor | None = None


@dataclass
class CascadeFormerMaskedSkeletonModelingOutput(ModelOutput):
    """Output of masked skeleton pretraining.

    Args:
        loss (`torch.FloatTensor` of shape `()`):
            The objective's total loss.
        reconstruction (`torch.FloatTensor`, same shape as the input skeletons):
            `masked_joint` only: decoded coordinates for every (frame, joint) slot.
        mask (`torch.BoolTensor` of shape `(batch, [persons,] frames, joints)` or `(batch, [persons,] segments,
        joints)`):
            True where a (frame, joint) slot (`masked_joint`) or a joint-segment token (`mamp`, `gfp`) was masked.
        losses (`dict[str, torch.FloatTensor]`):
            Every loss term by name (detached), for logging: `reconstruction` (`masked_joint`); `prediction`
            (`mamp`); `prediction`, `covariance`, `variance` and the same per level, e.g. `prediction/pool5`,
            `variance/global` (`gfp`, where loss = lambda x prediction + alpha x covariance + beta x variance).
        predictions (`tuple(torch.FloatTensor)`, *optional*):
            `mamp`: one `(present persons, tokens, segment_length x channels)` tensor of predicted normalised
            motion. `gfp`: per level, the decoder's predictions at the valid level tokens, `(tokens, target size)`.
        targets (`tuple(torch.FloatTensor)`, *optional*):
            What `predictions` are scored against, same shapes: normalised motion patches (`mamp`) or the target
            generation networks' outputs (`gfp`, detached).
    """

    loss: torch.FloatTensor | None = None
    reconstruction: torch.FloatTensor | None = None
    mask: torch.BoolTensor | None = None
    losses: dict[str, torch.FloatTensor] | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    predictions: tuple[torch.FloatTensor, ...] | None = None
    targets: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class CascadeFormerSequenceClassifierOutput(ModelOutput):
    """Output of the action classifier.

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            Cross-entropy (with the configured label smoothing) when `labels` are given.
        logits (`torch.FloatTensor` of shape `(batch, num_labels)`):
            Action scores before softmax.
        pooled_output (`torch.FloatTensor` of shape `(batch, hidden)`):
            The clip feature fed to the head: fused tokens averaged over valid tokens and present persons.
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
    valid), `person_mask` is `(B, M)` and `has_person_axis` tells whether outputs get a persons axis back. With
    `keeps_absent` the rows are every (clip, person) pair, `N = B * M`, absent persons included: `person_mask` then
    zeroes their rows on the way back instead of boolean indexing dropping them (the export / compile path).
    """

    frames: torch.Tensor
    frame_mask: torch.Tensor | None
    person_mask: torch.Tensor
    has_person_axis: bool
    keeps_absent: bool = False

    def fold(self, values: torch.Tensor) -> torch.Tensor:
        """Per-clip values `(B, [M,] ...)` -> the rows `(N, ...)` of the present persons, as the frames were folded."""
        if not self.has_person_axis:
            values = values.unsqueeze(1)
        if self.keeps_absent:
            return values.flatten(0, 1)
        return values[self.person_mask]

    def unfold(self, rows: torch.Tensor) -> torch.Tensor:
        """Scatter per-person rows `(N, ...)` back to `(B, [M,] ...)`, zeros for absent persons."""
        batch, persons = self.person_mask.shape
        if self.keeps_absent:
            present = self.person_mask.view(batch, persons, *(1,) * (rows.dim() - 1))
            out = rows.unflatten(0, (batch, persons)).masked_fill(~present, 0)
        else:
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
    config: CascadeFormerConfig,
    skeletons: torch.Tensor,
    attention_mask: torch.Tensor | None,
    keep_absent: bool = False,
    dtype: torch.dtype | None = None,
) -> FoldedSkeletons:
    """Check the inputs against the config and fold the present persons into the batch.

    A person is present when any of its coordinates in a valid frame is non-zero; the first person always counts
    as present so that every clip yields an output. Raises `ValueError` naming what was expected and given.

    Floating point skeletons of another precision than the model's (`dtype`; e.g. float64 from
    `torch.from_numpy` of a default numpy array) are cast to it, as a feature extractor's output would be; values
    beyond `MAX_ABS_COORDINATE` are refused, since they overflow to NaN scores inside the model.

    `keep_absent=True` keeps every (clip, person) row, absent persons included, so that the folding is a reshape
    that does not depend on the data (what `torch.export` and `torch.compile` need); callers that average over
    `person_mask` (the classifier) get the same result, since absent rows are zeroed before the average.
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
    if not torch.compiler.is_compiling() and not (skeletons.abs() <= MAX_ABS_COORDINATE).all():
        if not torch.isfinite(skeletons).all():
            raise ValueError("skeletons contain NaN or infinite coordinates")
        raise ValueError(
            f"skeletons hold a coordinate of magnitude {skeletons.abs().max().item():.3g}, beyond the bound "
            f"{MAX_ABS_COORDINATE:g} (a corrupt value?)"
        )
    if dtype is not None and skeletons.dtype != dtype:
        skeletons = skeletons.to(dtype)

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
    if persons == 1 or keep_absent or bool(person_mask.all()):
        # Every person present (or every row kept): a view, no copy.
        folded_frames = skeletons.reshape(batch * persons, frames, joints, channels)
        if frame_mask is not None:
            frame_mask = frame_mask.repeat_interleave(persons, dim=0)
    else:
        folded_frames = skeletons[person_mask]
        if frame_mask is not None:
            frame_mask = frame_mask.unsqueeze(1).expand(batch, persons, frames)[person_mask]
    return FoldedSkeletons(folded_frames, frame_mask, person_mask, has_person_axis, keep_absent)


def masked_mean(hidden_states: torch.Tensor, token_mask: torch.Tensor | None) -> torch.Tensor:
    """Average `(N, L, D)` over the valid tokens of each row."""
    if token_mask is None:
        return hidden_states.mean(1)
    weights = token_mask.to(hidden_states.dtype).unsqueeze(-1)
    return (hidden_states * weights).sum(1) / weights.sum(1)


def patchify(frames: torch.Tensor, segment_length: int) -> torch.Tensor:
    """Cut `(N, T, J, C)` into joint segments `(N, S, J, segment_length * C)`, `S = ceil(T / segment_length)`.

    A clip whose length is not a multiple of `segment_length` is padded with zero frames. Inside a token the values
    are time-major (`frame * C + channel`), the layout of MAMP's Conv2d patch embedding with kernel `(l, 1)`.
    """
    rows, length, joints, channels = frames.shape
    remainder = -length % segment_length
    if remainder:
        frames = F.pad(frames, (0, 0, 0, 0, 0, remainder))
    segments = frames.shape[1] // segment_length
    patches = frames.view(rows, segments, segment_length, joints, channels).transpose(2, 3)
    return patches.reshape(rows, segments, joints, segment_length * channels)


def segment_mask(frame_mask: torch.Tensor | None, segment_length: int) -> torch.Tensor | None:
    """`(N, T)` frame mask -> `(N, S)` segment mask: a segment is valid when any of its frames is. None when every
    segment is valid."""
    if frame_mask is None:
        return None
    remainder = -frame_mask.shape[1] % segment_length
    padded = F.pad(frame_mask, (0, remainder)) if remainder else frame_mask
    segments = padded.view(padded.shape[0], -1, segment_length).any(-1)
    if not torch.compiler.is_compiling() and bool(segments.all()):
        return None
    return segments


def frame_motion(frames: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor:
    """MAMP's motion: `x[t + 1] - x[t]`, zero at the last frame and wherever either frame is padding."""
    motion = F.pad(frames[:, 1:] - frames[:, :-1], (0, 0, 0, 0, 0, 1))
    if frame_mask is not None:
        both_valid = F.pad(frame_mask[:, 1:] & frame_mask[:, :-1], (0, 1))
        motion = motion * both_valid[:, :, None, None].to(motion.dtype)
    return motion


def pool_segments(
    tokens: torch.Tensor, kernel: int, segments: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Average `(N, S, J, D)` over windows of `kernel` segments -> `(N, ceil(S / kernel), J, D)`, counting valid
    segments only (a window at the end of the clip averages the segments it has). Also returns which windows hold
    a valid segment, `(N, windows)`, or None when all do."""
    rows, length, joints, width = tokens.shape
    windows = -(-length // kernel)
    remainder = windows * kernel - length
    if segments is None and not remainder:
        return tokens.view(rows, windows, kernel, joints, width).mean(2), None
    weights = tokens.new_ones(rows, length) if segments is None else segments.to(tokens.dtype)
    weighted = F.pad(tokens * weights[:, :, None, None], (0, 0, 0, 0, 0, remainder))
    counts = F.pad(weights, (0, remainder)).view(rows, windows, kernel).sum(2)
    pooled = weighted.view(rows, windows, kernel, joints, width).sum(2) / counts.clamp_min(1.0)[:, :, None, None]
    valid = counts > 0
    if not torch.compiler.is_compiling() and bool(valid.all()):
        valid = None
    return pooled, valid


# ----------------------------------------------------------------------------------------------------------------
# Layers
# ----------------------------------------------------------------------------------------------------------------


def fast_dropout(hidden_states: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """`F.dropout`, with a cheaper random mask on CPU.

    On CPU, drawing one random number per element (`bernoulli_`) took 38% of a bf16 fine-tuning step. Here every
    64-bit random word gives four 16-bit lanes, each compared with a threshold, so the generator runs a quarter as
    often. The drop probability is `p` rounded to a multiple of 2^-16, and kept values are scaled by the exact
    inverse of the keep rate, so the expectation is unchanged. Elsewhere (GPU, or while compiling, where the
    compiler makes its own fused mask) this is `F.dropout`.
    """
    if not training or p == 0.0:
        return hidden_states
    if hidden_states.device.type != "cpu" or p >= 1.0 or torch.compiler.is_compiling():
        return F.dropout(hidden_states, p=p, training=True)
    dropped_lanes = round(p * 65536)
    words = torch.randint(-(2**63), 2**63 - 1, ((hidden_states.numel() + 3) // 4,), dtype=torch.int64)
    lanes = words.view(torch.int16)[: hidden_states.numel()].view(hidden_states.shape)
    keep = lanes >= dropped_lanes - 32768
    return (hidden_states * keep).mul_(65536 / (65536 - dropped_lanes))


class CascadeFormerDropout(nn.Module):
    """`nn.Dropout` through `fast_dropout` (same behaviour, a cheaper mask on CPU)."""

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return fast_dropout(hidden_states, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


@dataclass
class TokenPacking:
    """Where the valid tokens of a padded `(N, L, ...)` batch are, so that the position-wise parts of a layer
    (projections, feed-forward block, norms, dropout) run on the valid tokens only, packed into `(n, ...)`, and
    only attention sees the padded batch. With padding masked this changes no valid token's output and saves the
    work on padding: about a third of a layer's products on clips of mixed length.

    `spans` (CPU evaluation, see `CascadeFormerEncoder.attends_row_by_row`): where each row's valid tokens lie in
    the packed `(n, ...)` tokens, `(start, end)`; attention then runs row by row on them (`attend_rows`) and never
    sees the padded batch either."""

    index: torch.Tensor  # (n,) positions of the valid tokens in the flattened N x L batch
    rows: int
    length: int
    spans: list[tuple[int, int]] | None = None

    @classmethod
    def of(cls, token_mask: torch.Tensor, row_spans: bool = False) -> TokenPacking:
        spans = None
        if row_spans:
            ends = token_mask.sum(1).cumsum(0).tolist()
            spans = list(zip([0, *ends[:-1]], ends, strict=True))
        return cls(token_mask.flatten().nonzero().flatten(), *token_mask.shape, spans)

    def pack(self, padded: torch.Tensor) -> torch.Tensor:
        """`(N, L, w)` -> `(n, w)`."""
        return padded.flatten(0, 1).index_select(0, self.index)

    def pad(self, packed: torch.Tensor) -> torch.Tensor:
        """`(n, w)` -> `(N, L, w)`, zeros at padding."""
        width = packed.shape[-1]
        # In place into the fresh zeros: the out-of-place `index_copy` would first clone the whole padded batch.
        padded = packed.new_zeros(self.rows * self.length, width).index_copy_(0, self.index, packed)
        return padded.view(self.rows, self.length, width)

    def mean_per_row(self, packed: torch.Tensor) -> torch.Tensor:
        """`(n, w)` -> `(N, w)`: each row's valid tokens averaged (`masked_mean` of the padded batch)."""
        rows = torch.div(self.index, self.length, rounding_mode="floor")
        sums = packed.new_zeros(self.rows, packed.shape[-1]).index_add_(0, rows, packed)
        counts = torch.bincount(rows, minlength=self.rows).to(packed.dtype)
        return sums / counts.unsqueeze(-1)


def attend_rows(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, spans: list[tuple[int, int]], scaling: float
) -> torch.Tensor:
    """Attention of each row's packed valid tokens among themselves: `query`, `key` and `value` are `(n, heads,
    head_dim)`, `spans` the rows' `(start, end)` in them; returns `(n, heads x head_dim)`.

    What masked attention computes on the padded batch, without the padded copies of the projections, the mask or
    the products with padding keys. Plain products and softmax, queries scaled first (as PyTorch's native
    encoder-layer kernel computes attention on CPU): on these short rows (tens of tokens, 32-wide heads) the CPU
    SDPA kernel measured twice as slow per row."""
    sizes = [end - start for start, end in spans]
    output = torch.empty_like(query)
    parts = ((query * scaling).split(sizes), key.split(sizes), value.split(sizes), output.split(sizes))
    for row_query, row_key, row_value, row_output in zip(*parts, strict=True):
        row_query, row_key, row_value = (t.transpose(0, 1) for t in (row_query, row_key, row_value))
        weights = torch.bmm(row_query, row_key.transpose(1, 2)).softmax(-1, dtype=torch.float32)
        row_output.copy_(torch.bmm(weights.to(row_value.dtype), row_value).transpose(0, 1))
    return output.flatten(1)


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
    weights = fast_dropout(weights, dropout, module.training)
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
        packing: TokenPacking | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`hidden_states` is `(N, L, d)`, or the packed valid tokens `(n, d)` of such a batch with `packing`
        (`key_value_states` then packed alike). With `packing.spans`, attention runs row by row on the packed
        tokens (`attend_rows`) and returns no weights."""
        width = hidden_states.shape[-1]
        by_rows = packing is not None and packing.spans is not None and not output_attentions
        if key_value_states is None:
            projected = self.in_proj(hidden_states)
            if by_rows:
                heads = projected.unflatten(-1, (3, self.num_heads, self.head_dim)).unbind(1)
                return self.out_proj(attend_rows(*heads, packing.spans, self.scaling)), None
            if packing is not None:
                projected = packing.pad(projected)
            query, key, value = projected.chunk(3, dim=-1)
        else:
            query = F.linear(hidden_states, self.in_proj.weight[:width], self.in_proj.bias[:width])
            key_value = F.linear(key_value_states, self.in_proj.weight[width:], self.in_proj.bias[width:])
            if by_rows:
                query = query.unflatten(-1, (self.num_heads, self.head_dim))
                key, value = key_value.unflatten(-1, (2, self.num_heads, self.head_dim)).unbind(1)
                return self.out_proj(attend_rows(query, key, value, packing.spans, self.scaling)), None
            if packing is not None:
                query, key_value = packing.pad(query), packing.pad(key_value)
            key, value = key_value.chunk(2, dim=-1)
        query, key, value = (
            t.unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2) for t in (query, key, value)
        )

        implementation = self.config._attn_implementation
        # With dropout on CPU, SDPA runs its math kernel and draws the mask with bernoulli_: the eager path computes
        # the same with the cheaper mask of `fast_dropout`.
        cpu_dropout = self.training and self.dropout > 0 and query.device.type == "cpu" and implementation == "sdpa"
        if output_attentions or cpu_dropout:
            implementation = "eager"
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
        output = output.flatten(2)
        if packing is not None:
            output = packing.pack(output)
        return self.out_proj(output), weights


class CascadeFormerMLP(nn.Module):
    """Feed-forward block: Linear -> activation -> dropout -> Linear."""

    def __init__(self, hidden_size: int, intermediate_size: int, hidden_act: str, dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(hidden_size, intermediate_size)
        self.activation = ACT2FN[hidden_act]
        # The activations PyTorch's fused encoder-layer kernel computes (exact GELU, as ACT2FN["gelu"]): whether it
        # uses GELU, or None when it cannot run this block.
        self.fused_gelu = {"relu": False, "gelu": True}.get(hidden_act) if isinstance(hidden_act, str) else None
        self.dropout = CascadeFormerDropout(dropout)
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
        self.dropout = CascadeFormerDropout(hidden_dropout)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
        packing: TokenPacking | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.pre_norm:
            normed = self.norm1(hidden_states)
            attended, weights = self.attention(normed, attention_mask, None, output_attentions, packing)
            hidden_states = hidden_states + self.dropout(attended)
            hidden_states = hidden_states + self.dropout(self.mlp(self.norm2(hidden_states)))
        else:
            attended, weights = self.attention(hidden_states, attention_mask, None, output_attentions, packing)
            hidden_states = self.norm1(hidden_states + self.dropout(attended))
            hidden_states = self.norm2(hidden_states + self.dropout(self.mlp(hidden_states)))
        return hidden_states, weights

    def can_fuse(self) -> bool:
        """Whether `fused_inference_forward` computes this layer: SDPA attention (an explicitly chosen `eager` or
        other implementation keeps its own path), ReLU or GELU, an even number of heads and equal norm epsilons
        (the conditions of `nn.TransformerEncoderLayer`'s fast path in torch/nn/modules/transformer.py)."""
        attention = self.attention
        return (
            attention.config._attn_implementation == "sdpa"
            and self.mlp.fused_gelu is not None
            and attention.num_heads % 2 == 0
            and self.norm1.eps == self.norm2.eps
        )

    def fused_inference_forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """The whole layer in PyTorch's native encoder-layer kernel (what `nn.TransformerEncoderLayer` runs in
        evaluation without gradients): one call for the packed QKV product, attention, output projection, norms
        and feed-forward block, on `(N, L, d)` with every token attended. Evaluation without gradients only: the
        kernel has no backward and no dropout."""
        attention, mlp = self.attention, self.mlp
        return torch._transformer_encoder_layer_fwd(
            hidden_states,
            attention.out_proj.in_features,
            attention.num_heads,
            attention.in_proj.weight,
            attention.in_proj.bias,
            attention.out_proj.weight,
            attention.out_proj.bias,
            mlp.fused_gelu,
            self.pre_norm,
            self.norm1.eps,
            self.norm1.weight,
            self.norm1.bias,
            self.norm2.weight,
            self.norm2.bias,
            mlp.fc1.weight,
            mlp.fc1.bias,
            mlp.fc2.weight,
            mlp.fc2.bias,
            None,
            None,
        )


def _has_hooks(module: nn.Module) -> bool:
    return any(m._forward_hooks or m._forward_pre_hooks for m in module.modules())


@dataclass
class EncoderOutput(ModelOutput):
    """Internal output of a layer stack; `attention_mask` is the 4D mask it used, for reuse by later stages, and
    `token_mask` the `(N, L)` mask of valid tokens (None when all are valid)."""

    last_hidden_state: torch.Tensor | None = None
    attention_mask: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
    token_mask: torch.Tensor | None = None


class CascadeFormerEncoder(nn.Module):
    """A stack of layers; pre-LN stacks end in a LayerNorm, post-LN stacks (like PyTorch's) do not.

    Sizes default to the encoder's (`hidden_size`, `num_attention_heads`, `intermediate_size`); the pretraining
    decoders pass their own."""

    def __init__(
        self,
        config: CascadeFormerConfig,
        num_layers: int,
        hidden_dropout: float,
        hidden_size: int | None = None,
        num_heads: int | None = None,
        intermediate_size: int | None = None,
    ):
        super().__init__()
        width = hidden_size or config.hidden_size
        self.layers = nn.ModuleList(
            CascadeFormerLayer(
                config,
                width,
                num_heads or config.num_attention_heads,
                intermediate_size or config.intermediate_size,
                hidden_dropout,
                config.attention_probs_dropout_prob,
            )
            for _ in range(num_layers)
        )
        pre_norm = config.layer_norm_position == "pre"
        self.norm = nn.LayerNorm(width, eps=config.layer_norm_eps) if pre_norm else nn.Identity()
        # Evaluation without gradients runs the fused kernel where it applies (`fused_inference_forward`); False
        # keeps the layer-by-layer path (benchmarks/ measures the difference).
        self.fused_inference = True
        # CPU evaluation of masked padding attends row by row on the packed tokens (`attends_row_by_row`); False
        # keeps attention on the padded batch.
        self.packed_inference = True

    def attends_row_by_row(self, hidden_states: torch.Tensor) -> bool:
        """Whether packed tokens attend row by row (`TokenPacking.spans`, `attend_rows`) instead of on the padded
        batch: evaluation without gradients on CPU with SDPA attention (an explicitly chosen implementation keeps
        its own path), not compiling. Training and gradients keep the padded attention."""
        return (
            self.packed_inference
            and not self.training
            and not torch.is_grad_enabled()
            and hidden_states.device.type == "cpu"
            and not torch.compiler.is_compiling()
            and all(layer.attention.config._attn_implementation == "sdpa" for layer in self.layers)
        )

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        token_mask: torch.Tensor | None = None,
        packing: TokenPacking | None = None,
    ) -> EncoderOutput:
        """`token_mask` `(N, L)` marks the valid tokens: where `attention_mask` masks the others, the layers skip
        them (`TokenPacking`) and their outputs are zeros. Compiled or exported graphs keep the padded path, whose
        shapes do not depend on the data.

        With `packing`, `hidden_states` are already packed `(n, d)` by the caller (who runs several stages on the
        same packed tokens) and the output stays packed."""
        packed_by_caller = packing is not None
        if not (output_attentions or output_hidden_states or packed_by_caller):
            fused = self.fused_inference_forward(hidden_states, attention_mask)
            if fused is not None:
                return EncoderOutput(last_hidden_state=fused)
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        if (
            not packed_by_caller
            and token_mask is not None
            and attention_mask is not None
            and not torch.compiler.is_compiling()
        ):
            by_rows = not output_attentions and self.attends_row_by_row(hidden_states)
            packing = TokenPacking.of(token_mask, row_spans=by_rows)
            hidden_states = packing.pack(hidden_states)
        for layer in self.layers:
            hidden_states, weights = layer(hidden_states, attention_mask, output_attentions, packing)
            if output_hidden_states:
                all_hidden += (hidden_states if packing is None else packing.pad(hidden_states),)
            if output_attentions:
                all_attentions += (weights,)
        hidden_states = self.norm(hidden_states)
        if packing is not None and not packed_by_caller:
            hidden_states = packing.pad(hidden_states)
        if output_hidden_states:
            all_hidden = all_hidden[:-1] + (hidden_states,)
        return EncoderOutput(last_hidden_state=hidden_states, hidden_states=all_hidden, attentions=all_attentions)

    def fused_inference_forward(
        self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None
    ) -> torch.Tensor | None:
        """The stack through PyTorch's fused encoder-layer kernel (`CascadeFormerLayer.fused_inference_forward`), or
        None where it does not apply and the layers run one by one: training, gradients on, autocast on a GPU,
        compiling or exporting, hooks on a submodule, a layer the kernel cannot compute, or masked padding. Under
        CPU autocast the kernel's products go through autocast (bf16), and `nn.TransformerEncoderLayer` takes the
        kernel there too (its check, in torch/nn/modules/transformer.py, is for CUDA autocast only).

        Masked padding keeps the layer-by-layer path, whose `TokenPacking` skips the padding: the kernel on a
        nested tensor of the valid tokens (what `nn.TransformerEncoder` does) computes the same but measured
        slower on CPU (its attention runs row by row)."""
        if (
            attention_mask is not None
            or not self.fused_inference
            or self.training
            or torch.is_grad_enabled()
            or hidden_states.device.type not in ("cpu", "cuda")
            or (hidden_states.device.type == "cuda" and torch.is_autocast_enabled("cuda"))
            or torch.compiler.is_compiling()
            or hidden_states.dim() != 3
            or not all(layer.can_fuse() for layer in self.layers)
            or _has_hooks(self)
        ):
            return None
        for layer in self.layers:
            hidden_states = layer.fused_inference_forward(hidden_states)
        return self.norm(hidden_states)


def skeleton_streams(
    frames: torch.Tensor,
    frame_mask: torch.Tensor | None,
    streams: tuple[str, ...],
    bone_parents: tuple[int, ...] | None,
) -> torch.Tensor:
    """`(N, T, J, C)` joints -> `(N, T, J, C x len(streams))`: joints, bones (joint minus parent) and motion (next
    frame minus this one, as `frame_motion`), in the order of `streams`."""
    parts = []
    for stream in streams:
        if stream == "joint":
            parts.append(frames)
        elif stream == "bone":
            parts.append(frames - frames[:, :, list(bone_parents)])
        else:
            parts.append(frame_motion(frames, frame_mask))
    return torch.cat(parts, dim=-1)


class CascadeFormerFrameEmbedding(nn.Module):
    """Turns each frame (joints x channels) into one token and adds a learned temporal position.

    Variants: `linear` (1.0), `conv` (1.1: joint-axis convolutions, then linear) and `spatial_attention` (1.2: a
    one-layer transformer across the joints of each frame). Frames are flattened joint-major (index j * C + c).
    """

    # Learned tables, not weight matrices: AdamW must not decay them (see `no_weight_decay`).
    _no_weight_decay = ("position_embeddings",)

    def __init__(self, config: CascadeFormerConfig):
        super().__init__()
        self.variant = config.frame_embedding
        self.input_streams = tuple(config.input_streams)
        self.bone_parents = None if config.bone_parents is None else tuple(config.bone_parents)
        num_joints, channels, width = config.num_joints, config.stream_channels, config.hidden_size
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

    def forward(self, frames: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.input_streams != ("joint",):
            frames = skeleton_streams(frames, frame_mask, self.input_streams, self.bone_parents)
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


class CascadeFormerTokenPositions(nn.Module):
    """Learned temporal (one per segment) and joint embeddings, added to joint-segment tokens `(N, S, J, D)`."""

    _no_weight_decay = ("temporal_embeddings", "joint_embeddings")

    def __init__(self, max_segments: int, num_joints: int, width: int):
        super().__init__()
        self.temporal_embeddings = nn.Parameter(torch.zeros(1, max_segments, 1, width))
        self.joint_embeddings = nn.Parameter(torch.zeros(1, 1, num_joints, width))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens + self.temporal_embeddings[:, : tokens.shape[1]] + self.joint_embeddings


class CascadeFormerJointSegmentEmbedding(nn.Module):
    """MAMP / GFP tokenisation: each joint's segment of `segment_length` frames becomes one token through
    Linear(segment_length x C -> d) (MAMP's Conv2d with kernel = stride = (l, 1)), plus learned temporal and joint
    embeddings. Tokens come out flat, segment-major: `(N, S * J, d)`."""

    def __init__(self, config: CascadeFormerConfig):
        super().__init__()
        self.segment_length = config.segment_length
        self.patch_embedding = nn.Linear(config.patch_size, config.hidden_size)
        self.positions = CascadeFormerTokenPositions(config.max_segments, config.num_joints, config.hidden_size)

    def embed_patches(self, patches: torch.Tensor) -> torch.Tensor:
        """`(N, S, J, segment_length x C)` patches -> `(N, S * J, d)` tokens."""
        return self.positions(self.patch_embedding(patches)).flatten(1, 2)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.embed_patches(patchify(frames, self.segment_length))


@dataclass
class EmbeddedSkeletons:
    """Tokens of folded persons: `tokens` `(N, L, d)` and `token_mask` `(N, L)` (None when all are valid); for
    joint-segment tokens also the `patches` `(N, S, J, segment_length x C)` they were made from (padding frames
    zeroed) and the `segment_mask` `(N, S)`."""

    tokens: torch.Tensor
    token_mask: torch.Tensor | None
    patches: torch.Tensor | None = None
    segment_mask: torch.Tensor | None = None


class CascadeFormerCrossAttentionFusion(nn.Module):
    """Fuses stage 1 (query) with stage 2 (keys and values): LayerNorm(x1 + Dropout(CrossAttention(x1, x2))),
    optionally followed by the NTU code's feed-forward block with its own residual and LayerNorm."""

    def __init__(self, config: CascadeFormerConfig):
        super().__init__()
        width = config.hidden_size
        heads = config.cross_attention_num_heads or config.num_attention_heads
        self.attention = CascadeFormerAttention(config, width, heads, config.cross_attention_dropout)
        self.dropout = CascadeFormerDropout(config.hidden_dropout_prob)
        self.norm1 = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.feed_forward = None
        if config.cross_attention_feed_forward:
            self.feed_forward = CascadeFormerMLP(width, width, "relu", config.hidden_dropout_prob)
            self.norm2 = nn.LayerNorm(width, eps=config.layer_norm_eps)

    def forward(
        self,
        stage1: torch.Tensor,
        stage2: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        packing: TokenPacking | None = None,
    ) -> torch.Tensor:
        """`stage1` and `stage2` are `(N, L, d)`, or both the packed valid tokens `(n, d)` of `packing`."""
        attended, _ = self.attention(stage1, attention_mask, key_value_states=stage2, packing=packing)
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
                CascadeFormerDropout(config.classifier_dropout),
                nn.Linear(width, width),
                nn.ReLU(),
                CascadeFormerDropout(config.classifier_dropout),
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
    _no_split_modules = ["CascadeFormerLayer", "CascadeFormerFrameEmbedding", "CascadeFormerJointSegmentEmbedding"]
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
        elif isinstance(module, nn.BatchNorm1d):
            if module.affine:
                init.ones_(module.weight)
                init.zeros_(module.bias)
            if module.track_running_stats:
                init.zeros_(module.running_mean)
                init.ones_(module.running_var)
                init.zeros_(module.num_batches_tracked)
        elif isinstance(module, CascadeFormerFrameEmbedding):
            init.trunc_normal_(module.position_embeddings, std=std)
        elif isinstance(module, CascadeFormerTokenPositions):
            init.trunc_normal_(module.temporal_embeddings, std=std)
            init.trunc_normal_(module.joint_embeddings, std=std)
        elif isinstance(getattr(module, "mask_token", None), nn.Parameter):
            # the learned mask token of the masked-token objectives (modeling_cascadeformer_objectives.py)
            init.trunc_normal_(module.mask_token, std=std)

    def _attention_mask(
        self, hidden_states: torch.Tensor, token_mask: torch.Tensor | None, always: bool = False
    ) -> torch.Tensor | None:
        """The 4D mask the attention implementation wants, or None when nothing is masked. Padding is masked when
        `config.mask_padding_frames` is set, or `always` (MAE-style pretraining must never attend to hidden
        tokens)."""
        if token_mask is None or not (always or self.config.mask_padding_frames):
            return None
        return create_bidirectional_mask(config=self.config, inputs_embeds=hidden_states, attention_mask=token_mask)

    def _pooling_mask(self, token_mask: torch.Tensor | None) -> torch.Tensor | None:
        return token_mask if self.config.mask_padding_frames else None

    def no_weight_decay(self) -> set[str]:
        """Names of the parameters weight decay must leave alone (timm's convention): the learned position,
        temporal and joint embedding tables and mask tokens, which their modules list in `_no_weight_decay`.
        Biases and norm weights are left to the optimiser's rule for parameters with fewer than two dimensions
        (`hf_cascadeformer.training.parameter_groups`)."""
        names = set()
        for prefix, module in self.named_modules():
            for name in getattr(module, "_no_weight_decay", ()):
                names.add(f"{prefix}.{name}" if prefix else name)
        return names


class CascadeFormerModel(CascadeFormerPreTrainedModel):
    """The stage-1 encoder: a token embedding (frames or joint segments) and a transformer over the tokens."""

    # Loading the encoder alone from a classifier or pretraining checkpoint leaves their heads behind on purpose.
    _keys_to_ignore_on_load_unexpected = [r"^cascade_encoder\.", r"^fusion\.", r"^classifier\.", r"^objective\."]

    def __init__(self, config: CascadeFormerConfig):
        super().__init__(config)
        if config.token_layout == "joint_segment":
            self.embeddings = CascadeFormerJointSegmentEmbedding(config)
        else:
            self.embeddings = CascadeFormerFrameEmbedding(config)
        self.encoder = CascadeFormerEncoder(config, config.num_hidden_layers, config.hidden_dropout_prob)
        self.post_init()

    def embed(self, frames: torch.Tensor, frame_mask: torch.Tensor | None) -> EmbeddedSkeletons:
        """Tokens of already folded persons `(N, T, J, C)` with their frame mask `(N, T)`."""
        if self.config.token_layout == "frame":
            return EmbeddedSkeletons(self.embeddings(frames, frame_mask), frame_mask)
        if frame_mask is not None:
            # Padding frames inside a partly valid segment must not reach its token: zero them.
            frames = frames * frame_mask[:, :, None, None].to(frames.dtype)
        patches = patchify(frames, self.config.segment_length)
        segments = segment_mask(frame_mask, self.config.segment_length)
        tokens = self.embeddings.embed_patches(patches)
        token_mask = None if segments is None else segments.repeat_interleave(self.config.num_joints, dim=1)
        return EmbeddedSkeletons(tokens, token_mask, patches, segments)

    def encode_tokens(
        self,
        tokens: torch.Tensor,
        token_mask: torch.Tensor | None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        always_mask: bool = False,
    ) -> EncoderOutput:
        """Run the transformer on embedded tokens `(N, L, d)`; `token_mask` `(N, L)` marks the valid ones."""
        attention_mask = self._attention_mask(tokens, token_mask, always=always_mask)
        encoded = self.encoder(tokens, attention_mask, output_attentions, output_hidden_states, token_mask)
        encoded.attention_mask = attention_mask
        encoded.token_mask = token_mask
        return encoded

    def encode(
        self,
        frames: torch.Tensor,
        frame_mask: torch.Tensor | None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> EncoderOutput:
        """Encode already folded persons `(N, T, J, C)` with their frame mask `(N, T)`."""
        embedded = self.embed(frames, frame_mask)
        return self.encode_tokens(embedded.tokens, embedded.token_mask, output_attentions, output_hidden_states)

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
        folded = fold_persons(self.config, skeletons, attention_mask, dtype=self.dtype)
        encoded = self.encode(folded.frames, folded.frame_mask, output_attentions, output_hidden_states)
        pooled = masked_mean(encoded.last_hidden_state, self._pooling_mask(encoded.token_mask))
        output = CascadeFormerModelOutput(
            last_hidden_state=folded.unfold(encoded.last_hidden_state),
            person_mask=folded.person_mask,
            hidden_states=encoded.hidden_states,
            attentions=encoded.attentions,
            pooler_output=folded.mean_over_persons(pooled),
        )
        return output if return_dict is not False else output.to_tuple()


class CascadeFormerForMaskedSkeletonModeling(CascadeFormerPreTrainedModel):
    """Stage-1 encoder with a masked skeleton modeling objective on top (`config.pretraining_objective`)."""

    def __init__(self, config: CascadeFormerConfig):
        # The objectives are built from this file's layers, so their file is imported here rather than at the top
        # (which would be circular); the relative import also makes `save_pretrained` copy it next to this one.
        from .modeling_cascadeformer_objectives import PRETRAINING_OBJECTIVE_CLASSES

        super().__init__(config)
        self.cascadeformer = CascadeFormerModel(config)
        self.objective = PRETRAINING_OBJECTIVE_CLASSES[config.pretraining_objective](config)
        self.post_init()

    def mask_noise_shape(self, num_frames: int) -> tuple[int, int]:
        """Shape of the `noise` one person of a clip with `num_frames` frames takes: `(frames, joints)` (or
        `(frames, 1)` for whole-frame masking) for `masked_joint`, `(segments, joints)` for `mamp` and `gfp`."""
        return self.objective.noise_shape(num_frames)

    @property
    def loss_is_token_mean(self) -> bool:
        """Whether the loss is a mean over the batch's masked tokens (see `PretrainingObjective`): a data-parallel
        training loop then weights each process's loss by its share of the masked tokens."""
        return self.objective.loss_is_token_mean

    def forward(
        self,
        skeletons: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        mask: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        return_loss: bool = True,
        return_dict: bool | None = None,
    ) -> CascadeFormerMaskedSkeletonModelingOutput | tuple:
        r"""
        skeletons, attention_mask: as for `CascadeFormerModel`.
        generator (`torch.Generator`, *optional*) / seed (`int`, *optional*):
            Make the random mask reproducible.
        mask (`torch.BoolTensor`, *optional*):
            A mask to use instead of sampling one: `(present persons, frames, joints)` for `masked_joint`,
            `(present persons, segments, joints)` for `mamp` and `gfp` (True = masked).
        noise (`torch.FloatTensor`, *optional*):
            Uniform noise in [0, 1) that decides the mask instead of `generator`, one array per clip and person:
            `(batch, [persons,] *self.mask_noise_shape(frames))`, laid out like `skeletons`. Masks then depend on
            the clips' own noise only, not on how clips are grouped into batches or processes, which is what makes
            data-parallel pretraining reproduce a single-process run.
        return_loss (`bool`, defaults to `True`):
            Present so that `Trainer` reports `eval_loss` for this model; the loss is always computed.
        """
        folded = fold_persons(self.config, skeletons, attention_mask, dtype=self.dtype)
        if generator is None and seed is not None:
            generator = torch.Generator(device=folded.frames.device).manual_seed(seed)
        if noise is not None:
            expected = (*skeletons.shape[: skeletons.dim() - 3], *self.mask_noise_shape(skeletons.shape[-3]))
            if tuple(noise.shape) != expected:
                raise ValueError(
                    f"noise must have shape (batch, [persons,] *mask_noise_shape(frames)) = {expected} for "
                    f"pretraining_objective={self.config.pretraining_objective!r}, got {tuple(noise.shape)}"
                )
            noise = folded.fold(noise)
        output = self.objective(self.cascadeformer, folded, generator=generator, mask=mask, noise=noise)
        return output if return_dict is not False else output.to_tuple()


class CascadeFormerForSequenceClassification(CascadeFormerPreTrainedModel):
    """The cascading classifier: x1 = stage1(x); x2 = stage2(x1); fused = CrossAttention(x1, x2); mean over valid
    tokens and present persons; head. Stage 2 and the fusion run over the stage-1 tokens of either layout (frames,
    or joint segments, so a GFP- or MAMP-pretrained encoder fine-tunes with the cascade). With
    `config.use_cascade=False`, pooled stage-1 features go straight to the head (the plain ablation)."""

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

    def inference_packing(self, tokens: torch.Tensor, token_mask: torch.Tensor | None) -> TokenPacking | None:
        """The packing of the valid tokens that both stacks, the fusion and the pooling share in CPU evaluation of
        a padded batch with padding masked (`packed_features`), or None where the stages run one by one: no
        padding, padding not masked (the stacks then take the fused kernel), or where either stack does not attend
        row by row (`CascadeFormerEncoder.attends_row_by_row`: training, gradients, compiling, another attention
        implementation, not CPU)."""
        encoders = (
            [self.cascadeformer.encoder]
            if self.cascade_encoder is None
            else [self.cascadeformer.encoder, self.cascade_encoder]
        )
        if (
            token_mask is None
            or not self.config.mask_padding_frames
            or not all(encoder.attends_row_by_row(tokens) for encoder in encoders)
        ):
            return None
        return TokenPacking.of(token_mask, row_spans=True)

    def packed_features(self, tokens: torch.Tensor, packing: TokenPacking) -> torch.Tensor:
        """Stage 1, stage 2, the fusion and the pooling on the packed valid tokens `(n, d)` -> per-person clip
        features `(N, d)`: the tokens are packed once, the padded batch (and its 4D attention mask) never made.
        Padding tokens only ever reach the valid ones through masked attention, so this is the function of the
        padded stages, computed on the valid tokens alone."""
        tokens = self.cascadeformer.encoder(tokens, packing=packing).last_hidden_state
        if self.cascade_encoder is not None:
            stage2 = self.cascade_encoder(tokens, packing=packing).last_hidden_state
            tokens = self.fusion(tokens, stage2, packing=packing)
        return packing.mean_per_row(tokens)

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
        # Exporting or compiling: fold without data-dependent shapes; absent persons are then encoded too but
        # weigh nothing in the average over persons, so the logits are the eager ones.
        folded = fold_persons(
            self.config, skeletons, attention_mask, keep_absent=torch.compiler.is_compiling(), dtype=self.dtype
        )
        embedded = self.cascadeformer.embed(folded.frames, folded.frame_mask)
        packing = None
        if not (output_attentions or output_hidden_states):
            packing = self.inference_packing(embedded.tokens, embedded.token_mask)
        hidden_states = attentions = None
        if packing is not None:
            pooled = self.packed_features(packing.pack(embedded.tokens), packing)
        else:
            stage1 = self.cascadeformer.encode_tokens(
                embedded.tokens, embedded.token_mask, output_attentions, output_hidden_states
            )
            tokens = stage1.last_hidden_state
            if self.cascade_encoder is not None:
                stage2 = self.cascade_encoder(tokens, stage1.attention_mask, token_mask=stage1.token_mask)
                tokens = self.fusion(tokens, stage2.last_hidden_state, stage1.attention_mask)
            pooled = masked_mean(tokens, self._pooling_mask(stage1.token_mask))
            hidden_states, attentions = stage1.hidden_states, stage1.attentions
        pooled = folded.mean_over_persons(pooled)
        logits = self.classifier(pooled)

        loss = None
        if labels is not None:
            labels = labels.to(logits.device).long()
            loss = F.cross_entropy(logits.float(), labels, label_smoothing=self.config.label_smoothing)
            if not torch.compiler.is_compiling() and not labels.ne(-100).any():
                # Every clip's label is ignored (-100): the mean over no clips is NaN; nothing to learn is a zero
                # loss that still reaches every logit (so distributed gradient reduction sees each parameter).
                loss = logits.float().sum() * 0.0
        output = CascadeFormerSequenceClassifierOutput(
            loss=loss,
            logits=logits,
            pooled_output=pooled,
            hidden_states=hidden_states,
            attentions=attentions,
        )
        return output if return_dict is not False else output.to_tuple()


# Config entries that name where a checkpoint came from or how it was saved, not what it computes: members of an
# ensemble may differ in them (and in private entries such as `_name_or_path`).
_PROVENANCE_FIELDS = ("architectures", "auto_map", "custom_pipelines", "model_type", "transformers_version")


def _is_provenance(key: str) -> bool:
    return key in _PROVENANCE_FIELDS or key.startswith("_")


class CascadeFormerEnsembleForSequenceClassification(CascadeFormerPreTrainedModel):
    """Separately trained CascadeFormer classifiers of one architecture in one checkpoint, fused by averaging their
    class probabilities (score fusion, as skeleton papers fuse their streams' models; `hf_cascadeformer.inference`
    fuses checkpoints of any architecture at evaluation time instead; docs/nucla_diagnostics.md measures both).

    The logits are the log of the averaged probabilities: their softmax is the ensemble's probability, their argmax
    its prediction, so `Trainer`, the pipeline and the metrics read them as any classifier's logits. The loss is
    their negative log-likelihood. `from_members` builds one from trained classifiers."""

    config_class = CascadeFormerEnsembleConfig
    config: CascadeFormerEnsembleConfig

    def __init__(self, config: CascadeFormerEnsembleConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.members = nn.ModuleList(
            CascadeFormerForSequenceClassification(config) for _ in range(config.ensemble_size)
        )
        self.post_init()

    @classmethod
    def from_members(
        cls, members: Sequence[CascadeFormerForSequenceClassification]
    ) -> CascadeFormerEnsembleForSequenceClassification:
        """The ensemble of trained classifiers (their weights copied) whose configs agree on every field."""
        if not members:
            raise ValueError("an ensemble needs at least one member")
        reference = members[0].config.to_dict()
        for index, member in enumerate(members[1:], start=1):
            fields = member.config.to_dict()
            differing = sorted(
                key
                for key in set(reference) | set(fields)
                if not _is_provenance(key) and reference.get(key) != fields.get(key)
            )
            if differing:
                raise ValueError(f"ensemble member {index} differs from member 0 in {', '.join(differing)}")
        fields = {key: value for key, value in reference.items() if not _is_provenance(key)}
        ensemble = cls(CascadeFormerEnsembleConfig(**fields, ensemble_size=len(members)))
        for target, source in zip(ensemble.members, members, strict=True):
            target.load_state_dict(source.state_dict())
        return ensemble.to(members[0].dtype)

    @can_return_tuple
    def forward(
        self,
        skeletons: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> CascadeFormerSequenceClassifierOutput:
        r"""
        skeletons, attention_mask: as for `CascadeFormerModel`.
        labels (`torch.LongTensor` of shape `(batch,)`, *optional*):
            Action indices; when given, the output holds the negative log-likelihood of the fused probabilities.
        """
        log_probabilities = torch.stack(
            [member(skeletons, attention_mask).logits.float().log_softmax(-1) for member in self.members]
        )
        # log(mean of the members' probabilities), without leaving log space
        logits = torch.logsumexp(log_probabilities, dim=0) - math.log(len(self.members))
        loss = None
        if labels is not None:
            loss = F.nll_loss(logits, labels.to(logits.device).long())
        return CascadeFormerSequenceClassifierOutput(loss=loss, logits=logits)


__all__ = [
    "CascadeFormerEnsembleForSequenceClassification",
    "CascadeFormerForMaskedSkeletonModeling",
    "CascadeFormerForSequenceClassification",
    "CascadeFormerModel",
    "CascadeFormerPreTrainedModel",
]
