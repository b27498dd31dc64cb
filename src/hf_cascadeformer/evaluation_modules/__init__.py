"""`evaluate` modules shipped with the package, loaded by path (no download): see
:func:`hf_cascadeformer.metrics.load_metric`."""
