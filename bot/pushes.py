"""Pushes: drain the `notifications` outbox, and the daily digest.

Everything worth telling a supervisor is first written to `notifications` (see `shopper.notify`);
this loop looks every second or so, sends each unsent row to the right chat and stamps `sent_at`.
A row goes to its `chat_id` when it has one, else to whoever started its test (or owns its
campaign), else to every supervisor. A row stays unsent while Telegram cannot be reached, so a bot
that was down sends the backlog when it comes back. The daily digest is queued through the same
outbox, once per local day at `[bot] digest_hour` in the office's zone, by the shopper clock.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.access import Access
from bot.messages import text
from bot.relay import recipients
from shopper import notify
from shopper.clock import get_clock, to_iso

log = logging.getLogger(__name__)

DEFAULT_DIGEST_HOUR = 18


def render(row: dict, lang: str) -> str:
    """A push as the supervisor reads it: a short header in their language, the text, and a link
    to the test's timeline and evidence."""
    if row["kind"] == "digest":  # already written for this reader, title included
        return row["text"]
    header = text(lang, f"push_{row['kind']}")
    parts = [f"{header} {row['test_id']}" if row.get("test_id") else header, row["text"]]
    if row.get("test_id"):
        parts.append(text(lang, "push_see", test=row["test_id"]))
    return "\n".join(p for p in parts if p)


def _count(db, table: str, where: str, params: list) -> int:
    return db[table].count_where(where, params) if db[table].exists() else 0


def digest_text(db, lang: str, since: datetime, local_date: str) -> str:
    s = to_iso(since)
    counts = {
        "tests": _count(db, "tests", "created_at >= ?", [s]),
        "acks": _count(db, "events", "kind = 'acknowledged' and at >= ?", [s]),
        "replies": _count(db, "events", "kind = 'replied' and at >= ?", [s]),
        "overdue": _count(db, "events", "kind = 'deadline_passed' and at >= ?", [s]),
        "fails": _count(db, "findings", "verdict = 'fail' and coalesce(updated_at, created_at) >= ?", [s]),
    }
    title = f"{text(lang, 'push_digest')} {local_date}"
    return "\n".join([title, text(lang, "digest_line", **counts)])


class Pusher:
    def __init__(self, db, config, access: Access, bot, *, interval: float = 1.0):
        self.db = db
        self.access = access
        self.bot = bot
        self.interval = interval
        self.digest_hour = int(config.get("bot", "digest_hour", DEFAULT_DIGEST_HOUR)) if config else DEFAULT_DIGEST_HOUR
        self.zone = ZoneInfo(config.timezone if config else "Asia/Shanghai")
        self._warned_nobody = False

    def queue_digest_if_due(self) -> bool:
        """Queue today's digest (one row per allowlisted user) once the digest hour has come."""
        now = get_clock().now()
        local = now.astimezone(self.zone)
        if local.hour < self.digest_hour or not self.access.users:
            return False
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.db["notifications"].count_where("kind = 'digest' and created_at >= ?", [to_iso(midnight)]):
            return False
        for user in self.access.users.values():
            body = digest_text(self.db, user.lang, now - timedelta(hours=24), local.date().isoformat())
            notify.push(self.db, "digest", body, chat_id=str(user.id))
        return True

    async def drain_once(self, stop: asyncio.Event | None = None) -> int:
        """Send every unsent row (until `stop` is set); returns how many rows were sent."""
        sent = 0
        for row in notify.pending(self.db):
            if stop is not None and stop.is_set():
                break
            chats = [int(row["chat_id"])] if row.get("chat_id") else recipients(self.db, self.access, row.get("test_id"))
            if not chats:
                if not self._warned_nobody:
                    log.warning("notification %s has nobody to go to; add a supervisor to [[bot.users]]", row["id"])
                    self._warned_nobody = True
                continue
            for chat in chats:
                user = self.access.get(chat)
                try:
                    await self.bot.send_message(chat, render(row, user.lang if user else "zh"))
                except (Forbidden, BadRequest) as err:  # this chat will never take it; do not retry
                    log.warning("notification %s to chat %s dropped: %s", row["id"], chat, err)
                except (RetryAfter, NetworkError) as err:  # Telegram unreachable: keep it for later
                    log.warning("Telegram unreachable (%s); %s notification(s) wait", err, len(notify.pending(self.db)))
                    return sent
            notify.mark_sent(self.db, row["id"])
            sent += 1
        return sent

    async def run(self, stop: asyncio.Event) -> None:
        """Drain and digest until `stop` is set. Stopping waits for the row being sent, so a
        push is never sent without being stamped (nor stamped without being sent)."""
        while not stop.is_set():
            try:
                self.queue_digest_if_due()
                await self.drain_once(stop)
            except Exception:  # a bad row or a locked database must not end the pushes
                log.exception("push loop")
            # Real seconds on purpose: this is how often to look, not a time of the office.
            try:
                await asyncio.wait_for(stop.wait(), self.interval)
            except asyncio.TimeoutError:
                pass
