"""A built benchmark pushed with its builder's --push-to-hub loads back with datasets.load_dataset."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import REPO_ROOT
from hub_server import client_env
from huggingface_hub import DatasetCard

from hf_cascadeformer.data.builders import load_benchmark

LOAD = textwrap.dedent(
    """
    import json
    import datasets
    from huggingface_hub import HfApi
    loaded = datasets.load_dataset("org/nucla", "xview")
    train = loaded["train"].with_format("numpy")
    card = HfApi().hf_hub_download("org/nucla", "README.md", repo_type="dataset")
    print(json.dumps({
        "splits": {name: len(split) for name, split in loaded.items()},
        "names": loaded["train"].features["label"].names,
        "layout": loaded["train"].features["skeleton"].id,
        "first": train[0]["skeleton"].tolist(),
        "first_id": str(train[0]["sample_id"]),
        "card": open(card).read(),
    }))
    """
)


@pytest.mark.slow
def test_nucla_push_to_hub_and_load_dataset_round_trip(hub_server, shared_data, tmp_path):
    output = tmp_path / "nucla"
    env = {**client_env(hub_server.url, tmp_path / "hf-push"), "PYTHONPATH": str(REPO_ROOT / "src")}
    command = [
        sys.executable,
        str(REPO_ROOT / "dataset_scripts" / "nucla.py"),
        "--raw-dir",
        str(shared_data / "nucla" / "all_sqe"),
        "--output-dir",
        str(output),
        "--push-to-hub",
        "org/nucla",
    ]
    built = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    assert "pushed to the Hub as org/nucla" in built.stdout

    loaded = hub_server.run_client(LOAD, tmp_path / "hf-load", timeout=300)
    remote = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert remote["splits"] == {"train": 1020}  # the test view is not in ../shared/data, so only train is pushed
    assert remote["names"][0] == "pick up with one hand" and len(remote["names"]) == 10
    assert remote["layout"] == "nucla"  # the skeleton layout name survives the Hub (data.features.layout_name_of)
    assert "1020" in remote["card"].replace(",", "")
    # The Hub card keeps datasets' own metadata (configs, dataset_info) and gains the benchmark's licence and tags.
    card = DatasetCard(remote["card"]).data
    assert card.license == "cc-by-nc-4.0" and "skeleton" in card.tags and card.pretty_name
    assert card.configs[0]["config_name"] == "xview"

    local = load_benchmark(output)["train"].with_format("numpy")
    first = [i for i in range(len(local)) if local[i]["sample_id"] == remote["first_id"]][0]
    np.testing.assert_array_equal(np.asarray(remote["first"], dtype=np.float32), local[first]["skeleton"])
