"""Pieces of the benchmark suite that do not depend on how it is run: the plain-PyTorch reference model, analytic
FLOP counts, synthetic inputs, the interleaved timer and memory probes.

The reference model re-creates the computation of the official CascadeFormer code (the paper, arXiv 2509.00692) from
stock PyTorch layers: `nn.TransformerEncoder` stacks with their defaults (post-LayerNorm, ReLU, feed-forward 2048,
dropout 0.1), an `nn.MultiheadAttention` cross-attention called as the official code calls it (attention weights
returned), `LayerNorm(x1 + Dropout(attention))`, mean over all frames (padding included, no mask anywhere) and a
linear head (the NTU code's feed-forward fusion block and MLP head when the config asks for them). It is the
yardstick every package measurement is compared with, measured in the same run, so the ratio to PyTorch is never a
remembered number. In evaluation without gradients its encoder layers run PyTorch's fused encoder-layer kernel, in
fp32 and under CPU autocast alike (torch/nn/modules/transformer.py checks for CUDA autocast only), as the official
code's do.
"""

from __future__ import annotations

import ctypes
import gc
import re
import resource
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from hf_cascadeformer import CascadeFormerConfig

# ----------------------------------------------------------------------------------------------------------------
# The reference model
# ----------------------------------------------------------------------------------------------------------------

# `nn.TransformerEncoderLayer`'s default feed-forward width: the official code never changes it.
REFERENCE_FEED_FORWARD = 2048


class ReferenceStage1(nn.Module):
    """Frame embedding (1.0 linear or 1.1 joint convolutions + linear), learned positions and a PyTorch encoder."""

    def __init__(self, config: CascadeFormerConfig):
        super().__init__()
        if config.frame_embedding == "spatial_attention":
            raise NotImplementedError("the reference model covers the 1.0 and 1.1 frame embeddings")
        joints, channels, width = config.num_joints, config.num_channels, config.hidden_size
        self.joint_conv = None
        if config.frame_embedding == "conv":
            self.joint_conv = nn.Sequential(
                nn.Conv1d(channels, channels, 3, padding=1), nn.ReLU(), nn.Conv1d(channels, channels, 1)
            )
        self.embedding = nn.Linear(joints * channels, width)
        self.pos_embedding = nn.Parameter(torch.randn(1, config.max_frames, width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            width, config.num_attention_heads, REFERENCE_FEED_FORWARD, config.hidden_dropout_prob, batch_first=True
        )
        self.transformer_encoder = nn.TransformerEncoder(layer, config.num_hidden_layers, enable_nested_tensor=False)

    def forward(self, skeletons: torch.Tensor) -> torch.Tensor:
        batch, frames, joints, channels = skeletons.shape
        if self.joint_conv is not None:
            per_frame = skeletons.reshape(batch * frames, joints, channels).transpose(1, 2)
            skeletons = self.joint_conv(per_frame).transpose(1, 2).reshape(batch, frames, joints, channels)
        tokens = self.embedding(skeletons.reshape(batch, frames, joints * channels)) + self.pos_embedding[:, :frames]
        return self.transformer_encoder(tokens)


class ReferenceCascadeFormer(nn.Module):
    """The official fine-tuning computation: x1 = T1(x); x2 = T2(x1); LayerNorm(x1 + Dropout(CrossAttn(x1, x2, x2)));
    (NTU: + feed-forward block); mean over time; head."""

    def __init__(self, config: CascadeFormerConfig):
        super().__init__()
        width = config.hidden_size
        self.stage1 = ReferenceStage1(config)
        stage2_dropout = config.cascade_hidden_dropout_prob
        stage2_dropout = config.hidden_dropout_prob if stage2_dropout is None else stage2_dropout
        layer = nn.TransformerEncoderLayer(
            width, config.num_attention_heads, REFERENCE_FEED_FORWARD, stage2_dropout, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(
            layer, config.cascade_num_hidden_layers or config.num_hidden_layers, enable_nested_tensor=False
        )
        heads = config.cross_attention_num_heads or config.num_attention_heads
        self.cross_attention = nn.MultiheadAttention(
            width, heads, dropout=config.cross_attention_dropout, batch_first=True
        )
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.norm = nn.LayerNorm(width)
        self.ffn = None
        if config.cross_attention_feed_forward:
            self.ffn = nn.Sequential(
                nn.Linear(width, width), nn.ReLU(), nn.Dropout(config.hidden_dropout_prob), nn.Linear(width, width)
            )
            self.norm2 = nn.LayerNorm(width)
        if config.classifier_head == "linear":
            self.head = nn.Linear(width, config.num_labels)
        else:
            self.head = nn.Sequential(
                nn.LayerNorm(width),
                nn.Dropout(config.classifier_dropout),
                nn.Linear(width, width),
                nn.ReLU(),
                nn.Dropout(config.classifier_dropout),
                nn.Linear(width, config.num_labels),
            )

    def forward(self, skeletons: torch.Tensor) -> torch.Tensor:
        stage1 = self.stage1(skeletons)
        stage2 = self.encoder(stage1)
        attended, _ = self.cross_attention(stage1, stage2, stage2)  # need_weights defaults to True, as called there
        fused = self.norm(stage1 + self.dropout(attended))
        if self.ffn is not None:
            fused = self.norm2(fused + self.dropout(self.ffn(fused)))
        return self.head(fused.mean(dim=1))


class ReferencePretrainer(nn.Module):
    """The official masked pretraining computation: zero a random 30% of (frame, joint) slots, encode with stage 1,
    decode every frame with Linear(d -> J * C), MSE over the masked coordinates."""

    def __init__(self, config: CascadeFormerConfig):
        super().__init__()
        self.mask_ratio = config.mask_ratio
        self.stage1 = ReferenceStage1(config)
        self.reconstruction_head = nn.Linear(config.hidden_size, config.num_joints * config.num_channels)

    def forward(self, skeletons: torch.Tensor) -> torch.Tensor:
        batch, frames, joints, channels = skeletons.shape
        mask = torch.rand(batch, frames, joints) < self.mask_ratio
        corrupted = skeletons.masked_fill(mask.unsqueeze(-1), 0.0)
        reconstruction = self.reconstruction_head(self.stage1(corrupted)).view_as(skeletons)
        weights = mask.unsqueeze(-1).expand_as(skeletons)
        return F.mse_loss(reconstruction.float()[weights], skeletons[weights])


# ----------------------------------------------------------------------------------------------------------------
# Analytic FLOPs
# ----------------------------------------------------------------------------------------------------------------
#
# 2 FLOPs per multiply-add; matrix products and the two attention products only (norms, softmax, activations,
# dropout and the optimiser are a few per cent and left out). A layer on T tokens of width d with feed-forward f:
#     8 T d^2 (packed q/k/v and output projections) + 4 T^2 d (scores and weighted sum) + 4 T d f (feed-forward).
# Cross-attention: 8 T d^2 + 4 T^2 d (+ 4 T d^2 for the NTU feed-forward block). Frame embedding: 2 T (J C) d
# (1.1 adds the joint convolutions, 2 T J C^2 (3 + 1)). Head: 2 d K (NTU MLP head: 2 d^2 + 2 d K). Decoder of the
# masked pretraining: 2 T d (J C). A training step costs 3x its forward (the backward pass computes the gradients
# of both the inputs and the weights of every product); an evaluation step is one forward.


def layer_flops(tokens: int, width: int, feed_forward: int) -> int:
    return 8 * tokens * width * width + 4 * tokens * tokens * width + 4 * tokens * width * feed_forward


def embedding_flops(config: CascadeFormerConfig, frames: int) -> int:
    frame_size = config.num_joints * config.num_channels
    flops = 2 * frames * frame_size * config.hidden_size
    if config.frame_embedding == "conv":
        flops += 2 * frames * config.num_joints * config.num_channels**2 * 4
    return flops


def classifier_forward_flops(config: CascadeFormerConfig, frames: int, feed_forward: int | None = None) -> int:
    """Forward FLOPs of one clip through the cascading classifier (stage 1, stage 2, fusion, head)."""
    width = config.hidden_size
    feed_forward = feed_forward or config.intermediate_size
    layers = config.num_hidden_layers + (config.cascade_num_hidden_layers or config.num_hidden_layers)
    flops = embedding_flops(config, frames) + layers * layer_flops(frames, width, feed_forward)
    flops += 8 * frames * width * width + 4 * frames * frames * width
    if config.cross_attention_feed_forward:
        flops += 4 * frames * width * width
    flops += 2 * width * config.num_labels + (2 * width * width if config.classifier_head == "mlp" else 0)
    return flops


def pretrain_forward_flops(config: CascadeFormerConfig, frames: int, feed_forward: int | None = None) -> int:
    """Forward FLOPs of one clip through stage 1 and the linear reconstruction decoder."""
    width = config.hidden_size
    feed_forward = feed_forward or config.intermediate_size
    flops = embedding_flops(config, frames) + config.num_hidden_layers * layer_flops(frames, width, feed_forward)
    return flops + 2 * frames * width * config.num_joints * config.num_channels


def step_flops(config: CascadeFormerConfig, kind: str, frames: int, feed_forward: int | None = None) -> int:
    """FLOPs per sample of a step kind: `train` (3x forward), `eval` (forward) or `pretrain` (3x forward)."""
    if kind == "pretrain":
        return 3 * pretrain_forward_flops(config, frames, feed_forward)
    forward = classifier_forward_flops(config, frames, feed_forward)
    return forward if kind == "eval" else 3 * forward


# ----------------------------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Batch:
    """One benchmark batch: `skeletons` (B, T, J, C) with zeroed padding frames, `attention_mask` (B, T) and
    `labels` (B,)."""

    skeletons: torch.Tensor
    attention_mask: torch.Tensor | None
    labels: torch.Tensor


def clip_lengths(batch: int, frames: int) -> list[int]:
    """The valid lengths of `make_batch`'s padded clips: spread evenly from a quarter of `frames` to all of it, every
    fourth clip full."""
    shortest = max(1, frames // 4)
    return [frames if index % 4 == 0 else shortest + (index * (frames - shortest)) // batch for index in range(batch)]


def valid_share(batch: int, frames: int) -> float:
    """The share of valid frames in a padded `make_batch` batch (0.71 at batch 32, 64 frames)."""
    return sum(clip_lengths(batch, frames)) / (batch * frames)


def make_batch(config: CascadeFormerConfig, batch: int, frames: int, padded: bool = True, seed: int = 0) -> Batch:
    """Smooth random-walk skeletons. With `padded`, valid lengths are spread evenly from a quarter of `frames` to
    all of it (every fourth clip full), as clips of mixed lengths padded to a common length are; the frames past a
    clip's length are zero and its `attention_mask` is 0 there."""
    generator = torch.Generator().manual_seed(seed)
    shape = (batch, frames, config.num_joints, config.num_channels)
    skeletons = (torch.randn(shape, generator=generator) * 0.02).cumsum(1)
    skeletons += torch.randn(batch, 1, config.num_joints, config.num_channels, generator=generator) * 0.3
    attention_mask = None
    if padded:
        lengths = torch.tensor(clip_lengths(batch, frames))
        attention_mask = (torch.arange(frames)[None] < lengths[:, None]).long()
        skeletons *= attention_mask[:, :, None, None]
    labels = torch.randint(0, config.num_labels, (batch,), generator=generator)
    return Batch(skeletons.contiguous(), attention_mask, labels)


# ----------------------------------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------------------------------


def time_call(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


@dataclass
class Timings:
    """Per-case step times (seconds) and minor page faults per step of one interleaved measurement."""

    times: dict[str, list[float]] = field(default_factory=dict)
    faults: dict[str, list[int]] = field(default_factory=dict)

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])


def minor_faults() -> int:
    """Minor page faults of this process so far: each is a fresh page the allocator got from the kernel."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def interleaved(
    steps: Mapping[str, Callable[[], object]], repeats: int, budget_seconds: float | None = None, min_repeats: int = 2
) -> Timings:
    """Time every step `repeats` times, round-robin, reversing the order every round, so load from other processes
    drifts onto every case alike. Stops early (after `min_repeats` rounds) once `budget_seconds` is spent."""
    timings = Timings({name: [] for name in steps}, {name: [] for name in steps})
    names = list(steps)
    began = time.perf_counter()
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else names[::-1]:
            faults = minor_faults()
            timings.times[name].append(time_call(steps[name]))
            timings.faults[name].append(minor_faults() - faults)
        spent = time.perf_counter() - began
        if budget_seconds is not None and repeat + 1 >= min_repeats and spent > budget_seconds:
            break
    return timings


def matmul_gflops(
    dtype: torch.dtype,
    linear: bool = False,
    shape: tuple[int, int, int] | None = None,
    max_size: int = 2048,
    seconds: float = 0.4,
    windows: int = 3,
) -> dict:
    """Sustained throughput of a matrix product, the best of `windows` timed windows, in GFLOP/s.

    `shape` (m, k, n) times `F.linear` of an (m, k) input and an (n, k) weight. Otherwise square products (`a @ b`,
    or `F.linear` with `linear`) whose size starts at 256 and doubles while one product takes under 0.1 s (up to
    `max_size`), so a CPU without native support for `dtype` (bf16 on AVX2 is many times slower than fp32) costs a
    second, not minutes."""
    if shape is not None:
        m, k, n = shape
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(n, k, dtype=dtype)
        product, flops, size = F.linear, 2 * m * k * n, None
        time_call(lambda: product(a, b))
    else:
        product = F.linear if linear else torch.matmul
        size = 256
        while True:
            a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
            elapsed = time_call(lambda a=a, b=b: product(a, b))
            if elapsed > 0.1 or size >= max_size:
                break
            size *= 2
        flops = 2 * size**3
    best = 0.0
    for _ in range(windows):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            product(a, b)
            count += 1
        best = max(best, flops * count / (time.perf_counter() - start) / 1e9)
    return {"gflops": best, "size": size}


# ----------------------------------------------------------------------------------------------------------------
# Memory
# ----------------------------------------------------------------------------------------------------------------


def trim_heap() -> None:
    """Collect garbage and hand freed heap pages back to the system, so a following peak starts from what is live."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
TUNED_MALLOC = {"MMAP_THRESHOLD": 32 << 20, "TRIM_THRESHOLD": 1 << 30, "TOP_PAD": 256 << 20}


def tuned_malloc_env() -> dict[str, str]:
    """The environment variables that give a new process the tuned allocator of `keep_freed_memory`."""
    return {f"MALLOC_{name}_": str(value) for name, value in TUNED_MALLOC.items()}


def keep_freed_memory() -> bool:
    """Tune glibc malloc in this process so freed tensor memory stays in the heap for the next step instead of going
    back to the kernel and being page-faulted in again: large blocks come from the heap up to 32 MiB, the heap is
    trimmed only beyond 1 GiB and grows 256 MiB at a time (`tuned_malloc_env` does the same for a new process).
    Returns False where glibc's `mallopt` is not available."""
    options = {"MMAP_THRESHOLD": _M_MMAP_THRESHOLD, "TRIM_THRESHOLD": _M_TRIM_THRESHOLD, "TOP_PAD": _M_TOP_PAD}
    try:
        libc = ctypes.CDLL("libc.so.6")
        return all(libc.mallopt(options[name], value) == 1 for name, value in TUNED_MALLOC.items())
    except (OSError, AttributeError):
        return False


def resident_mib(field_name: str = "VmRSS") -> float | None:
    """A field of /proc/self/status (VmRSS: resident now, VmHWM: peak) in MiB; None off Linux."""
    try:
        with open("/proc/self/status") as status:
            match = re.search(rf"{field_name}:\s+(\d+)", status.read())
    except OSError:
        return None
    return int(match.group(1)) / 1024 if match else None


def max_rss_mib() -> float:
    """This process's lifetime peak resident set (`ru_maxrss`, KiB on Linux) in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def fused_adamw_supported() -> bool:
    """Whether `torch.optim.AdamW(fused=True)` runs on CPU tensors in this build."""
    try:
        parameter = nn.Parameter(torch.zeros(2))
        parameter.grad = torch.zeros(2)
        torch.optim.AdamW([parameter], fused=True).step()
    except (RuntimeError, TypeError):
        return False
    return True


def top_ops(profiler: torch.profiler.profile, limit: int = 12) -> list[dict]:
    """The operators with the most self CPU time of a profiled step: name, calls, self ms and share."""
    events = [event for event in profiler.key_averages() if event.self_cpu_time_total > 0]
    total = sum(event.self_cpu_time_total for event in events) or 1.0
    events.sort(key=lambda event: event.self_cpu_time_total, reverse=True)
    return [
        {
            "op": event.key,
            "calls": event.count,
            "self_ms": event.self_cpu_time_total / 1000,
            "share": event.self_cpu_time_total / total,
        }
        for event in events[:limit]
    ]


def describe_ops(rows: Sequence[dict]) -> str:
    return ", ".join(f"{row['op']} {row['share']:.0%}" for row in rows)
