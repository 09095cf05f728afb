import sqlite3

import pytest
import sqlite_utils

import shopper.db

from shopper.db import MIGRATIONS, SCHEMA_VERSION, migrate, open_database, schema_version
from shopper.errors import ShopperError


def test_new_database_has_every_table(tmp_path):
    db = open_database(tmp_path / "s.db")
    assert schema_version(db) == SCHEMA_VERSION
    for table in ["agencies", "personas", "tests", "events", "messages", "findings", "evidence", "scores",
                  "imported_scores", "persona_accounts", "campaigns", "mailbox_state", "audit", "notifications"]:
        assert db[table].exists(), table


def test_upgrade_from_version_1_keeps_the_data(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    migrate(old, target=1)
    assert schema_version(old) == 1
    old["agencies"].insert({"id": "jtw", "name": "市交通委", "homepage": "http://127.0.0.1/", "class": "general"})
    old["tests"].insert({"id": "t-1", "agency_id": "jtw", "scenario_id": "complaint", "state": "submitted"})
    old["findings"].insert({"test_id": "t-1", "rule_id": "complaint.ack_24h", "verdict": "fail"})
    old.close()

    db = open_database(path)
    assert schema_version(db) == SCHEMA_VERSION
    assert db["tests"].get("t-1")["state"] == "submitted"
    assert "reply_address" in db["tests"].columns_dict
    assert db["findings"].count == 1
    db["tests"].update("t-1", {"reply_address": "t-1@reply.test"})
    assert db["tests"].get("t-1")["reply_address"] == "t-1@reply.test"


def test_newer_database_is_refused(tmp_path):
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ShopperError, match="newer than this shopper"):
        open_database(path)


def test_not_a_database(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ShopperError, match="not a shopper database"):
        open_database(path)


def test_failed_migration_leaves_old_version(tmp_path, monkeypatch):
    path = tmp_path / "s.db"
    db = sqlite_utils.Database(path)
    migrate(db, target=1)

    def broken(db):
        db["audit"].create({"id": int}, pk="id")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(shopper.db, "MIGRATIONS", [MIGRATIONS[0], broken])
    with pytest.raises(RuntimeError):
        migrate(db)
    assert schema_version(db) == 1
    assert not db["audit"].exists()


def test_opening_twice_is_harmless(tmp_path):
    open_database(tmp_path / "s.db").close()
    db = open_database(tmp_path / "s.db")
    assert schema_version(db) == SCHEMA_VERSION
