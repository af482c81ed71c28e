"""streambench's bench suite: one pipeline, plan -> run -> observe -> judge -> report.

Subpackages, lowest first (imports only go down):
- `bench.core`: the shared words: targets, profiles, units, tables, paths, polling;
- `bench.results`: summary.json of every kind as typed records (to_json/from_json);
- `bench.load`: what sends the requests (raw client, the one checked transfer of
  each kind, N streams at once, bin/loadgen, the locustfile);
- `bench.observe`: samplers (psutil, /debug/stats, CPU readings), container memory;
- `bench.scenarios`: what to run, one typed class per kind (`SCENARIOS`);
- `bench.judge`: verdicts, the run's assessment, the headline, the gates;
- `bench.report`: summary.json, summary.md, plots, history, baselines;
- `bench.runner`: the run (run.py), the engine, the services it starts, A/B rounds;
- `bench.capacity`: `bench capacity`, the concurrency ramp on the run's pieces.

Entry point: `python -m bench run|sweep|rps|ab|capacity|compare|baseline|history|report`
(bench/cli.py; see docs/bench.md).
"""
