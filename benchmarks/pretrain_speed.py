"""Pretraining speed of MAMP-style masked motion prediction and of GFP on the same encoder, side by side.

    python benchmarks/pretrain_speed.py              # NTU setting, fp32 (< 2 min)
    python benchmarks/pretrain_speed.py --quick      # smaller batch, fewer repeats
    python benchmarks/pretrain_speed.py --reference  # also MAMP's public model in plain PyTorch
    python benchmarks/pretrain_speed.py --dtypes fp32,bf16 --profile

The paper's NTU setting: 120 frames x 25 joints x 2 persons, segments of 4 frames (750 tokens per person), width 256,
an 8-layer encoder that sees the visible 10% of the tokens, a 5-layer MAMP decoder over all 750 tokens against
GFP's per-level decoders and target networks. Both objectives run in one process on the same batch, with the same
encoder weights, attention implementation (SDPA), dtype and optimiser (fused AdamW); after a warm-up step their
training steps (forward, backward, optimiser step) alternate, so load from other processes hits both alike, and the
median of the repeats is reported (fewer repeats if `--budget` seconds pass). Peak memory is the growth of the
process's peak resident set during one step. bf16 autocast runs by default only where this CPU multiplies bf16
matrices at least as fast as fp32 ones (ask for it with `--dtypes`).

Also printed: the analytic forward FLOPs per clip of the encoder, the decoders and the target networks (2 FLOPs per
multiply-add, attention products included), cross-checked with PyTorch's FLOP counter. Each step's achieved
GFLOP/s (3x its analytic forward FLOPs per clip, times clips per second) is also given as a share of this machine's
matrix-product peak in the step's dtype, measured in the same run (`common.matmul_gflops`, the better of a
measurement at the start and one after each dtype's steps): the issue's GFP target in bf16 is 70% of it. The output
ends with `ratio: X.XX`, GFP's samples per second over the MAMP-style objective's, in fp32.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package (and an uninstalled src/) importable
    _ROOT = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(_ROOT), str(_ROOT / "src")]

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks import common
from hf_cascadeformer import CascadeFormerConfig, CascadeFormerForMaskedSkeletonModeling

# The paper's figures (GFLOPs per clip, forward).
PAPER_GFLOPS = {"encoder": 1.97, "mamp decoder": 17.70, "gfp decoder": 1.57, "gfp target networks": 0.64}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="batch 4 (bf16: 1), two repeats")
    parser.add_argument("--batch-size", type=int, default=None, help="clips per step in fp32 [8; quick: 4]")
    parser.add_argument("--bf16-batch-size", type=int, default=None, help="clips per step in bf16 [4; quick: 1]")
    parser.add_argument("--repeats", type=int, default=None, help="measured steps per objective [3; quick: 2]")
    parser.add_argument(
        "--dtypes",
        default=None,
        help="comma-separated: fp32, bf16 (autocast) [fp32, plus bf16 when this CPU multiplies bf16 matrices at "
        "least as fast as fp32 ones]",
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="also time a plain re-implementation of MAMP's public model (timm-style blocks, eager attention)",
    )
    parser.add_argument("--mamp-decoder-layers", type=int, default=5, help="MAMP decoder depth [%(default)s]")
    parser.add_argument("--preset", default="ntu60-xsub-gfp", help="encoder and GFP settings [%(default)s]")
    parser.add_argument("--threads", type=int, default=None, help="torch threads [torch's default]")
    parser.add_argument("--profile", action="store_true", help="print the top operators of one step of each")
    parser.add_argument(
        "--budget", type=float, default=100.0, help="stop repeating after this many seconds in all [%(default)s]"
    )
    args = parser.parse_args(argv)
    args.batch_size = args.batch_size or (4 if args.quick else 8)
    args.bf16_batch_size = args.bf16_batch_size or (1 if args.quick else 4)
    args.repeats = args.repeats or (2 if args.quick else 3)
    return args


# ----------------------------------------------------------------------------------------------------------------
# Analytic FLOPs
# ----------------------------------------------------------------------------------------------------------------


def linear_flops(rows: int, fan_in: int, fan_out: int) -> int:
    return 2 * rows * fan_in * fan_out


def layer_flops(tokens: int, width: int, intermediate: int) -> int:
    """One transformer layer on `tokens` tokens: qkv, output projection, MLP, and the two attention products."""
    projections = linear_flops(tokens, width, 3 * width) + linear_flops(tokens, width, width)
    mlp = linear_flops(tokens, width, intermediate) + linear_flops(tokens, intermediate, width)
    attention = 2 * 2 * tokens * tokens * width
    return projections + mlp + attention


def analytic_gflops(config: CascadeFormerConfig, num_frames: int, num_persons: int, mamp_layers: int) -> dict:
    """Forward GFLOPs per clip of each part, for `num_persons` persons."""
    segments = -(-num_frames // config.segment_length)
    tokens = segments * config.num_joints
    visible = tokens - round(tokens * config.mask_ratio)
    width, decoder_width = config.hidden_size, config.decoder_hidden_size
    decoder_mlp = config.decoder_intermediate_size or 4 * decoder_width
    encoder = linear_flops(tokens, config.patch_size, width) + config.num_hidden_layers * layer_flops(
        visible, width, config.intermediate_size
    )
    embed = linear_flops(visible, width, decoder_width)
    mamp = embed + mamp_layers * layer_flops(tokens, decoder_width, decoder_mlp)
    mamp += linear_flops(tokens, decoder_width, config.patch_size)
    gfp, targets = embed, 0
    levels = [(-(-segments // k)) * config.num_joints for k in config.gfp_pool_kernels]
    hidden = [config.gfp_target_hidden_size] * len(levels)
    if config.gfp_global_token:
        levels.append(1)
        hidden.append(config.gfp_global_target_hidden_size)
    size = config.gfp_target_size
    for level_tokens, level_hidden in zip(levels, hidden, strict=True):
        gfp += config.gfp_decoder_num_hidden_layers * layer_flops(level_tokens, decoder_width, decoder_mlp)
        gfp += linear_flops(level_tokens, decoder_width, size)
        targets += linear_flops(level_tokens, config.patch_size, level_hidden)
        targets += linear_flops(level_tokens, level_hidden, level_hidden)
        targets += linear_flops(level_tokens, level_hidden, size)
    scale = num_persons / 1e9
    return {
        "encoder": encoder * scale,
        "mamp decoder": mamp * scale,
        "gfp decoder": gfp * scale,
        "gfp target networks": targets * scale,
    }


def counted_gflops(model: CascadeFormerForMaskedSkeletonModeling, clip: torch.Tensor) -> float:
    """Forward GFLOPs of one clip according to PyTorch's FLOP counter. It does not count the CPU SDPA kernel, so the
    count runs with eager attention (plain matrix products), then the model goes back to its implementation."""
    implementation = model.config._attn_implementation
    model.set_attn_implementation("eager")
    counter = FlopCounterMode(display=False)
    try:
        with counter, torch.no_grad():
            model(clip, seed=0)
    finally:
        model.set_attn_implementation(implementation)
    return counter.get_total_flops() / 1e9


# ----------------------------------------------------------------------------------------------------------------
# MAMP's public model, as plain PyTorch (the baseline the MAMP-style objective must not be slower than)
# ----------------------------------------------------------------------------------------------------------------


class _PlainBlock(torch.nn.Module):
    """A timm-style pre-LN block: qkv Linear, eager softmax attention, GELU MLP."""

    def __init__(self, width: int, heads: int, intermediate: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = torch.nn.LayerNorm(width), torch.nn.LayerNorm(width)
        self.qkv, self.proj = torch.nn.Linear(width, 3 * width), torch.nn.Linear(width, width)
        self.fc1, self.fc2 = torch.nn.Linear(width, intermediate), torch.nn.Linear(intermediate, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows, length, width = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(rows, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        weights = ((q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5).softmax(dim=-1)
        x = x + self.proj((weights @ v).transpose(1, 2).reshape(rows, length, width))
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.norm2(x))))


class MampReference(torch.nn.Module):
    """MAMP's public pretraining model re-expressed in plain PyTorch: Conv2d patch embedding, temporal and joint
    embeddings, motion-aware Gumbel masking, encoder on the visible tokens, decoder over all tokens, normalised
    motion target. Every person is a sequence (absent ones included, as in that code)."""

    def __init__(self, config: CascadeFormerConfig, decoder_layers: int):
        super().__init__()
        width, segments, joints = config.hidden_size, config.max_segments, config.num_joints
        self.config, self.segments, self.joints = config, segments, joints
        self.embed = torch.nn.Conv2d(config.num_channels, width, (config.segment_length, 1), (config.segment_length, 1))
        self.temporal = torch.nn.Parameter(torch.randn(1, segments, 1, width) * 0.02)
        self.joint = torch.nn.Parameter(torch.randn(1, 1, joints, width) * 0.02)
        heads, mlp = config.num_attention_heads, config.intermediate_size
        self.blocks = torch.nn.ModuleList(_PlainBlock(width, heads, mlp) for _ in range(config.num_hidden_layers))
        self.norm = torch.nn.LayerNorm(width)
        self.decoder_embed = torch.nn.Linear(width, width)
        self.mask_token = torch.nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.decoder_temporal = torch.nn.Parameter(torch.randn(1, segments, 1, width) * 0.02)
        self.decoder_joint = torch.nn.Parameter(torch.randn(1, 1, joints, width) * 0.02)
        self.decoder_blocks = torch.nn.ModuleList(_PlainBlock(width, heads, mlp) for _ in range(decoder_layers))
        self.decoder_norm = torch.nn.LayerNorm(width)
        self.head = torch.nn.Linear(width, config.patch_size)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        rows, length, joints, channels = x.shape
        step = self.config.segment_length
        return x.view(rows, length // step, step, joints, channels).transpose(2, 3).reshape(rows, -1, step * channels)

    def forward(self, skeletons: torch.Tensor, seed: int = 0) -> torch.Tensor:
        x = skeletons.flatten(0, 1)  # (N * M, T, V, C)
        rows, length = x.shape[0], self.segments * self.joints
        motion = torch.zeros_like(x)
        motion[:, :-1] = x[:, 1:] - x[:, :-1]
        patches = self.patchify(x).view(rows, self.segments, self.joints, -1)
        tokens = self.embed(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1) + self.temporal + self.joint
        tokens = tokens.reshape(rows, length, -1)
        token_motion = torch.zeros(patches.shape[:3])
        token_motion[:, 1:] = (patches[:, 1:] - patches[:, :-1]).abs().mean(-1)
        token_motion[:, 0] = token_motion[:, 1]
        token_motion = token_motion.reshape(rows, length)
        logits = token_motion / (token_motion.amax(-1, keepdim=True) * self.config.motion_aware_tau + 1e-10)
        uniform = torch.rand(rows, length, generator=torch.Generator().manual_seed(seed))
        noise = logits.softmax(-1).log() - torch.log(-torch.log(uniform + 1e-10) + 1e-10)
        shuffle = noise.argsort(dim=1)
        restore = shuffle.argsort(dim=1)
        keep = length - round(length * self.config.mask_ratio)
        hidden = tokens.gather(1, shuffle[:, :keep, None].expand(-1, -1, tokens.shape[-1]))
        for block in self.blocks:
            hidden = block(hidden)
        hidden = self.decoder_embed(self.norm(hidden))
        hidden = torch.cat([hidden, self.mask_token.expand(rows, length - keep, -1)], dim=1)
        hidden = hidden.gather(1, restore[..., None].expand(-1, -1, hidden.shape[-1]))
        hidden = hidden.view(rows, self.segments, self.joints, -1) + self.decoder_temporal + self.decoder_joint
        hidden = hidden.flatten(1, 2)
        for block in self.decoder_blocks:
            hidden = block(hidden)
        prediction = self.head(self.decoder_norm(hidden))
        target = self.patchify(motion)
        target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
        mask = (restore >= keep).float()
        return (((prediction - target) ** 2).mean(-1) * mask).sum() / mask.sum()


# ----------------------------------------------------------------------------------------------------------------
# Timing and memory
# ----------------------------------------------------------------------------------------------------------------


def _libc_trim() -> None:
    """Hand freed heap memory back to the system, so the next step's peak is measured from a clean baseline."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _resident_kib(field_name: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            match = re.search(rf"{field_name}:\s+(\d+)", status.read())
    except OSError:
        return None
    return int(match.group(1)) if match else None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


@dataclass
class Runner:
    """One objective's model, optimiser and timings."""

    name: str
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    steps: list[float] = field(default_factory=list)
    forward: list[float] = field(default_factory=list)
    backward: list[float] = field(default_factory=list)
    optimizer_step: list[float] = field(default_factory=list)
    peak_mib: float | None = None

    def loss(self, clips: torch.Tensor, seed: int) -> torch.Tensor:
        if isinstance(self.model, MampReference):
            return self.model(clips, seed=seed)
        return self.model(clips, seed=seed).loss

    def step(self, clips: torch.Tensor, bf16: bool, seed: int, record: bool = True, memory: bool = False) -> None:
        if memory:
            _libc_trim()
            before = _resident_kib("VmRSS")
            memory = _reset_peak_rss() and before is not None
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = self.loss(clips, seed)
        forward_done = time.perf_counter()
        loss.backward()
        backward_done = time.perf_counter()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        end = time.perf_counter()
        if memory:
            self.peak_mib = (_resident_kib("VmHWM") - before) / 1024
        if record:
            self.steps.append(end - start)
            self.forward.append(forward_done - start)
            self.backward.append(backward_done - forward_done)
            self.optimizer_step.append(end - backward_done)

    def reset(self) -> None:
        self.steps, self.forward, self.backward, self.optimizer_step, self.peak_mib = [], [], [], [], None


def _optimizer(model: torch.nn.Module) -> torch.optim.Optimizer:
    # The fused CPU kernel: one pass over each parameter instead of a dozen element-wise operations.
    return torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05, fused=True)


def build_runners(args: argparse.Namespace) -> tuple[list[Runner], CascadeFormerConfig]:
    torch.manual_seed(0)
    gfp_config = CascadeFormerConfig.from_preset(args.preset, pretraining_objective="gfp")
    mamp_config = CascadeFormerConfig.from_preset(
        args.preset, pretraining_objective="mamp", decoder_num_hidden_layers=args.mamp_decoder_layers
    )
    mamp = CascadeFormerForMaskedSkeletonModeling(mamp_config).train()
    gfp = CascadeFormerForMaskedSkeletonModeling(gfp_config).train()
    gfp.cascadeformer.load_state_dict(mamp.cascadeformer.state_dict())  # the same encoder
    runners = [Runner("mamp", mamp, _optimizer(mamp)), Runner("gfp", gfp, _optimizer(gfp))]
    if args.reference:
        reference = MampReference(mamp_config, args.mamp_decoder_layers).train()
        runners.append(Runner("mamp-ref", reference, _optimizer(reference)))
    return runners, gfp_config


def make_clips(config: CascadeFormerConfig, batch: int) -> torch.Tensor:
    """Smooth random-walk skeletons (metres), both persons present: the motion-aware mask sees real motion."""
    generator = torch.Generator().manual_seed(1)
    shape = (batch, config.num_persons, config.max_frames, config.num_joints, config.num_channels)
    steps = torch.randn(shape, generator=generator) * 0.01
    return steps.cumsum(2) + torch.randn(shape[:2] + (1,) + shape[3:], generator=generator) * 0.3


def measure(runners: list[Runner], clips: torch.Tensor, bf16: bool, repeats: int, deadline: float) -> int:
    """Warm up, then time `repeats` alternating steps of every runner (fewer if `deadline` passes); returns how many
    repeats were timed."""
    for runner in runners:
        runner.reset()
        runner.step(clips, bf16, seed=0, record=False)  # warm-up
    for repeat in range(repeats):
        # Alternate the objectives, and swap who goes first, so drifting load from other processes hits both.
        order = runners if repeat % 2 == 0 else runners[::-1]
        for runner in order:
            runner.step(clips, bf16, seed=repeat + 1, memory=repeat == 0)
        if time.perf_counter() > deadline:
            return repeat + 1
    return repeats


def profile_step(runner: Runner, clips: torch.Tensor, bf16: bool) -> None:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        runner.step(clips, bf16, seed=99, record=False)
    print(f"\n--- profile: {runner.name}, {'bf16' if bf16 else 'fp32'}, batch {len(clips)} ---")
    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=48))


def bf16_matmul_speedup() -> float:
    """bf16 over fp32 throughput of a 4096 x 256 x 1024 matrix product on this CPU (> 1: bf16 is faster)."""
    times = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(4096, 256, dtype=dtype), torch.randn(256, 1024, dtype=dtype)
        a @ b
        start = time.perf_counter()
        for _ in range(3):
            a @ b
        times[dtype] = time.perf_counter() - start
    return times[torch.float32] / times[torch.bfloat16]


def matmul_peaks(dtypes: list[str]) -> dict[str, float]:
    """GFLOP/s of this machine's best `F.linear` product per dtype (square sizes up to 2048, see
    `common.matmul_gflops`)."""
    torch_dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    return {
        name: common.matmul_gflops(torch_dtypes[name], linear=True, seconds=0.25, windows=2)["gflops"]
        for name in dtypes
    }


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> float:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    began = time.perf_counter()
    load_before = _load()
    runners, config = build_runners(args)
    persons = config.num_persons
    print(
        f"setting: {config.max_frames} frames x {config.num_joints} joints x {persons} persons, segments of "
        f"{config.segment_length} ({config.max_segments * config.num_joints} tokens), width {config.hidden_size}, "
        f"encoder {config.num_hidden_layers} layers on {1 - config.mask_ratio:.0%} visible tokens; MAMP decoder "
        f"{args.mamp_decoder_layers} layers; GFP levels {config.gfp_pool_kernels}"
        f"{' + global' if config.gfp_global_token else ''}, {config.gfp_decoder_num_hidden_layers} layer(s) each, "
        f"targets {config.gfp_target_size}; {torch.get_num_threads()} threads, attention "
        f"{runners[0].model.config._attn_implementation}, AdamW; load average before start {load_before}"
    )
    for runner in runners:
        count = sum(p.numel() for p in runner.model.parameters())
        print(f"parameters {runner.name}: {count / 1e6:.2f} M")

    flops = analytic_gflops(config, config.max_frames, persons, args.mamp_decoder_layers)
    print("\nforward GFLOPs per clip   analytic   paper")
    for part, value in flops.items():
        print(f"  {part:<22} {value:9.2f} {PAPER_GFLOPS[part]:7.2f}")
    mamp_total = flops["encoder"] + flops["mamp decoder"]
    gfp_total = flops["encoder"] + flops["gfp decoder"] + flops["gfp target networks"]
    paper_ratio = (PAPER_GFLOPS["encoder"] + PAPER_GFLOPS["mamp decoder"]) / (
        PAPER_GFLOPS["encoder"] + PAPER_GFLOPS["gfp decoder"] + PAPER_GFLOPS["gfp target networks"]
    )
    one_clip = make_clips(config, 1)
    counted = {runner.name: counted_gflops(runner.model, one_clip) for runner in runners[:2]}
    print(
        f"  total: mamp {mamp_total:.2f} (counted {counted['mamp']:.2f}), gfp {gfp_total:.2f} (counted "
        f"{counted['gfp']:.2f}); compute ratio {mamp_total / gfp_total:.2f} (paper {paper_ratio:.2f})"
    )

    speedup = bf16_matmul_speedup()
    print(f"\nbf16 matrix products on this CPU: {speedup:.2f}x the fp32 throughput")
    if args.dtypes is None:
        dtypes = ["fp32"] + (["bf16"] if speedup >= 1.0 else [])
        if speedup < 1.0:
            print("bf16 autocast skipped: it is slower than fp32 here (no native bf16 matrix units); --dtypes bf16")
    else:
        dtypes = [name.strip() for name in args.dtypes.split(",") if name.strip()]
    peaks = matmul_peaks(dtypes)
    train_gflops = {"mamp": 3 * mamp_total, "gfp": 3 * gfp_total, "mamp-ref": 3 * mamp_total}
    ratios = {}
    for dtype in dtypes:
        if dtype not in ("fp32", "bf16"):
            raise SystemExit(f"unknown dtype {dtype!r}; use fp32 and/or bf16")
        bf16 = dtype == "bf16"
        batch = args.bf16_batch_size if bf16 else args.batch_size
        clips = make_clips(config, batch)
        timed = measure(runners, clips, bf16, args.repeats, began + args.budget)
        print(f"\n{dtype}, batch {batch} clips ({batch * persons} person-sequences), median of {timed}:")
        print("  objective  step s  forward  backward  optimiser  samples/s  peak MiB")
        speed = {}
        for runner in runners:
            step = statistics.median(runner.steps)
            speed[runner.name] = batch / step
            peak = f"{runner.peak_mib:8.0f}" if runner.peak_mib is not None else "       -"
            print(
                f"  {runner.name:<9} {step:7.2f} {statistics.median(runner.forward):8.2f} "
                f"{statistics.median(runner.backward):9.2f} {statistics.median(runner.optimizer_step):10.3f} "
                f"{speed[runner.name]:10.2f} {peak}"
            )
        ratios[dtype] = speed["gfp"] / speed["mamp"]
        print(f"  gfp / mamp samples per second: {ratios[dtype]:.2f}")
        for name, value in matmul_peaks(dtypes).items():  # again at the end: keep the better measurement
            peaks[name] = max(peaks[name], value)
        for runner in runners:
            achieved = train_gflops[runner.name] * speed[runner.name]
            print(
                f"  {runner.name}: {achieved:.1f} GFLOP/s, {achieved / peaks[dtype]:.0%} of this machine's {dtype} "
                f"matrix-product peak ({peaks[dtype]:.0f} GFLOP/s)"
            )
        if "mamp-ref" in speed:
            print(f"  mamp / mamp-ref (MAMP's public model, plain PyTorch): {speed['mamp'] / speed['mamp-ref']:.2f}")
        if args.profile:
            for runner in runners:
                profile_step(runner, clips, bf16)

    load_after = _load()
    print(f"\nwall time {time.perf_counter() - began:.0f} s; load average after {load_after}")
    if max(float(load_before if load_before != "?" else 0), 0) > 0.5 and torch.get_num_threads() > 1:
        print(
            "note: other processes were using the CPU; multi-threaded steps made of many small operations (GFP's)"
            " suffer most from it, so rerun on an idle machine or with --threads 1 for a fair ratio"
        )
    ratio = ratios.get("fp32", next(iter(ratios.values()), float("nan")))
    print(f"ratio: {ratio:.2f}")
    return ratio


if __name__ == "__main__":
    main()
