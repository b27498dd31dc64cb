"""Build the NTU RGB+D 120 skeleton dataset from the raw ``.skeleton`` files.

Usage::

    python dataset_scripts/ntu120.py --raw-dir DIR --output-dir OUT \
        [--config xsub|xset] \
        [--missing-list NTU_RGBD120_samples_with_missing_skeletons.txt] \
        [--push-to-hub ORG/ntu120]

DIR is the ``nturgb+d_skeletons/`` folder, its parent, or a folder holding both release halves
(``*/nturgb+d_skeletons/``). Pass the official missing-skeleton list to skip the 535 clips without a skeleton;
otherwise each one is reported as malformed.

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

    return run_cli("ntu120", argv)


if __name__ == "__main__":
    if importlib.util.find_spec("hf_cascadeformer") is None:  # a source checkout that is not installed
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.exit(main())
