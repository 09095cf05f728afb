"""One message in: keep the raw .eml as evidence, decode, store, match, record, grade, push.

Used by the mailbox watcher (per IMAP message), by the status-page poller (reply text shown on a
page) and by `shopper assign` (a supervisor ties an unmatched message to its test). Storing is
idempotent: the same IMAP message (mailbox, UIDVALIDITY, UID), or the same bytes seen again after
the server changed its UIDVALIDITY, is stored once and recorded once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime

from shopper.clock import from_iso, get_clock, to_iso
from shopper.decoding import decode_message
from shopper.errors import ShopperError
from shopper.matching import Match, match_message
from shopper.timeline import record_event

log = logging.getLogger(__name__)

ACK_TYPES = ("acknowledgement", "auto")


def _evidence_store(db, config):
    try:
        from shopper.evidence import EvidenceStore
    except ImportError:
        return None
    if config is None:
        from shopper.config import Config

        config = Config.load()
    return EvidenceStore(config.evidence_dir, db)


def _grade(text: str, kind: str | None, at: datetime) -> dict | None:
    try:
        from shopper.grading import grade_text
    except ImportError:
        return None
    try:
        return grade_text(text or "", kind=kind, reference=at)
    except Exception as err:  # noqa: BLE001 - a grader bug must not lose the message
        log.warning("grading failed: %s", err)
        return None


class Ingestor:
    """Ingests messages into one database. `evidence=False` keeps raw bytes in the database
    instead of the evidence store (benchmarks)."""

    def __init__(self, db, config=None, evidence=None):
        self.db = db
        self.config = config
        # Several commits per message: in WAL mode NORMAL keeps the file consistent and skips an
        # fsync per commit. A power cut may lose the last messages *and* the mailbox position
        # written after them, so they are fetched again, never skipped.
        db.execute("PRAGMA synchronous = NORMAL")
        if evidence is None:
            evidence = _evidence_store(db, config)
        self.evidence = evidence or None

    def ingest(self, raw: bytes, *, received_at: datetime, mailbox: str | None = None,
               uid_validity: int | None = None, uid: int | None = None, source: str = "email",
               test_id: str | None = None, window_start: datetime | None = None) -> dict | None:
        """Store and process one message. Returns the messages row, or None if it was stored before.

        `test_id` ties it to a known test without matching (reply text read off a status page);
        `window_start` is the last look that did not show it (default: `received_at`)."""
        db = self.db
        digest = hashlib.sha256(raw).hexdigest()
        existing = None
        if uid is not None:
            existing = db.execute(
                "SELECT id FROM messages WHERE mailbox = ? AND uid_validity = ? AND uid = ?",
                [mailbox, uid_validity, uid]).fetchone()
        if existing is None and mailbox is not None:
            existing = db.execute("SELECT id FROM messages WHERE mailbox = ? AND raw_sha256 = ?",
                                  [mailbox, digest]).fetchone()
        if existing is not None:
            self._record(existing[0])  # finishes the job if a crash came between store and record
            return None

        decoded = decode_message(raw)
        match = Match(test_id, source) if test_id else match_message(db, decoded)
        if self.evidence is not None:
            self.evidence.put(raw, "eml", test_id=match.test_id,
                              note=f"{mailbox} {uid_validity}/{uid}" if uid is not None else source)
        row = decoded.as_row()
        row.update({
            "test_id": match.test_id,
            "matched_by": match.method,
            "received_at": to_iso(received_at),
            "window_start": to_iso(window_start or received_at),
            "raw": None if self.evidence is not None else raw,
            "raw_sha256": digest,
            "source": source,
            "mailbox": mailbox,
            "uid_validity": uid_validity,
            "uid": uid,
            "created_at": to_iso(get_clock().now()),
        })
        if decoded.decode_error:
            log.warning("message %s/%s kept raw, not fully decoded: %s", uid_validity, uid, decoded.decode_error)
        columns = list(row)
        with db.conn:  # plain SQL: this runs for every message, sqlite-utils' introspection does not need to
            cursor = db.conn.execute(
                f"INSERT INTO messages ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
                [row[c] for c in columns])
        message_id = cursor.lastrowid
        row["id"] = message_id
        self._record(message_id, row)
        return row

    _FIELDS = ("id", "test_id", "received_at", "window_start", "subject", "from_addr", "matched_by", "own_text",
               "text", "graded_json", "source")

    def _record(self, message_id: int, msg: dict | None = None) -> int | None:
        """Grade the message and record the acknowledged/replied event of its test (once)."""
        db = self.db
        if msg is None:
            values = db.execute(f"SELECT {', '.join(self._FIELDS)} FROM messages WHERE id = ?", [message_id]).fetchone()
            msg = dict(zip(self._FIELDS, values))
        if not msg["test_id"]:
            return None
        kind_row = db.execute("SELECT kind FROM tests WHERE id = ?", [msg["test_id"]]).fetchone()
        at = from_iso(msg["received_at"])
        graded = json.loads(msg["graded_json"]) if msg.get("graded_json") else None
        if graded is None:
            graded = _grade(msg["own_text"] or msg["text"], kind_row[0] if kind_row else None, at)
            if graded is not None:
                with db.conn:
                    db.conn.execute("UPDATE messages SET graded_json = ? WHERE id = ?",
                                    [json.dumps(graded, ensure_ascii=False), message_id])
        message_type = (graded or {}).get("message_type")
        kind = "acknowledged" if message_type in ACK_TYPES else "replied"
        window = (msg.get("window_start") or msg["received_at"], msg["received_at"])
        source = msg.get("source") or "email"
        event_id = record_event(
            db, msg["test_id"], kind, at=at, source=source if source in ("email", "status_page") else "email",
            window=window, message_id=message_id, dedupe_key=f"message:{message_id}",
            detail={"subject": msg["subject"], "from": msg["from_addr"], "matched_by": msg["matched_by"],
                    "message_type": message_type},
        )
        if event_id is not None:
            from shopper.notify import push

            what = "受理回执" if kind == "acknowledged" else "答复"
            push(db, kind, f"测试 {msg['test_id']} 收到{what}：{msg['subject'] or '(无主题)'}", test_id=msg["test_id"])
        return event_id


def assign(db, message_id: int, test_id: str, config=None) -> int | None:
    """A supervisor ties an unmatched message to its test by hand; records its event."""
    row = db.execute("SELECT test_id FROM messages WHERE id = ?", [message_id]).fetchone()
    msg = {"test_id": row[0]} if row else None
    if msg is None:
        raise ShopperError(f"no message {message_id}; `shopper unmatched` lists the unmatched ones")
    if not _exists(db, "tests", test_id):
        raise ShopperError(f"no test {test_id!r}; `shopper tests` lists them")
    if msg["test_id"] and msg["test_id"] != test_id:
        raise ShopperError(
            f"message {message_id} already belongs to test {msg['test_id']}; a message answers one test only")
    if msg["test_id"] == test_id:
        return None
    with db.conn:
        db.conn.execute("UPDATE messages SET test_id = ?, matched_by = 'hand' WHERE id = ?", [test_id, message_id])
    return Ingestor(db, config, evidence=False)._record(message_id)


def _exists(db, table: str, pk) -> bool:
    return db.execute(f"SELECT 1 FROM {table} WHERE id = ?", [pk]).fetchone() is not None
