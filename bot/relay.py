"""Captcha and SMS-code relay: a person solves what the machine cannot.

`TelegramSolver` implements the `shopper.solvers.Solver` protocol. When a form shows a captcha
(or a site sends an SMS code to the persona's phone) it sends the image (or the question) to the
supervisor who started the test — else the campaign's owner, else every supervisor — and waits for
the typed answer. The answer is any plain text from one of those chats (a reply to the question
picks that question; otherwise the oldest open question of the chat). Waiting ends after
`timeout` seconds of the shopper clock or of real time, whichever comes first, so a standing
simulated clock cannot make it hang; the engine turns the `RelayTimeout` into a failed test.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from bot.access import Access
from bot.messages import text
from shopper.clock import get_clock
from shopper.errors import ShopperError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 300.0


class RelayTimeout(ShopperError):
    """Nobody typed the captcha or SMS code in time."""


@dataclass
class Question:
    kind: str  # captcha | sms_code
    test_id: str
    chats: list[int]
    future: asyncio.Future
    message_ids: dict[int, int] = field(default_factory=dict)  # chat -> question message id


def recipients(db, access: Access, test_id: str | None) -> list[int]:
    """Chats that should hear about `test_id`: its starter, else its campaign's owner, else every
    supervisor."""
    if test_id and db["tests"].exists():
        row = next(db["tests"].rows_where("id = ?", [test_id], limit=1), None)
        if row:
            user = access.recipient(row.get("started_by"))
            if user:
                return [user.id]
            if row.get("campaign_id"):
                camp = next(db["campaigns"].rows_where("id = ?", [row["campaign_id"]], limit=1), None)
                user = access.recipient(camp and camp.get("owner"))
                if user:
                    return [user.id]
    return [u.id for u in access.supervisors]


class TelegramSolver:
    """A `Solver` that asks a supervisor on Telegram."""

    def __init__(self, db, access: Access, *, bot=None, timeout: float = DEFAULT_TIMEOUT):
        self.db = db
        self.access = access
        self.bot = bot  # set by the application once it is built
        self.timeout = float(timeout)
        self._open: list[Question] = []

    async def captcha(self, image: bytes, *, test_id: str | None = None, agency_id: str | None = None) -> str:
        return await self._ask("captcha", test_id, agency_id, image=image)

    async def sms_code(self, phone: str, *, test_id: str | None = None, agency_id: str | None = None) -> str:
        return await self._ask("sms_code", test_id, agency_id, phone=phone)

    async def _ask(self, kind: str, test_id: str | None, agency_id: str | None, *, image: bytes | None = None, phone: str = "") -> str:
        if self.bot is None:
            raise ShopperError("the Telegram relay is not connected to a running bot")
        chats = recipients(self.db, self.access, test_id)
        if not chats:
            raise RelayTimeout(f"no supervisor is configured to solve the {kind} of test {test_id}; add one to [[bot.users]]")
        question = Question(kind, test_id, chats, asyncio.get_running_loop().create_future())
        minutes = max(1, round(self.timeout / 60))
        self._open.append(question)
        try:
            for chat in chats:
                user = self.access.get(chat)
                lang = user.lang if user else "zh"
                try:
                    if kind == "captcha":
                        caption = text(lang, "captcha_ask", test=test_id, agency=agency_id, minutes=minutes)
                        sent = await self.bot.send_photo(chat, photo=image, caption=caption)
                    else:
                        ask = text(lang, "sms_ask", test=test_id, agency=agency_id, phone=phone, minutes=minutes)
                        sent = await self.bot.send_message(chat, ask)
                    question.message_ids[chat] = sent.message_id
                except Exception as err:  # one unreachable supervisor must not stop the others
                    log.warning("could not ask chat %s for the %s of test %s: %s", chat, kind, test_id, err)
            if not question.message_ids:
                raise RelayTimeout(f"could not reach any supervisor to solve the {kind} of test {test_id}")
            answer = await self._wait(question)
        finally:
            if question in self._open:
                self._open.remove(question)
        log.info("relay: %s for test %s answered", kind, test_id)
        return answer

    async def _wait(self, question: Question) -> str:
        clock_timer = asyncio.ensure_future(get_clock().sleep(self.timeout))
        try:
            done, _ = await asyncio.wait({question.future, clock_timer}, timeout=self.timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            clock_timer.cancel()
        if question.future in done:
            return question.future.result()
        question.future.cancel()
        what = "captcha" if question.kind == "captcha" else "SMS code"
        raise RelayTimeout(
            f"nobody typed the {what} for test {question.test_id} within {self.timeout:g} s "
            f"(asked chats {', '.join(map(str, question.chats))})"
        )

    def answer(self, chat_id: int, reply: str, reply_to_message_id: int | None = None) -> bool:
        """Hand a typed answer to the open question it belongs to; False when none is open."""
        reply = reply.strip()
        # Open for a chat from the moment it is asked (the answer may beat send_photo's response).
        candidates = [q for q in self._open if chat_id in q.chats and not q.future.done()]
        if reply_to_message_id is not None:
            matching = [q for q in candidates if q.message_ids.get(chat_id) == reply_to_message_id]
            candidates = matching or candidates
        if not candidates or not reply:
            return False
        candidates[0].future.set_result(reply)
        return True

    def waiting(self, chat_id: int) -> bool:
        return any(chat_id in q.chats and not q.future.done() for q in self._open)
