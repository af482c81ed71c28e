"""`python -m bench report`: docs/figures.md and README's figures are made from the
committed baselines, never written by hand."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench import figures


def test_the_committed_figures_are_what_the_baselines_give() -> None:
    assert figures.run(check=True) == 0, "run: python -m bench report"


def test_a_figure_edited_by_hand_is_found_and_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme, page = tmp_path / "README.md", tmp_path / "figures.md"
    shutil.copy(figures.README, readme)
    shutil.copy(figures.FIGURES_PAGE, page)
    monkeypatch.setattr(figures, "README", readme)
    monkeypatch.setattr(figures, "FIGURES_PAGE", page)
    monkeypatch.setattr(figures, "REPO_ROOT", tmp_path)
    head, block = readme.read_text().split(figures.BEGIN)
    readme.write_text(head + figures.BEGIN + block.replace("| bridge |", "| bridge (edited) |", 1))
    page.write_text(page.read_text() + "\nA figure written by hand.\n")
    assert figures.run(check=True) == 1
    assert figures.run(check=False) == 0
    assert figures.run(check=True) == 0
    assert "(edited)" not in readme.read_text()
    assert "written by hand" not in page.read_text()
