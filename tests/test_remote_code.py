"""Checkpoints load as remote code in a process that cannot import this package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import WITHOUT_PACKAGE

from hf_cascadeformer import (
    CascadeFormerConfig,
    CascadeFormerFeatureExtractor,
    CascadeFormerForMaskedSkeletonModeling,
    CascadeFormerForSequenceClassification,
)

# Runs in a fresh interpreter where importing hf_cascadeformer fails, as in an environment without the package.
LOADER = WITHOUT_PACKAGE + textwrap.dedent(
    """
    import torch
    from transformers import AutoFeatureExtractor, AutoModel, AutoModelForSequenceClassification

    path, clips_file = sys.argv[1], sys.argv[2]
    clips = torch.load(clips_file, weights_only=True)
    try:
        import hf_cascadeformer  # noqa: F401
        raise SystemExit("the package should not be importable in this test")
    except ImportError:
        pass
    classifier = AutoModelForSequenceClassification.from_pretrained(path, trust_remote_code=True).eval()
    base = AutoModel.from_pretrained(path, trust_remote_code=True).eval()
    extractor = AutoFeatureExtractor.from_pretrained(path, trust_remote_code=True)
    with torch.no_grad():
        result = {
            "classifier": type(classifier).__name__,
            "base": type(base).__name__,
            "extractor": type(extractor).__name__,
            "logits": classifier(clips).logits.tolist(),
            "hidden_sum": float(base(clips).last_hidden_state.sum()),
            "features": extractor([[[0.0, 1.0, 2.0]] * 5] * 3, return_tensors="pt")["skeletons"].shape[2],
        }
    print(json.dumps(result))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("saved_by", ["classifier", "pretraining"])
def test_checkpoint_loads_with_trust_remote_code_without_the_package(tmp_path, saved_by):
    config = CascadeFormerConfig(
        num_joints=5, max_frames=16, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, num_labels=4
    )
    if saved_by == "classifier":
        model = CascadeFormerForSequenceClassification(config).eval()
    else:
        model = CascadeFormerForMaskedSkeletonModeling(config).eval()
    model.save_pretrained(tmp_path / "ckpt")
    CascadeFormerFeatureExtractor.from_model_config(config, num_frames=8).save_pretrained(tmp_path / "ckpt")
    clips = torch.randn(2, 6, 5, 3)
    torch.save(clips, tmp_path / "clips.pt")

    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", LOADER, str(tmp_path / "ckpt"), str(tmp_path / "clips.pt")],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    remote = json.loads(result.stdout.strip().splitlines()[-1])
    assert remote["classifier"] == "CascadeFormerForSequenceClassification"
    assert remote["base"] == "CascadeFormerModel"
    assert remote["extractor"] == "CascadeFormerFeatureExtractor"
    assert remote["features"] == 8

    with torch.no_grad():
        hidden = model.cascadeformer(clips).last_hidden_state
    assert abs(remote["hidden_sum"] - float(hidden.sum())) < 1e-3
    if saved_by == "classifier":
        with torch.no_grad():
            expected = model(clips).logits
        torch.testing.assert_close(torch.tensor(remote["logits"]), expected, rtol=1e-5, atol=1e-5)
