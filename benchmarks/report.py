"""The markdown report of a benchmark run: `render_markdown(report)` turns the JSON report that `benchmarks.run`
writes (`results/latest.json`) into `results/latest.md`. Rendering only: what is measured and how lives in
`benchmarks.run` (the cases and sections) and `benchmarks.common` (models, inputs, timing)."""

from __future__ import annotations

from typing import Any

from . import common


def fmt(value: float | None, digits: int = 1, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}{suffix}"


SUMMARY_KINDS = {"train": "fine-tuning (AdamW)", "eval": "evaluation forward", "pretrain": "masked pretraining"}


def summary_table(report: dict[str, Any]) -> list[str]:
    """The README's performance table: per step kind of the anchor configuration, the reference's samples per
    second and the package's same-dtype multiples of it (`paper` and `defaults`), fp32 and bf16 autocast."""
    meta = report["meta"]
    anchor_config = report["anchor"]["config"]
    rows = [row for row in report["model_steps"] if row["config"] == anchor_config]
    if not rows:
        return []

    def cell(kind: str, variant: str, dtype: str) -> str:
        row = next((r for r in rows if r["kind"] == kind and r["variant"] == variant and r["dtype"] == dtype), None)
        if row is None:
            return "-"
        if variant == "reference":
            return f"{row['samples_per_s']:.1f}/s"
        return f"{fmt(row.get('vs_reference_same_dtype'), 2)}x"

    def batch(kind: str, dtype: str) -> str:
        row = next((r for r in rows if r["kind"] == kind and r["dtype"] == dtype), None)
        return "-" if row is None else str(row["batch"])

    dtypes = ("fp32", "bf16") if meta["native_bf16"] else ("fp32",)
    frames = rows[0]["frames"]
    batches = sorted({r["batch"] for r in rows if r["kind"] in SUMMARY_KINDS})
    shares = ", ".join(f"{common.valid_share(b, frames):.0%} at batch {b}" for b in batches)
    head = " | ".join(f"batch | reference {d} | paper layers {d} | defaults {d}" for d in dtypes)
    lines = [
        "## Summary: same dtype against the reference",
        "",
        f"{anchor_config}, {frames} frames, mixed clip lengths ({shares} valid frames), at the batch shown "
        f"(the requested one unless a step had to shrink to fit the time cap); {meta['threads']} threads on "
        f"{meta['cpu']} ({meta['cpu_capability']}). Reference: samples per second; package: multiples of the "
        "reference in the same dtype, measured side by side in one process.",
        "",
        f"| step | {head} |",
        "|---|" + "---|" * (4 * len(dtypes)),
    ]
    for kind, name in SUMMARY_KINDS.items():
        cells = " | ".join(
            " | ".join([batch(kind, d)] + [cell(kind, v, d) for v in ("reference", "paper", "defaults")])
            for d in dtypes
        )
        lines.append(f"| {name} | {cells} |")
    if not meta["native_bf16"]:
        lines += [
            "",
            "bf16 is not in this table: this CPU has no native bf16 matrix instructions, so bf16 products run "
            "several times slower than fp32, and bf16 steps (left out unless `--bf16` asks for them, then at the "
            "small batches they shrink to) say nothing about a CPU that has them.",
        ]
    return lines + [""]


def render_markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    peaks = report["matmul_peak"]
    anchor = report["anchor"]
    anchor_config, anchor_speeds, anchor_peak = anchor["config"], anchor["samples_per_s"], anchor["peak_gflops"]
    lines = [
        f"# hf-cascadeformer benchmarks ({'quick' if meta['quick'] else 'full'} run)",
        "",
        f"{meta['cpu']} ({meta['cpu_capability']}, native bf16: {meta['native_bf16']}), torch {meta['torch']}, "
        f"{meta['threads']} threads, OMP_WAIT_POLICY={meta['omp_wait_policy']}, "
        f"{meta.get('allocator', 'default')} allocator; load average {meta['load_before'][0]:.2f} before, "
        f"{meta['load_after'][0]:.2f} after; {meta['wall_s']:.0f} s.",
        f"Matrix-product peak measured in this run: fp32 {peaks['fp32']['gflops']:.0f} GFLOP/s, bf16 "
        f"{peaks['bf16']['gflops']:.0f} GFLOP/s (the anchor's machine: about {anchor_peak['fp32']:g} and "
        f"{anchor_peak['bf16']:g}).",
        "",
        *summary_table(report),
        "## Model steps",
        "",
        "Samples per second (median of the repeats), side by side with the plain-PyTorch reference step in each "
        "group. `x ref` is over the reference step of the same group in the same dtype (bf16 autocast and bf16 "
        "weights over the reference under bf16 autocast, what a user of the official code would run); `x ref fp32` "
        "over the reference fp32 step of the same group; `x anchor` over the official code's fp32 numbers on the "
        f"anchor's machine ({', '.join(f'{k} {v:g}/s' for k, v in anchor_speeds.items())}; N-UCLA 1.1 only, "
        "another machine: for information). `paper`: post-LN, ReLU, 2048, padding unmasked; `defaults`: the "
        "package defaults (pre-LN, GELU, 1024, padding masked).",
        "",
        "| config | step | model | batch | frames | samples/s | x ref | x ref fp32 | x anchor | GFLOP/s | % peak | "
        "faults/step |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["model_steps"]:
        lines.append(
            f"| {row['config']} | {row['kind']} | {row['label']} | {row['batch']} | {row['frames']} | "
            f"{row['samples_per_s']:.1f} | {fmt(row.get('vs_reference_same_dtype'), 2)} | "
            f"{fmt(row['vs_reference_fp32'], 2)} | {fmt(row['vs_anchor'], 2)} | "
            f"{row['gflops_per_s']:.1f} | {row['peak_share']:.0%} | {row.get('minor_faults_per_step', 0):.0f} |"
        )
    if report["targets"]:
        lines += [
            "",
            f"## Targets ({anchor_config}, measured against the reference step of the same run)",
            "",
            "| target | model | required | measured | met | margin |",
            "|---|---|---|---|---|---|",
        ]
        for target in report["targets"]:
            memory = "RSS" in target["target"]
            required = f"{target['required']:.0f} MiB" if memory else f"{target['required']:g}x"
            measured = (
                f"{target['measured_vs_reference']:.0f} MiB"
                if memory
                else f"{target['measured_vs_reference']:.2f}x ({target['dtype']})"
            )
            lines.append(
                f"| {target['target']} | {target['variant']} | {required} | {measured} | "
                f"{'yes' if target['met'] else 'no'} | {target['margin']:+.0%} |"
            )
    if report["levers"]:
        lines += [
            "",
            "## Levers",
            "",
            "| group | step | model | batch | samples/s | x first row | faults/step | note |",
            "|---|---|---|---|---|---|---|---|",
        ]
        firsts: dict[tuple[str, str], float] = {}
        for row in report["levers"]:
            first = firsts.setdefault((row["group"], row["kind"]), row["samples_per_s"])
            note = ""
            if row.get("compile_s") is not None:
                note = f"compile {row['compile_s']:.0f} s"
            if row.get("vs_default_allocator") is not None:
                note = f"{row['vs_default_allocator']:.2f}x the default allocator"
            lines.append(
                f"| {row['group']} | {row['kind']} | {row['label']} | {row['batch']} | {row['samples_per_s']:.1f} | "
                f"{row['samples_per_s'] / first:.2f} | {row.get('minor_faults_per_step', 0):.0f} | {note} |"
            )
    if report["sweeps"]:
        lines += [
            "",
            "## Cost against clip length and batch size (fp32, ms per sample)",
            "",
            "| sweep | frames | batch | step | reference | paper | defaults |",
            "|---|---|---|---|---|---|---|",
        ]
        keyed: dict[tuple, dict[str, dict]] = {}
        main = [
            {**row, "sweep": "frames"}
            for row in report["model_steps"]
            if row["config"] == anchor_config
            and row["dtype"] == "fp32"
            and row["kind"] in ("train", "eval")
            and row["group"].endswith("fp32")
        ]
        for row in sorted(main + report["sweeps"], key=lambda row: (row["sweep"], row["frames"], row["batch"])):
            keyed.setdefault((row["sweep"], row["frames"], row["batch"], row["kind"]), {})[row["variant"]] = row
        for (sweep, frames, batch, kind), variants in keyed.items():
            cells = [
                fmt(variants[v]["ms_per_sample"], 1) if v in variants else "-"
                for v in ("reference", "paper", "defaults")
            ]
            lines.append(f"| {sweep} | {frames} | {batch} | {kind} | " + " | ".join(cells) + " |")
    if report["memory"]:
        lines += [
            "",
            "## Peak memory (one step in a fresh process, peak resident set VmHWM)",
            "",
            "| step | model | batch | peak RSS MiB | step growth MiB |",
            "|---|---|---|---|---|",
        ]
        for row in report["memory"]:
            lines.append(
                f"| {row['kind']} | {row['label']} | {row['batch']} | {row['peak_rss_mib']:.0f} | "
                f"{row['step_growth_mib']:.0f} |"
            )
    data = report.get("data")
    if data:
        lines += ["", "## Data side (clips per second)", ""]
        for name, entry in data["builders"].items():
            builds = ", ".join(f"{v:.0f} ({k.split('_')[-1]})" for k, v in entry.items() if k.startswith("build"))
            lines.append(
                f"* builder {name}: {entry['files']} files, parse {entry['parse_clips_per_s']:.0f}, "
                f"parse + write Arrow {builds}"
            )
        pipeline = data.get("pipeline")
        if pipeline:
            lines.append(
                f"* training pipeline on {pipeline['source']} ({pipeline['clips']} clips): Array4D reads "
                f"{pipeline['array4d_read_clips_per_s']:.0f}, augmentation {pipeline['augment_clips_per_s']:.0f}, "
                f"collation {pipeline['collate_clips_per_s']:.0f}; DataLoader 0 workers "
                f"{pipeline['loader_0w_clips_per_s']:.0f}, 2 workers {pipeline['loader_2w_clips_per_s']:.0f}"
            )
            if data.get("fastest_train_samples_per_s"):
                lines.append(
                    f"* fastest {anchor_config} fine-tuning step measured: "
                    f"{data['fastest_train_samples_per_s']:.1f} samples/s"
                )
    if report.get("flops"):
        lines += ["", "## FLOPs per sample (fine-tuning step, paper layers)", ""]
        for config, entry in report["flops"].items():
            lines.append(
                f"* {config}: analytic {entry['analytic_train'] / 1e9:.2f} GFLOP, FlopCounterMode "
                f"{entry['counted_train'] / 1e9:.2f} GFLOP"
            )
    if report.get("profile"):
        lines += ["", "## Profile of one fine-tuning step (top operators by self CPU time)", ""]
        for label, entry in report["profile"].items():
            lines.append(
                f"* {label} (batch {entry['batch']}, {entry['step_s']:.2f} s): "
                + common.describe_ops(entry["top_ops"][:8])
            )
    if report["notes"]:
        lines += ["", "## Notes", ""] + [f"* {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"
