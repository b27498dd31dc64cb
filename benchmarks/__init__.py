"""The benchmark suite of hf-cascadeformer (not part of the installed package).

* `benchmarks.common`: the plain-PyTorch reference model of the official code, analytic FLOPs, synthetic
  batches, the interleaved timer, matrix-product peaks and memory probes;
* `benchmarks.run`: the cases (model steps, levers, sweeps, memory, data side) and the command line
  (`python benchmarks/run.py --quick` or `python -m benchmarks.run --quick`);
* `benchmarks.report`: the markdown report of a run;
* `benchmarks.pretrain_speed`: MAMP-style against GFP pretraining.
"""
