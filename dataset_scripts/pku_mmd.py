"""Build the PKU-MMD skeleton dataset: action instances cut out of the untrimmed sequences.

Usage::

    python dataset_scripts/pku_mmd.py --raw-dir DIR --output-dir OUT \
        [--config phase1-xsub|phase1-xview|phase2-xsub|phase2-xview] \
        [--push-to-hub ORG/pku_mmd]

DIR holds, anywhere below it, the skeleton folder (``0002-L.txt``, ...), the label folder (the one with
"label" in its path) and the official split files (``cross-subject.txt``, ``cross-view.txt``;
``cross_subject_v2.txt``, ``cross_view_v2.txt`` for phase II). Every label row becomes one clip; sequences
missing from the split file are left out; label rows with start after end are swapped.

Writes a ``DatasetDict`` (``train`` / ``test``) and its dataset card to OUT; load it with
``hf_cascadeformer.data.builders.load_benchmark(OUT)``. ``--help`` lists every option (the same for every
script: ``hf_cascadeformer/data/dataset_cli.py``; ``cascadeformer prepare`` runs the same code).
"""

if __name__ == "__main__":
    from _entry import run  # dataset_scripts/_entry.py: the entry point every dataset script shares

    raise SystemExit(run("pku_mmd"))
