"""Pictures of results. matplotlib is an optional extra: `pip install "hf-cascadeformer[viz]"`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def require_matplotlib() -> Any:
    """matplotlib with a non-interactive backend, or an ImportError that says how to install it."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(
            'plotting needs matplotlib: pip install "hf-cascadeformer[viz]" (or pip install matplotlib)'
        ) from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion_matrix(
    matrix: np.ndarray, class_names: Sequence[str], path: str | Path, title: str = "Confusion matrix"
) -> Path:
    """Row-normalised confusion matrix (true action on rows, prediction on columns) with counts in the cells."""
    plt = require_matplotlib()
    matrix = np.asarray(matrix)
    if matrix.shape != (len(class_names), len(class_names)):
        raise ValueError(f"a confusion matrix for {len(class_names)} classes must be square, got {matrix.shape}")
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    size = max(5.0, 0.45 * len(class_names) + 2.5)
    figure, axes = plt.subplots(figsize=(size + 1.0, size))
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(len(class_names)), labels=class_names, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(len(class_names)), labels=class_names, fontsize=8)
    axes.set_xlabel("predicted action")
    axes.set_ylabel("true action")
    axes.set_title(title)
    if len(class_names) <= 30:
        for row in range(len(class_names)):
            for column in range(len(class_names)):
                if matrix[row, column]:
                    color = "white" if shares[row, column] > 0.6 else "black"
                    axes.text(column, row, str(matrix[row, column]), ha="center", va="center", fontsize=7, color=color)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the true action")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
