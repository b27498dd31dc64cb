"""A wheel of the package, installed in a fresh virtual environment without the source tree, fine-tunes,
evaluates, predicts and runs a benchmark recipe (with pretraining) through the `cascadeformer` command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT

from hf_cascadeformer.data.synthetic import generate_clip

pytestmark = pytest.mark.slow


class InstalledWheel:
    def __init__(self, root: Path, wheel: Path):
        self.root = root
        self.wheel = wheel
        self.bin = root / "venv" / "bin"
        self.work = root / "work"  # the working folder of every command: no source tree in sight
        self.work.mkdir()

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '')}")
        return env

    def run(self, *command: str, timeout: int = 600) -> subprocess.CompletedProcess:
        result = subprocess.run(
            list(command), cwd=self.work, env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    def cascadeformer(self, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
        return self.run(str(self.bin / "cascadeformer"), *args, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> InstalledWheel:
    root = tmp_path_factory.mktemp("wheel")
    # Build from a copy of what a source distribution holds, so the build leaves nothing in the repository.
    source = root / "source"
    source.mkdir()
    shutil.copytree(REPO_ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    wheels = root / "dist"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    subprocess.run([*build, "--wheel-dir", str(wheels), str(source)], check=True, capture_output=True, timeout=600)
    (wheel,) = wheels.glob("hf_cascadeformer-*.whl")

    # A fresh environment that sees this one's dependencies (torch, transformers, ...) but not its
    # hf_cascadeformer: the site-packages folders go in as plain paths, so their .pth files (the editable install
    # of the source tree among them) are not run.
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=600)
    (site_packages,) = venv.glob("lib/python*/site-packages")
    dependencies = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site_packages / "_dependencies.pth").write_text("".join(f"{path}\n" for path in sorted(dependencies)))
    installed = InstalledWheel(root, wheel)
    installed.run(str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel))
    return installed


def test_the_wheel_holds_the_package_and_its_data(installed):
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert "hf_cascadeformer/MODEL_CARD.md" in names  # the model card template, read when a model is saved
    assert "hf_cascadeformer/training/finetuning.py" in names and "hf_cascadeformer/data/model_inputs.py" in names
    assert not any(name.startswith(("examples/", "tests/")) for name in names)
    where = installed.run(
        str(installed.bin / "python"), "-c", "import hf_cascadeformer; print(hf_cascadeformer.__file__)"
    )
    assert Path(where.stdout.strip()).is_relative_to(installed.root / "venv")  # the wheel's copy, not the source


def test_finetune_evaluate_and_predict_from_the_wheel(installed):
    finetune = installed.cascadeformer(
        "finetune", "--output_dir", "model", "--max_steps", "2", "--batch_size", "8", "--num_frames", "16"
    )
    assert "test (192 clips): top-1" in finetune.stdout
    model = installed.work / "model"
    assert (model / "model.safetensors").is_file() and "model-index:" in (model / "README.md").read_text()
    results = json.loads((model / "eval_results.json").read_text())

    evaluate = installed.cascadeformer("evaluate", "--model", "model", "--split", "test")
    metrics = json.loads((model / "metrics_test.json").read_text())
    assert metrics["accuracy"] == pytest.approx(results["test_accuracy"])
    assert (model / "confusion_test.png").is_file() and "mean class accuracy" in evaluate.stdout

    np.save(installed.work / "clip.npy", generate_clip(3, np.random.default_rng(0), min_frames=20, max_frames=30))
    predict = installed.cascadeformer("predict", "clip.npy", "--model", "model", "--json", "--top-k", "3")
    (result,) = json.loads(predict.stdout)
    assert len(result["predictions"]) == 3 and sum(p["score"] for p in result["predictions"]) <= 1.0 + 1e-6


def test_recipe_smoke_from_the_wheel(installed, shared_data):
    raw = installed.work / "raw" / "all_sqe"
    raw.mkdir(parents=True)
    for path in sorted((shared_data / "nucla" / "all_sqe").glob("*.json"))[::25]:
        shutil.copy(path, raw / path.name)
    recipe = installed.cascadeformer(
        "recipe",
        "nucla",
        "--raw-dir",
        str(raw.parent),
        "--output-dir",
        "nucla",
        "--validate",
        "--smoke",
        "--objective",
        "masked_joint",  # pretraining too (Accelerate), in the same process
    )
    summary = json.loads((installed.work / "nucla" / "recipe_summary.json").read_text())
    assert summary["smoke"] and summary["pretraining"] == "masked_joint"
    assert 0.0 <= summary["metrics"]["validation"]["accuracy"] <= 1.0
    assert (installed.work / "nucla" / "pretrain" / "model.safetensors").is_file()
    assert "nucla validation: top-1" in recipe.stdout
