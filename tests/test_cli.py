"""The command line, run in-process against a temporary home."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from memgpt.cli.main import app

runner = CliRunner()


def test_demo_then_inspect(tmp_path: Path) -> None:
    """The offline demo edits memory; the inspect commands then show what it stored."""
    home = str(tmp_path / "home")
    out = runner.invoke(app, ["demo", "--home", home])
    assert out.exit_code == 0, out.output
    assert "Nice to meet you, Ada!" in out.output
    assert "From my archive: my telescope mirror is 150 mm wide." in out.output
    memory = runner.invoke(app, ["memory", "demo", "--home", home])
    assert "Name: Ada" in memory.output
    found = runner.invoke(app, ["archival", "demo", "mirror", "--home", home])
    assert "150 mm" in found.output
    ctx = runner.invoke(app, ["context", "demo", "--home", home])
    assert "messages" in ctx.output and "/ 8192" in ctx.output


def test_unknown_agent_is_a_clear_error(tmp_path: Path) -> None:
    """Asking for an agent that does not exist prints an error and exits 1."""
    out = runner.invoke(app, ["memory", "ghost", "--home", str(tmp_path)])
    assert out.exit_code == 1
    assert "no agent with id or name 'ghost'" in out.output
