"""Fine-tuning (`hf_cascadeformer.training.finetune`, and examples/finetune.py over it): Trainer end to end and
publishing to a Hub (resuming: test_resume.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT
from hub_server import client_env
from transformers import AutoFeatureExtractor, AutoModelForSequenceClassification

from hf_cascadeformer import training
from hf_cascadeformer.data.synthetic import load_synthetic_dataset
from hf_cascadeformer.training import common, evaluation, finetuning

FINETUNE = REPO_ROOT / "examples" / "finetune.py"
FAST = ["--batch-size", "16", "--num-frames", "24", "--validation-fraction", "0.1"]


@pytest.mark.slow
def test_finetune_writes_a_complete_checkpoint_with_metrics_and_card(tmp_path):
    finetune = finetuning
    results = finetune.main(["--output-dir", str(tmp_path), "--max-steps", "4", "--eval-steps", "2", *FAST])
    for name in ("model.safetensors", "config.json", "preprocessor_config.json", "README.md", "eval_results.json"):
        assert (tmp_path / name).is_file(), name
    saved = json.loads((tmp_path / "eval_results.json").read_text())
    assert saved == pytest.approx(results)
    # Trainer's pickled arguments are replaced by JSON: nothing in the shared folder needs unpickling.
    assert not (tmp_path / "training_args.bin").exists()
    arguments = json.loads((tmp_path / "training_args.json").read_text())
    assert arguments["max_steps"] == 4 and arguments["per_device_train_batch_size"] == 16
    for key in ("test_accuracy", "test_top5_accuracy", "test_f1_weighted", "validation_accuracy"):
        assert 0.0 <= saved[key] <= 1.0
    # 600 embedded training clips: 10% (60) held out for selection, the test split (192) untouched.
    card = (tmp_path / "README.md").read_text()
    assert "train 540, validation 60, test 192" in card
    assert "model-index:" in card and "Top-1 accuracy" in card
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["id2label"]["0"] == "wave right hand"
    preprocessor = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert preprocessor["num_frames"] == 24 and preprocessor["num_persons"] == 2

    # `evaluate` on the same checkpoint and split reproduces the Trainer's test metrics.
    evaluated = evaluation.main(["--model", str(tmp_path), "--split", "test"])
    assert evaluated["accuracy"] == pytest.approx(results["test_accuracy"])
    assert evaluated["f1_weighted"] == pytest.approx(results["test_f1_weighted"])
    assert sum(map(sum, evaluated["confusion_matrix"])) == 192
    assert evaluated["class_names"][0] == "wave right hand"
    assert (tmp_path / "metrics_test.json").is_file()
    assert (tmp_path / "confusion_test.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Run again in the same folder: the finished run's checkpoints are replaced, not rotated in with the new ones
    # (where a later --resume-from-checkpoint would pick them up).
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    finetune.main(["--output-dir", str(tmp_path), "--max-steps", "1", "--eval-steps", "1", *FAST])
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-1"]
    # Checkpoints of an unfinished run (no eval_results.json yet) stop a fresh run instead of being deleted.
    (tmp_path / "eval_results.json").unlink()
    with pytest.raises(SystemExit, match=r"unfinished run \(checkpoint-1\).*--resume-from-checkpoint"):
        finetune.main(["--output-dir", str(tmp_path), "--max-steps", "1", *FAST])
    assert (tmp_path / "checkpoint-1" / "trainer_state.json").is_file()


def test_config_overrides_name_a_misspelt_field(tmp_path):
    path = tmp_path / "ablation.json"
    path.write_text(json.dumps({"hidden_size": 64, "hiden_dropout_prob": 0.3}))
    with pytest.raises(
        ValueError, match=r"ablation.json: unknown .*'hiden_dropout_prob' \(did you mean 'hidden_dropout_prob'"
    ):
        training.load_config_overrides(str(path))
    path.write_text(json.dumps({"hidden_size": 64, "input_streams": ["joint", "motion"]}))
    assert training.load_config_overrides(str(path)) == {"hidden_size": 64, "input_streams": ["joint", "motion"]}
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="must hold a JSON object"):
        training.load_config_overrides(str(path))


def test_bf16_on_a_cpu_without_native_bf16_warns_and_still_evaluates(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "cpu_has_native_bf16", lambda: True)
    assert training.warn_if_bf16_is_slow("cpu") is False
    assert training.warn_if_bf16_is_slow("cuda") is False  # a GPU's bf16 is its own business
    monkeypatch.setattr(common, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(UserWarning, match="no native bf16 matrix instructions"):
        assert training.warn_if_bf16_is_slow("cpu") is True

    finetuning.main(["--output-dir", str(tmp_path), "--max-steps", "1", "--batch-size", "8", "--num-frames", "16"])
    evaluate = evaluation
    fp32 = evaluate.main(["--model", str(tmp_path), "--split", "test", "--no-plot"])
    with pytest.warns(UserWarning, match="drop the bf16 flag"):
        bf16 = evaluate.main(["--model", str(tmp_path), "--split", "test", "--no-plot", "--bf16"])
    # Same checkpoint: bf16 autocast changes a few close calls at most.
    assert abs(bf16["accuracy"] - fp32["accuracy"]) <= 0.05


@pytest.mark.slow
def test_label_fraction_is_stratified_and_seeded():
    from hf_cascadeformer.training import load_dataset_dict, stratified_fraction

    train = load_dataset_dict()["train"]
    first, _ = stratified_fraction(train, 0.1, seed=3)
    again, _ = stratified_fraction(train, 0.1, seed=3)
    assert first["sample_id"] == again["sample_id"]
    counts = torch.bincount(torch.tensor(list(first["label"])), minlength=12)
    assert counts.min() >= 4 and counts.max() <= 6  # 60 clips over 12 balanced classes


PUSH = textwrap.dedent(
    """
    import json, sys
    sys.argv = ["finetune.py"] + json.loads(sys.argv[1])
    exec(compile(open({script!r}).read(), {script!r}, "exec"))
    """
)

LOAD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import torch
    import hf_cascadeformer
    from transformers import AutoFeatureExtractor, AutoModel, AutoModelForSequenceClassification
    from hf_cascadeformer.data.synthetic import load_synthetic_dataset

    clips = [np.asarray(c, dtype=np.float32) for c in load_synthetic_dataset(2, 1, 1)["test"]["skeleton"][:4]]
    extractor = AutoFeatureExtractor.from_pretrained("org/cascadeformer-ntu60")
    model = AutoModelForSequenceClassification.from_pretrained("org/cascadeformer-ntu60").eval()
    encoder = AutoModel.from_pretrained("org/cascadeformer-ntu60").eval()
    inputs = extractor(clips, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
        hidden = encoder(**inputs).last_hidden_state
    print(json.dumps({"logits": logits.tolist(), "encoder": type(encoder).__name__, "hidden": hidden.shape[-1]}))
    """
)


@pytest.mark.slow
def test_push_to_hub_and_load_back_in_a_fresh_process(hub_server, tmp_path):
    output_dir = tmp_path / "run"
    args = ["--output-dir", str(output_dir), "--max-steps", "2", "--push-to-hub", "org/cascadeformer-ntu60", *FAST]
    # The user's command, in a process whose huggingface_hub talks to the local server.
    process = subprocess.run(
        [sys.executable, "-c", PUSH.format(script=str(FINETUNE)), json.dumps(args)],
        env={**client_env(hub_server.url, tmp_path / "hf-push"), "PYTHONPATH": str(REPO_ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, process.stderr[-4000:]
    loaded = hub_server.run_client(LOAD, tmp_path / "hf-load", timeout=300)
    remote = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert remote["encoder"] == "CascadeFormerModel" and remote["hidden"] == 128

    clips = [np.asarray(c, dtype=np.float32) for c in load_synthetic_dataset(2, 1, 1)["test"]["skeleton"][:4]]
    local = AutoModelForSequenceClassification.from_pretrained(output_dir).eval()
    inputs = AutoFeatureExtractor.from_pretrained(output_dir)(clips, return_tensors="pt")
    with torch.no_grad():
        expected = local(**inputs).logits
    torch.testing.assert_close(torch.tensor(remote["logits"]), expected, rtol=1e-5, atol=1e-5)
    card = Path(output_dir / "README.md").read_text()
    assert "org/cascadeformer-ntu60" in card


def test_label_smoothing_has_one_home_the_saved_config(tmp_path):
    # --label_smoothing_factor (Trainer's name) becomes the model's config.label_smoothing; Trainer's own smoothing,
    # which would pop the labels and leave the saved config misreporting the training, stays off.
    finetuning.main(
        ["--output-dir", str(tmp_path), "--max-steps", "1", "--batch-size", "8", "--num-frames", "16"]
        + ["--label_smoothing_factor", "0.2", "--validation-fraction", "0"]
    )
    assert json.loads((tmp_path / "config.json").read_text())["label_smoothing"] == 0.2
    (*_, args) = finetuning.parse_finetune_args(["--recipe", "nucla-cpu"])
    assert args.label_smoothing_factor == 0.1  # the recipe's
    run_args = finetuning._with_steps_from_data(args, 100, finetuning.FINETUNE_RECIPES["nucla-cpu"], True)
    assert run_args.label_smoothing_factor == 0.0
    # Without a recipe value or the flag, the model's config keeps its own (a preset's, a checkpoint's, --config's).
    (model_args, _, _, plain) = finetuning.parse_finetune_args(["--preset", "ntu60-xsub-1.0"])
    assert plain.label_smoothing_factor is None
    geometry = common.DataGeometry(1, 25, 3, ("a", "b"))
    recipe = finetuning.FINETUNE_RECIPES["embedded"]
    with torch.device("meta"):
        model, _ = finetuning._model_and_extractor(model_args, geometry, recipe, plain.label_smoothing_factor)
        assert model.config.label_smoothing == 0.05
        model, _ = finetuning._model_and_extractor(model_args, geometry, recipe, 0.0)
        assert model.config.label_smoothing == 0.0


def test_the_models_smoothed_loss_is_trainers():
    # Moving the smoothing from Trainer's LabelSmoother into the model keeps the training loss.
    from transformers.trainer_pt_utils import LabelSmoother

    from hf_cascadeformer import CascadeFormerConfig, CascadeFormerForSequenceClassification

    config = CascadeFormerConfig(
        num_joints=5, max_frames=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, num_labels=4
    )
    config.label_smoothing = 0.1
    model = CascadeFormerForSequenceClassification(config).eval()
    skeletons, labels = torch.randn(6, 8, 5, 3), torch.tensor([0, 1, 2, 3, -100, 1])
    output = model(skeletons, labels=labels)
    smoothed = LabelSmoother(epsilon=0.1)({"logits": output.logits}, labels)
    torch.testing.assert_close(output.loss, smoothed)


def test_augmentation_consistency_is_the_jensen_shannon_divergence_of_the_views():
    logits = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    identical = torch.cat([logits[:3], logits[:3]])
    assert finetuning.augmentation_consistency(identical, 2).item() == pytest.approx(0.0, abs=1e-6)
    # Rows are view-major: clip i's views are rows i and i + 3. The mean over views of KL(p_view || mixture).
    probs = logits.softmax(-1).view(2, 3, 4)
    mixture = probs.mean(0)
    expected = (probs * (probs / mixture).log()).sum(-1).mean()
    torch.testing.assert_close(finetuning.augmentation_consistency(logits, 2), expected)
    assert 0.0 < expected.item() <= np.log(2)
    with pytest.raises(ValueError, match="7 rows of logits do not split into 2 views"):
        finetuning.augmentation_consistency(torch.randn(7, 4), 2)
    # Labels that do not repeat per view mean the batch holds distinct clips, not views of the same ones.
    finetuning.augmentation_consistency(logits, 2, torch.tensor([0, 1, 2, 0, 1, 2]))
    with pytest.raises(ValueError, match="labels of the views differ"):
        finetuning.augmentation_consistency(logits, 2, torch.tensor([0, 1, 2, 3, 4, 5]))


def test_fine_tuning_with_consistency_trains_on_two_views_of_each_clip(tmp_path, monkeypatch):
    seen = []

    def recording(logits, views, labels=None):
        value = consistency(logits, views, labels)
        seen.append((tuple(logits.shape), views, value.item()))
        return value

    consistency = finetuning.augmentation_consistency
    monkeypatch.setattr(finetuning, "augmentation_consistency", recording)
    args = ["--output-dir", str(tmp_path), "--max-steps", "2", "--batch-size", "8", "--num-frames", "16"]
    finetuning.main([*args, "--validation-fraction", "0.05", "--eval-steps", "2", "--consistency_weight", "12"])
    # Training batches of 8 clips hold 16 rows (two augmentations each); evaluation adds no consistency term.
    assert [(shape, views) for shape, views, _ in seen] == [((16, 12), 2)] * 2
    assert all(value > 0 for *_, value in seen)
    assert json.loads((tmp_path / "training_args.json").read_text())["consistency_weight"] == 12
    assert "consistency between two augmentations of each clip (weight 12)" in (tmp_path / "README.md").read_text()
    with pytest.raises(ValueError, match="needs augmentation on"):
        finetuning.main([*args, "--consistency_weight", "1", "--no_augmentation"])
    # The recipes say their weight; without one it is off; a negative weight is refused.
    assert finetuning.parse_finetune_args([])[-1].consistency_weight == 0.0
    assert finetuning.parse_finetune_args(["--recipe", "nucla-cpu"])[-1].consistency_weight == 12.0
    with pytest.raises(ValueError, match="must be 0 \\(off\\) or positive, got -1"):
        finetuning.parse_finetune_args(["--consistency_weight", "-1"])
