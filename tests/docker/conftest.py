"""Fixtures of the container tests: the compose file, a Docker engine (or a
skip / a failure with STREAMBENCH_REQUIRE_DOCKER=1), a compose project of its own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_support import COMPOSE_FILE, ComposeProject, docker_ready


@pytest.fixture(scope="session")
def compose_doc() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(doc, dict), "docker-compose.yml is not a mapping"
    return doc


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Skips without a Docker engine, unless STREAMBENCH_REQUIRE_DOCKER=1 (CI): then fails."""
    problem = docker_ready()
    if problem is None:
        return
    message = f"Docker not available ({problem}); run scripts/docker-offline.sh as root"
    if os.environ.get("STREAMBENCH_REQUIRE_DOCKER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def compose_project(
    request: pytest.FixtureRequest, docker_engine: None, tmp_path: Path
) -> Iterator[ComposeProject]:
    """A compose project of its own (so a user's `streambench` stack is untouched),
    results in tmp_path, the host on a free port; always torn down."""
    from bench.runner.stack import free_tcp_port

    results = tmp_path / "results"
    results.mkdir()
    name = f"sbtest-{request.node.name.removeprefix('test_')[:20].replace('_', '-')}"
    project = ComposeProject(
        name=name,
        env={"RESULTS_DIR": str(results), "HOST_PORT": str(free_tcp_port())},
    )
    project.down()  # leftovers of an interrupted earlier run
    try:
        yield project
    finally:
        project.down()
