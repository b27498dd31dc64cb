"""Build the NTU RGB+D 120 skeleton dataset from the raw ``.skeleton`` files.

Usage::

    python dataset_scripts/ntu120.py --raw-dir DIR --output-dir OUT \
        [--config xsub|xset] \
        [--missing-list NTU_RGBD120_samples_with_missing_skeletons.txt] \
        [--push-to-hub ORG/ntu120]

DIR is the ``nturgb+d_skeletons/`` folder, its parent, or a folder holding both release halves
(``*/nturgb+d_skeletons/``). Pass the official missing-skeleton list to skip the 535 clips without a skeleton;
otherwise each one is reported as malformed.

Writes a ``DatasetDict`` (``train`` / ``test``) and its dataset card to OUT; load it with
``hf_cascadeformer.data.builders.load_benchmark(OUT)``. ``--help`` lists every option (the same for every
script: ``hf_cascadeformer/data/dataset_cli.py``; ``cascadeformer prepare`` runs the same code).
"""

if __name__ == "__main__":
    from _entry import run  # dataset_scripts/_entry.py: the entry point every dataset script shares

    raise SystemExit(run("ntu120"))
