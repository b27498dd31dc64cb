"""Build the Northwestern-UCLA (N-UCLA) skeleton dataset from the CTR-GCN ``all_sqe`` JSON files.

Usage::

    python dataset_scripts/nucla.py --raw-dir DIR --output-dir OUT \
        [--config xview] \
        [--push-to-hub ORG/nucla]

DIR is the ``all_sqe/`` folder or its parent. Protocol ``xview`` (the only one): views 1 and 2 train, view 3
tests. A folder with only views 1 and 2 builds an empty test split (a note is printed).

Writes a ``DatasetDict`` (``train`` / ``test``) and its dataset card to OUT; load it with
``hf_cascadeformer.data.builders.load_benchmark(OUT)``. ``--help`` lists every option (the same for every
script: ``hf_cascadeformer/data/dataset_cli.py``; ``cascadeformer prepare`` runs the same code).
"""

if __name__ == "__main__":
    from _entry import run  # dataset_scripts/_entry.py: the entry point every dataset script shares

    raise SystemExit(run("nucla"))
