"""Fixtures for the end-to-end tests: real `bin/hoststub` + `python -m plugin_runtime`.

Every test here is marked `e2e`. Figures the tests measure (cancel latency, 503
time, recovery time, RSS growth) are printed at the end of the run and, when
E2E_FIGURES_JSON names a file, written there as JSON. E2E_HOST_ARGS adds host
flags to the shared stack, e.g. `E2E_HOST_ARGS=--buffered` to watch the tests
catch a buffering host.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.runner.stack import Stack, run_stack

FIGURES: dict[str, tuple[float, str]] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def record_figure() -> object:
    """record_figure(name, value, unit): keep a measured number for the run summary."""

    def record(name: str, value: float, unit: str) -> None:
        FIGURES[name] = (value, unit)

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("streambench e2e figures")
    for name, (value, unit) in sorted(FIGURES.items()):
        terminalreporter.write_line(f"{name:<44} {value:>12.3f} {unit}")
    target = os.environ.get("E2E_FIGURES_JSON")
    if target:
        Path(target).write_text(
            json.dumps({k: {"value": v, "unit": u} for k, (v, u) in FIGURES.items()}, indent=2)
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One host + plugin pair (unix socket, default flags) shared by a test module."""
    host_args = shlex.split(os.environ.get("E2E_HOST_ARGS", ""))
    logs = tmp_path_factory.mktemp("stack-logs")
    with run_stack(host_args=host_args, log_dir=logs) as running:
        yield running
