"""Build the PKU-MMD skeleton dataset: action instances cut out of the untrimmed sequences.

Usage::

    python dataset_scripts/pku_mmd.py --raw-dir DIR --output-dir OUT \
        [--config phase1-xsub|phase1-xview|phase2-xsub|phase2-xview] \
        [--push-to-hub ORG/pku_mmd]

DIR holds, anywhere below it, the skeleton folder (``0002-L.txt``, ...), the label folder (the one with
"label" in its path) and the official split files (``cross-subject.txt``, ``cross-view.txt``;
``cross_subject_v2.txt``, ``cross_view_v2.txt`` for phase II). Every label row becomes one clip; sequences
missing from the split file are left out; label rows with start after end are swapped.

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

    return run_cli("pku_mmd", argv)


if __name__ == "__main__":
    if importlib.util.find_spec("hf_cascadeformer") is None:  # a source checkout that is not installed
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.exit(main())
