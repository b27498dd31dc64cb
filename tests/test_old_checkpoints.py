"""Checkpoints saved by an earlier version of the package still load and give the same outputs.

`tests/fixtures/checkpoints_main_38ded18/` was written by main at commit 38ded18 (before the config and modeling
files were restructured): a tiny classifier (with the since removed `decoder_type` field in its config.json) and a
tiny GFP pretraining checkpoint, with the outputs that code gave on fixed clips (`expected.json`). The copied
modeling files were left out, so the installed package's code loads them.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoModel, AutoModelForPreTraining, AutoModelForSequenceClassification

from hf_cascadeformer import CascadeFormerConfig

FIXTURE = Path(__file__).parent / "fixtures" / "checkpoints_main_38ded18"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())
CLIPS = torch.tensor(EXPECTED["clips"])


def test_an_old_classifier_loads_with_the_same_logits_and_labels():
    saved = json.loads((FIXTURE / "classifier" / "config.json").read_text())
    assert "decoder_type" in saved  # a field the config no longer has
    model = AutoModelForSequenceClassification.from_pretrained(FIXTURE / "classifier").eval()
    assert model.config.id2label == {0: "wave", 1: "clap", 2: "sit"}
    assert model.config.label_smoothing == 0.1
    with torch.no_grad():
        logits = model(CLIPS).logits
    torch.testing.assert_close(logits, torch.tensor(EXPECTED["classifier_logits"]), rtol=1e-4, atol=1e-4)


def test_an_old_gfp_pretraining_checkpoint_loads_with_the_same_loss_and_features():
    model = AutoModelForPreTraining.from_pretrained(FIXTURE / "pretraining_gfp").eval()
    with torch.no_grad():
        loss = model(CLIPS, seed=0).loss
        pooled = model.cascadeformer(CLIPS).pooler_output
    torch.testing.assert_close(loss, torch.tensor(EXPECTED["gfp_loss"]), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(pooled, torch.tensor(EXPECTED["gfp_pooler_output"]), rtol=1e-4, atol=1e-4)
    encoder = AutoModel.from_pretrained(FIXTURE / "pretraining_gfp").eval()
    with torch.no_grad():
        torch.testing.assert_close(encoder(CLIPS).pooler_output, pooled)


def test_an_old_config_saves_again_without_the_removed_field(tmp_path):
    config = CascadeFormerConfig.from_pretrained(FIXTURE / "classifier")
    config.save_pretrained(tmp_path)
    assert "decoder_type" not in json.loads((tmp_path / "config.json").read_text())
