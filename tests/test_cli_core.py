import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from shopper import __version__
from shopper.cli import main
from shopper.db import SCHEMA_VERSION, open_database, schema_version


def run(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize(
    "args, expected",
    [
        (["same_day", "--received", "2026-10-09T18:30+08:00"], "2026-10-10T17:00:00+08:00"),
        (["same_day", "--received", "2026-09-30T17:30+08:00"], "2026-10-08T17:00:00+08:00"),
        (["promised", "--from", "2026-09-28T10:00+08:00", "--n", "15", "--unit", "workday"], "2026-10-23T23:59:59+08:00"),
        (["ack_24h", "--received", "2026-09-30T17:30+08:00"], "2026-10-01T17:30:00+08:00"),
        (["complaint.important_same_day", "--received", "2026-10-09T18:30+08:00"], "2026-10-10T17:00:00+08:00"),
    ],
)
def test_deadline_examples(args, expected):
    result = run("deadline", *args)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == expected


def test_deadline_json_flags_unconfirmed_year():
    result = run("deadline", "promised", "--from", "2026-12-28T10:00+08:00", "--n", "10", "--unit", "workday", "--json")
    data = json.loads(result.stdout)
    assert data["confirmed"] is False and data["unconfirmed_years"] == [2027]
    assert data["calendar"].startswith("CN")
    assert "warning: no confirmed holiday schedule for 2027" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["deadline", "same_day", "--received", "yesterday"], "cannot read the time"),
        (["deadline", "same_day", "--received", "2026-10-09T18:30"], "no UTC offset"),
        (["deadline", "nonsense", "--received", "2026-10-09T18:30+08:00"], "unknown rule"),
        (["deadline", "suggestion.thanks", "--received", "2026-10-09T18:30+08:00"], "no deadline of its own"),
        (["deadline", "promised", "--from", "2026-10-09T18:30+08:00"], "needs --from ISO --n N"),
        (["deadline", "same_day", "--received", "2026-10-09T18:30+08:00", "--site", "nowhere"], "unknown site"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    # A real process: what a person sees, including that no traceback leaks.
    proc = subprocess.run([sys.executable, "-m", "shopper", *args], capture_output=True, text=True)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_init_creates_database_and_config(tmp_path):
    db_path = tmp_path / "x" / "s.db"
    cfg = tmp_path / "x" / "config.toml"
    result = run("--db", str(db_path), "--config", str(cfg), "init")
    assert result.exit_code == 0
    assert schema_version(open_database(db_path)) == SCHEMA_VERSION
    assert "[office]" in cfg.read_text("utf-8")
    again = run("--db", str(db_path), "--config", str(cfg), "init")
    assert "kept" in again.output


def test_environment_chooses_database(tmp_path):
    db_path = tmp_path / "env.db"
    result = run("init", env={"SHOPPER_DB": str(db_path)})
    assert result.exit_code == 0 and db_path.exists()


def test_version_and_help_everywhere():
    assert __version__ in run("--version").output
    for name, command in main.commands.items():
        result = run(name, "--help")
        assert result.exit_code == 0, name
        assert "Usage:" in result.output


def test_rules_command_lists_all():
    out = run("rules").output
    assert "complaint.ack_24h" in out and "附件四(四)" in out
    assert len(json.loads(run("rules", "--json").output)) == 16
