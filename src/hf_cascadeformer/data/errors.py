"""Errors raised for bad input: the family the command line reports as one line, and the checks they share."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..configuration_cascadeformer import MAX_ABS_COORDINATE


class UserInputError(ValueError):
    """A mistake in what the user gave (a file, an option, a folder): the command line prints its message as one
    line naming the file or option, with exit status 2 and no traceback (``--debug`` shows it).

    A ``ValueError``, so library callers catch it as they catch any invalid argument.
    """


class SkeletonFileError(UserInputError):
    """A raw skeleton or annotation file is malformed.

    The message always names the file and, where it is known, the line (text formats) or the key (JSON and MATLAB
    formats), so a user can open the file at the right place.
    """

    def __init__(self, path: str | Path, message: str, *, line: int | None = None, key: str | None = None):
        self.path = str(path)
        self.line = line
        self.key = key
        where = self.path
        if line is not None:
            where += f", line {line}"
        if key is not None:
            where += f", key {key!r}"
        super().__init__(f"{where}: {message}")


def coordinate_problem(values: np.ndarray) -> str | None:
    """What is wrong with a clip's coordinates, or None: NaN or infinite values, or a magnitude beyond
    :data:`MAX_ABS_COORDINATE` (finite, but large enough to overflow to NaN inside the model)."""
    values = np.asarray(values)
    if values.size == 0:
        return None
    if not np.isfinite(values).all():
        return "contains NaN or infinite coordinates"
    largest = float(np.abs(values).max())
    if largest > MAX_ABS_COORDINATE:
        return f"a coordinate of magnitude {largest:.3g} exceeds the bound {MAX_ABS_COORDINATE:g} (a corrupt value?)"
    return None
