"""Errors raised when a raw benchmark file cannot be read."""

from __future__ import annotations

from pathlib import Path


class SkeletonFileError(ValueError):
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
