"""Convert the official CascadeFormer checkpoints (five bare `torch.save` state dicts) to a Transformers checkpoint.

The official code publishes, per trained model, `{P}_pretrained.pt` and `{P}_finetuned_T1.pt` (stage 1 with its
decoder), `{P}_finetuned_T2.pt` (stage 2), `{P}_finetuned_cross_attn.pt` and `{P}_finetuned_head.pt`, with `P` one of
`Penn`, `NUCLA`, `NTU`. The fine-tuned files (T1, T2, cross-attention, head) make the classifier; the decoder is not
used for classification and is dropped.

The converted config reproduces the official computation: post-LN layers, ReLU, feed-forward 2048, the position
table length of the checkpoint, and `mask_padding_frames=False` (the official code attends to and averages padding
frames). Every key and shape is checked: anything missing, unexpected or of the wrong shape is refused with a message
naming the file and the key.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from .configuration_cascadeformer import PRESETS, CascadeFormerConfig
from .data.errors import UserInputError
from .data.nucla import NUCLA_LABELS
from .data.penn_action import PENN_ACTION_LABELS
from .feature_extraction_cascadeformer import CascadeFormerFeatureExtractor
from .hub import add_pipeline_code
from .modeling_cascadeformer import CascadeFormerForSequenceClassification

DATASET_PREFIX = {"penn": "Penn", "nucla": "NUCLA", "ntu": "NTU"}
PARTS = ("T1", "T2", "cross_attn", "head")
_LAYER_KEYS = {
    "self_attn.in_proj_weight": "attention.in_proj.weight",
    "self_attn.in_proj_bias": "attention.in_proj.bias",
    "self_attn.out_proj.weight": "attention.out_proj.weight",
    "self_attn.out_proj.bias": "attention.out_proj.bias",
    "linear1.weight": "mlp.fc1.weight",
    "linear1.bias": "mlp.fc1.bias",
    "linear2.weight": "mlp.fc2.weight",
    "linear2.bias": "mlp.fc2.bias",
    "norm1.weight": "norm1.weight",
    "norm1.bias": "norm1.bias",
    "norm2.weight": "norm2.weight",
    "norm2.bias": "norm2.bias",
}
_CROSS_ATTENTION_KEYS = {
    "cross_attention.in_proj_weight": "fusion.attention.in_proj.weight",
    "cross_attention.in_proj_bias": "fusion.attention.in_proj.bias",
    "cross_attention.out_proj.weight": "fusion.attention.out_proj.weight",
    "cross_attention.out_proj.bias": "fusion.attention.out_proj.bias",
    "norm.weight": "fusion.norm1.weight",
    "norm.bias": "fusion.norm1.bias",
    "norm1.weight": "fusion.norm1.weight",
    "norm1.bias": "fusion.norm1.bias",
    "ffn.0.weight": "fusion.feed_forward.fc1.weight",
    "ffn.0.bias": "fusion.feed_forward.fc1.bias",
    "ffn.3.weight": "fusion.feed_forward.fc2.weight",
    "ffn.3.bias": "fusion.feed_forward.fc2.bias",
    "norm2.weight": "fusion.norm2.weight",
    "norm2.bias": "fusion.norm2.bias",
}


class OfficialCheckpointError(UserInputError):
    """An official state dict does not match the documented layout."""


def _layer_key(prefix: str, key: str, target: str, source: str) -> str:
    """`<prefix><i>.<layer key>` -> `<target><i>.<our layer key>`."""
    index, rest = key[len(prefix) :].split(".", 1)
    if not index.isdigit() or rest not in _LAYER_KEYS:
        raise OfficialCheckpointError(f"{source}: unexpected key {key!r}")
    return f"{target}{index}.{_LAYER_KEYS[rest]}"


def map_stage1_key(key: str, source: str = "T1") -> str | None:
    """Our name for an official stage-1 key; None for decoder keys (dropped)."""
    if key.startswith("reconstruction_head."):
        return None
    if key == "pos_embedding":
        return "cascadeformer.embeddings.position_embeddings"
    if key.startswith(("embedding.", "joint_embedding.")):
        return "cascadeformer.embeddings.projection." + key.split(".", 1)[1]
    if re.fullmatch(r"joint_conv\.[02]\.(weight|bias)", key):
        return "cascadeformer.embeddings." + key
    if key.startswith("spatial_transformer.joint_embedding."):
        return "cascadeformer.embeddings.joint_embedding." + key.rsplit(".", 1)[1]
    if key.startswith("spatial_transformer.output_proj."):
        return "cascadeformer.embeddings.output_projection." + key.rsplit(".", 1)[1]
    if key.startswith("spatial_transformer.encoder.layers.0."):
        rest = key[len("spatial_transformer.encoder.layers.0.") :]
        if rest in _LAYER_KEYS:
            return "cascadeformer.embeddings.spatial_layer." + _LAYER_KEYS[rest]
    if key.startswith("transformer_encoder.layers."):
        return _layer_key("transformer_encoder.layers.", key, "cascadeformer.encoder.layers.", source)
    raise OfficialCheckpointError(f"{source}: unexpected key {key!r}")


def map_key(part: str, key: str, source: str | None = None) -> str | None:
    """Our state-dict name for `key` of the official file `part` (T1, T2, cross_attn, head)."""
    source = source or part
    if part == "T1":
        return map_stage1_key(key, source)
    if part == "T2":
        if key.startswith("encoder.layers."):
            return _layer_key("encoder.layers.", key, "cascade_encoder.layers.", source)
    elif part == "cross_attn":
        if key in _CROSS_ATTENTION_KEYS:
            return _CROSS_ATTENTION_KEYS[key]
    elif part == "head":
        match = re.fullmatch(r"(fc|net\.(\d+))\.(weight|bias)", key)
        if match:
            index = "0" if match.group(1) == "fc" else match.group(2)
            return f"classifier.layers.{index}.{match.group(3)}"
    raise OfficialCheckpointError(f"{source}: unexpected key {key!r}")


def infer_config(
    dataset: str,
    variant: str,
    state_dicts: Mapping[str, Mapping[str, torch.Tensor]],
    cross_attention_heads: int | None = None,
) -> CascadeFormerConfig:
    """The config of an official model: the paper preset, sized by the checkpoint's own tensors."""
    if dataset not in DATASET_PREFIX:
        raise ValueError(f"dataset must be one of {sorted(DATASET_PREFIX)}, got {dataset!r}")
    stage1, head = state_dicts["T1"], state_dicts["head"]
    if "pos_embedding" not in stage1:
        raise OfficialCheckpointError("T1: missing key 'pos_embedding'")
    max_frames, hidden = stage1["pos_embedding"].shape[1:]
    if dataset == "ntu":
        preset = f"ntu60-{'xsub' if hidden in (768, 800) else 'xview'}-{variant}"
    else:
        preset = f"{'penn_action' if dataset == 'penn' else 'nucla'}-{variant}"
    if preset not in PRESETS:
        raise ValueError(f"no preset {preset!r}: variant must be 1.0, 1.1 or 1.2")
    fields = dict(PRESETS[preset])
    num_layers = 1 + max(int(k.split(".")[2]) for k in stage1 if k.startswith("transformer_encoder.layers."))
    stage2_layers = 1 + max(int(k.split(".")[2]) for k in state_dicts["T2"] if k.startswith("encoder.layers."))
    head_weights = sorted(
        (k for k in head if k.endswith(".weight")), key=lambda k: int(k.split(".")[1]) if k.startswith("net.") else 0
    )
    if not head_weights:
        raise OfficialCheckpointError("head: no weight found (expected 'fc.weight' or 'net.<i>.weight')")
    final = head["fc.weight"] if "fc.weight" in head else head[head_weights[-1]]
    num_labels = final.shape[0]
    fields.update(
        hidden_size=hidden,
        max_frames=max_frames,
        num_hidden_layers=num_layers,
        cascade_num_hidden_layers=stage2_layers,
        mask_padding_frames=False,
        cross_attention_num_heads=cross_attention_heads,
    )
    layer_ffn = stage1.get("transformer_encoder.layers.0.linear1.weight")
    if layer_ffn is not None:
        fields["intermediate_size"] = layer_ffn.shape[0]
    # Keep real names when the head has exactly the preset's classes; otherwise (N-UCLA's 12 outputs for 10
    # classes) name the extra outputs so the config stays consistent. The names live with the data modules.
    labels = dict(enumerate({"penn": PENN_ACTION_LABELS, "nucla": NUCLA_LABELS}.get(dataset, ())))
    fields.pop("num_labels", None)
    names = (
        [labels.get(i, f"unused_{i}") for i in range(num_labels)]
        if labels
        else [f"action_{i}" for i in range(num_labels)]
    )
    fields["id2label"] = dict(enumerate(names))
    fields["label2id"] = {name: i for i, name in enumerate(names)}
    return CascadeFormerConfig(**fields)


def convert_state_dicts(
    state_dicts: Mapping[str, Mapping[str, torch.Tensor]], model: CascadeFormerForSequenceClassification
) -> dict[str, torch.Tensor]:
    """Map the four fine-tuned official state dicts onto `model`'s names, checking every key and shape."""
    expected = model.state_dict()
    converted: dict[str, torch.Tensor] = {}
    for part in PARTS:
        for key, tensor in state_dicts[part].items():
            name = map_key(part, key)
            if name is None:
                continue
            if name not in expected:
                raise OfficialCheckpointError(f"{part}: unexpected key {key!r} (no {name!r} in this configuration)")
            if name in converted:
                raise OfficialCheckpointError(f"{part}: key {key!r} maps to {name!r}, which another key already set")
            if tuple(tensor.shape) != tuple(expected[name].shape):
                raise OfficialCheckpointError(
                    f"{part}: key {key!r} has shape {tuple(tensor.shape)}, expected {tuple(expected[name].shape)}"
                )
            if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                raise OfficialCheckpointError(f"{part}: key {key!r} holds NaN or infinite values")
            converted[name] = tensor.detach().to(expected[name].dtype)
    missing = sorted(set(expected) - set(converted))
    if missing:
        raise OfficialCheckpointError(
            f"missing key for {missing[0]!r}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
        )
    return converted


def load_official_state_dicts(checkpoint_dir: str | Path, dataset: str) -> dict[str, dict[str, torch.Tensor]]:
    """Read `{P}_finetuned_{T1,T2,cross_attn,head}.pt` with `torch.load(weights_only=True)` (no pickle code runs)."""
    prefix = DATASET_PREFIX[dataset]
    folder = Path(checkpoint_dir)
    state_dicts = {}
    for part in PARTS:
        path = folder / f"{prefix}_finetuned_{part}.pt"
        if not path.is_file():
            raise FileNotFoundError(f"missing official checkpoint file {path}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            # torch's own message goes on to suggest weights_only=False, i.e. running the file's code: not shown.
            raise OfficialCheckpointError(
                f"{path}: holds objects other than tensors, which are not loaded (they could run code)"
            ) from None
        except Exception as error:  # an empty (EOFError) or truncated (RuntimeError) file, a bad zip, ...
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise OfficialCheckpointError(f"{path}: not a readable torch file ({reason})") from None
        if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise OfficialCheckpointError(f"{path.name}: not a state dict of tensors")
        state_dicts[part] = dict(state)
    return state_dicts


def convert_official(
    checkpoint_dir: str | Path,
    dataset: str,
    variant: str,
    output_dir: str | Path,
    cross_attention_heads: int | None = None,
) -> Path:
    """Convert one official model and `save_pretrained` it (with a feature extractor that does no centring or
    resampling beyond padding, as the official code feeds raw coordinates)."""
    state_dicts = load_official_state_dicts(checkpoint_dir, dataset)
    model = convert_to_model(state_dicts, dataset, variant, cross_attention_heads)
    output = Path(output_dir)
    model.save_pretrained(output)
    config = model.config
    extractor = CascadeFormerFeatureExtractor.from_model_config(
        config, num_frames=None if dataset == "penn" else 64, centering="none"
    )
    extractor.save_pretrained(output)
    add_pipeline_code(output)  # the pipeline task loads from the folder with trust_remote_code, package or not
    return output


def convert_to_model(
    state_dicts: Mapping[str, Mapping[str, torch.Tensor]],
    dataset: str,
    variant: str,
    cross_attention_heads: int | None = None,
) -> CascadeFormerForSequenceClassification:
    """A classifier holding the official weights, in eval mode."""
    config = infer_config(dataset, variant, state_dicts, cross_attention_heads)
    model = CascadeFormerForSequenceClassification(config)
    model.load_state_dict(convert_state_dicts(state_dicts, model), strict=True)
    return model.eval()
