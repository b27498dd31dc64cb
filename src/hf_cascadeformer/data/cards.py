"""The dataset card of a built benchmark: a Markdown body (source, licence, protocols, split counts, features,
citation) under the YAML header the Hub reads (``huggingface_hub``'s ``DatasetCard`` / ``DatasetCardData``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import datasets
from huggingface_hub import DatasetCard, DatasetCardData

from .benchmark import Benchmark
from .features import LABEL_COLUMN, SKELETON_COLUMN


def render_card(
    benchmark: Benchmark,
    counts: Mapping[str, Mapping[str, int]],
    features: datasets.Features,
    notes: Iterable[str] = (),
) -> str:
    """The Markdown body of the dataset card: source, licence, protocols, split counts, features, citation."""
    lines = [
        f"# {benchmark.title}: skeleton clips",
        "",
        f"Skeleton sequences of [{benchmark.title}]({benchmark.homepage}) converted from the raw files by "
        f"`dataset_scripts/{benchmark.name}.py` of hf-cascadeformer; "
        f"{len(benchmark.class_names)} action classes.",
        "",
        f"**Licence:** {benchmark.license_text.rstrip('.')}. Anyone using this dataset must accept that licence; it "
        "decides whether the dataset may be shared.",
        "",
        "## Load",
        "",
        "```python",
        "from hf_cascadeformer.data.builders import load_benchmark",
        "",
        f'dataset = load_benchmark("path/or/repo-id", "{next(iter(counts), benchmark.default_config)}")',
        "```",
        "",
        "## Configurations (protocols) and splits",
        "",
        "| configuration | protocol | train | test |",
        "| --- | --- | ---: | ---: |",
    ]
    for config, split_sizes in counts.items():
        protocol = benchmark.configs.get(config, "")
        lines.append(f"| {config} | {protocol} | {split_sizes.get('train', 0):,} | {split_sizes.get('test', 0):,} |")
    lines += ["", "## Features", "", "| column | type | meaning |", "| --- | --- | --- |"]
    meanings = {
        SKELETON_COLUMN: "clip as (frames, persons, joints, channels) float32; joints in the order of skeleton "
        f"layout `{benchmark.layout.name}` (the feature's `id`)",
        LABEL_COLUMN: "action class (0-based)",
        "sample_id": "raw sample name",
        "num_frames": "frames in the clip",
        "num_persons": "persons present",
        **benchmark.columns,
    }
    for name, feature in features.items():
        kind = type(feature).__name__
        if isinstance(feature, datasets.ClassLabel):
            detail = f"{feature.num_classes} classes"
        elif isinstance(feature, datasets.Value):
            detail = feature.dtype
        else:
            detail = f"{getattr(feature, 'shape', '')} {getattr(feature, 'dtype', '')}"
        lines.append(f"| `{name}` | {kind} {detail} | {meanings.get(name, '')} |")
    notes = list(notes)
    if notes:
        lines += ["", "## Notes", ""] + [f"* {note}" for note in notes]
    lines += ["", "## Citation", "", "```bibtex", benchmark.citation, "```", ""]
    return "\n".join(lines)


def dataset_card_data(benchmark: Benchmark) -> DatasetCardData:
    """The dataset card's metadata (licence, name, task, tags) as ``huggingface_hub``'s ``DatasetCardData``."""
    return DatasetCardData(
        license=benchmark.license,
        pretty_name=benchmark.title,
        task_categories=["video-classification"],
        tags=["skeleton", "action-recognition", "hf-cascadeformer"],
    )


def card_with_metadata(benchmark: Benchmark, body: str) -> str:
    """A complete ``README.md``: the Hub's YAML header (:func:`dataset_card_data`) and the body."""
    return str(DatasetCard(f"---\n{dataset_card_data(benchmark).to_yaml()}\n---\n{body}"))
