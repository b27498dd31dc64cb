"""Build the NTU RGB+D 60 skeleton dataset from the raw ``.skeleton`` files.

Usage::

    python dataset_scripts/ntu60.py --raw-dir DIR --output-dir OUT \
        [--config xsub|xview] \
        [--missing-list NTU_RGBD_samples_with_missing_skeletons.txt] \
        [--push-to-hub ORG/ntu60]

DIR is the ``nturgb+d_skeletons/`` folder or its parent. An NTU-120 folder works too: only setups 1-17 and
actions 1-60 are kept. Clips are denoised as in the community preprocessing (at most two bodies). Pass the
official missing-skeleton list to skip the 302 clips without a skeleton; otherwise each one is reported as
malformed.

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

    return run_cli("ntu60", argv)


if __name__ == "__main__":
    if importlib.util.find_spec("hf_cascadeformer") is None:  # a source checkout that is not installed
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.exit(main())
