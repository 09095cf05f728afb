"""The mailbox watcher: IMAP with IDLE, nothing missed, nothing twice.

A small asyncio IMAP client (the commands a watcher needs: LOGIN, SELECT, UID SEARCH, UID FETCH,
IDLE/DONE, NOOP, LOGOUT) so that waiting in IDLE has real timeouts. The loop:

    connect (TLS or plain) → LOGIN → SELECT → catch up (UID SEARCH last+1:*, FETCH in batches)
    → IDLE until the server says EXISTS, or the tick (deadline watch), or 24 minutes have gone
      (servers drop IDLE after 30; RFC 2177 asks clients to re-issue before 29) → catch up → ...

without IDLE on the server it polls instead. A dropped connection is retried with exponential
backoff. UIDVALIDITY and the last UID ingested live in `mailbox_state`, written after each
message, so a restart or an outage resumes exactly where it stopped; if the server's UIDVALIDITY
changed, everything is fetched again and the ingester's content hash keeps what was stored once.
The password comes from `config.secret("imap_password")` (SHOPPER_IMAP_PASSWORD or the secrets
file); it is never logged or stored.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import ssl
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

from shopper.clock import get_clock, to_iso
from shopper.errors import ShopperError

log = logging.getLogger(__name__)

IDLE_RENEW = 24 * 60  # seconds; under the 29 minutes of RFC 2177
FETCH_BATCH = 100


class IMAPError(Exception):
    """The server refused a command or broke the protocol."""


@dataclass
class MailboxSettings:
    host: str = "127.0.0.1"
    port: int = 993
    tls: bool = True  # implicit TLS (imaps); False: plain, for loopback only
    user: str = "shopper"
    password: str | None = field(default=None, repr=False)
    folder: str = "INBOX"
    use_idle: bool = True  # False: poll even if the server has IDLE
    poll_interval: float = 30.0  # seconds between polls without IDLE
    idle_renew: float = IDLE_RENEW
    tick: float = 30.0  # how often the deadline watch runs (and IDLE is renewed) while waiting
    backoff_min: float = 1.0
    backoff_max: float = 300.0
    timeout: float = 60.0  # for any one server answer
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The key of this mailbox in `mailbox_state` and `messages.mailbox`."""
        return f"{self.user}@{self.host}:{self.port}/{self.folder}"

    @classmethod
    def from_config(cls, config, **overrides) -> "MailboxSettings":
        get = lambda key, default: config.get("mailbox", key, default)  # noqa: E731
        settings = cls(
            host=get("host", "127.0.0.1"), port=int(get("port", 993)), tls=bool(get("tls", True)),
            user=get("user", "shopper"), folder=get("folder", "INBOX"),
            use_idle=bool(get("idle", True)), poll_interval=float(get("poll_interval", 30)),
            password=config.secret("imap_password"),
        )
        for key, value in overrides.items():
            if value is not None:
                setattr(settings, key, value)
        if not settings.password:
            raise ShopperError("no mailbox password: set SHOPPER_IMAP_PASSWORD or imap_password in the secrets file")
        return settings


def _quote(value: str) -> bytes:
    return b'"' + value.replace("\\", "\\\\").replace('"', '\\"').encode("utf-8") + b'"'


_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")
_UID = re.compile(rb"\bUID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")


def parse_internaldate(text: bytes) -> datetime:
    return datetime.strptime(text.decode("ascii").strip(), "%d-%b-%Y %H:%M:%S %z").astimezone(timezone.utc)


class IMAPClient:
    """Just enough IMAP4rev1 for a watcher, on asyncio streams."""

    def __init__(self, settings: MailboxSettings):
        self.s = settings
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.capabilities: set[str] = set()
        self._tag = 0

    async def connect(self) -> None:
        context = None
        if self.s.tls:
            context = self.s.ssl_context or ssl.create_default_context()
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.s.host, self.s.port, ssl=context, limit=2**20), self.s.timeout)
        greeting = await self._line()
        if not greeting.startswith(b"* OK") and not greeting.startswith(b"* PREAUTH"):
            raise IMAPError(f"unexpected greeting {greeting[:80]!r}")

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await asyncio.wait_for(self.writer.wait_closed(), 2)
            except Exception:  # noqa: BLE001 - closing a dead connection
                pass
            self.writer = None

    async def _line(self, timeout: float | None = None) -> bytes:
        try:
            line = await asyncio.wait_for(self.reader.readline(), timeout or self.s.timeout)
        except asyncio.LimitOverrunError as err:
            raise IMAPError("server line too long") from err
        if not line:
            raise ConnectionResetError("the IMAP server closed the connection")
        return line

    async def _response(self, first: bytes | None = None) -> tuple[bytes, list[bytes]]:
        """One response line with its literals: (text with literals replaced by {n}, literals)."""
        line = first if first is not None else await self._line()
        text, literals = b"", []
        while True:
            m = _LITERAL.search(line)
            if not m:
                return text + line, literals
            n = int(m.group(1))
            literals.append(await asyncio.wait_for(self.reader.readexactly(n), self.s.timeout))
            text += line
            line = await self._line()

    async def command(self, *parts: bytes) -> tuple[list[tuple[bytes, list[bytes]]], bytes]:
        """Send a command, collect untagged responses until the tagged one; raise unless OK."""
        self._tag += 1
        tag = b"W%d" % self._tag
        self.writer.write(tag + b" " + b" ".join(parts) + b"\r\n")
        await self.writer.drain()
        untagged = []
        while True:
            text, literals = await self._response()
            if text.startswith(tag + b" "):
                status = text[len(tag) + 1:]
                if not status.startswith(b"OK"):
                    raise IMAPError(f"{parts[0].decode()} failed: {status.decode('utf-8', 'replace').strip()}")
                return untagged, status
            untagged.append((text, literals))

    async def login(self) -> None:
        if not self.s.password:
            raise ShopperError("no mailbox password: set SHOPPER_IMAP_PASSWORD or imap_password in the secrets file")
        try:
            _, status = await self.command(b"LOGIN", _quote(self.s.user), _quote(self.s.password))
        except IMAPError as err:
            raise IMAPError(f"login as {self.s.user} refused") from err
        m = re.search(rb"\[CAPABILITY ([^\]]*)\]", status)
        if m:
            self.capabilities = {c.upper() for c in m.group(1).decode().split()}
        else:
            untagged, _ = await self.command(b"CAPABILITY")
            for text, _ in untagged:
                if text.startswith(b"* CAPABILITY"):
                    self.capabilities = {c.upper() for c in text[13:].decode().split()}

    async def select(self, folder: str) -> int:
        untagged, status = await self.command(b"SELECT", _quote(folder))
        for text, _ in untagged + [(status, [])]:
            m = _UIDVALIDITY.search(text)
            if m:
                return int(m.group(1))
        raise IMAPError("the server gave no UIDVALIDITY")

    async def uids_after(self, last_uid: int) -> list[int]:
        untagged, _ = await self.command(b"UID SEARCH UID %d:*" % (last_uid + 1))
        uids = []
        for text, _ in untagged:
            if text.startswith(b"* SEARCH"):
                uids += [int(x) for x in text[8:].split()]
        return sorted(u for u in uids if u > last_uid)  # "n:*" also names the last UID if below n

    async def fetch(self, uids: list[int]) -> list[tuple[int, datetime, bytes]]:
        if not uids:
            return []
        uid_set = ",".join(str(u) for u in uids).encode()
        untagged, _ = await self.command(b"UID FETCH", uid_set, b"(UID INTERNALDATE BODY.PEEK[])")
        out = []
        for text, literals in untagged:
            if b" FETCH " not in text[:40] or not literals:
                continue
            uid = _UID.search(text)
            date = _INTERNALDATE.search(text)
            if not uid or not date:
                continue
            out.append((int(uid.group(1)), parse_internaldate(date.group(1)), literals[-1]))
        return sorted(out)

    async def idle(self, timeout: float) -> bool:
        """Wait in IDLE up to `timeout` seconds; True if the server announced new mail."""
        self._tag += 1
        tag = b"W%d" % self._tag
        self.writer.write(tag + b" IDLE\r\n")
        await self.writer.drain()
        line = await self._line()
        while not line.startswith(b"+"):
            if line.startswith(tag):
                raise IMAPError(f"IDLE refused: {line.decode('utf-8', 'replace').strip()}")
            line = await self._line()
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        news = False
        while (left := end - loop.time()) > 0 and not news:
            try:
                line = await self._line(timeout=left)
            except asyncio.TimeoutError:
                break
            if line.startswith(b"* BYE"):
                raise ConnectionResetError("the IMAP server said BYE")
            if re.match(rb"\* \d+ (EXISTS|RECENT)", line):
                news = True
        self.writer.write(b"DONE\r\n")
        await self.writer.drain()
        while True:
            text, _ = await self._response()
            if text.startswith(tag + b" "):
                if not text[len(tag) + 1:].startswith(b"OK"):
                    raise IMAPError(f"IDLE ended badly: {text.decode('utf-8', 'replace').strip()}")
                return news
            if re.match(rb"\* \d+ (EXISTS|RECENT)", text):
                news = True

    async def logout(self) -> None:
        try:
            await self.command(b"LOGOUT")
        except Exception:  # noqa: BLE001 - leaving anyway
            pass
        await self.close()


class MailboxWatcher:
    """Watches one IMAP folder and hands every new message to an `Ingestor`.

    `on_message(row)` is called after each stored message (benchmarks, the bot's live view)."""

    def __init__(self, db, settings: MailboxSettings, *, ingestor=None, config=None, on_message=None,
                 deadline_watch: bool = True):
        from shopper.ingest import Ingestor

        self.db = db
        self.s = settings
        self.ingestor = ingestor or Ingestor(db, config)
        self.on_message = on_message
        self.deadline_watch = deadline_watch
        self.idle_used = False
        self.connections = 0
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- state ------------------------------------------------------------------------------
    def state(self) -> tuple[int | None, int]:
        row = self.db.execute("SELECT uid_validity, last_uid FROM mailbox_state WHERE mailbox = ?",
                              [self.s.name]).fetchone()
        return (row[0], row[1] or 0) if row else (None, 0)

    def _save_state(self, uid_validity: int, last_uid: int) -> None:
        with self.db.conn:
            self.db.conn.execute(
                "INSERT INTO mailbox_state (mailbox, uid_validity, last_uid, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(mailbox) DO UPDATE SET uid_validity = excluded.uid_validity,"
                " last_uid = excluded.last_uid, updated_at = excluded.updated_at",
                [self.s.name, uid_validity, last_uid, to_iso(get_clock().now())],
            )

    # -- work -------------------------------------------------------------------------------
    async def catch_up(self, client: IMAPClient, uid_validity: int) -> int:
        """Fetch and ingest everything after the last UID seen. Returns how many were new."""
        known_validity, last_uid = self.state()
        if known_validity is not None and known_validity != uid_validity:
            log.warning("mailbox %s: UIDVALIDITY changed (%s -> %s); reading it all again",
                        self.s.name, known_validity, uid_validity)
            last_uid = 0
        uids = await client.uids_after(last_uid)
        count = 0
        for i in range(0, len(uids), FETCH_BATCH):
            for uid, internal_date, raw in await client.fetch(uids[i:i + FETCH_BATCH]):
                row = self.ingestor.ingest(raw, received_at=internal_date, mailbox=self.s.name,
                                           uid_validity=uid_validity, uid=uid)
                self._save_state(uid_validity, uid)
                if row is not None:
                    count += 1
                    if self.on_message is not None:
                        self.on_message(row)
        if not uids and known_validity != uid_validity:
            self._save_state(uid_validity, last_uid)
        return count

    def tick(self) -> None:
        if self.deadline_watch:
            from shopper.timeline import raise_passed_deadlines

            raise_passed_deadlines(self.db, get_clock().now())

    async def _session(self, stop: asyncio.Event, once: bool) -> int:
        client = IMAPClient(self.s)
        await client.connect()
        try:
            await client.login()
            uid_validity = await client.select(self.s.folder)
            self.connections += 1
            log.info("watching %s (IDLE %s)", self.s.name, "yes" if "IDLE" in client.capabilities else "no")
            total = await self.catch_up(client, uid_validity)
            self.tick()
            if once:
                return total
            idle = self.s.use_idle and "IDLE" in client.capabilities
            loop = asyncio.get_running_loop()
            idle_started = last_tick = loop.time()
            while not stop.is_set():
                wait = min(self.s.tick, self.s.idle_renew)
                if idle:
                    self.idle_used = True
                    renew_left = self.s.idle_renew - (loop.time() - idle_started)
                    await client.idle(max(0.01, min(wait, renew_left)))
                    if loop.time() - idle_started >= self.s.idle_renew:
                        idle_started = loop.time()
                else:
                    try:
                        await asyncio.wait_for(stop.wait(), min(self.s.poll_interval, wait))
                    except asyncio.TimeoutError:
                        pass
                    await client.command(b"NOOP")
                total += await self.catch_up(client, uid_validity)
                if loop.time() - last_tick >= self.s.tick:  # not after every message of a burst
                    self.tick()
                    last_tick = loop.time()
            return total
        finally:
            await client.logout()

    async def run(self, stop: asyncio.Event | None = None, *, once: bool = False) -> int:
        """Watch until `stop` is set (or, with `once`, read what is there and return)."""
        stop = stop or asyncio.Event()
        self._stop = stop
        backoff = self.s.backoff_min
        while not stop.is_set():
            try:
                return await self._session(stop, once)
            except (OSError, IMAPError, asyncio.IncompleteReadError, asyncio.TimeoutError) as err:
                if once:
                    raise ShopperError(f"mailbox {self.s.name}: {err}; check host, port, tls and password") from err
                delay = backoff * (0.8 + 0.4 * random.random())
                log.warning("mailbox %s: %s; reconnecting in %.1f s", self.s.name, err, delay)
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except asyncio.TimeoutError:
                    pass
                backoff = min(backoff * 2, self.s.backoff_max)
        return 0

    # -- in a thread (tests, the bot, the demo) ----------------------------------------------
    def start(self) -> "MailboxWatcher":
        ready = threading.Event()

        def main():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._stop = asyncio.Event()
            ready.set()
            try:
                self._loop.run_until_complete(self.run(self._stop))
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=main, name="mailbox-watcher", daemon=True)
        self._thread.start()
        ready.wait()
        return self

    def stop(self, timeout: float = 10) -> None:
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        self._thread = None
