"""The Hub test server, driven only through the real ``huggingface_hub``, ``transformers`` and ``datasets``.

Each client runs in a fresh subprocess (``HF_ENDPOINT`` is read at import) with its own ``HF_HOME``, so nothing
is served from a cache an earlier step filled. Subprocesses hand their results back as files or as one JSON
line; the assertions are made here.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hub_server import HubServer, client_env, finish_client, hub_server_fixture  # noqa: F401  (the fixture)
from safetensors.numpy import load_file, save_file


def last_json_line(result: subprocess.CompletedProcess) -> dict:
    """The JSON object a client printed as its last line (libraries may print before it)."""
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_upload_then_download_at_each_revision(hub_server: HubServer, tmp_path: Path) -> None:
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"hidden_size": 4, "model_type": "tiny"}))
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# tiny model\n")
    weights = {"weight": np.arange(24, dtype=np.float32).reshape(4, 6), "bias": np.ones(6, dtype=np.float16)}
    save_file(weights, str(folder / "model.safetensors"))
    new_config = json.dumps({"hidden_size": 8, "model_type": "tiny"})

    upload = f"""
import json
from huggingface_hub import HfApi
api = HfApi()
url = api.create_repo("org/tiny-model")
again = api.create_repo("org/tiny-model", exist_ok=True)
first = api.upload_folder(repo_id="org/tiny-model", folder_path={str(folder)!r}).oid
api.upload_file(path_or_fileobj={new_config!r}.encode(), path_in_repo="config.json", repo_id="org/tiny-model")
second = api.delete_file("README.md", repo_id="org/tiny-model").oid
print(json.dumps({{"url": url, "again": again, "first": first, "second": second}}))
"""
    pushed = last_json_line(hub_server.run_client(upload, tmp_path / "home_upload"))
    assert pushed["url"] == pushed["again"] == f"{hub_server.url}/org/tiny-model"
    first = pushed["first"]

    download = f"""
import json
from huggingface_hub import HfApi, HfFileSystem, hf_hub_download, snapshot_download
api = HfApi()
names = ["config.json", "model.safetensors", "README.md"]
out = {{
    "snapshot_first": snapshot_download("org/tiny-model", revision={first!r}),
    "files_first": {{n: hf_hub_download("org/tiny-model", n, revision={first!r}) for n in names}},
    "snapshot_main": snapshot_download("org/tiny-model"),
    "config_main": hf_hub_download("org/tiny-model", "config.json"),
    "list_first": api.list_repo_files("org/tiny-model", revision={first!r}),
    "list_main": api.list_repo_files("org/tiny-model"),
    "sha_main": api.model_info("org/tiny-model").sha,
    "history": [c.commit_id for c in api.list_repo_commits("org/tiny-model")],
    "branches": [[b.name, b.target_commit] for b in api.list_repo_refs("org/tiny-model").branches],
    "user": api.whoami()["name"],
}}
paths = api.get_paths_info("org/tiny-model", ["model.safetensors", "missing"], revision={first!r})
out["paths_info"] = [[p.path, p.size] for p in paths]
with HfFileSystem().open("org/tiny-model/model.safetensors", "rb", revision={first!r}) as f:  # Range reads
    f.seek(8)
    out["range_bytes"] = f.read(16).hex()
print(json.dumps(out))
"""
    got = last_json_line(hub_server.run_client(download, tmp_path / "home_download"))

    for name in ("config.json", "model.safetensors", "README.md"):
        original = (folder / name).read_bytes()
        assert Path(got["files_first"][name]).read_bytes() == original
        assert (Path(got["snapshot_first"]) / name).read_bytes() == original
    downloaded = load_file(got["files_first"]["model.safetensors"])
    for key, value in weights.items():
        np.testing.assert_array_equal(downloaded[key], value)
        assert downloaded[key].dtype == value.dtype
    assert bytes.fromhex(got["range_bytes"]) == (folder / "model.safetensors").read_bytes()[8:24]
    assert got["paths_info"] == [["model.safetensors", (folder / "model.safetensors").stat().st_size]]

    # The second and third commits changed config.json and removed README.md; the first revision is unchanged.
    assert sorted(got["list_first"]) == [".gitattributes", "README.md", "config.json", "model.safetensors"]
    assert sorted(got["list_main"]) == [".gitattributes", "config.json", "model.safetensors"]
    assert Path(got["config_main"]).read_text() == new_config
    assert (Path(got["snapshot_main"]) / "config.json").read_text() == new_config
    assert not (Path(got["snapshot_main"]) / "README.md").exists()
    assert got["sha_main"] == pushed["second"] != first
    assert got["history"][0] == pushed["second"] and first in got["history"]
    assert got["branches"] == [["main", pushed["second"]]]
    assert got["user"] == hub_server.username
    assert len(got["history"]) == 4  # the repo's initial commit, the folder, config.json, the deletion


@pytest.mark.slow
def test_transformers_push_to_hub_then_from_pretrained(hub_server: HubServer, tmp_path: Path) -> None:
    inputs = """
import json
import numpy as np
import torch
input_ids = torch.tensor([[2, 7, 11, 5, 3, 0]])
attention_mask = torch.tensor([[1, 1, 1, 1, 1, 0]])
"""
    push = f"""{inputs}
from transformers import BertConfig, BertModel
torch.manual_seed(0)
config = BertConfig(vocab_size=32, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=24, max_position_embeddings=16)
model = BertModel(config).eval()
model.push_to_hub("org/tiny-bert")
with torch.no_grad():
    output = model(input_ids, attention_mask=attention_mask).last_hidden_state
np.save({str(tmp_path / "pushed.npy")!r}, output.numpy())
"""
    # The loader imports transformers (most of its run time) while the push runs, then waits for a line on
    # stdin: it has had no contact with the Hub before the repo exists.
    load = f"""{inputs}
from huggingface_hub import HfApi
from transformers import AutoModel, BertModel
input()
model = AutoModel.from_pretrained("org/tiny-bert").eval()
with torch.no_grad():
    output = model(input_ids, attention_mask=attention_mask).last_hidden_state
np.save({str(tmp_path / "loaded.npy")!r}, output.numpy())
print(json.dumps({{"class": type(model).__name__, "files": HfApi().list_repo_files("org/tiny-bert")}}))
"""
    loader = hub_server.start_client(load, tmp_path / "home_load")
    try:
        hub_server.run_client(push, tmp_path / "home_push")
        got = last_json_line(finish_client(loader, input="pushed\n"))
    finally:
        loader.kill()  # no-op when it has finished

    assert got["class"] == "BertModel"
    assert {"config.json", "model.safetensors"} <= set(got["files"])
    pushed, loaded = np.load(tmp_path / "pushed.npy"), np.load(tmp_path / "loaded.npy")
    assert pushed.shape == (1, 6, 16)
    np.testing.assert_array_equal(loaded, pushed)


def _clips(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """Clips (frames, persons=2, joints=3, channels=3) with a different number of frames each."""
    return [rng.standard_normal((int(t), 2, 3, 3)).astype(np.float32) for t in rng.integers(1, 7, count)]


@pytest.mark.slow
def test_datasets_push_to_hub_then_load_dataset(hub_server: HubServer, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    splits = {
        "default": {"train": _clips(rng, 5), "test": _clips(rng, 3)},
        "other": {"train": _clips(rng, 4)},
    }
    arrays = {
        f"{config}/{split}/{i}": clip
        for config, clips_by_split in splits.items()
        for split, clips in clips_by_split.items()
        for i, clip in enumerate(clips)
    }
    np.savez(tmp_path / "pushed.npz", **arrays)

    push = f"""
import numpy as np
from datasets import Array4D, ClassLabel, Dataset, DatasetDict, Features, Value
features = Features({{
    "skeleton": Array4D(shape=(None, 2, 3, 3), dtype="float32"),
    "label": ClassLabel(names=["wave", "kick", "sit"]),
    "sample_id": Value("string"),
}})
arrays = np.load({str(tmp_path / "pushed.npz")!r})
def split(config, name):
    keys = [k for k in arrays.files if k.startswith(f"{{config}}/{{name}}/")]
    keys.sort(key=lambda k: int(k.split("/")[-1]))
    labels = [i % 3 for i in range(len(keys))]
    return Dataset.from_dict({{"skeleton": [arrays[k] for k in keys], "label": labels, "sample_id": keys}}, features)
default = DatasetDict(train=split("default", "train"), test=split("default", "test"))
default.push_to_hub("org/tiny-ds", config_name="default")
DatasetDict(train=split("other", "train")).push_to_hub("org/tiny-ds", config_name="other")
"""
    load = f"""
import json
import numpy as np
from datasets import load_dataset
out, meta = {{}}, {{}}
for config in ("default", "other"):
    dataset = load_dataset("org/tiny-ds", config)
    for name, split in dataset.items():
        meta[f"{{config}}/{{name}}"] = {{"features": str(split.features), "labels": list(split["label"])}}
        for row in split:
            out[row["sample_id"]] = np.asarray(row["skeleton"], dtype=np.float32)
np.savez({str(tmp_path / "loaded.npz")!r}, **out)
print(json.dumps(meta))
"""
    hub_server.run_client(push, tmp_path / "home_push")
    meta = last_json_line(hub_server.run_client(load, tmp_path / "home_load"))

    assert sorted(meta) == ["default/test", "default/train", "other/train"]
    assert "Array4D(shape=(None, 2, 3, 3), dtype='float32')" in meta["default/train"]["features"]
    assert meta["default/train"]["labels"] == [0, 1, 2, 0, 1]
    loaded = np.load(tmp_path / "loaded.npz")
    assert sorted(loaded.files) == sorted(arrays)
    for key, clip in arrays.items():
        np.testing.assert_array_equal(loaded[key], clip)
    assert len({clip.shape[0] for clip in arrays.values()}) > 1  # the frame axis really varies


def test_missing_repo_revision_and_file_raise_the_client_errors(hub_server: HubServer, tmp_path: Path) -> None:
    probe = """
import json, time
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError
api = HfApi()
api.create_repo("org/exists")
api.upload_file(path_or_fileobj=b"hello", path_in_repo="a.txt", repo_id="org/exists")
calls = {
    "model_info": lambda: api.model_info("org/missing"),
    "dataset_info_of_a_model": lambda: api.dataset_info("org/exists"),
    "download_from_missing_repo": lambda: hf_hub_download("org/missing", "a.txt"),
    "snapshot_of_missing_repo": lambda: snapshot_download("org/missing"),
    "download_missing_file": lambda: hf_hub_download("org/exists", "b.txt"),
    "tree_of_missing_folder": lambda: list(api.list_repo_tree("org/exists", "no/such/folder")),
    "download_at_missing_revision": lambda: hf_hub_download("org/exists", "a.txt", revision="f" * 40),
}
out = {}
start = time.monotonic()
for name, call in calls.items():
    try:
        call()
        out[name] = "no error"
    except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError) as error:
        out[name] = type(error).__name__
out["exists"] = [api.repo_exists("org/exists"), api.repo_exists("org/missing"),
                 api.file_exists("org/exists", "a.txt"), api.file_exists("org/exists", "b.txt")]
out["seconds"] = time.monotonic() - start
print(json.dumps(out))
"""
    got = last_json_line(hub_server.run_client(probe, tmp_path / "home", timeout=60))
    assert got["model_info"] == "RepositoryNotFoundError"
    assert got["dataset_info_of_a_model"] == "RepositoryNotFoundError"
    assert got["download_from_missing_repo"] == "RepositoryNotFoundError"
    assert got["snapshot_of_missing_repo"] == "RepositoryNotFoundError"
    assert got["download_missing_file"] == "RemoteEntryNotFoundError"
    assert got["tree_of_missing_folder"] == "RemoteEntryNotFoundError"
    assert got["download_at_missing_revision"] == "RevisionNotFoundError"
    assert got["exists"] == [True, False, True, False]
    assert got["seconds"] < 10  # answered at once: no retry loop on these errors


def test_standalone_server_keeps_repos_across_restarts(tmp_path: Path) -> None:
    """``python tests/hub_server.py --root DIR`` serves a store that survives a restart on the same root."""

    def serve() -> tuple[subprocess.Popen, str]:
        command = [
            sys.executable,
            str(Path(__file__).with_name("hub_server.py")),
            "--root",
            str(tmp_path / "hub"),
        ]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        ready, _, _ = select.select([process.stdout], [], [], 20)
        if not ready:
            process.kill()
            pytest.fail("the standalone server did not start within 20 s")
        return process, process.stdout.readline().split()[2].rstrip(";")

    def run(url: str, code: str, home: str) -> dict:
        env = client_env(url, tmp_path / home)
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr[-4000:]
        return last_json_line(result)

    upload = """
import json
from huggingface_hub import HfApi
api = HfApi()
api.create_repo("org/kept", repo_type="dataset")
info = api.upload_file(path_or_fileobj=b"x,y\\n1,2\\n", path_in_repo="t.csv", repo_id="org/kept", repo_type="dataset")
print(json.dumps({"oid": info.oid}))
"""
    read = """
import json
from pathlib import Path
from huggingface_hub import HfApi, hf_hub_download
path = hf_hub_download("org/kept", "t.csv", repo_type="dataset")
print(json.dumps({"text": Path(path).read_text(), "sha": HfApi().dataset_info("org/kept").sha}))
"""
    process, url = serve()
    try:
        assert url.startswith("http://127.0.0.1:")
        oid = run(url, upload, "home_upload")["oid"]
    finally:
        process.terminate()
        process.wait(timeout=10)
    process, url = serve()
    try:
        assert run(url, read, "home_read") == {"text": "x,y\n1,2\n", "sha": oid}
    finally:
        process.terminate()
        process.wait(timeout=10)
