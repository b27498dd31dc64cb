"""benchmarks/ keeps working: one tiny measurement through every code path the suite uses, structure and sanity
only (no timing assertions: the numbers depend on the machine and its load)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from conftest import REPO_ROOT

from hf_cascadeformer import CascadeFormerForSequenceClassification

TINY = {
    "num_joints": 5,
    "num_channels": 3,
    "max_frames": 16,
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "layer_norm_position": "post",
    "hidden_act": "relu",
    "num_labels": 3,
}


@pytest.fixture(scope="module")
def bench():
    """The `benchmarks.run` module of the `benchmarks` package (the repository root on the path), with a tiny
    configuration registered. One torch thread: on shared cores, spinning OpenMP workers make tiny two-thread steps
    tens of times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from benchmarks import run as module

    module.CUSTOM_CONFIGS["tiny"] = TINY
    yield module
    module.CUSTOM_CONFIGS.pop("tiny", None)
    torch.set_num_threads(threads)


def tiny_suite(bench):
    # A generous cap: it only skips optional parts when a step is slow, which a loaded machine must not turn into a
    # missing row.
    settings = bench.make_settings(quick=True, time_limit=900)
    return bench.Suite(settings, bench.ModelCache(), {"fp32": 10.0, "bf16": 10.0}, [])


def test_a_measured_group_has_sane_rows_and_renders(bench):
    suite = tiny_suite(bench)
    cases = [
        bench.Case("tiny", "reference", "train"),
        bench.Case("tiny", "paper", "train"),
        bench.Case("tiny", "defaults", "train", "bf16"),
        bench.Case("tiny", "paper", "pretrain"),
    ]
    rows = suite.measure("tiny train", cases, batch=2, frames=8, fixed_batch=True)
    assert [row["label"] for row in rows] == [case.label for case in cases]
    # The bf16 row has no bf16 reference in this group: no same-dtype ratio rather than a cross-dtype one.
    assert rows[2]["vs_reference_same_dtype"] is None and rows[2]["vs_reference_fp32"] > 0
    assert rows[1]["vs_reference_same_dtype"] == pytest.approx(rows[1]["vs_reference_fp32"])
    for row in rows:
        assert row["batch"] == 2 and row["frames"] == 8
        assert row["samples_per_s"] > 0 and row["gflops_per_s"] > 0
        assert len(row["times_s"]) >= suite.settings.min_repeats
        assert row["median_s"] == pytest.approx(sorted(row["times_s"])[len(row["times_s"]) // 2])
    assert rows[0]["vs_reference_fp32"] == pytest.approx(1.0)
    assert rows[0]["optimizer_kind"] == "loop"  # the reference runs PyTorch's default AdamW, as the official code

    evaluation = suite.measure("tiny eval", [bench.Case("tiny", "paper", "eval")], batch=2, frames=8, fixed_batch=True)
    report = {
        "meta": {
            **bench.machine_info(torch.get_num_threads()),
            "quick": True,
            "load_after": [0.0, 0.0, 0.0],
            "wall_s": 1.0,
        },
        "matmul_peak": {"fp32": {"gflops": 10.0}, "bf16": {"gflops": 10.0}},
        "anchor": {"config": "nucla-1.1", "samples_per_s": {"eval": 1.0}, "peak_gflops": {"fp32": 1, "bf16": 1}},
        "model_steps": rows + evaluation,
        "targets": [],
        "levers": evaluation,
        "sweeps": [{**row, "sweep": "frames"} for row in rows],
        "memory": [],
        "data": None,
        "notes": ["a note"],
    }
    markdown = bench.render_markdown(report)
    assert "| tiny | train | reference fp32 | 2 | 8 |" in markdown
    assert "| tiny | eval | paper fp32 | 2 | 8 |" in markdown
    assert "| tiny | train | defaults bf16 | 2 | 8 | " in markdown
    assert "* a note" in markdown
    json.dumps(report, default=float)  # the JSON report can be written


def test_analytic_flops_agree_with_the_flop_counter(bench):
    counted = bench.counted_flops("tiny", 8)
    assert counted["analytic_train"] == pytest.approx(counted["counted_train"], rel=0.05)


def test_reference_model_has_the_official_shape(bench):
    """The plain-PyTorch reference has exactly the package's paper-layer parameters: N-UCLA 1.1 with 10 classes is
    the official 11,327,286 minus the two unused classes of the official head (2 x 257)."""
    common = bench.common
    config = bench.model_config("nucla-1.1", "paper")
    reference = common.ReferenceCascadeFormer(config)
    package = CascadeFormerForSequenceClassification(config)
    assert common.parameter_count(reference) == common.parameter_count(package) == 11_327_286 - 2 * 257
    batch = common.make_batch(config, 3, 12)
    assert reference(batch.skeletons).shape == (3, 10)
    assert batch.attention_mask[0].all() and not batch.attention_mask[1].all()
    assert (batch.skeletons[batch.attention_mask == 0] == 0).all()


def test_memory_worker_and_pipeline_report_numbers(bench, capsys):
    spec = {
        "mode": "memory",
        "case": {"config": "tiny", "variant": "paper", "kind": "train"},
        "batch": 2,
        "frames": 8,
        "threads": 1,
    }
    bench.worker(json.dumps(spec))  # sets the thread count of the spec (the fixture restores it)
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["peak_rss_mib"] >= result["rss_before_step_mib"] > 0
    assert result["step_s"] > 0

    cases = [
        {"case": {"config": "tiny", "variant": variant, "kind": "eval"}, "batch": 2}
        for variant in ("reference", "paper")
    ]
    bench.worker(json.dumps({"mode": "throughput", "cases": cases, "frames": 8, "repeats": 2, "threads": 1}))
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert sorted(result) == ["eval paper fp32", "eval reference fp32"]
    assert all(entry["median_s"] > 0 and entry["faults"] >= 0 for entry in result.values())

    from hf_cascadeformer.data.synthetic import load_synthetic_dataset

    dataset = load_synthetic_dataset(num_train_subjects=1, num_test_subjects=1, clips_per_action_per_subject=1)
    pipeline = bench.pipeline_rows(dataset["train"], batch=4, frames=16, source="synthetic")
    assert pipeline["clips"] == len(dataset["train"])
    for key in ("array4d_read", "augment", "collate", "loader_0w", "loader_2w"):
        assert pipeline[f"{key}_clips_per_s"] > 0


@pytest.mark.slow
def test_allocator_rows_compare_fresh_processes_of_both_allocators(bench):
    """The full run's allocator section: one fresh worker process per allocator setting, each building the tiny
    configuration registered in this process (it travels with the spec)."""
    suite = tiny_suite(bench)
    rows = bench.allocator_rows(suite, "tiny", {"train": 2, "eval": 2}, frames=8)
    assert suite.notes == []
    assert len(rows) == 12  # (reference, paper, defaults) x (train, eval) x (default, tuned allocator)
    groups = {row["group"] for row in rows}
    assert groups == {"allocator default (fresh process)", "allocator tuned (fresh process)"}
    for row in rows:
        assert row["samples_per_s"] > 0 and row["minor_faults_per_step"] >= 0 and row["processes"] == 1
        assert row["matmul_dtype"] == "fp32" and row["batch"] == 2
    tuned = [row for row in rows if row["group"].startswith("allocator tuned")]
    for row in tuned:
        default = bench.find_row(rows, label=row["label"], kind=row["kind"], group="allocator default (fresh process)")
        assert row["vs_default_allocator"] == pytest.approx(row["samples_per_s"] / default["samples_per_s"])
    markdown_rows = bench.render_markdown(
        {
            "meta": {**bench.machine_info(1), "quick": False, "load_after": [0.0] * 3, "wall_s": 1.0},
            "matmul_peak": {"fp32": {"gflops": 10.0}, "bf16": {"gflops": 10.0}},
            "anchor": {"config": "nucla-1.1", "samples_per_s": {}, "peak_gflops": {"fp32": 1, "bf16": 1}},
            "model_steps": [],
            "targets": [],
            "levers": rows,
            "sweeps": [],
            "memory": [],
            "data": None,
            "notes": [],
        }
    )
    assert "allocator tuned (fresh process)" in markdown_rows


def test_bf16_groups_compare_with_the_reference_under_bf16_autocast(bench):
    """Every ratio is same dtype against same dtype: a bf16 group holds the reference fp32 and bf16 steps, bf16
    rows (autocast and bf16 weights) are over the bf16 reference, and the fused evaluation kernel's lever runs
    next to the layer-by-layer path. The summary table and the same-dtype targets come out of the rows."""
    suite = tiny_suite(bench)
    rows = bench.model_rows(suite, "tiny", 2, 8, ("paper", "defaults"), ("fp32", "bf16"))
    evaluation = [row for row in rows if row["kind"] == "eval" and row["group"] == "tiny eval bf16"]
    labels = [row["label"] for row in evaluation]
    assert labels[:2] == ["reference fp32", "reference bf16"]
    assert "paper bf16-weights" in labels and "defaults bf16" in labels
    reference_bf16 = evaluation[1]["samples_per_s"]
    for row in evaluation[2:]:
        assert row["vs_reference_same_dtype"] == pytest.approx(row["samples_per_s"] / reference_bf16)
    fp32_eval = bench.find_row(rows, group="tiny eval fp32", variant="paper")
    assert fp32_eval["vs_reference_same_dtype"] == pytest.approx(fp32_eval["vs_reference_fp32"])

    lever = suite.measure(
        "tiny levers",
        [bench.Case("tiny", "paper", "eval"), bench.Case("tiny", "paper", "eval", fused=False)],
        batch=2,
        frames=8,
        fixed_batch=True,
    )
    assert [row["label"] for row in lever] == ["paper fp32", "paper fp32 layer-by-layer"]
    layered = suite.cache.model(bench.Case("tiny", "paper", "eval", fused=False))
    assert not layered.cascadeformer.encoder.fused_inference
    padded_attention = suite.cache.model(bench.Case("tiny", "defaults", "eval", packed=False))
    assert not padded_attention.cascade_encoder.packed_inference and padded_attention.cascade_encoder.fused_inference
    assert bench.Case("tiny", "defaults", "eval", packed=False).label == "defaults fp32 padded-attention"

    report = {
        "meta": {**bench.machine_info(1), "quick": True, "load_after": [0.0] * 3, "wall_s": 1.0},
        "matmul_peak": {"fp32": {"gflops": 10.0}, "bf16": {"gflops": 10.0}},
        "anchor": {"config": "tiny", "samples_per_s": {}, "peak_gflops": {"fp32": 1, "bf16": 1}},
        "model_steps": rows,
        "targets": [],
        "levers": [],
        "sweeps": [],
        "memory": [],
        "data": None,
        "notes": [],
    }
    markdown = bench.render_markdown(report)
    summary = markdown.split("## Summary: same dtype against the reference")[1].split("## Model steps")[0]
    reference_fp32 = bench.find_row(rows, group="tiny eval fp32", variant="reference")["samples_per_s"]
    paper_eval = fp32_eval["vs_reference_same_dtype"]
    assert f"| evaluation forward | 2 | {reference_fp32:.1f}/s | {paper_eval:.2f}x |" in summary
    assert ("defaults bf16" in summary) == report["meta"]["native_bf16"]

    targets = bench.evaluate_targets(
        [
            {**row, "config": bench.ANCHOR_CONFIG, "group": row["group"].replace("tiny", bench.ANCHOR_CONFIG)}
            for row in rows
        ],
        [],
        native_bf16=False,
    )
    assert {(t["target"].split(" >=")[0], t["variant"]) for t in targets} == {
        (f"{kind} fp32", variant) for kind in ("train", "eval") for variant in ("paper", "defaults")
    }
    for target in targets:
        assert target["met"] == (target["measured_vs_reference"] >= target["required"])


def test_benchmark_scripts_run_as_scripts():
    """`python benchmarks/run.py` and `python benchmarks/pretrain_speed.py` import the package they belong to."""
    for script in ("run.py", "pretrain_speed.py"):
        done = subprocess.run(
            [sys.executable, str(REPO_ROOT / "benchmarks" / script), "--help"], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert "usage:" in done.stdout
