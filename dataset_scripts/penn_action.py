"""Build the Penn Action skeleton dataset from its ``.mat`` annotation files.

Usage::

    python dataset_scripts/penn_action.py --raw-dir DIR --output-dir OUT \
        [--config official] \
        [--push-to-hub ORG/penn_action]

DIR is the Penn_Action folder (with ``labels/``) or ``labels/`` itself. The split is the official one stored
in each file. Joints are 13 pixel (x, y) pairs; a ``visibility`` column (frames, 13) marks invisible joints,
whose coordinates are kept as annotated.

Writes a ``DatasetDict`` with ``train`` and ``test`` splits and its dataset card ``README.md`` to OUT; load it
with ``hf_cascadeformer.data.builders.load_benchmark(OUT)``. Common options: ``--push-to-hub ORG/NAME``
uploads it as the Hub configuration named by ``--config``; ``--num-proc N`` sets the parsing processes;
``--strict`` stops at the first malformed file (by default malformed files are reported and skipped).
``--help`` lists everything.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    from hf_cascadeformer.data.builders import run_cli

    return run_cli("penn_action", argv)


if __name__ == "__main__":
    if importlib.util.find_spec("hf_cascadeformer") is None:  # a source checkout that is not installed
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.exit(main())
