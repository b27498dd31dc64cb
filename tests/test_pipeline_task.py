"""The skeleton-action-recognition pipeline and hf_cascadeformer.io.load_clip: every input kind, batching, top_k."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoFeatureExtractor, AutoModelForSequenceClassification, pipeline

from hf_cascadeformer import CascadeFormerConfig, CascadeFormerFeatureExtractor, CascadeFormerForSequenceClassification
from hf_cascadeformer.data.errors import SkeletonFileError
from hf_cascadeformer.data.ntu import load_ntu_clip
from hf_cascadeformer.data.synthetic import generate_clip
from hf_cascadeformer.io import UnsupportedClipFormatError, load_clip
from hf_cascadeformer.pipeline import TASK, SkeletonActionRecognitionPipeline

LABELS = ["wave", "clap", "sit down", "handshake", "push"]


def tiny_classifier(folder: Path, num_frames: int | None = 16, save_extractor: bool = True) -> Path:
    """A randomly initialised two-person NTU-layout classifier saved with save_pretrained."""
    torch.manual_seed(0)
    config = CascadeFormerConfig(
        num_persons=2,
        max_frames=32,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        id2label=dict(enumerate(LABELS)),
        label2id={name: index for index, name in enumerate(LABELS)},
    )
    model = CascadeFormerForSequenceClassification(config).eval()
    with torch.no_grad():  # larger logits than the initialisation's, so the top-k order is not decided by noise
        model.classifier.apply(lambda m: m.weight.mul_(30) if isinstance(m, torch.nn.Linear) else None)
    model.save_pretrained(folder)
    if save_extractor:
        CascadeFormerFeatureExtractor.from_model_config(config, num_frames=num_frames).save_pretrained(folder)
    return folder


def write_ntu_skeleton(path: Path, clip: np.ndarray) -> None:
    """A format-exact NTU .skeleton file (CRLF) of one tracked body: `clip` is (frames, 25, 3) metres."""
    lines = [str(len(clip))]
    for frame in clip:
        lines += ["1", "72057594037944738 0 1 1 1 1 0 0.01119184 -0.256052 2", "25"]
        for x, y, z in frame:
            lines.append(f"{x:.7f} {y:.7f} {z:.7f} 256.1 212.3 960.2 540.1 0.1 0.2 0.3 0.9 2")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_classifier(tmp_path_factory.mktemp("classifier"))


@pytest.fixture(scope="module")
def classify(checkpoint):
    return pipeline(TASK, model=str(checkpoint), device="cpu")


@pytest.fixture(scope="module")
def direct(checkpoint):
    """(model, extractor) loaded without the pipeline, for reference probabilities."""
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint).eval()
    return model, AutoFeatureExtractor.from_pretrained(checkpoint)


def clips(count: int = 6, seed: int = 0) -> list[np.ndarray]:
    """Two-person synthetic clips (frames, 2, 25, 3) of 20-60 frames, of varied actions."""
    rng = np.random.default_rng(seed)
    return [generate_clip(index % 12, rng, min_frames=20, max_frames=60) for index in range(count)]


def reference_probabilities(direct, clip: np.ndarray) -> np.ndarray:
    model, extractor = direct
    with torch.no_grad():
        logits = model(**extractor(clip, return_tensors="pt")).logits
    return logits.softmax(-1)[0].numpy()


def as_dict(predictions: list[dict]) -> dict[str, float]:
    return {p["label"]: p["score"] for p in predictions}


def test_registered_task_loads_the_checkpoints_feature_extractor(classify):
    assert isinstance(classify, SkeletonActionRecognitionPipeline)
    assert isinstance(classify.feature_extractor, CascadeFormerFeatureExtractor)
    assert classify.feature_extractor.num_frames == 16  # from preprocessor_config.json, not the config default 64
    assert classify.feature_extractor.num_persons == 2


def test_pipeline_matches_the_model_called_directly(classify, direct):
    for clip in clips(4):
        expected = reference_probabilities(direct, clip)
        predictions = classify(clip, top_k=len(LABELS))
        assert [p["label"] for p in predictions][0] == LABELS[int(expected.argmax())]
        scores = as_dict(predictions)
        np.testing.assert_allclose([scores[name] for name in LABELS], expected, rtol=1e-5, atol=1e-6)
        assert [p["score"] for p in predictions] == sorted(scores.values(), reverse=True)


def test_top_k(classify):
    clip = clips(1)[0]
    assert len(classify(clip)) == 5  # default
    top2 = classify(clip, top_k=2)
    assert len(top2) == 2 and top2 == classify(clip, top_k=5)[:2]
    everything = classify(clip, top_k=50)  # more than the labels: all of them
    assert sorted(p["label"] for p in everything) == sorted(LABELS)
    assert sum(p["score"] for p in everything) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="top_k"):
        classify(clip, top_k=0)


def test_batches_match_single_calls(classify):
    batch = clips(7, seed=1)
    single = [classify(clip, top_k=3) for clip in batch]
    for batch_size in (1, 3, 8):
        batched = classify(batch, top_k=3, batch_size=batch_size)
        assert len(batched) == len(batch)
        for one, many in zip(single, batched, strict=True):
            assert [p["label"] for p in one] == [p["label"] for p in many]
            np.testing.assert_allclose([p["score"] for p in one], [p["score"] for p in many], atol=1e-5)
    # A rank-5 array is a batch too (clips of equal length).
    stacked = np.stack([clip[:20] for clip in batch[:3]])
    assert len(classify(stacked, top_k=1)) == 3
    assert classify([], top_k=1) == []


def test_batches_of_different_lengths_pad_frames(checkpoint, tmp_path):
    # With num_frames=None each clip keeps its length; a batch is padded along frames with attention_mask 0.
    folder = tiny_classifier(tmp_path / "variable", num_frames=None)
    classify = pipeline(TASK, model=str(folder), device="cpu")
    assert classify.feature_extractor.num_frames is None
    batch = [clip[:length] for clip, length in zip(clips(5, seed=2), (12, 31, 20, 8, 27), strict=True)]
    single = [classify(clip, top_k=5) for clip in batch]
    batched = classify(batch, top_k=5, batch_size=5)
    for one, many in zip(single, batched, strict=True):
        np.testing.assert_allclose(
            [as_dict(one)[name] for name in LABELS], [as_dict(many)[name] for name in LABELS], atol=1e-5
        )
    long_clip = np.concatenate([batch[0]] * 3)  # longer than max_frames: evenly spaced frames are kept
    assert len(long_clip) > 32 and len(classify(long_clip)) == 5


def test_every_input_kind_gives_the_same_prediction(classify, tmp_path):
    clip = clips(1, seed=3)[0][:, :1]  # one person: (frames, 1, 25, 3)
    expected = as_dict(classify(clip, top_k=5))
    np.save(tmp_path / "clip.npy", clip)
    np.savez(tmp_path / "clip.npz", skeleton=clip)
    (tmp_path / "frames.json").write_text(json.dumps(clip[:, 0].tolist()))  # frames x joints x channels
    (tmp_path / "object.json").write_text(json.dumps({"skeletons": clip.tolist()}))
    write_ntu_skeleton(tmp_path / "S001C001P001R001A001.skeleton", clip[:, 0])
    write_ntu_skeleton(tmp_path / "renamed.skeleton", clip[:, 0])
    inputs = {
        "array (frames, joints, channels)": clip[:, 0],
        "tensor": torch.from_numpy(clip),
        "list of frames": clip[:, 0].tolist(),
        "dataset row": {"skeleton": clip, "sample_id": "row"},
        ".npy": str(tmp_path / "clip.npy"),
        ".npz": tmp_path / "clip.npz",
        "JSON array": str(tmp_path / "frames.json"),
        "JSON object": str(tmp_path / "object.json"),
        "NTU .skeleton": str(tmp_path / "S001C001P001R001A001.skeleton"),
        "renamed NTU .skeleton": str(tmp_path / "renamed.skeleton"),
    }
    for kind, item in inputs.items():
        got = as_dict(classify(item, top_k=5))
        assert got.keys() == expected.keys(), kind
        for name, score in expected.items():
            assert got[name] == pytest.approx(score, abs=1e-5), kind
    # A mixed batch of kinds.
    mixed = classify(list(inputs.values()), top_k=1, batch_size=4)
    assert [top[0]["label"] for top in mixed] == [max(expected, key=expected.get)] * len(inputs)


def test_real_ntu_file_matches_the_model_on_the_parsed_clip(classify, direct, shared_data):
    path = shared_data / "ntu" / "S001C003P008R002A058.skeleton"
    clip, _ = load_ntu_clip(path)
    assert clip.shape == (70, 2, 25, 3)
    expected = reference_probabilities(direct, clip)
    predictions = classify(str(path), top_k=5)
    assert predictions[0]["label"] == LABELS[int(expected.argmax())]
    for prediction in predictions:
        assert prediction["score"] == pytest.approx(expected[LABELS.index(prediction["label"])], rel=1e-5)


def test_user_mistakes_raise_clear_errors(classify, tmp_path):
    with pytest.raises(ValueError, match=r"20 joints x 3 channels, but the model expects 25 joints"):
        classify(np.zeros((10, 20, 3), np.float32) + 0.1)
    (tmp_path / "clip.txt").write_text("1 2 3")
    with pytest.raises(UnsupportedClipFormatError, match=r"clip.txt: unknown clip format '.txt'"):
        classify(str(tmp_path / "clip.txt"))
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        classify(str(tmp_path / "missing.npy"))
    with pytest.raises(ValueError, match="'skeleton' entry"):
        classify({"pose": np.zeros((4, 25, 3))})


def test_checkpoint_without_feature_extractor_falls_back_to_its_config(tmp_path):
    folder = tiny_classifier(tmp_path / "bare", save_extractor=False)
    assert not (folder / "preprocessor_config.json").exists()
    classify = pipeline(TASK, model=str(folder), device="cpu")
    assert classify.feature_extractor.num_frames == 32  # min(64, max_frames)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    assert pipeline(TASK, model=model, device="cpu").feature_extractor.num_persons == 2
    assert len(classify(clips(1)[0], top_k=3)) == 3


# ----------------------------------------------------------------------------------------------------------------
# load_clip


def test_load_clip_reads_each_format_into_the_clip_convention(tmp_path):
    clip = clips(1, seed=4)[0]
    np.save(tmp_path / "two.npy", clip)
    loaded, meta = load_clip(tmp_path / "two.npy")
    np.testing.assert_array_equal(loaded, clip)
    assert meta["format"] == "npy" and meta["num_persons"] == int(clip[:, 1].any()) + 1
    write_ntu_skeleton(tmp_path / "S002C001P003R001A003.skeleton", clip[:, 0])
    loaded, meta = load_clip(tmp_path / "S002C001P003R001A003.skeleton")
    assert loaded.shape == (len(clip), 2, 25, 3) and meta["action"] == 3 and meta["format"] == "ntu"
    np.testing.assert_allclose(loaded[:, 0], clip[:, 0], atol=1e-6)
    assert not loaded[:, 1].any()


def test_load_clip_reports_malformed_files(tmp_path):
    (tmp_path / "broken.json").write_text("[[1, 2,")
    with pytest.raises(SkeletonFileError, match=r"broken.json, line 1: not valid JSON"):
        load_clip(tmp_path / "broken.json")
    (tmp_path / "flat.json").write_text("[1, 2, 3]")
    with pytest.raises(SkeletonFileError, match=r"flat.json: expected shape"):
        load_clip(tmp_path / "flat.json")
    (tmp_path / "keys.json").write_text('{"pose": []}')
    with pytest.raises(SkeletonFileError, match="needs one of the keys"):
        load_clip(tmp_path / "keys.json")
    np.save(tmp_path / "nan.npy", np.full((3, 25, 3), np.nan, np.float32))
    with pytest.raises(SkeletonFileError, match="NaN"):
        load_clip(tmp_path / "nan.npy")
    (tmp_path / "S001C001P001R001A001.skeleton").write_text("2\r\n0\r\n")
    with pytest.raises(SkeletonFileError, match="file ends early"):
        load_clip(tmp_path / "S001C001P001R001A001.skeleton")


def test_load_clip_reads_real_benchmark_files(shared_data):
    clip, meta = load_clip(shared_data / "ntu" / "S002C001P003R001A003.skeleton")
    assert clip.shape == (100, 2, 25, 3) and clip.dtype == np.float32 and meta["action"] == 3
    nucla, meta = load_clip(shared_data / "nucla" / "all_sqe" / "a02_s09_e04_v02.json")
    assert nucla.shape == (1, 1, 20, 3) and meta["format"] == "nucla"
    penn = sorted((shared_data / "penn_action" / "labels").glob("*.mat"))[0]
    clip, meta = load_clip(penn)
    assert clip.shape[1:] == (1, 13, 2) and meta["format"] == "penn_action"
