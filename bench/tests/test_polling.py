"""wait_until: returns the first truthy answer, retries only what it is told to, fails clearly."""

from __future__ import annotations

import itertools

import pytest

from bench.core.polling import WaitTimeout, wait_until


def test_returns_the_first_truthy_answer_and_the_time_waited() -> None:
    answers = iter([None, 0, "", "ready", "later"])
    value, seconds = wait_until(lambda: next(answers), 30, interval=0)
    assert value == "ready" and seconds >= 0


def test_retries_the_named_exceptions_only() -> None:
    calls = itertools.count()

    def not_listening_twice() -> int:
        n = next(calls)
        if n < 2:
            raise ConnectionRefusedError("not yet")
        return n

    assert wait_until(not_listening_twice, 30, interval=0, retry_on=(OSError,))[0] == 2
    with pytest.raises(KeyError):
        wait_until(lambda: {}["missing"], 30, interval=0, retry_on=(OSError,))


def test_times_out_naming_what_and_the_last_answer() -> None:
    with pytest.raises(WaitTimeout, match=r"not within 0 s: the thing \(last: \[\]\)"):
        wait_until(lambda: [], 0, interval=0, what="the thing")
    with pytest.raises(WaitTimeout, match=r"last: ConnectionRefusedError\('no'\)"):
        wait_until(lambda: _refuse(), 0, interval=0, retry_on=(OSError,))


def _refuse() -> None:
    raise ConnectionRefusedError("no")
