"""The engine: runs one Scenario against one Target and returns what it measured.

Whatever the kind, a run is the same: a window opens on the sampler's
timeline, the scenario sends its requests and checks every answer, the window
closes. Memory figures come from the timeline sliced by that window
(bench/observe/windows.py); a wrong answer fails the scenario, not the run.
"""

from __future__ import annotations

import logging
import time

from bench.core.targets import Target
from bench.load.client import TransferError
from bench.observe.samplers import Sampler
from bench.scenarios.base import RunContext, Scenario, ScenarioResult
from bench.scenarios.transfer import download_once, upload_once
from plugin_runtime.examples.pattern import pattern_sha256

log = logging.getLogger(__name__)

WARM_UP_BYTES = 4 * 1024 * 1024


class Engine:
    def __init__(self, sampler: Sampler, timeout_s: float = 120.0) -> None:
        self.context = RunContext(sampler, timeout_s)

    @property
    def sampler(self) -> Sampler:
        return self.context.sampler

    def run(self, scenario: Scenario, target: Target) -> ScenarioResult:
        result = ScenarioResult(scenario, target)
        if scenario.size:
            pattern_sha256(scenario.size)  # precomputed outside the window
        result.window = self.sampler.mark(scenario.id)
        started = time.perf_counter()
        try:
            scenario.run(self.context, target, result)
        except (TransferError, OSError, ValueError) as exc:
            result.ok = False
            result.error = f"{type(exc).__name__}: {exc}"
            log.error("scenario %s failed: %s", scenario.id, result.error)
        finally:
            if not result.seconds:
                result.seconds = time.perf_counter() - started
            self.sampler.close(result.window)
        return result

    def warm_up(self, target: Target, chunk: int) -> None:
        """One unmeasured download and upload, so first-use allocations (Go runtime,
        gRPC channel, Python imports) are not counted as the first scenario's growth."""
        try:
            download_once(target, WARM_UP_BYTES, chunk, self.context.timeout_s)
            if not target.discards:  # the gRPC floor pulls downloads only
                upload_once(target, WARM_UP_BYTES, chunk, self.context.timeout_s)
        except (TransferError, OSError) as exc:
            log.warning("warm-up of %s failed: %s", target.name, exc)
