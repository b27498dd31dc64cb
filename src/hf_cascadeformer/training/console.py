"""What training and evaluation print: progress bars on a terminal, one plain line per logging step when the output
is redirected (no carriage returns in log files), and a readable summary of classification results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from ..metrics import confusion_matrix

# Trainer's log keys that say little to a reader of the console (they stay in trainer_state.json and the trackers).
_QUIET_KEYS = ("total_flos", "epoch")
_QUIET_SUFFIXES = ("_runtime", "_samples_per_second", "_steps_per_second")


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3e}" if value != 0 and abs(value) < 1e-3 else f"{value:.4f}"
    return str(value)


def format_log(step: int, max_steps: int, logs: Mapping[str, Any], epoch: float | None = None) -> str:
    """One line: `step 10/40 (epoch 0.25)  loss 2.3012  learning_rate 9.600e-04 ...`."""
    head = f"step {step}/{max_steps}" + (f" (epoch {epoch:.2f})" if epoch is not None else "")
    fields = [
        f"{key} {format_value(value)}"
        for key, value in logs.items()
        if key not in _QUIET_KEYS and not key.endswith(_QUIET_SUFFIXES)
    ]
    return "  ".join([head, *fields])


class LogLineCallback(TrainerCallback):
    """Prints each of Trainer's logs as one plain line (in place of `PrinterCallback`'s dicts)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_local_process_zero and logs:
            print(format_log(state.global_step, state.max_steps, logs, state.epoch), flush=True)


class ProgressBarCallback(ProgressCallback):
    """Trainer's progress bars, with logs written above them as plain lines rather than dicts."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and self.training_bar is not None and logs:
            self.training_bar.write(format_log(state.global_step, state.max_steps, logs, state.epoch))


def use_console_callbacks(trainer: Any) -> None:
    """Swap Trainer's console callbacks for ours: bars when `disable_tqdm` is off, else one line per log (and no
    other library's progress bars either, such as saving's)."""
    if trainer.args.disable_tqdm:
        quiet_progress_bars()
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(LogLineCallback if trainer.args.disable_tqdm else ProgressBarCallback)


def per_class_recall(
    logits: np.ndarray, labels: np.ndarray, num_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(recall of each class, clips of each class, confusion matrix); recall is 0 for a class with no clips."""
    matrix = confusion_matrix(np.asarray(labels), np.asarray(logits).argmax(1), num_classes)
    support = matrix.sum(1)
    recall = np.divide(np.diag(matrix), support, out=np.zeros(num_classes), where=support > 0)
    return recall, support, matrix


def classification_summary(
    title: str,
    metrics: Mapping[str, Any],
    class_names: Sequence[str],
    recall: np.ndarray,
    support: np.ndarray,
    weakest: int = 5,
) -> str:
    """`title: top-1 90.10%  top-5 99.48%  mean class accuracy 90.10%  weighted F1 90.05%` and a line with the
    weakest classes."""
    parts = [f"top-1 {100 * metrics['accuracy']:.2f}%"]
    if "top5_accuracy" in metrics:
        parts.append(f"top-5 {100 * metrics['top5_accuracy']:.2f}%")
    parts.append(f"mean class accuracy {100 * metrics['mean_class_accuracy']:.2f}%")
    if "f1_weighted" in metrics:
        parts.append(f"weighted F1 {100 * metrics['f1_weighted']:.2f}%")
    lines = [f"{title}: " + "  ".join(parts)]
    present = [index for index in np.argsort(recall, kind="stable") if support[index] > 0]
    if weakest and len(present) > 1:
        shown = ", ".join(f"{class_names[i]} {100 * recall[i]:.1f}% ({support[i]} clips)" for i in present[:weakest])
        lines.append(f"  weakest classes: {shown}")
    return "\n".join(lines)


def per_class_table(class_names: Sequence[str], recall: np.ndarray, support: np.ndarray) -> str:
    """Every class with its clips and recall, weakest first."""
    width = max(len("class"), *(len(name) for name in class_names))
    rows = [f"  {'class':<{width}}  {'clips':>5}  {'recall':>7}"]
    for index in np.argsort(recall, kind="stable"):
        rows.append(f"  {class_names[index]:<{width}}  {support[index]:>5}  {100 * recall[index]:>6.1f}%")
    return "\n".join(rows)


def quiet_progress_bars() -> None:
    """Turn off the progress bars of transformers, huggingface_hub and datasets (for redirected output)."""
    import datasets
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging

    logging.disable_progress_bar()
    disable_progress_bars()
    datasets.disable_progress_bars()
