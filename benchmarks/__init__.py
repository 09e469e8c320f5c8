"""modelbus benchmarks: ``python -m benchmarks`` runs every row and prints one table (see
``benchmarks/run.py``, ``docs/benchmarks.md``). Never run by the test suite."""
