"""Helpers the tests share with the scripts and benchmarks that measure the same things: real data from
packages (``data``), the golden outputs other backends must reproduce (``parity``), mutated model files
(``mutants``). Importable as ``tests.support`` from the checkout root; runnable as ``python -m``."""
