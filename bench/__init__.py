"""streambench's bench suite: scenarios, samplers, verdicts, reports, regression check.

Entry point: `python -m bench run|sweep|compare|baseline` (see docs/bench.md).
"""
