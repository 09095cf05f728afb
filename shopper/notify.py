"""Pushes for the supervisors, through an outbox table.

Whatever happens (a test submitted, an answer graded, a deadline passed) is written to the
`notifications` table first; the bot sends unsent rows and stamps `sent_at`. A bot that was down
or restarted therefore loses nothing: it sends what is still unsent when it comes back.
"""

from __future__ import annotations

from shopper.clock import get_clock, to_iso

KINDS = ("submitted", "acknowledged", "replied", "deadline_passed", "failed", "uncertain", "captcha", "digest")


def push(db, kind: str, text: str, *, test_id: str | None = None, chat_id: str | None = None) -> int:
    """Queue a push. `chat_id` None means: to whoever should hear about `test_id` (or everyone)."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    table = db["notifications"]
    table.insert(
        {
            "kind": kind,
            "test_id": test_id,
            "chat_id": chat_id,
            "text": text,
            "created_at": to_iso(get_clock().now()),
            "sent_at": None,
        }
    )
    return table.last_pk


def pending(db, limit: int = 100) -> list[dict]:
    return list(db["notifications"].rows_where("sent_at is null", order_by="id", limit=limit))


def mark_sent(db, notification_id: int) -> None:
    db["notifications"].update(notification_id, {"sent_at": to_iso(get_clock().now())})
