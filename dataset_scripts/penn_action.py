"""Build the Penn Action skeleton dataset from its ``.mat`` annotation files.

Usage::

    python dataset_scripts/penn_action.py --raw-dir DIR --output-dir OUT \
        [--config official] \
        [--push-to-hub ORG/penn_action]

DIR is the Penn_Action folder (with ``labels/``) or ``labels/`` itself. The split is the official one stored
in each file. Joints are 13 pixel (x, y) pairs; a ``visibility`` column (frames, 13) marks invisible joints,
whose coordinates are kept as annotated.

Writes a ``DatasetDict`` (``train`` / ``test``) and its dataset card to OUT; load it with
``hf_cascadeformer.data.builders.load_benchmark(OUT)``. ``--help`` lists every option (the same for every
script: ``hf_cascadeformer/data/dataset_cli.py``; ``cascadeformer prepare`` runs the same code).
"""

if __name__ == "__main__":
    from _entry import run  # dataset_scripts/_entry.py: the entry point every dataset script shares

    raise SystemExit(run("penn_action"))
