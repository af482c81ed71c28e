"""The scenario registry: one typed class per kind, planned from a profile, filtered."""

from __future__ import annotations

import dataclasses

import pytest

from bench.core.profiles import PROFILES
from bench.core.targets import BRIDGE, GO_DIRECT, TARGETS
from bench.report.rows import SWEEP_KINDS
from bench.scenarios import KINDS, SCENARIOS, build_scenarios
from bench.scenarios.soak import Soak


def test_every_kind_is_registered_under_its_own_name() -> None:
    assert {name: cls.kind for name, cls in SCENARIOS.items()} == {k: k for k in KINDS}


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_a_profile_plans_every_kind_with_unique_ids(profile: str) -> None:
    scenarios = build_scenarios(PROFILES[profile], 65536, TARGETS)
    assert {s.kind for s in scenarios} == set(KINDS)
    ids = [s.id for s in scenarios]
    assert len(ids) == len(set(ids))
    assert all(s.chunk == 65536 and s.id.endswith("/c64KiB") for s in scenarios)


def test_kinds_and_targets_limit_the_plan() -> None:
    scenarios = build_scenarios(PROFILES["quick"], 1 << 20, [BRIDGE, GO_DIRECT], ["small"])
    assert [s.id for s in scenarios] == ["small/bridge/1KiB/c1MiB", "small/go-direct/1KiB/c1MiB"]
    with pytest.raises(ValueError, match="unknown scenarios \\['nope'\\]"):
        build_scenarios(PROFILES["quick"], 1 << 20, TARGETS, ["download", "nope"])


def test_parameters_are_typed_fields_taken_from_the_profile() -> None:
    quick = PROFILES["quick"]
    (soak,) = build_scenarios(quick, 65536, TARGETS, ["soak"])
    assert isinstance(soak, Soak)
    assert (soak.round_requests, soak.warmup_rounds, soak.rounds) == (600, 2, 5)
    assert soak.requests == 600 * 7
    with pytest.raises(dataclasses.FrozenInstanceError):
        soak.rounds = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        SCENARIOS["download"](BRIDGE, 65536, size=1, rounds=3)  # type: ignore[call-arg]


def test_each_kind_runs_against_the_peers_that_serve_it() -> None:
    """Downloads everywhere (the gRPC floor included), uploads not to the floor (it pulls
    only), files where the host, uvicorn or the floor serve them, offload through the bridge."""
    quick = PROFILES["quick"]
    by_kind: dict[str, set[str]] = {}
    for s in build_scenarios(quick, 1 << 20, TARGETS):
        by_kind.setdefault(s.kind, set()).add(s.target)
    assert by_kind["download"] == set(TARGETS)
    assert by_kind["upload"] == set(TARGETS) - {"grpc-floor"}
    assert by_kind["file"] == {"bridge", "go-direct", "python-direct", "grpc-floor"}
    assert by_kind["file-offload"] == {"bridge"}
    assert by_kind["rps"] == set(TARGETS) - {"grpc-floor"}
    files = [s for s in build_scenarios(quick, 1 << 20, TARGETS, ["file"]) if s.target == BRIDGE]
    assert [s.size for s in files] == list(quick.file_sizes)


def test_a_sweep_plans_every_file_kind_at_each_chunk() -> None:
    profile = PROFILES["quick"]
    for chunk in (16384, 1024 * 1024):
        planned = build_scenarios(
            profile, chunk, ["bridge", "go-direct", "grpc-floor"], SWEEP_KINDS
        )
        kinds = {(s.kind, s.target) for s in planned}
        assert ("file", "go-direct") in kinds and ("file", "grpc-floor") in kinds
        assert ("file-offload", "bridge") in kinds
