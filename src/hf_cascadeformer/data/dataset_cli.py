"""The command line of the dataset scripts (``dataset_scripts/<benchmark>.py``, ``cascadeformer prepare``): parse the
options, build and save (and push) one protocol of a benchmark, print the counts. Errors of the input are one line on
stderr with exit code 1, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import datasets
import numpy as np

from .benchmark import Benchmark, BuildError
from .benchmarks import get_benchmark
from .builders import build_and_save, class_counts, push_dataset_dict, split_counts
from .cards import card_with_metadata, dataset_card_data, render_card
from .features import LABEL_COLUMN


def _available_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):  # honours CPU limits set on the process (containers, taskset)
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def make_parser(benchmark: Benchmark) -> argparse.ArgumentParser:
    """The argument parser every dataset script shares (``--missing-list`` only for NTU)."""
    parser = argparse.ArgumentParser(
        prog=f"{benchmark.name}.py",
        description=f"Build the {benchmark.title} skeleton dataset (train/test DatasetDict) from raw files.",
        epilog=f"Load the result with hf_cascadeformer.data.builders.load_benchmark(OUT). Licence: "
        f"{benchmark.license_text.rstrip('.')}.",
    )
    parser.add_argument("--raw-dir", required=True, type=Path, help=f"raw data: {benchmark.raw_folder}")
    parser.add_argument("--output-dir", required=True, type=Path, help="where the dataset is saved (replaced)")
    parser.add_argument(
        "--config",
        choices=list(benchmark.configs),
        default=benchmark.default_config,
        help="evaluation protocol: " + "; ".join(f"{name} = {text}" for name, text in benchmark.configs.items()),
    )
    parser.add_argument("--push-to-hub", metavar="ORG/NAME", help="also upload as this Hub dataset (config = --config)")
    parser.add_argument(
        "--num-proc", type=int, default=_available_cpus(), help="parsing processes (default: the usable CPUs)"
    )
    parser.add_argument("--strict", action="store_true", help="stop at the first malformed raw file")
    if benchmark.name.startswith("ntu"):
        parser.add_argument(
            "--missing-list",
            type=Path,
            help="the official *_samples_with_missing_skeletons.txt: its clips are skipped without reading",
        )
    return parser


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


def _class_summary(dataset: datasets.Dataset) -> str:
    counts = class_counts(dataset)
    names = dataset.features[LABEL_COLUMN].names
    present = np.flatnonzero(counts)
    summary = (
        f"{_plural(len(present), 'class', 'classes')}, {counts[present].min()}-{counts[present].max()} clips per class"
    )
    absent = [names[index] for index in np.flatnonzero(counts == 0)]
    if absent:
        shown = ", ".join(absent[:5]) + (", ..." if len(absent) > 5 else "")
        summary += f"; {_plural(len(absent), 'class', 'classes')} without clips ({shown})"
    return summary


def run_cli(benchmark_name: str, argv: Sequence[str] | None = None) -> int:
    """Run a dataset script: parse ``argv``, build, save (and push), print counts. Returns the exit code."""
    benchmark = get_benchmark(benchmark_name)
    args = make_parser(benchmark).parse_args(argv)
    if not sys.stderr.isatty():
        datasets.disable_progress_bars()  # no bar fragments in logs; ours is off there too
    try:
        return _run(benchmark, args)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted; {args.output_dir} was left as it was", file=sys.stderr)
        return 130


def _run(benchmark: Benchmark, args: argparse.Namespace) -> int:
    if args.num_proc < 1:
        raise BuildError("--num-proc must be at least 1")
    options = {"missing_list": args.missing_list} if getattr(args, "missing_list", None) is not None else {}
    plan = benchmark.plan(args.raw_dir, args.config, **options)
    for note in plan.notes:
        print(f"note: {note}")
    info = datasets.DatasetInfo(
        description=f"{benchmark.title} skeleton clips, protocol {args.config}",
        citation=benchmark.citation,
        homepage=benchmark.homepage,
        license=benchmark.license_text,
        config_name=args.config,
    )

    def card(dataset_dict: datasets.DatasetDict) -> str:
        body = render_card(benchmark, {args.config: split_counts(dataset_dict)}, plan.features, plan.notes)
        return card_with_metadata(benchmark, body)

    start = time.perf_counter()
    dataset_dict, bad_files = build_and_save(
        plan.items,
        plan.load_fn,
        plan.split_fn,
        plan.features,
        args.output_dir,
        card=card,
        num_proc=args.num_proc,
        strict=args.strict,
        info=info,
    )
    seconds = time.perf_counter() - start

    print(f"{benchmark.title} ({args.config}): {len(plan.items)} raw files read in {seconds:.1f} s")
    for split, dataset in dataset_dict.items():
        if len(dataset):
            print(f"  {split}: {_plural(len(dataset), 'clip', 'clips')}, {_class_summary(dataset)}")
        else:
            reason = f": {benchmark.test_split_note}" if benchmark.test_split_note else ""
            print(f"  {split}: 0 clips (empty split{reason})")
    for _path, message in bad_files:
        print(f"bad file: {message}", file=sys.stderr)
    if bad_files:
        count = _plural(len(bad_files), "malformed raw file", "malformed raw files")
        print(f"{count} skipped (--strict stops at the first)", file=sys.stderr)
    print(f"saved to {Path(args.output_dir).expanduser().absolute()}")

    if args.push_to_hub:

        def hub_card(counts: Mapping[str, Mapping[str, int]]) -> str:
            return render_card(benchmark, counts, plan.features, plan.notes)

        try:
            push_dataset_dict(
                dataset_dict, args.push_to_hub, args.config, hub_card, card_data=dataset_card_data(benchmark)
            )
        except Exception as exc:  # network, login, permissions: the local build is complete all the same
            raise BuildError(f"saved locally, but pushing to {args.push_to_hub} failed: {exc}") from exc
        print(f"pushed to the Hub as {args.push_to_hub} (configuration {args.config})")
    return 0
