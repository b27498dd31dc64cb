"""Build the Northwestern-UCLA (N-UCLA) skeleton dataset from the CTR-GCN ``all_sqe`` JSON files.

Usage::

    python dataset_scripts/nucla.py --raw-dir DIR --output-dir OUT \
        [--config xview] \
        [--push-to-hub ORG/nucla]

DIR is the ``all_sqe/`` folder or its parent. Protocol ``xview`` (the only one): views 1 and 2 train, view 3
tests. A folder with only views 1 and 2 builds an empty test split (a note is printed).

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

    return run_cli("nucla", argv)


if __name__ == "__main__":
    if importlib.util.find_spec("hf_cascadeformer") is None:  # a source checkout that is not installed
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.exit(main())
