"""hf_cascadeformer.training as a library: a user's own Trainer loop from the README, every TrainingArguments field
on the command line (trackers, workers, logging), and the console a redirected run writes."""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest
from conftest import REPO_ROOT

from hf_cascadeformer.training import (
    FinetuneTrainingArguments,
    finetune,
    parse_finetune_args,
    parse_pretrain_args,
    parse_recipe_args,
    pretrain,
)

TRAINER_EXAMPLE_MARKER = "<!-- tested: tests/test_training_api.py -->"


def readme_trainer_example() -> str:
    """The python block that follows the marker in README.md."""
    readme = (REPO_ROOT / "README.md").read_text()
    _, after = readme.split(TRAINER_EXAMPLE_MARKER, 1)
    match = re.search(r"```python\n(.*?)```", after, re.DOTALL)
    assert match, "no python block after the marker"
    return match.group(1)


@pytest.mark.slow
def test_the_readme_trainer_example_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the example writes into runs/
    namespace: dict = {"__name__": "__readme__"}
    exec(compile(readme_trainer_example(), "README.md", "exec"), namespace)
    trainer, dataset = namespace["trainer"], namespace["dataset"]
    # Trainer kept only what the model takes (its default remove_unused_columns=True) and still trained.
    assert trainer.args.remove_unused_columns is True
    # Predictions are the logits alone (the pooled output is in config.keys_to_ignore_at_inference), so the
    # standard compute_metrics works; 60 steps on the embedded dataset learn well above chance (1/12).
    prediction = trainer.predict(dataset["test"])
    assert isinstance(prediction.predictions, np.ndarray) and prediction.predictions.shape == (192, 12)
    assert prediction.metrics["test_accuracy"] > 0.25
    assert "'eval_accuracy'" in capsys.readouterr().out  # the example prints trainer.evaluate()
    # Asking for more still works: nothing ignored gives the pooled clip features as well (a tuple, which is what
    # broke the standard compute_metrics before, so it is left out here).
    trainer.compute_metrics = None
    logits, pooled = trainer.predict(dataset["test"], ignore_keys=[]).predictions
    assert logits.shape == (192, 12) and pooled.shape == (192, 64)


def test_training_arguments_fields_parse_with_the_old_option_names_too():
    model_args, data_args, finetune_args, args = parse_finetune_args(
        ["--batch-size", "16", "--num-epochs", "3", "--resume-from-checkpoint", "--hub-private"]
        + ["--push-to-hub", "org/name", "--report_to", "tensorboard", "--dataloader-num-workers", "2"]
        + ["--logging_first_step", "--no-cascade", "--dataset", "embedded-2d"]
    )
    assert args.per_device_train_batch_size == 16 and args.num_train_epochs == 3
    assert args.resume_from_checkpoint == "latest" and args.hub_private_repo is True
    assert args.push_to_hub is True and args.hub_model_id == "org/name"
    assert args.report_to == ["tensorboard"] and args.dataloader_num_workers == 2 and args.logging_first_step
    assert model_args.no_cascade and data_args.dataset == "embedded-2d" and finetune_args.validation_fraction == 0.1
    # The recipe fills what was not given; a given value wins over it.
    assert args.learning_rate == 1e-3 and args.weight_decay == 0.05 and args.per_device_eval_batch_size == 32
    (*_, given) = parse_finetune_args(["--recipe", "nucla-cpu", "--learning_rate", "2e-4"])
    assert given.learning_rate == 2e-4 and given.label_smoothing_factor == 0.1 and given.num_train_epochs == 60
    # Defaults of the dataclass, not overrides: no tracker unless asked for, single-process loading.
    plain = FinetuneTrainingArguments()
    assert plain.report_to == [] and plain.dataloader_num_workers == 0 and plain.output_dir == "runs/finetune"
    data_args, pretrain_args = parse_pretrain_args(["--batch-size", "4", "--log-every", "3", "--save-steps", "5"])
    assert (pretrain_args.batch_size, pretrain_args.log_every, pretrain_args.checkpoint_every) == (4, 3, 5)
    assert pretrain_args.num_epochs == 20.0 and data_args.dataset == "embedded"


def test_scripts_read_their_command_line_the_same_way(monkeypatch):
    # examples/*.py call the parsers without arguments: they read sys.argv, old spellings and all.
    monkeypatch.setattr(sys, "argv", ["recipe.py", "nucla", "--raw-dir", "raw", "--output-dir", "out", "--smoke"])
    recipe = parse_recipe_args()
    assert (recipe.benchmark, recipe.raw_dir, recipe.output_dir, recipe.smoke) == ("nucla", "raw", "out", True)
    monkeypatch.setattr(sys, "argv", ["finetune.py", "--push-to-hub", "org/name", "--batch-size", "4"])
    (*_, args) = parse_finetune_args()
    assert args.push_to_hub and args.hub_model_id == "org/name" and args.per_device_train_batch_size == 4


def _scalar_tags(folder) -> dict[str, list[float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags: dict[str, list[float]] = {}
    for events_dir in sorted({path.parent for path in folder.rglob("events.out.tfevents.*")}):
        accumulator = EventAccumulator(str(events_dir))
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            tags.setdefault(tag, []).extend(event.value for event in accumulator.Scalars(tag))
    return tags


@pytest.mark.slow
def test_finetune_report_to_tensorboard_writes_event_files_and_plain_log_lines(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    output = tmp_path / "run"
    argv = ["--output_dir", str(output), "--max_steps", "3", "--batch-size", "8", "--num_frames", "16"]
    argv += ["--report_to", "tensorboard", "--logging_steps", "1", "--dataloader_num_workers", "2"]
    argv += ["--disable_tqdm", "--eval_steps", "3"]
    results = finetune(*parse_finetune_args(argv))
    tags = _scalar_tags(output)
    assert len(tags["train/loss"]) == 3 and len(tags["train/learning_rate"]) == 3
    assert tags["eval/accuracy"] and tags["test/accuracy"] == [pytest.approx(results["test_accuracy"])]
    saved = json.loads((output / "training_args.json").read_text())
    assert saved["dataloader_num_workers"] == 2 and saved["report_to"] == ["tensorboard"]

    out = capsys.readouterr().out
    assert "\r" not in out and "{'loss'" not in out  # plain lines, no progress bars or dicts
    assert re.search(r"^step 2/3 \(epoch [0-9.]+\)  loss [0-9.]+  grad_norm", out, re.MULTILINE)
    assert re.search(r"^test \(192 clips\): top-1 [0-9.]+%  top-5 [0-9.]+%  mean class accuracy", out, re.MULTILINE)
    assert "weakest classes:" in out


@pytest.mark.slow
def test_pretrain_console_has_no_carriage_returns_or_debug_values_and_trackers_get_the_losses(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    data_args, args = parse_pretrain_args(
        ["--output_dir", str(tmp_path), "--max_steps", "2", "--batch_size", "4", "--num_frames", "8"]
        + ["--log_every", "1", "--disable_tqdm", "--report_to", "tensorboard"]
    )
    pretrain(data_args, args)
    out = capsys.readouterr().out
    assert "\r" not in out and "checksum" not in out
    assert re.search(r"^step 1/2  lr [0-9.e+-]+  loss [0-9.]+", out, re.MULTILINE)
    assert "pretrained 2 steps on 1 process (4 clips per step)" in out
    # The checksums stay in the summary file, where the multi-process test reads them.
    assert len(json.loads((tmp_path / "pretrain_summary.json").read_text())["parameter_checksums"]) == 1
    logged = [json.loads(line) for line in (tmp_path / "pretrain_log.jsonl").read_text().splitlines()]
    assert _scalar_tags(tmp_path)["loss"] == pytest.approx([record["loss"] for record in logged])


def test_evaluate_with_crop_tta_scores_as_the_inference_library_does(tmp_path):
    """`evaluate --tta crops` averages the softmax of the whole clip and three 80% crops (the N-UCLA recipe's
    evaluation); its metrics are those of `inference.predict_dataset` with the default views, not of plain logits."""
    from transformers import AutoFeatureExtractor, AutoModelForSequenceClassification

    from hf_cascadeformer.inference import default_tta_views, predict_dataset
    from hf_cascadeformer.training import evaluate, load_dataset_dict, parse_evaluate_args

    model_dir = tmp_path / "model"
    argv = ["--output_dir", str(model_dir), "--max_steps", "4", "--batch-size", "8", "--num_frames", "16"]
    finetune(*parse_finetune_args([*argv, "--disable_tqdm", "--validation_fraction", "0"]))
    common = ["--model", str(model_dir), "--split", "test", "--no_plot"]
    plain = evaluate(*parse_evaluate_args([*common, "--output_dir", str(tmp_path / "plain")]))
    tta = evaluate(*parse_evaluate_args([*common, "--output_dir", str(tmp_path / "tta"), "--tta", "crops"]))
    assert (plain["tta"], tta["tta"]) == ("none", "crops")

    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    extractor = AutoFeatureExtractor.from_pretrained(model_dir)
    scores, labels = predict_dataset(model, extractor, load_dataset_dict("embedded")["test"], default_tta_views())
    assert len(default_tta_views()) == 4
    assert tta["accuracy"] == pytest.approx(float((scores.argmax(-1) == labels).mean()))
    assert json.loads((tmp_path / "tta" / "metrics_test.json").read_text())["accuracy"] == tta["accuracy"]
    # four views average to other scores than the whole clip alone: the confusion matrices differ
    assert tta["confusion_matrix"] != plain["confusion_matrix"]


def test_the_nucla_recipe_evaluates_with_crop_tta_and_the_flag_overrides_it():
    from hf_cascadeformer.training import BENCHMARK_RECIPES

    assert BENCHMARK_RECIPES["nucla"].tta == "crops"
    assert BENCHMARK_RECIPES["penn-action"].tta == "none"
    args = parse_recipe_args(["nucla", "--raw-dir", "raw", "--output-dir", "out", "--tta", "none"])
    assert args.tta == "none"
