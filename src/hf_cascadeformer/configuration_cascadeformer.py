"""Configuration of the CascadeFormer model family.

This file travels with saved checkpoints as remote code, so it imports only from `transformers` and the standard
library.
"""

from __future__ import annotations

import copy
from dataclasses import fields
from typing import Any

from transformers import PreTrainedConfig

FRAME_EMBEDDINGS = ("linear", "conv", "spatial_attention")
INPUT_STREAMS = ("joint", "bone", "motion")
SPATIAL_ATTENTION_STYLES = ("project_back", "split")
LAYER_NORM_POSITIONS = ("pre", "post")
CLASSIFIER_HEADS = ("linear", "mlp")
TOKEN_LAYOUTS = ("frame", "joint_segment")
# The objectives' names; modeling_cascadeformer_objectives.py registers a class under each (and refuses others).
PRETRAINING_OBJECTIVES = ("masked_joint", "mamp", "gfp")
MASK_UNITS = ("joint", "frame")
GFP_TARGET_INPUTS = ("motion", "coordinates")
# CascadeFormer's variants are its frame embeddings (1.0, 1.1, 1.2 in the paper).
VARIANT_FRAME_EMBEDDINGS = {"1.0": "linear", "1.1": "conv", "1.2": "spatial_attention"}
# Fields of saved configs that no longer exist: dropped when such a config loads. `decoder_type` named the
# masked-joint decoder, always one linear layer, and was never read.
REMOVED_FIELDS = ("decoder_type",)

# The largest coordinate magnitude any input may hold. Skeleton coordinates are metres (Kinect) or pixels (video
# pose), far below it; values from about 1e19 up overflow float32 once squared (centring radii, layer norms), and a
# single one then turns a clip's scores into NaN. Parsers, the feature extractor and the model refuse larger values.
MAX_ABS_COORDINATE = 1e6

# Every head of the family, so a checkpoint saved by any one of them loads with any Auto class as remote code.
AUTO_MAP = {
    "AutoConfig": "configuration_cascadeformer.CascadeFormerConfig",
    "AutoModel": "modeling_cascadeformer.CascadeFormerModel",
    "AutoModelForPreTraining": "modeling_cascadeformer.CascadeFormerForMaskedSkeletonModeling",
    "AutoModelForSequenceClassification": "modeling_cascadeformer.CascadeFormerForSequenceClassification",
}

# The same for an ensemble checkpoint (`CascadeFormerEnsembleConfig`): its config and its one head.
ENSEMBLE_AUTO_MAP = {
    "AutoConfig": "configuration_cascadeformer.CascadeFormerEnsembleConfig",
    "AutoModelForSequenceClassification": "modeling_cascadeformer.CascadeFormerEnsembleForSequenceClassification",
}

# True in the installed package, False in a checkpoint's copy of this file loaded as remote code.
_LOADED_FROM_PACKAGE = __name__.startswith("hf_cascadeformer.")


class CascadeFormerConfig(PreTrainedConfig):
    r"""
    Configuration of a CascadeFormer model: a stage-1 transformer over skeleton tokens (pretrained by masked
    skeleton modeling), and for classification a stage-2 transformer stacked on it and fused back by cross-attention.

    Tokens are either frames (`token_layout="frame"`, CascadeFormer's layout) or joint segments
    (`token_layout="joint_segment"`, the MAMP / GFP layout: one token per joint per `segment_length` frames, with
    learned temporal and joint embeddings). The stage-1 encoder can be pretrained by the paper's masked joint
    reconstruction (frame tokens) or, MAE-style on joint-segment tokens, by MAMP-style masked motion prediction or by
    GFP (general feature prediction); every classifier head works on either layout.

    The defaults are the package's modern defaults (pre-LN, GELU, padding-aware attention); the named presets
    (`CascadeFormerConfig.from_preset("penn_action-1.0")`, `"ntu60-xsub-gfp"`) reproduce the sizes and heads of the
    papers' models.

    Args:
        num_joints (`int`, *optional*, defaults to 25):
            Joints per skeleton (25 for NTU RGB+D, 20 for N-UCLA, 13 for Penn Action).
        num_channels (`int`, *optional*, defaults to 3):
            Coordinates per joint: 3 for 3D skeletons, 2 for 2D.
        num_persons (`int`, *optional*, defaults to 1):
            Maximum number of persons per clip. Persons are folded into the batch, encoded separately and averaged
            (over the persons actually present) before the classifier.
        skeleton_layout (`str`, *optional*):
            Name of the joint layout the model was trained on (a `SkeletonLayout` name of
            `hf_cascadeformer/data/skeletons.py`: `"ntu"`, `"ntu_2d"`, `"nucla"` or `"penn"`), from which the
            package takes the root joint, bones and left-right pairs. Every preset sets it; None when unknown.
        max_frames (`int`, *optional*, defaults to 64):
            Length of the learned temporal position table; the longest clip the model accepts. With joint-segment
            tokens the table holds `ceil(max_frames / segment_length)` segments.
        token_layout (`str`, *optional*, defaults to `"frame"`):
            `"frame"`: one token per frame (CascadeFormer; embedded by `frame_embedding`). `"joint_segment"`: one
            token per joint per temporal segment of `segment_length` frames (MAMP / GFP: Linear(segment_length x C
            -> d) on each joint's segment, plus a learned temporal embedding per segment and a learned joint
            embedding), so 120 frames x 25 joints give 750 tokens, ordered segment-major (`segment * J + joint`).
            Clips whose length is not a multiple of `segment_length` are padded to one; a segment is valid when any
            of its frames is.
        segment_length (`int`, *optional*, defaults to 4):
            Frames per joint-segment token.
        input_streams (`list[str]`, *optional*, defaults to `["joint"]`):
            What the frame embedding sees of each joint, concatenated along the channels: `"joint"` (the
            coordinates), `"bone"` (the joint minus its parent joint, see `bone_parents`) and `"motion"` (the joint
            in the next frame minus the joint now; zero on the last valid frame). Computed inside the model from the
            coordinates, so the feature extractor and every input stay the same. Frame tokens only.
        bone_parents (`list[int]`, *optional*):
            The parent of every joint (the root is its own parent, so its bone is zero); needed for the `"bone"`
            stream. The training scripts fill it in from the dataset's skeleton layout.
        frame_embedding (`str`, *optional*, defaults to `"linear"`):
            How a frame becomes a token: `"linear"` (CascadeFormer 1.0, one linear layer on the flattened frame),
            `"conv"` (1.1, two 1D convolutions along the joint axis, then the linear layer) or `"spatial_attention"`
            (1.2, a one-layer transformer across the joints of a frame).
        spatial_attention_style (`str`, *optional*, defaults to `"project_back"`):
            Form of the 1.2 embedding. `"project_back"` (Penn Action / N-UCLA code): per-joint Linear(C -> d), the
            spatial layer at width d, projection back to C, then the 1.0 linear layer. `"split"` (NTU code):
            per-joint Linear(C -> d / J), the spatial layer at width d / J, joint tokens concatenated to d.
        spatial_num_attention_heads (`int`, *optional*):
            Heads of the 1.2 spatial layer. Defaults to `num_attention_heads`.
        hidden_size (`int`, *optional*, defaults to 256):
            Width d of the frame tokens.
        num_hidden_layers (`int`, *optional*, defaults to 4):
            Layers of the stage-1 transformer.
        num_attention_heads (`int`, *optional*, defaults to 8):
            Attention heads in every transformer layer.
        intermediate_size (`int`, *optional*, defaults to 1024):
            Width of the feed-forward block (the paper's code uses 2048 at every size).
        hidden_act (`str`, *optional*, defaults to `"gelu"`):
            Feed-forward activation (the paper's code uses `"relu"`).
        hidden_dropout_prob (`float`, *optional*, defaults to 0.1):
            Dropout on residual branches and inside the feed-forward block.
        attention_probs_dropout_prob (`float`, *optional*, defaults to 0.1):
            Dropout on attention probabilities (PyTorch's `nn.TransformerEncoderLayer` uses the same value as the
            hidden dropout).
        layer_norm_position (`str`, *optional*, defaults to `"pre"`):
            `"pre"` (norm before each sub-block, plus a final norm; the modern default that trains stably) or
            `"post"` (norm after each residual sum, no final norm; PyTorch's default and the paper's checkpoints).
        layer_norm_eps (`float`, *optional*, defaults to 1e-5):
            Epsilon of every LayerNorm.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the truncated normal initialiser of linear layers and position embeddings.
        mask_padding_frames (`bool`, *optional*, defaults to `True`):
            Exclude padding frames (``attention_mask == 0``) from attention and pooling, so padding never changes
            the prediction. `False` reproduces the official code, which attends to and averages padding frames.
        use_cascade (`bool`, *optional*, defaults to `True`):
            Classify with the cascade (stage 2 + cross-attention). `False` gives the plain ablation: pooled stage-1
            features straight into the head (also the linear-probe setting).
        cascade_num_hidden_layers (`int`, *optional*):
            Layers of the stage-2 transformer. Defaults to `num_hidden_layers`.
        cascade_hidden_dropout_prob (`float`, *optional*):
            Dropout inside stage 2 (0.2 on NTU in the paper). Defaults to `hidden_dropout_prob`.
        cross_attention_num_heads (`int`, *optional*):
            Heads of the cross-attention fusion. Defaults to `num_attention_heads`. (The official Penn / N-UCLA
            inference scripts rebuild it with 4 heads although it was trained with 8.)
        cross_attention_dropout (`float`, *optional*, defaults to 0.0):
            Dropout on the cross-attention probabilities (0.2 in the NTU code).
        cross_attention_feed_forward (`bool`, *optional*, defaults to `False`):
            Add the NTU code's feed-forward block (d -> d -> d, ReLU, residual + LayerNorm) after cross-attention.
        classifier_head (`str`, *optional*, defaults to `"linear"`):
            `"linear"` (one Linear(d -> classes), Penn / N-UCLA) or `"mlp"` (LayerNorm -> Dropout -> Linear(d, d) ->
            ReLU -> Dropout -> Linear(d, classes), the NTU recipe).
        classifier_dropout (`float`, *optional*, defaults to 0.3):
            Dropout of the MLP head.
        label_smoothing (`float`, *optional*, defaults to 0.0):
            Label smoothing of the classification loss (0.05 on NTU in the paper): the one place it is set, so a
            saved config tells how its model was trained. Fine-tuning writes the recipe's value or
            `--label_smoothing_factor` here and runs `Trainer` without its own label smoothing.
        freeze_encoder (`bool`, *optional*, defaults to `False`):
            Keep stage 1 frozen while fine-tuning (the paper's ablation; also the linear-probe setting).
        pretraining_objective (`str`, *optional*, defaults to `"masked_joint"`):
            Objective of `CascadeFormerForMaskedSkeletonModeling`. `"masked_joint"` (frame tokens) is the paper's:
            zero a random share of (frame, joint) slots and reconstruct their coordinates. `"mamp"` and `"gfp"`
            (joint-segment tokens) are MAE-style: the encoder runs on the visible tokens only. `"mamp"` (MAMP-style
            standard masked skeleton modeling) decodes visible plus mask tokens and predicts each masked token's
            per-patch normalised frame motion. `"gfp"` (general feature prediction) pools the decoder sequence to a
            few temporal levels, decodes each with a small transformer and predicts the features of a jointly
            trained target generation network, regularised by variance and covariance terms.
        mask_ratio (`float`, *optional*, defaults to 0.3):
            Share of (frame, joint) slots (`masked_joint`) or of valid tokens (`mamp`, `gfp`; 0.9 in MAMP and GFP)
            masked per person: exactly `round(mask_ratio x count)`.
        motion_aware_tau (`float`, *optional*, defaults to 0.8):
            Temperature of MAMP's motion-aware masking (`mamp`, `gfp`): token motion (mean absolute difference to
            the previous segment of the same joint) divided by `max x tau` is a softmax logit, and the Gumbel-
            perturbed ranking masks high-motion tokens more often. 0 masks uniformly at random.
        decoder_hidden_size (`int`, *optional*, defaults to 256):
            Width of the `mamp` / `gfp` decoders.
        decoder_num_hidden_layers (`int`, *optional*, defaults to 3):
            Layers of the `mamp` decoder over all tokens (3 for NTU-60, 5 for NTU-120 and PKU in MAMP).
        decoder_num_attention_heads (`int`, *optional*):
            Heads of the `mamp` / `gfp` decoder layers. Defaults to `num_attention_heads`.
        decoder_intermediate_size (`int`, *optional*):
            Feed-forward width of the decoder layers. Defaults to 4 x `decoder_hidden_size`.
        gfp_pool_kernels (`list[int]`, *optional*, defaults to `[5, 10, 30]`):
            GFP's local levels: temporal average-pooling windows, in segments (30 segments -> 6, 3 and 1 temporal
            tokens per joint). A window at the end of a shorter clip averages the segments it has.
        gfp_global_token (`bool`, *optional*, defaults to `True`):
            Add GFP's global level: one token averaging every valid token of the sequence.
        gfp_decoder_num_hidden_layers (`int`, *optional*, defaults to 2):
            Layers of each level's decoder transformer (unverified in the paper; chosen by experiment, see
            `docs/masked_skeleton_modeling.md`).
        gfp_target_size (`int`, *optional*, defaults to 256):
            Width of the predicted features (unverified in the paper; chosen by experiment).
        gfp_target_hidden_size (`int`, *optional*, defaults to 512):
            Hidden width of the 3-layer target generation MLP of each local level.
        gfp_global_target_hidden_size (`int`, *optional*, defaults to 2048):
            Hidden width of the global level's target generation MLP.
        gfp_target_input (`str`, *optional*, defaults to `"motion"`):
            What the target generation networks see, pooled to each level: `"motion"` (segment motion
            `patch[s + 1] - patch[s]`, the paper's best) or `"coordinates"` (the joint coordinates themselves, the
            paper's ablation).
        gfp_stop_gradient (`bool`, *optional*, defaults to `True`):
            Stop the prediction loss's gradient at the targets, so the target networks learn only from the
            variance and covariance terms (unverified in the paper; chosen by experiment).
        gfp_prediction_weight (`float`, *optional*, defaults to 5.0):
            lambda: weight of the prediction MSE (summed over levels).
        gfp_covariance_weight (`float`, *optional*, defaults to 5.0):
            alpha: weight of each level's covariance penalty (sum of squared off-diagonal covariances / width).
        gfp_variance_weight (`float`, *optional*, defaults to 1.0):
            beta: weight of each level's variance hinge, mean over dimensions of `max(0, gamma - std)`.
        gfp_variance_target (`float`, *optional*, defaults to 1.0):
            gamma: the standard deviation the variance hinge asks of every target dimension.
        mask_unit (`str`, *optional*, defaults to `"joint"`):
            `"joint"` masks (frame, joint) slots (the paper's choice); `"frame"` masks whole frames (its ablation).
        id2label / label2id:
            The action names, as in every Transformers classification config.
    """

    model_type = "cascadeformer"
    # What `Trainer` leaves out of the predictions it hands `compute_metrics` (trainer.py, `prediction_step`): the
    # classifier's pooled clip feature, so predictions are the logits alone. Pass `ignore_keys=[]` to keep it.
    keys_to_ignore_at_inference = ["pooled_output"]

    # The fields, each written once (transformers makes every config class a dataclass; the values are checked in
    # `__post_init__`, with messages that name the field).
    num_joints: int = 25
    num_channels: int = 3
    num_persons: int = 1
    skeleton_layout: str | None = None
    max_frames: int = 64
    token_layout: str = "frame"
    segment_length: int = 4
    frame_embedding: str = "linear"
    input_streams: list[str] | tuple[str, ...] = ("joint",)
    bone_parents: list[int] | tuple[int, ...] | None = None
    spatial_attention_style: str = "project_back"
    spatial_num_attention_heads: int | None = None
    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 8
    intermediate_size: int = 1024
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    layer_norm_position: str = "pre"
    layer_norm_eps: float = 1e-5
    initializer_range: float = 0.02
    mask_padding_frames: bool = True
    use_cascade: bool = True
    cascade_num_hidden_layers: int | None = None
    cascade_hidden_dropout_prob: float | None = None
    cross_attention_num_heads: int | None = None
    cross_attention_dropout: float = 0.0
    cross_attention_feed_forward: bool = False
    classifier_head: str = "linear"
    classifier_dropout: float = 0.3
    label_smoothing: float = 0.0
    freeze_encoder: bool = False
    pretraining_objective: str = "masked_joint"
    mask_ratio: float = 0.3
    mask_unit: str = "joint"
    motion_aware_tau: float = 0.8
    decoder_hidden_size: int = 256
    decoder_num_hidden_layers: int = 3
    decoder_num_attention_heads: int | None = None
    decoder_intermediate_size: int | None = None
    gfp_pool_kernels: list[int] | tuple[int, ...] = (5, 10, 30)
    gfp_global_token: bool = True
    gfp_decoder_num_hidden_layers: int = 2
    gfp_target_size: int = 256
    gfp_target_hidden_size: int = 512
    gfp_global_target_hidden_size: int = 2048
    gfp_target_input: str = "motion"
    gfp_stop_gradient: bool = True
    gfp_prediction_weight: float = 5.0
    gfp_covariance_weight: float = 5.0
    gfp_variance_weight: float = 1.0
    gfp_variance_target: float = 1.0

    def __post_init__(self, **kwargs: Any) -> None:
        _check_field_types({name: getattr(self, name) for name in CONFIG_FIELDS})
        _check_choice("token_layout", self.token_layout, TOKEN_LAYOUTS)
        _check_choice("frame_embedding", self.frame_embedding, FRAME_EMBEDDINGS)
        _check_choice("spatial_attention_style", self.spatial_attention_style, SPATIAL_ATTENTION_STYLES)
        _check_choice("layer_norm_position", self.layer_norm_position, LAYER_NORM_POSITIONS)
        _check_choice("classifier_head", self.classifier_head, CLASSIFIER_HEADS)
        _check_choice("pretraining_objective", self.pretraining_objective, PRETRAINING_OBJECTIVES)
        _check_choice("mask_unit", self.mask_unit, MASK_UNITS)
        _check_choice("gfp_target_input", self.gfp_target_input, GFP_TARGET_INPUTS)
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if (
            self.frame_embedding == "spatial_attention"
            and self.spatial_attention_style == "split"
            and self.hidden_size % self.num_joints
        ):
            raise ValueError(
                f"the 'split' spatial attention embedding needs hidden_size ({self.hidden_size}) divisible by "
                f"num_joints ({self.num_joints})"
            )
        self.input_streams = [str(stream) for stream in self.input_streams]
        unknown = [stream for stream in self.input_streams if stream not in INPUT_STREAMS]
        if not self.input_streams or unknown or len(set(self.input_streams)) != len(self.input_streams):
            raise ValueError(f"input_streams must be distinct names from {INPUT_STREAMS}, got {self.input_streams}")
        if self.input_streams != ["joint"] and self.token_layout != "frame":
            raise ValueError(f"input_streams {self.input_streams} need token_layout='frame', got {self.token_layout!r}")
        if self.bone_parents is not None:
            self.bone_parents = [int(parent) for parent in self.bone_parents]
            if len(self.bone_parents) != self.num_joints or not all(
                0 <= parent < self.num_joints for parent in self.bone_parents
            ):
                raise ValueError(
                    f"bone_parents must hold one joint index in [0, {self.num_joints}) per joint, "
                    f"got {self.bone_parents}"
                )
        if "bone" in self.input_streams and self.bone_parents is None:
            raise ValueError("the 'bone' input stream needs bone_parents (the parent joint of every joint)")
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {self.mask_ratio}")
        for name, value in (("num_joints", self.num_joints), ("num_channels", self.num_channels)):
            if value < 1:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.num_persons < 1 or self.max_frames < 1:
            raise ValueError(f"num_persons and max_frames must be positive, got {self.num_persons}, {self.max_frames}")
        if self.segment_length < 1:
            raise ValueError(f"segment_length must be positive, got {self.segment_length}")
        if self.motion_aware_tau < 0:
            raise ValueError(f"motion_aware_tau must be non-negative, got {self.motion_aware_tau}")
        decoder_heads = self.decoder_num_attention_heads or self.num_attention_heads
        if self.decoder_hidden_size % decoder_heads:
            raise ValueError(
                f"decoder_hidden_size ({self.decoder_hidden_size}) must be divisible by the decoder heads "
                f"({decoder_heads})"
            )
        self.gfp_pool_kernels = [int(k) for k in self.gfp_pool_kernels]
        if any(k < 1 for k in self.gfp_pool_kernels) or not (self.gfp_pool_kernels or self.gfp_global_token):
            raise ValueError(
                f"gfp_pool_kernels must be positive and GFP needs at least one level, got {self.gfp_pool_kernels} "
                f"with gfp_global_token={self.gfp_global_token}"
            )
        for name in REMOVED_FIELDS:
            kwargs.pop(name, None)
        if self.skeleton_layout is not None and not isinstance(self.skeleton_layout, str):
            raise ValueError(f"skeleton_layout must be a layout name or None, got {self.skeleton_layout!r}")
        kwargs.setdefault("auto_map", copy.deepcopy(AUTO_MAP))
        super().__post_init__(**kwargs)

    @property
    def custom_pipelines(self) -> dict[str, Any]:
        """The pipelines whose code travels with the checkpoint (`{task: {"impl": "pipeline.Class", "pt": [...]}}`),
        as `transformers.pipeline` reads them: empty when this config class comes from the installed package.

        `transformers.pipeline` prefers a config's `custom_pipelines` over its registered tasks and then demands
        `trust_remote_code=True` (transformers/pipelines/__init__.py). Importing the package registers the task
        with its own pipeline class, so there the checkpoint's copy is not needed, as `AutoModel` prefers local
        code to a checkpoint's `auto_map`. The saved value is kept either way and written back by `save_pretrained`.
        """
        if _LOADED_FROM_PACKAGE:
            return {}
        return self.__dict__.get("custom_pipelines", {})

    @custom_pipelines.setter
    def custom_pipelines(self, value: dict[str, Any] | None) -> None:
        self.__dict__["custom_pipelines"] = dict(value or {})

    @property
    def frame_size(self) -> int:
        """Values per frame and person: joints x channels."""
        return self.num_joints * self.num_channels

    @property
    def stream_channels(self) -> int:
        """Values per joint that the frame embedding sees: channels x input streams."""
        return self.num_channels * len(self.input_streams)

    @property
    def patch_size(self) -> int:
        """Values per joint-segment token: segment_length x channels."""
        return self.segment_length * self.num_channels

    @property
    def max_segments(self) -> int:
        """Length of the joint-segment temporal table: ceil(max_frames / segment_length)."""
        return -(-self.max_frames // self.segment_length)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> CascadeFormerConfig:
        """A named configuration, `<benchmark>-<variant>`: CascadeFormer's (`"penn_action-1.0"`, `"nucla-1.1"`,
        `"ntu60-xsub-1.0"`, `"ntu60-xview-1.2"`, ...) or the MAMP / GFP joint-segment encoder with its pretraining
        objective (`"ntu60-xsub-gfp"`, `"ntu60-xsub-mamp"`, `"ntu120-xset-gfp"`, ...). Keyword arguments override
        preset fields."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; available: {', '.join(sorted(PRESETS))}")
        return cls(**{**PRESETS[name], **overrides})


class CascadeFormerEnsembleConfig(CascadeFormerConfig):
    r"""
    Configuration of an ensemble of CascadeFormer classifiers that share one architecture (every field of
    `CascadeFormerConfig`, which describes each member) but were trained separately, e.g. each from its own
    pretraining. `CascadeFormerEnsembleForSequenceClassification` averages the members' class probabilities.

    Args:
        ensemble_size (`int`, *optional*, defaults to 3):
            Number of members.
    """

    model_type = "cascadeformer_ensemble"

    ensemble_size: int = 3

    def __post_init__(self, **kwargs: Any) -> None:
        if isinstance(self.ensemble_size, bool) or not isinstance(self.ensemble_size, int) or self.ensemble_size < 1:
            raise ValueError(f"ensemble_size must be a positive integer, got {self.ensemble_size!r}")
        kwargs.setdefault("auto_map", copy.deepcopy(ENSEMBLE_AUTO_MAP))
        super().__post_init__(**kwargs)


def _check_field_types(fields: dict[str, Any]) -> None:
    """A number or flag of the wrong type (e.g. `"hidden_size": "32"` in a hand-edited config.json) is named here
    instead of failing deep inside a check or a layer."""
    for name, value in fields.items():
        kind = _FIELD_TYPES.get(name)
        if kind is None or value is None and name in _OPTIONAL_FIELDS:
            continue
        if kind is bool:
            valid = isinstance(value, bool)
        elif kind is int:
            valid = isinstance(value, int) and not isinstance(value, bool)
        else:
            valid = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not valid:
            expected = {bool: "true or false", int: "an integer", float: "a number"}[kind]
            raise ValueError(f"config field {name} must be {expected}, got {value!r} ({type(value).__name__})")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


# The paper's checkpoints (Peng & Yilmaz, arXiv 2509.00692, and the official code that convert_official.py reads):
# PyTorch `nn.TransformerEncoderLayer` defaults (post-LN, ReLU, feed-forward 2048, dropout 0.1), 4 + 4 layers at
# width 256 on Penn Action and N-UCLA.
_PAPER_LAYERS = {
    "layer_norm_position": "post",
    "hidden_act": "relu",
    "intermediate_size": 2048,
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
}


def _penn(variant: str) -> dict[str, Any]:
    return {
        **_PAPER_LAYERS,
        # Presets hold the class count only; the names come from the dataset (`hf_cascadeformer/data/`).
        "num_labels": 15,
        "skeleton_layout": "penn",
        "num_joints": 13,
        "num_channels": 2,
        "num_persons": 1,
        # The official 1.0 position table holds 1000 frames, 1.1 and 1.2 hold 2048 (Penn clips are 18-663 frames).
        "max_frames": 1000 if variant == "1.0" else 2048,
        "frame_embedding": VARIANT_FRAME_EMBEDDINGS[variant],
        "spatial_attention_style": "project_back",
        "hidden_size": 256,
        "num_hidden_layers": 4,
        "num_attention_heads": 8,
    }


def _nucla(variant: str) -> dict[str, Any]:
    return {
        **_penn(variant),
        "num_labels": 10,
        "skeleton_layout": "nucla",
        "num_joints": 20,
        "num_channels": 3,
        "max_frames": 2048,
    }


def _ntu(protocol: str, variant: str) -> dict[str, Any]:
    # NTU 1.2 concatenates d / J wide joint tokens, so d must be a multiple of 25; the official NTU 1.2 width is not
    # published, so 800 (xsub) and 600 (xview) are the nearest multiples of 25 that also divide by the heads.
    if protocol == "xsub":
        size = {"hidden_size": 800 if variant == "1.2" else 768, "num_hidden_layers": 16, "num_attention_heads": 16}
    else:
        size = {"hidden_size": 600 if variant == "1.2" else 512, "num_hidden_layers": 12, "num_attention_heads": 8}
    return {
        **_PAPER_LAYERS,
        **size,
        "num_labels": 60,
        "skeleton_layout": "ntu",
        "num_joints": 25,
        "num_channels": 3,
        # The official code keeps one person (largest absolute coordinate sum); two are folded into the batch here.
        "num_persons": 1,
        "max_frames": 64,
        "frame_embedding": VARIANT_FRAME_EMBEDDINGS[variant],
        "spatial_attention_style": "split",
        "spatial_num_attention_heads": 4,
        "cascade_hidden_dropout_prob": 0.2,
        "cross_attention_dropout": 0.2,
        "cross_attention_feed_forward": True,
        "classifier_head": "mlp",
        "classifier_dropout": 0.3,
        "label_smoothing": 0.05,
    }


# The fields CascadeFormer adds to `PreTrainedConfig`'s (what a `--config` file of overrides may set).
_BASE_FIELDS = {field.name for field in fields(PreTrainedConfig)}
CONFIG_FIELDS: tuple[str, ...] = tuple(
    field.name for field in fields(CascadeFormerConfig) if field.name not in _BASE_FIELDS
)

# The scalar fields' types, read from the dataclass annotations (strings here).
_FIELD_TYPES: dict[str, type] = {}
_OPTIONAL_FIELDS: set[str] = set()
for _field in fields(CascadeFormerConfig):
    _name = _field.name
    _annotation = str(_field.type).replace(" ", "")
    _base = _annotation.removesuffix("|None")
    if _base in ("int", "float", "bool"):
        _FIELD_TYPES[_name] = {"int": int, "float": float, "bool": bool}[_base]
        if _base != _annotation:
            _OPTIONAL_FIELDS.add(_name)

PRESETS: dict[str, dict[str, Any]] = {}
for _variant in VARIANT_FRAME_EMBEDDINGS:
    PRESETS[f"penn_action-{_variant}"] = _penn(_variant)
    PRESETS[f"nucla-{_variant}"] = _nucla(_variant)
    PRESETS[f"ntu60-xsub-{_variant}"] = _ntu("xsub", _variant)
    PRESETS[f"ntu60-xview-{_variant}"] = _ntu("xview", _variant)


def _masked_skeleton_modeling(benchmark: str, objective: str) -> dict[str, Any]:
    """The MAMP / GFP encoder (Mao et al., ICCV 2023; Sun et al., arXiv 2509.03609): 120 frames, segments of 4
    frames x 25 joints = 750 tokens, width 256, 8 pre-LN layers, 8 heads, MLP 1024, no dropout while pretraining,
    both persons folded into the batch. MAMP's decoder has 3 layers on NTU-60 and 5 on NTU-120; its masking
    temperature is 0.80 on NTU-60, 0.75 on NTU-120. The cascading classifier on top is this package's addition
    (neither paper has it)."""
    ntu120 = benchmark.startswith("ntu120")
    return {
        "num_labels": 120 if ntu120 else 60,
        "skeleton_layout": "ntu",
        "num_joints": 25,
        "num_channels": 3,
        "num_persons": 2,
        "max_frames": 120,
        "token_layout": "joint_segment",
        "segment_length": 4,
        "hidden_size": 256,
        "num_hidden_layers": 8,
        "num_attention_heads": 8,
        "intermediate_size": 1024,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "layer_norm_position": "pre",
        "label_smoothing": 0.1,
        "pretraining_objective": objective,
        "mask_ratio": 0.9,
        "motion_aware_tau": 0.75 if ntu120 else 0.8,
        "decoder_hidden_size": 256,
        "decoder_num_hidden_layers": 5 if ntu120 else 3,
    }


for _benchmark in ("ntu60-xsub", "ntu60-xview", "ntu120-xsub", "ntu120-xset"):
    for _objective in ("mamp", "gfp"):
        PRESETS[f"{_benchmark}-{_objective}"] = _masked_skeleton_modeling(_benchmark, _objective)
