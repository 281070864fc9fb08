"""A short crash campaign (benchmarks/crash_campaign.py) end to end: a real server process
SIGKILLed mid-turn 10 times and restarted on the same SQLite database, with every invariant
checked after each restart and at the end. A first request after a restart that takes over
15 s (an agent left locked by the dead process) counts as a violation and ends the run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "crash_campaign.py"
LAST_LINE = re.compile(r"^kills (\d+), turns (\d+), violations (\d+)$")
KILLS, TURNS = 10, 24


@pytest.fixture(scope="module")
def campaign() -> tuple[str, int, int, int]:
    """The campaign's output and its last line's (kills, turns, violations)."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--kills", str(KILLS), "--turns", str(TURNS),
         "--embedder", "hashing", "--seed", "7", "--stall-limit", "15", "--abort-on-stall"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, f"the campaign failed:\n{done.stdout}\n{done.stderr[-4000:]}"
    lines = done.stdout.strip().splitlines()
    assert lines, f"no output:\n{done.stderr[-4000:]}"
    match = LAST_LINE.match(lines[-1])
    assert match, f"unexpected last line {lines[-1]!r}:\n{done.stdout}"
    kills, turns, violations = (int(g) for g in match.groups())
    return done.stdout, kills, turns, violations


def test_campaign_kills_and_turns(campaign: tuple[str, int, int, int]) -> None:
    out, kills, turns, _ = campaign
    assert kills == KILLS, out
    assert turns >= TURNS, out


def test_campaign_has_no_violations(campaign: tuple[str, int, int, int]) -> None:
    out, _, _, violations = campaign
    assert violations == 0, f"{violations} invariant violations after SIGKILLs:\n{out}"
