"""The one SQLite database, its schema and its upgrades.

The schema is plain on purpose: it opens in Datasette as is, every time is a UTC ISO-8601 string
(`..._at` columns), every JSON column is named `..._json`. The version lives in
`PRAGMA user_version`; each entry of `MIGRATIONS` takes the database one version up, so an older
file is upgraded in place and a newer one is refused.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Callable

import sqlite_utils

from shopper.errors import ShopperError

log = logging.getLogger(__name__)


def _v1(db: sqlite_utils.Database) -> None:
    """The first schema: what every later version stands on."""
    db["agencies"].create(
        {
            "id": str,  # short slug used on the command line, e.g. "jtw"
            "name": str,
            "homepage": str,
            "class": str,  # scoring class (article 6)
            "timezone": str,
            "site_file": str,
            "created_at": str,
        },
        pk="id",
    )
    db["personas"].create(
        {
            "id": str,
            "name": str,
            "phone": str,
            "district": str,
            "style": str,
            "created_at": str,
        },
        pk="id",
    )
    db["tests"].create(
        {
            "id": str,
            "agency_id": str,
            "scenario_id": str,
            "persona_id": str,
            "state": str,
            "reference_number": str,
            "submitted_at": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("agency_id", "agencies"), ("persona_id", "personas")],
    )
    db["events"].create(
        {
            "id": int,
            "test_id": str,
            "kind": str,
            "at": str,
            "source": str,
            "detail_json": str,
        },
        pk="id",
        foreign_keys=[("test_id", "tests")],
    )
    db["messages"].create(
        {
            "id": int,
            "test_id": str,
            "received_at": str,
            "from_addr": str,
            "subject": str,
            "raw": bytes,
            "text": str,
        },
        pk="id",
    )
    db["findings"].create(
        {
            "id": int,
            "test_id": str,
            "rule_id": str,
            "verdict": str,
            "evidence_json": str,
            "created_at": str,
        },
        pk="id",
    )
    db["evidence"].create(
        {"sha256": str, "path": str, "kind": str, "created_at": str},
        pk="sha256",
    )
    db["scores"].create(
        {"id": int, "agency_id": str, "period": str, "part": str, "value": float, "computed_at": str},
        pk="id",
    )


def _v2(db: sqlite_utils.Database) -> None:
    """Everything the capture, grading, scoring, bot and campaign parts need."""
    db["agencies"].add_column("name_en", str)
    db["agencies"].add_column("email_domains_json", str)
    db["personas"].add_column("email", str)
    db["personas"].add_column("lang", str)

    tests = db["tests"]
    for name, kind in [
        ("campaign_id", str),
        ("kind", str),  # consultation | complaint | suggestion | application-status
        ("important", int),
        ("reply_address", str),
        ("query_code", str),
        ("subject", str),
        ("body", str),
        ("planned_at", str),
        ("acknowledged_at", str),
        ("replied_at", str),
        ("started_by", str),  # telegram user id or "cli"
        ("error", str),
        ("updated_at", str),
    ]:
        tests.add_column(name, kind)
    tests.create_index(["agency_id"])
    tests.create_index(["state"])
    tests.create_index(["reply_address"])
    tests.create_index(["reference_number"])
    tests.create_index(["campaign_id"])

    events = db["events"]
    events.add_column("window_start", str)  # last seen without
    events.add_column("window_end", str)  # first seen with
    events.add_column("message_id", int)
    events.add_column("dedupe_key", str)
    events.create_index(["test_id", "at"])
    events.create_index(["test_id", "kind", "dedupe_key"], unique=True)

    messages = db["messages"]
    for name, kind in [
        ("source", str),  # email | status_page
        ("mailbox", str),
        ("uid_validity", int),
        ("uid", int),
        ("message_id_header", str),
        ("in_reply_to", str),
        ("references_header", str),
        ("to_addr", str),
        ("date_header", str),
        ("raw_sha256", str),
        ("own_text", str),  # the agency's own words, quoted original removed
        ("quoted_text", str),
        ("charset", str),
        ("decode_error", str),  # set when the message could not be decoded; raw is kept
        ("matched_by", str),  # reply_address | reference | in_reply_to | domain_persona | hand
        ("window_start", str),
        ("graded_json", str),
        ("created_at", str),
    ]:
        messages.add_column(name, kind)
    messages.create_index(["mailbox", "uid_validity", "uid"], unique=True)
    messages.create_index(["test_id"])
    messages.create_index(["raw_sha256"])

    findings = db["findings"]
    for name, kind in [
        ("agency_id", str),
        ("subject_key", str),  # the test id, or "check:<agency>:<what>" for site checks
        ("detail", str),
        ("deadline_at", str),
        ("observed_at", str),
        ("grader_version", str),
        ("period", str),
        ("updated_at", str),
    ]:
        findings.add_column(name, kind)
    findings.create_index(["subject_key", "rule_id"], unique=True)
    findings.create_index(["agency_id", "rule_id"])

    evidence = db["evidence"]
    evidence.add_column("test_id", str)
    evidence.add_column("size", int)
    evidence.add_column("note", str)

    scores = db["scores"]
    for name, kind in [("assessed", int), ("weight", float), ("detail_json", str)]:
        scores.add_column(name, kind)
    scores.create_index(["period", "agency_id", "part"], unique=True)

    db["imported_scores"].create(
        {"id": int, "agency_id": str, "period": str, "source": str, "score": float, "imported_at": str},
        pk="id",
    )
    db["imported_scores"].create_index(["agency_id", "period", "source"], unique=True)
    db["persona_accounts"].create(
        {
            "id": int,
            "persona_id": str,
            "agency_id": str,
            "username": str,
            "password_secret": str,  # name of the secret, never the password itself
            "storage_state_path": str,
            "session_expires_at": str,
        },
        pk="id",
    )
    db["persona_accounts"].create_index(["persona_id", "agency_id"], unique=True)
    db["campaigns"].create(
        {
            "id": str,
            "name": str,
            "owner": str,
            "state": str,  # planned | running | paused | done
            "starts_on": str,
            "ends_on": str,
            "params_json": str,
            "created_at": str,
        },
        pk="id",
    )
    db["campaigns"].create_index(["name"], unique=True)
    db["mailbox_state"].create(
        {"mailbox": str, "uid_validity": int, "last_uid": int, "updated_at": str}, pk="mailbox"
    )
    # The status-page poller's last look at each test: the start of the next event's window.
    db["status_polls"].create(
        {"test_id": str, "polled_at": str, "status": str, "status_time": str, "reply_sha256": str,
         "error": str, "polls": int},
        pk="test_id",
    )
    db["audit"].create(
        {"id": int, "at": str, "user_id": str, "user_name": str, "action": str, "args": str},
        pk="id",
    )
    db["notifications"].create(
        {
            "id": int,
            "kind": str,
            "test_id": str,
            "chat_id": str,
            "text": str,
            "created_at": str,
            "sent_at": str,
        },
        pk="id",
    )
    db["notifications"].create_index(["sent_at"])


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2]
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(db: sqlite_utils.Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite_utils.Database, target: int = SCHEMA_VERSION) -> int:
    """Bring `db` up to `target`, one version per transaction. Returns the version reached."""
    current = schema_version(db)
    if current > SCHEMA_VERSION:
        raise ShopperError(
            f"this database has schema version {current}, newer than this shopper knows "
            f"({SCHEMA_VERSION}); upgrade shopper (pip install -U shopper) or use another --db"
        )
    for version in range(current + 1, target + 1):
        log.info("upgrading database schema to version %d", version)
        # sqlite-utils commits after each DDL statement, so a transaction cannot undo a failed
        # step; a snapshot can. A half-upgraded file would be worse than an old one.
        snapshot = sqlite3.connect(":memory:")
        db.conn.backup(snapshot)
        try:
            MIGRATIONS[version - 1](db)
            db.execute(f"PRAGMA user_version = {version}")
            db.conn.commit()
        except BaseException:
            db.conn.rollback()
            snapshot.backup(db.conn)
            raise
        finally:
            snapshot.close()
    return schema_version(db)


def open_database(path: str | Path, *, create: bool = True) -> sqlite_utils.Database:
    """Open (and if needed create and upgrade) the database at `path`."""
    path = Path(path)
    if not create and not path.exists():
        raise ShopperError(f"no database at {path}; run `shopper init` first or pass --db")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA foreign_keys = OFF")
    except sqlite3.DatabaseError as err:
        raise ShopperError(f"{path} is not a shopper database ({err})") from err
    db = sqlite_utils.Database(conn)
    migrate(db)
    return db


def memory_database() -> sqlite_utils.Database:
    """A fresh in-memory database with the current schema (tests, benchmarks)."""
    db = sqlite_utils.Database(memory=True)
    migrate(db)
    return db
