"""`python -m bench capacity`: how many concurrent streams each target holds.

A concurrency ramp (1, 2, 4, ... streams) per target and traffic mode, stopped
at the first level that breaks a limit (memory cap, OOM kill, a failed stream,
time to first byte over the SLO). One concern per module:

- `model`: the typed results (a stream, a level, a ramp, a run) and their JSON;
- `ramp`: levels, figures and stop rules, pure functions over those results;
- `runner`: drives one level against a running target and samples it;
- `command`: the subcommand (services per target, the ramp loop, the run folder);
- `report`: summary.md's capacity table and the PNG plots;
- `gate`: `bench compare` of two capacity runs (capacity may not drop, memory may not rise).
"""
