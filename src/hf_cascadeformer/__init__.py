"""hf-cascadeformer: CascadeFormer and GFP skeleton action recognition as native Hugging Face models.

Importing the package registers the config, every model head and the feature extractor with the Transformers Auto
classes, so `AutoModel.from_pretrained(...)` works for CascadeFormer checkpoints without `trust_remote_code`.
"""

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForPreTraining,
    AutoModelForSequenceClassification,
)

from .configuration_cascadeformer import PRESETS, CascadeFormerConfig, CascadeFormerEnsembleConfig
from .feature_extraction_cascadeformer import CascadeFormerFeatureExtractor
from .modeling_cascadeformer import (
    CascadeFormerEnsembleForSequenceClassification,
    CascadeFormerForMaskedSkeletonModeling,
    CascadeFormerForSequenceClassification,
    CascadeFormerModel,
    CascadeFormerPreTrainedModel,
)
from .pipeline import SkeletonActionRecognitionPipeline  # noqa: F401  (importing it registers the pipeline task)

__version__ = "0.1.0"

AutoConfig.register(CascadeFormerConfig.model_type, CascadeFormerConfig, exist_ok=True)
AutoModel.register(CascadeFormerConfig, CascadeFormerModel, exist_ok=True)
AutoModelForPreTraining.register(CascadeFormerConfig, CascadeFormerForMaskedSkeletonModeling, exist_ok=True)
AutoModelForSequenceClassification.register(CascadeFormerConfig, CascadeFormerForSequenceClassification, exist_ok=True)
AutoFeatureExtractor.register(CascadeFormerConfig, CascadeFormerFeatureExtractor, exist_ok=True)
AutoConfig.register(CascadeFormerEnsembleConfig.model_type, CascadeFormerEnsembleConfig, exist_ok=True)
AutoModelForSequenceClassification.register(
    CascadeFormerEnsembleConfig, CascadeFormerEnsembleForSequenceClassification, exist_ok=True
)
AutoFeatureExtractor.register(CascadeFormerEnsembleConfig, CascadeFormerFeatureExtractor, exist_ok=True)

# Saving any of these copies the flat modeling files next to the weights, so checkpoints also load as remote code.
CascadeFormerConfig.register_for_auto_class("AutoConfig")
CascadeFormerModel.register_for_auto_class("AutoModel")
CascadeFormerForMaskedSkeletonModeling.register_for_auto_class("AutoModelForPreTraining")
CascadeFormerForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")
CascadeFormerFeatureExtractor.register_for_auto_class("AutoFeatureExtractor")
CascadeFormerEnsembleConfig.register_for_auto_class("AutoConfig")
CascadeFormerEnsembleForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")

__all__ = [
    "PRESETS",
    "CascadeFormerConfig",
    "CascadeFormerEnsembleConfig",
    "CascadeFormerEnsembleForSequenceClassification",
    "CascadeFormerFeatureExtractor",
    "CascadeFormerForMaskedSkeletonModeling",
    "CascadeFormerForSequenceClassification",
    "CascadeFormerModel",
    "CascadeFormerPreTrainedModel",
]
