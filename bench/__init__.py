"""streambench's bench suite: a run flows run -> observe -> judge -> report.

- `bench.runner`: the run loop (run.py), the engine, the services it starts;
- `bench.scenarios`: what to run, one typed class per kind (`SCENARIOS`), profiles;
- `bench.load`: what sends the requests (raw client, bin/loadgen, locustfile);
- `bench.observe`: samplers (psutil, /debug/stats) and container memory;
- `bench.judge`: verdicts, run-level assessment, the baseline comparison;
- `bench.report`: summary.json, summary.md, plots, history;
- `bench.capacity`: `bench capacity`, the concurrency ramp.

Entry point: `python -m bench run|sweep|rps|capacity|compare|baseline|history`
(see docs/bench.md).
"""
