"""Evidence: stored once under its sha256, logged in a hash chain; any change is found."""

from __future__ import annotations

import json
import os

from click.testing import CliRunner

from shopper.cli import main
from shopper.evidence import EvidenceStore, sha256


def _store(tmp_path, db):
    store = EvidenceStore(tmp_path / "evidence", db)
    shas = [store.put(f"picture {i}".encode(), "screenshot", test_id="t-1", note=f"n{i}") for i in range(4)]
    return store, shas


def test_put_is_content_addressed_and_logged(tmp_path, db):
    store, shas = _store(tmp_path, db)
    assert store.path(shas[0]).name == shas[0] == sha256(b"picture 0")
    assert store.read(shas[2]) == b"picture 2"
    again = store.put(b"picture 0", "screenshot", test_id="t-2")
    assert again == shas[0] and len(store.entries()) == 5
    assert db["evidence"].count == 4
    assert db["evidence"].get(shas[1])["test_id"] == "t-1"
    lines = store.log_path.read_bytes().splitlines()
    assert json.loads(lines[1])["prev"] == sha256(lines[0])
    assert store.verify() == []


def _writable(path):
    os.chmod(path, 0o644)


def test_verify_finds_a_changed_file(tmp_path, db):
    store, shas = _store(tmp_path, db)
    path = store.path(shas[1])
    _writable(path)
    path.write_bytes(b"picture 1, retouched")
    problems = store.verify()
    assert len(problems) == 1 and shas[1] in problems[0] and "changed" in problems[0]


def test_verify_finds_a_missing_file(tmp_path, db):
    store, shas = _store(tmp_path, db)
    store.path(shas[3]).unlink()
    assert any("missing" in p and shas[3] in p for p in store.verify())


def test_verify_finds_an_edited_log_line(tmp_path, db):
    store, shas = _store(tmp_path, db)
    lines = store.log_path.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["test_id"] = "t-other"
    lines[1] = json.dumps(entry, ensure_ascii=False, sort_keys=True)
    store.log_path.write_text("\n".join(lines) + "\n")
    problems = store.verify()
    assert any(":3: hash chain broken" in p for p in problems), problems


def test_verify_finds_removed_log_lines(tmp_path, db):
    store, shas = _store(tmp_path, db)
    lines = store.log_path.read_text().splitlines()
    store.log_path.write_text("\n".join(lines[:1] + lines[2:]) + "\n")  # a middle line
    assert any("hash chain broken" in p for p in store.verify())
    store.log_path.write_text("\n".join(lines[:3]) + "\n")  # the last line: the chain is intact
    problems = store.verify()
    assert any(shas[3] in p and "not in the log" in p for p in problems), problems


def test_evidence_verify_command(tmp_path):
    runner = CliRunner()
    home = tmp_path / "home"
    db = str(tmp_path / "s.db")
    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\nevidence = "{home / "ev"}"\n')
    from shopper.db import open_database

    store = EvidenceStore(home / "ev", open_database(db))
    sha = store.put(b"page", "html", test_id="t-1")
    result = runner.invoke(main, ["--db", db, "--config", str(config), "evidence", "verify"])
    assert result.exit_code == 0 and "1 log entries" in result.output, result.output
    _writable(store.path(sha))
    store.path(sha).write_bytes(b"other page")
    result = runner.invoke(main, ["--db", db, "--config", str(config), "evidence", "verify"])
    assert result.exit_code == 1 and "changed" in result.output
