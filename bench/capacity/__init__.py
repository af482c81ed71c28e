"""`python -m bench capacity`: how many concurrent streams each target holds.

A concurrency ramp (1, 2, 4, ... streams) per target and traffic mode, stopped
at the first level that breaks a limit (memory cap, OOM kill, a failed stream,
time to first byte over the SLO). It runs on the run's pieces (the one transfer
function, the N-streams runner, the sampler and its windows); what is its own:

- `level`: drives one level against a running target and measures it;
- `ramp`: levels, figures and stop rules, pure functions over those results;
- `command`: the subcommand (services per target, the ramp loop, the run folder);
- `report`: summary.md's capacity table and the PNG plots;
- `gate`: `bench compare` of two capacity runs (like with like; capacity may not
  drop, memory may not rise).

The typed results are bench/results/capacity.py.
"""
