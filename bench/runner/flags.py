"""The flags every subcommand that measures shares: which profile, where results go,
which services (spawned, or running ones by URL), and which targets.

`bench run`, `bench sweep`, `bench rps`, `bench ab` and `bench capacity` all take
them from here, so a target flag means the same everywhere.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from bench.core.paths import RESULTS_DIR
from bench.core.profiles import PROFILES
from bench.core.targets import SPAWNED_REFERENCES, TARGETS
from bench.runner.run import ServiceOptions


def name_list(allowed: Iterable[str]) -> Callable[[str], list[str]]:
    """An argparse type: comma-separated names, each one of `allowed`."""
    allowed = tuple(allowed)

    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [n for n in names if n not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(unknown) or 'empty list'}; choose from {', '.join(allowed)}"
            )
        return names

    return parse


def add_target_flags(p: argparse.ArgumentParser, profile_default: str = "quick") -> None:
    p.add_argument(
        "--profile",
        default=profile_default,
        choices=sorted(PROFILES),
        help=f"run size (default {profile_default})",
    )
    p.add_argument("--results-dir", default=str(RESULTS_DIR))
    p.add_argument("--target-url", help="use a running host (e.g. http://host:8065)")
    p.add_argument("--stats-url", help="its /debug/stats URL (with --target-url)")
    p.add_argument(
        "--go-plugin-url", help="with --target-url: a running Go plugin host (go-plugin target)"
    )
    p.add_argument(
        "--files-root",
        default=os.environ.get("BENCH_FILES_ROOT") or None,
        help="with --target-url: the folder the running host and plugin serve files from "
        "(the bench writes the files there) [BENCH_FILES_ROOT]",
    )
    p.add_argument(
        "--targets",
        type=name_list(TARGETS),
        help=f"comma-separated, of {', '.join(TARGETS)} (default: every one available)",
    )
    p.add_argument("--sample-interval", type=float, default=0.05, help="seconds (psutil)")


def check_target_flags(args: argparse.Namespace) -> str | None:
    """What is wrong with the combination, or None."""
    if getattr(args, "stats_url", None) and not getattr(args, "target_url", None):
        return "--stats-url needs --target-url"
    if getattr(args, "go_plugin_url", None) and not getattr(args, "target_url", None):
        return "--go-plugin-url needs --target-url"
    return None


def service_options(
    args: argparse.Namespace, references: Iterable[str] = SPAWNED_REFERENCES, **more: object
) -> ServiceOptions:
    """The services the flags ask for; spawned references limited by --targets."""
    wanted = set(args.targets or TARGETS)
    return ServiceOptions(
        references=frozenset(r for r in references if r in wanted),
        target_url=args.target_url,
        stats_url=args.stats_url,
        go_plugin_url=args.go_plugin_url,
        files_root=Path(args.files_root) if args.files_root else None,
        **more,  # type: ignore[arg-type]
    )
