"""Who may talk to the bot, and the record of what they changed.

The allowlist is the config's `[[bot.users]]`: a Telegram user id, a role (`supervisor` may start
tests and campaigns and request letters; `viewer` may only read) and a language. Anyone else is a
stranger: they get one polite refusal, ever, and the attempt is logged and written to the audit
table. Refusing only once keeps a stranger from using the bot to spam a chat.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from shopper.clock import get_clock, to_iso
from shopper.errors import ShopperError

log = logging.getLogger(__name__)

ROLES = ("supervisor", "viewer")
REFUSED = "refused"  # the audit action of a stranger's first attempt


@dataclass(frozen=True)
class User:
    id: int
    role: str
    lang: str = "zh"
    name: str = ""

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


class Access:
    def __init__(self, users: list[User]):
        self.users = {u.id: u for u in users}

    @classmethod
    def from_config(cls, config) -> "Access":
        section = config.data.get("bot", {}) if config is not None else {}
        users = []
        for i, entry in enumerate(section.get("users", []) or []):
            try:
                uid = int(entry["id"])
            except (KeyError, TypeError, ValueError) as err:
                raise ShopperError(f"[[bot.users]] entry {i + 1} needs a numeric id (the Telegram user id)") from err
            role = entry.get("role", "viewer")
            if role not in ROLES:
                raise ShopperError(f"[[bot.users]] id {uid}: role must be one of {', '.join(ROLES)}, not {role!r}")
            lang = entry.get("lang", "zh")
            users.append(User(uid, role, lang if lang in ("zh", "en") else "zh", str(entry.get("name", ""))))
        return cls(users)

    def get(self, user_id: int | None) -> User | None:
        return self.users.get(int(user_id)) if user_id is not None else None

    @property
    def supervisors(self) -> list[User]:
        return [u for u in self.users.values() if u.is_supervisor]

    def recipient(self, who: str | int | None) -> User | None:
        """The allowlisted user behind a `started_by`/`owner` value, if it is one."""
        try:
            return self.get(int(str(who)))
        except (TypeError, ValueError):
            return None


def audit(db, user_id, user_name: str | None, action: str, args=None) -> None:
    """Record who did what, when (by the shopper clock)."""
    db["audit"].insert(
        {
            "at": to_iso(get_clock().now()),
            "user_id": str(user_id),
            "user_name": user_name or "",
            "action": action,
            "args": json.dumps(args, ensure_ascii=False) if args is not None else None,
        }
    )


def already_refused(db, user_id) -> bool:
    return db["audit"].count_where("user_id = ? and action = ?", [str(user_id), REFUSED]) > 0


def record_stranger(db, user_id, user_name: str | None, text: str | None) -> bool:
    """Log a stranger's attempt; True when this is the first one (so the refusal is due)."""
    first = not already_refused(db, user_id)
    log.warning("refused Telegram user %s (%s)%s", user_id, user_name or "?", "" if first else " again")
    if first:
        audit(db, user_id, user_name, REFUSED, {"text": (text or "")[:200]})
    return first
