"""The official-checkpoint converter, against official-style PyTorch modules with the documented key names."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hf_cascadeformer import CascadeFormerForSequenceClassification
from hf_cascadeformer.convert_official import (
    OfficialCheckpointError,
    convert_official,
    convert_to_model,
)

torch.manual_seed(0)


class OfficialStage1(nn.Module):
    """Stage 1 as the official code builds it (PyTorch defaults: post-LN, ReLU), with the official key names."""

    def __init__(self, joints, channels, width, heads, layers, frames, feed_forward, variant, top_name):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.randn(1, frames, width))
        setattr(self, top_name, nn.Linear(joints * channels, width))
        self.top_name = top_name
        self.variant = variant
        if variant == "1.1":
            self.joint_conv = nn.Sequential(
                nn.Conv1d(channels, channels, 3, padding=1), nn.ReLU(), nn.Conv1d(channels, channels, 1)
            )
        layer = nn.TransformerEncoderLayer(width, heads, feed_forward, dropout=0.1, batch_first=True)
        self.transformer_encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.reconstruction_head = nn.Linear(width, joints * channels)

    def forward(self, x):  # (B, T, J, C)
        batch, frames, joints, channels = x.shape
        if self.variant == "1.1":
            x = self.joint_conv(x.reshape(batch * frames, joints, channels).transpose(1, 2))
            x = x.transpose(1, 2).reshape(batch, frames, joints, channels)
        tokens = getattr(self, self.top_name)(x.reshape(batch, frames, joints * channels))
        return self.transformer_encoder(tokens + self.pos_embedding[:, :frames])


class OfficialStage2(nn.Module):
    def __init__(self, width, heads, layers, feed_forward, dropout):
        super().__init__()
        layer = nn.TransformerEncoderLayer(width, heads, feed_forward, dropout=dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, x):
        return self.encoder(x)


class OfficialCrossAttention(nn.Module):
    def __init__(self, width, heads, feed_forward_form):
        super().__init__()
        self.form = feed_forward_form
        self.cross_attention = nn.MultiheadAttention(
            width, heads, dropout=0.2 if feed_forward_form else 0.0, batch_first=True
        )
        self.dropout = nn.Dropout(0.1)
        if feed_forward_form:
            self.norm1 = nn.LayerNorm(width)
            self.ffn = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Dropout(0.1), nn.Linear(width, width))
            self.norm2 = nn.LayerNorm(width)
        else:
            self.norm = nn.LayerNorm(width)

    def forward(self, x1, x2):
        attended, _ = self.cross_attention(x1, x2, x2)
        if not self.form:
            return self.norm(x1 + self.dropout(attended))
        y = self.norm1(x1 + self.dropout(attended))
        return self.norm2(y + self.dropout(self.ffn(y)))


def official_model(dataset: str, variant: str, width=16, layers=2, frames=40, feed_forward=32, classes=5):
    if dataset == "penn":
        joints, channels, heads, mlp_head = 13, 2, 8, False
        top = "embedding" if variant == "1.0" else "joint_embedding"
    else:
        joints, channels, heads, mlp_head = 25, 3, 8, True
        top = "joint_embedding"
    stage1 = OfficialStage1(joints, channels, width, heads, layers, frames, feed_forward, variant, top)
    stage2 = OfficialStage2(width, heads, layers, feed_forward, 0.2 if mlp_head else 0.1)
    cross = OfficialCrossAttention(width, heads, mlp_head)
    if mlp_head:
        head = nn.Module()
        head.net = nn.Sequential(
            nn.LayerNorm(width),
            nn.Dropout(0.3),
            nn.Linear(width, width),
            nn.ReLU(),
            nn.Dropout(0.3),
            nn.Linear(width, classes),
        )
        head_forward = head.net
    else:
        head = nn.Module()
        head.fc = nn.Linear(width, classes)
        head_forward = head.fc
    for module in (stage1, stage2, cross, head):
        module.eval()
        for parameter in module.parameters():  # LayerNorms start at 1/0: randomise them too
            parameter.data.normal_(0, 0.3)

    @torch.no_grad()
    def forward(x):
        x1 = stage1(x)
        fused = cross(x1, stage2(x1))
        return head_forward(fused.mean(1))

    state_dicts = {
        "T1": stage1.state_dict(),
        "T2": stage2.state_dict(),
        "cross_attn": cross.state_dict(),
        "head": head.state_dict(),
    }
    return state_dicts, forward, (joints, channels)


@pytest.mark.parametrize(("dataset", "variant"), [("penn", "1.0"), ("penn", "1.1"), ("ntu", "1.0")])
def test_converted_weights_give_the_official_logits(dataset, variant, tmp_path):
    state_dicts, official_forward, (joints, channels) = official_model(dataset, variant)
    model = convert_to_model(state_dicts, dataset, variant)
    config = model.config
    assert config.layer_norm_position == "post" and config.hidden_act == "relu" and not config.mask_padding_frames
    assert config.max_frames == 40 and config.intermediate_size == 32 and config.num_labels == 5
    assert config.classifier_head == ("mlp" if dataset == "ntu" else "linear")
    assert config.cross_attention_feed_forward == (dataset == "ntu")
    # Label names come from the data modules (data/penn_action.py); NTU's are numbered. The preset names the layout.
    assert config.id2label[0] == ("baseball_pitch" if dataset == "penn" else "action_0")
    assert config.skeleton_layout == dataset

    # Every tensor lands where it should.
    ours = model.state_dict()
    torch.testing.assert_close(ours["cascadeformer.embeddings.position_embeddings"], state_dicts["T1"]["pos_embedding"])
    torch.testing.assert_close(
        ours["cascade_encoder.layers.1.attention.in_proj.weight"],
        state_dicts["T2"]["encoder.layers.1.self_attn.in_proj_weight"],
    )
    torch.testing.assert_close(
        ours["fusion.norm1.weight"], state_dicts["cross_attn"]["norm1.weight" if dataset == "ntu" else "norm.weight"]
    )

    clips = torch.randn(3, 17, joints, channels)
    with torch.no_grad():
        torch.testing.assert_close(model(clips).logits, official_forward(clips), rtol=1e-4, atol=1e-5)
        # Official semantics include padding: with mask_padding_frames=False padded frames count like real ones.
        mask = torch.ones(3, 17, dtype=torch.long)
        mask[:, 12:] = 0
        torch.testing.assert_close(model(clips, mask).logits, official_forward(clips), rtol=1e-4, atol=1e-5)

    # Round trip through save_pretrained.
    model.save_pretrained(tmp_path)
    reloaded = CascadeFormerForSequenceClassification.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(clips).logits, model(clips).logits, rtol=0, atol=0)


def test_cross_attention_head_override():
    state_dicts, _, _ = official_model("penn", "1.0")
    model = convert_to_model(state_dicts, "penn", "1.0", cross_attention_heads=4)
    assert model.config.cross_attention_num_heads == 4 and model.fusion.attention.num_heads == 4


def test_convert_official_reads_the_five_file_layout(tmp_path):
    state_dicts, official_forward, _ = official_model("penn", "1.0")
    for part, state in state_dicts.items():
        torch.save(state, tmp_path / f"Penn_finetuned_{part}.pt")
    output = convert_official(tmp_path, "penn", "1.0", tmp_path / "converted")
    model = CascadeFormerForSequenceClassification.from_pretrained(output).eval()
    clips = torch.randn(2, 9, 13, 2)
    with torch.no_grad():
        torch.testing.assert_close(model(clips).logits, official_forward(clips), rtol=1e-4, atol=1e-5)
    assert (output / "preprocessor_config.json").is_file()


def test_mismatching_state_dicts_are_refused_naming_the_key():
    state_dicts, _, _ = official_model("penn", "1.0")
    renamed = {**state_dicts, "T2": {k.replace("linear1", "linear_1"): v for k, v in state_dicts["T2"].items()}}
    with pytest.raises(OfficialCheckpointError, match=r"T2: unexpected key 'encoder.layers.0.linear_1.weight'"):
        convert_to_model(renamed, "penn", "1.0")
    wrong_shape = {**state_dicts, "head": {"fc.weight": torch.zeros(5, 17), "fc.bias": torch.zeros(5)}}
    with pytest.raises(OfficialCheckpointError, match=r"head: key 'fc.weight' has shape \(5, 17\), expected \(5, 16\)"):
        convert_to_model(wrong_shape, "penn", "1.0")
    missing = {
        **state_dicts,
        "cross_attn": {k: v for k, v in state_dicts["cross_attn"].items() if not k.startswith("norm.")},
    }
    with pytest.raises(OfficialCheckpointError, match=r"missing key for 'fusion.norm1.bias'"):
        convert_to_model(missing, "penn", "1.0")


def test_convert_official_command_line(tmp_path, capsys):
    from hf_cascadeformer.cli import main

    state_dicts, official_forward, _ = official_model("penn", "1.1")
    for part, state in state_dicts.items():
        torch.save(state, tmp_path / f"Penn_finetuned_{part}.pt")
    args = ["convert-official", "--dataset", "penn", "--variant", "1.1", "--checkpoint-dir", str(tmp_path)]
    assert main([*args, "--output-dir", str(tmp_path / "out"), "--cross-attention-heads", "4"]) == 0
    model = CascadeFormerForSequenceClassification.from_pretrained(tmp_path / "out")
    assert model.config.cross_attention_num_heads == 4 and model.config.frame_embedding == "conv"
    (tmp_path / "Penn_finetuned_head.pt").unlink()
    assert main([*args, "--output-dir", str(tmp_path / "again")]) == 2
    assert "missing official checkpoint file" in capsys.readouterr().err
