"""SWE-bench-format benchmarks: datasets, predictions, local evaluation, grading, runs and reports.

Formats, log markers and report shapes follow the official `swebench` package (5.x) so that its
tooling reads what we write and we read what it (or SWE-agent, mini-swe-agent) writes. Submodules
are imported directly (`from ampsm_tui.engine.bench.dataset import load_dataset`); this package
imports nothing so that `import ampsm_tui.engine.bench.x` stays cheap.
"""
