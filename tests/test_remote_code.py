"""Checkpoints load as remote code in a process that cannot import this package."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
from conftest import run_without_package

from hf_cascadeformer import (
    CascadeFormerConfig,
    CascadeFormerFeatureExtractor,
    CascadeFormerForMaskedSkeletonModeling,
    CascadeFormerForSequenceClassification,
)

# Runs in a fresh interpreter where importing hf_cascadeformer fails, as in an environment without the package.
LOADER = textwrap.dedent(
    """
    import torch
    from transformers import AutoFeatureExtractor, AutoModel, AutoModelForPreTraining
    from transformers import AutoModelForSequenceClassification

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
    # The pretraining head builds its objective from the objectives file, which must travel with every checkpoint.
    pretraining = AutoModelForPreTraining.from_pretrained(path, trust_remote_code=True).eval()
    with torch.no_grad():
        result = {
            "classifier": type(classifier).__name__,
            "base": type(base).__name__,
            "extractor": type(extractor).__name__,
            "pretraining": type(pretraining).__name__,
            "objective": type(pretraining.objective).__name__,
            "objective_module": type(pretraining.objective).__module__,
            "pretraining_loss": float(pretraining(clips, seed=0).loss),
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
    assert (tmp_path / "ckpt" / "modeling_cascadeformer_objectives.py").is_file()
    CascadeFormerFeatureExtractor.from_model_config(config, num_frames=8).save_pretrained(tmp_path / "ckpt")
    clips = torch.randn(2, 6, 5, 3)
    torch.save(clips, tmp_path / "clips.pt")

    remote = run_without_package(LOADER, tmp_path / "ckpt", tmp_path / "clips.pt", modules_cache=tmp_path / "modules")
    assert remote["classifier"] == "CascadeFormerForSequenceClassification"
    assert remote["base"] == "CascadeFormerModel"
    assert remote["extractor"] == "CascadeFormerFeatureExtractor"
    assert remote["features"] == 8
    assert remote["pretraining"] == "CascadeFormerForMaskedSkeletonModeling"
    assert remote["objective"] == "MaskedJointReconstruction"
    assert remote["objective_module"].startswith("transformers_modules.")  # the checkpoint's copy

    with torch.no_grad():
        hidden = model.cascadeformer(clips).last_hidden_state
    assert abs(remote["hidden_sum"] - float(hidden.sum())) < 1e-3
    if saved_by == "pretraining":
        with torch.no_grad():
            expected_loss = float(model(clips, seed=0).loss)
        assert abs(remote["pretraining_loss"] - expected_loss) < 1e-5
    if saved_by == "classifier":
        with torch.no_grad():
            expected = model(clips).logits
        torch.testing.assert_close(torch.tensor(remote["logits"]), expected, rtol=1e-5, atol=1e-5)


# The pipeline task from the checkpoint alone: transformers reads `custom_pipelines` from config.json and imports the
# copied pipeline.py (which imports the copied feature extractor) as remote code.
PIPELINE_LOADER = textwrap.dedent(
    """
    import numpy as np
    from transformers import pipeline

    path, clips_file, npy_file = sys.argv[1], sys.argv[2], sys.argv[3]
    try:
        import hf_cascadeformer  # noqa: F401
        raise SystemExit("the package should not be importable in this test")
    except ImportError:
        pass
    classify = pipeline("skeleton-action-recognition", model=path, trust_remote_code=True, device="cpu")
    clips = list(np.load(clips_file))
    result = {
        "class": type(classify).__name__,
        "module": type(classify).__module__,
        "extractor_frames": classify.feature_extractor.num_frames,
        "batch": classify(clips, top_k=4, batch_size=2),
        "npy": classify(npy_file, top_k=4),
    }
    try:
        classify(path + "/missing.skeleton")
    except ValueError as error:
        result["skeleton_error"] = str(error)
    print(json.dumps(result))
    """
)


def _classifier_with_pipeline(folder) -> tuple[CascadeFormerForSequenceClassification, CascadeFormerFeatureExtractor]:
    from hf_cascadeformer.hub import add_pipeline_code

    config = CascadeFormerConfig(
        num_joints=5,
        max_frames=16,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        id2label={0: "wave", 1: "clap", 2: "sit", 3: "jump"},
        label2id={"wave": 0, "clap": 1, "sit": 2, "jump": 3},
    )
    torch.manual_seed(0)
    model = CascadeFormerForSequenceClassification(config).eval()
    extractor = CascadeFormerFeatureExtractor.from_model_config(config, num_frames=8, root_joint=0)
    model.save_pretrained(folder)
    extractor.save_pretrained(folder)
    written = add_pipeline_code(folder)
    # pipeline.py and the flat files it imports (the feature extractor takes its coordinate bound from the config)
    assert {path.name for path in written} == {
        "config.json",
        "pipeline.py",
        "feature_extraction_cascadeformer.py",
        "configuration_cascadeformer.py",
    }
    assert add_pipeline_code(folder) == written  # a second call rewrites the same files
    return model, extractor


def test_the_installed_package_uses_its_own_pipeline_without_trust_remote_code(tmp_path):
    from transformers import pipeline

    from hf_cascadeformer.pipeline import TASK, SkeletonActionRecognitionPipeline

    model, extractor = _classifier_with_pipeline(tmp_path / "ckpt")
    saved = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert saved["custom_pipelines"] == {
        TASK: {"impl": "pipeline.SkeletonActionRecognitionPipeline", "pt": ["AutoModelForSequenceClassification"]}
    }
    # transformers.pipeline would otherwise demand trust_remote_code for the checkpoint's copy of the pipeline.
    classify = pipeline(TASK, model=str(tmp_path / "ckpt"), device="cpu")
    assert type(classify) is SkeletonActionRecognitionPipeline
    assert CascadeFormerConfig.from_pretrained(tmp_path / "ckpt").custom_pipelines == {}
    # Saving again (e.g. after loading) keeps the entry.
    reloaded = CascadeFormerForSequenceClassification.from_pretrained(tmp_path / "ckpt")
    reloaded.save_pretrained(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "config.json").read_text())["custom_pipelines"] == saved["custom_pipelines"]


def test_pipeline_save_pretrained_writes_the_same_checkpoint(tmp_path):
    # transformers' own Pipeline.save_pretrained copies pipeline.py and its relative imports (it used to fail on
    # pipeline.py importing the non-flat io module) and records the same custom_pipelines entry.
    from transformers import pipeline

    from hf_cascadeformer.pipeline import TASK

    _classifier_with_pipeline(tmp_path / "ckpt")
    classify = pipeline(TASK, model=str(tmp_path / "ckpt"), device="cpu")
    classify.save_pretrained(tmp_path / "saved")
    for name in ("pipeline.py", "feature_extraction_cascadeformer.py", "modeling_cascadeformer.py"):
        assert (tmp_path / "saved" / name).is_file(), name
    saved = json.loads((tmp_path / "saved" / "config.json").read_text())["custom_pipelines"]
    assert saved == json.loads((tmp_path / "ckpt" / "config.json").read_text())["custom_pipelines"]


def test_add_pipeline_code_refuses_what_is_not_a_saved_classifier(tmp_path):
    from hf_cascadeformer.hub import add_pipeline_code

    with pytest.raises(FileNotFoundError, match="config.json: no such file; save the model"):
        add_pipeline_code(tmp_path)
    config = CascadeFormerConfig(
        num_joints=5, max_frames=16, hidden_size=16, num_hidden_layers=1, num_attention_heads=2
    )
    CascadeFormerForMaskedSkeletonModeling(config).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="not a classifier checkpoint"):
        add_pipeline_code(tmp_path)


@pytest.mark.slow
def test_the_pipeline_travels_with_the_checkpoint(tmp_path):
    import numpy as np
    from transformers import pipeline

    model, extractor = _classifier_with_pipeline(tmp_path / "ckpt")
    rng = np.random.default_rng(0)
    clips = rng.normal(size=(3, 12, 1, 5, 3)).astype(np.float32)
    np.save(tmp_path / "clips.npy", clips)
    np.save(tmp_path / "one.npy", clips[0, :, 0])  # (frames, joints, channels)

    remote = run_without_package(
        PIPELINE_LOADER,
        tmp_path / "ckpt",
        tmp_path / "clips.npy",
        tmp_path / "one.npy",
        modules_cache=tmp_path / "modules",
    )
    assert remote["class"] == "SkeletonActionRecognitionPipeline"
    assert remote["module"].startswith("transformers_modules.")  # the checkpoint's copy, not the package
    assert remote["extractor_frames"] == 8
    assert "needs the hf-cascadeformer package" in remote["skeleton_error"]

    # The same predictions as the installed package's pipeline.
    local = pipeline("skeleton-action-recognition", model=str(tmp_path / "ckpt"), device="cpu")
    expected = local(list(clips), top_k=4)
    for got, want in zip(remote["batch"], expected, strict=True):
        assert [p["label"] for p in got] == [p["label"] for p in want]
        np.testing.assert_allclose([p["score"] for p in got], [p["score"] for p in want], atol=1e-5)
    assert [p["label"] for p in remote["npy"]] == [p["label"] for p in expected[0]]
