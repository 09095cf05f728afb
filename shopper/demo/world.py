"""The demo world: agencies with web sites on 127.0.0.1 that receive letters and, on the shared
clock, acknowledge and answer them by e-mail and on their status pages.

    world = World(SimulatedClock(start), mail=mail_system)
    world.start()
    ...                       # a browser submits at world.base_url
    world.advance(timedelta(days=7))   # perform every due action at its own simulated time
    world.submissions, world.actions   # what the world received and did, to compare with

`tick()` performs whatever is due now; a background thread calls it every ~50 ms of real time so
a running clock (the `shopper world` command) drives itself. The world keeps its own record of
each submission and action, so tests can compare what shopper saw with what really happened.
"""

from __future__ import annotations

import logging
import random
import secrets
import smtplib
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shopper.calendar import BusinessCalendar, OfficeHours
from shopper.clock import Clock, get_clock
from shopper.demo.agencies import AGENCIES, Agency, MailStyle
from shopper.demo.captcha import CaptchaStore
from shopper.demo.profiles import Planned, Reading, plan, read_letter, write

log = logging.getLogger(__name__)

RECEIVED, ACCEPTED, DONE = 0, 1, 2
MAIL_RETRY = timedelta(minutes=5)


@dataclass
class Submission:
    agency_id: str
    kind: str  # consultation | complaint | suggestion (as the form said)
    subject: str
    body: str
    name: str
    phone: str
    email: str
    reference: str
    query_code: str
    received_at: datetime
    reading: Reading
    district: str = ""
    department: str = ""
    account: str = ""
    fields: dict = field(default_factory=dict)  # the form as posted
    plan: list[Planned] = field(default_factory=list)
    history: list[tuple[int, datetime, str]] = field(default_factory=list)  # (stage, at, note)
    reply_text: str | None = None
    reply_at: datetime | None = None
    ack_message_id: str | None = None
    message_ids: list[str] = field(default_factory=list)

    @property
    def stage(self) -> int:
        return self.history[-1][0] if self.history else RECEIVED


@dataclass(frozen=True)
class Action:
    at: datetime
    agency_id: str
    reference: str
    what: str  # received | ack | reply | status
    channel: str  # web | email | status_page
    detail: dict


class World:
    def __init__(self, clock: Clock | None = None, *, port: int = 0, agencies=None, mail=None,
                 seed: int = 0, slow_delay: float = 3.0, tick_interval: float = 0.05):
        self._clock = clock
        if agencies is None:
            agencies = AGENCIES
        if not isinstance(agencies, dict):
            agencies = {a.id: a for a in agencies}
        self.agencies: dict[str, Agency] = dict(agencies)
        self.mail = mail
        self.host = "127.0.0.1"  # loopback only, always
        self.port = port
        self.slow_delay = slow_delay
        self.tick_interval = tick_interval
        self.captchas = CaptchaStore(seed)
        self.submissions: list[Submission] = []
        self.actions: list[Action] = []
        self.outbox: list[tuple[str, bytes]] = []  # (recipient, raw message) of every mail sent
        self.sms_codes: dict[str, str] = {}
        self.accounts: dict[tuple[str, str], dict] = {}  # (agency, username) -> password, phone
        self.sessions: dict[str, tuple[str, str]] = {}  # sid -> (agency, username)
        self.drafts: dict[str, dict] = {}  # two-step forms between details and confirm
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._calendars: dict[str, BusinessCalendar] = {}
        self._server = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        """The world's clock; without one of its own it follows the program's clock."""
        return self._clock or get_clock()

    def now(self) -> datetime:
        return self.clock.now()

    def start(self) -> "World":
        from shopper.demo.server import make_server

        self._server = make_server(self, self.host, self.port)
        self.port = self._server.server_address[1]
        self._stopping.clear()
        serve = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                 name="demo-world-http", daemon=True)
        ticker = threading.Thread(target=self._tick_forever, name="demo-world-clock", daemon=True)
        self._threads = [serve, ticker]
        for thread in self._threads:
            thread.start()
        log.info("demo world at %s", self.base_url)
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def __enter__(self) -> "World":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        return {"SHOPPER_DEMO_URL": self.base_url}

    def url(self, agency_id: str, path: str = "") -> str:
        return f"{self.base_url}/{agency_id}/{path}"

    def calendar(self, agency_id: str) -> BusinessCalendar:
        if agency_id not in self._calendars:
            agency = self.agencies[agency_id]
            self._calendars[agency_id] = BusinessCalendar("CN", "Asia/Shanghai", OfficeHours.parse(agency.office_hours))
        return self._calendars[agency_id]

    # --- receiving -------------------------------------------------------------------------------

    def receive(self, agency_id: str, *, kind: str, subject: str, body: str, name: str, phone: str, email: str,
                district: str = "", department: str = "", account: str = "", fields: dict | None = None) -> Submission:
        """Register a letter that passed the form's checks, and plan what the agency will do."""
        agency = self.agencies[agency_id]
        cal = self.calendar(agency_id)
        with self._lock:
            received = self.now()
            local = cal.local(received)
            count = sum(1 for s in self.submissions if s.agency_id == agency_id) + 1
            reference = f"{agency.prefix}{local:%Y%m%d}{count:04d}"
            query_code = "".join(self._rng.choice("ABCDEFGHJKMNPQRSTUVWXY3456789") for _ in range(6))
            reading = read_letter(kind, subject, body)
            sub = Submission(agency_id, kind, subject, body, name, phone, email, reference, query_code, received,
                             reading, district, department, account, dict(fields or {}))
            sub.plan = plan(agency.profile, reading, received, cal)
            sub.history.append((RECEIVED, received, "来信已提交"))
            self.submissions.append(sub)
            self._record(received, sub, "received", "web", {"kind": kind, "reading": reading.__dict__})
        return sub

    def find(self, agency_id: str, reference: str) -> Submission | None:
        with self._lock:
            for sub in self.submissions:
                if sub.agency_id == agency_id and sub.reference == reference.strip():
                    return sub
        return None

    def submission(self, reference: str) -> Submission:
        with self._lock:
            for sub in self.submissions:
                if sub.reference == reference:
                    return sub
        raise KeyError(reference)

    def sent_by(self, email: str) -> list[Submission]:
        """The letters a citizen wrote from this address (a test's reply address)."""
        with self._lock:
            return [s for s in self.submissions if s.email.lower() == email.lower()]

    def actions_for(self, reference: str) -> list[Action]:
        with self._lock:
            return [a for a in self.actions if a.reference == reference]

    # --- harness -----------------------------------------------------------------------------------

    def send_sms(self, phone: str) -> str:
        code = f"{self._rng.randrange(1000000):06d}"
        with self._lock:
            self.sms_codes[phone] = code
        return code

    def sms_code(self, phone: str) -> str | None:
        with self._lock:
            return self.sms_codes.get(phone)

    def captcha_answer(self, sha256: str) -> str | None:
        return self.captchas.answer_for_sha(sha256)

    def new_session(self, agency_id: str, username: str) -> str:
        sid = secrets.token_hex(12)
        with self._lock:
            self.sessions[sid] = (agency_id, username)
        return sid

    # --- the clock -----------------------------------------------------------------------------

    def _tick_forever(self) -> None:
        while not self._stopping.wait(self.tick_interval):
            try:
                self.tick()
            except Exception:  # a failing send must not stop the world; it is logged and retried
                log.exception("demo world tick failed")

    def next_due(self) -> datetime | None:
        with self._lock:
            dues = [p.due for s in self.submissions for p in s.plan if p.done_at is None]
        return min(dues) if dues else None

    def tick(self) -> list[Action]:
        """Perform every action that is due by the clock's time. Returns what was done."""
        done: list[Action] = []
        with self._lock:
            now = self.now()
            due = sorted(((p.due, i, s, p) for i, s in enumerate(self.submissions)
                          for p in s.plan if p.done_at is None and p.due <= now), key=lambda x: (x[0], x[1]))
            for _, _, sub, planned in due:
                try:
                    done += self._perform(sub, planned, now)
                except (OSError, smtplib.SMTPException) as err:
                    # The mail server is away: try again a little later, as a real mail system would.
                    planned.due = now + MAIL_RETRY
                    log.warning("%s could not send %s for %s (%s); retrying at %s", sub.agency_id, planned.what,
                                sub.reference, err, planned.due.isoformat())
                    continue
                planned.done_at = now
        return done

    def run_until(self, when: datetime) -> list[Action]:
        """Step a simulated clock to `when`, stopping at each due action so that each happens at
        its own time (a standing clock jumps; a running one is only ever moved forward)."""
        clock = self.clock
        if not hasattr(clock, "set"):
            raise TypeError("run_until needs a SimulatedClock; the system clock cannot be moved")
        done: list[Action] = []
        while True:
            due = self.next_due()
            if due is None or due > when:
                break
            if due > clock.now():
                clock.set(due)
            done += self.tick()
        if when > clock.now():
            clock.set(when)
        done += self.tick()
        return done

    def advance(self, delta: timedelta | float) -> list[Action]:
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=float(delta))
        return self.run_until(self.now() + delta)

    # --- acting ------------------------------------------------------------------------------------

    def _record(self, at: datetime, sub: Submission, what: str, channel: str, detail: dict) -> Action:
        action = Action(at, sub.agency_id, sub.reference, what, channel, detail)
        self.actions.append(action)
        return action

    def _set_stage(self, sub: Submission, stage: int, now: datetime, note: str) -> list[Action]:
        agency = self.agencies[sub.agency_id]
        if not agency.profile.updates_status_page or sub.stage >= stage:
            return []
        sub.history.append((stage, now, note))
        return [self._record(now, sub, "status", "status_page", {"status": agency.status_words[stage]})]

    def _perform(self, sub: Submission, planned: Planned, now: datetime) -> list[Action]:
        agency = self.agencies[sub.agency_id]
        profile = agency.profile
        cal = self.calendar(sub.agency_id)
        style = agency.ack_mail if planned.what == "ack" else agency.reply_mail
        letter = write(planned.what, agency=agency, profile=profile, reading=sub.reading, sub=sub, now=now,
                       cal=cal, ref_in_body=style.ref_in in ("body", "both") or not profile.by_email)
        done: list[Action] = []
        if planned.what == "ack":
            done += self._set_stage(sub, ACCEPTED, now, "已受理，正在办理")
        else:
            done += self._set_stage(sub, DONE, now, "已办结")
            if profile.updates_status_page:
                sub.reply_text, sub.reply_at = letter.body, now
        if profile.by_email:
            done.append(self._mail(agency, sub, planned.what, letter, style, now))
        return done

    def _mail(self, agency: Agency, sub: Submission, what: str, letter, style: MailStyle, now: datetime) -> Action:
        subject = letter.subject
        if style.ref_in in ("subject", "both"):
            subject = f"{subject}（编号：{sub.reference}）"
        quote = sub.body if style.quote else None
        charset = style.charset
        try:
            for text in (subject, letter.body, quote or ""):
                text.encode(charset)
        except UnicodeEncodeError:
            charset = "gb18030"  # what real mail systems fall back to for rare characters
        message_id = f"<{secrets.token_hex(8)}.{sub.reference.lower()}@{agency.email_domain}>"
        in_reply_to = sub.ack_message_id if (style.in_reply_to and what == "reply") else None
        try:
            from shopper.demo.mail import compose
        except ImportError:  # the mail area is not installed: keep the record, send nothing
            compose = None
        raw = None if compose is None else compose(
            from_addr=f"{agency.signature} <{agency.from_addr}>", to_addr=sub.email, subject=subject,
            body=letter.body, date=self.calendar(agency.id).local(now), charset=charset, transfer=style.transfer,
            label="" if charset != style.charset else style.label,
            html_only=style.html_only, multipart=style.multipart, quote=quote,
            in_reply_to=in_reply_to, message_id=message_id)
        sent = False
        if raw is not None:
            self.outbox.append((sub.email, raw))
        if raw is not None and self.mail is not None:
            with smtplib.SMTP("127.0.0.1", self.mail.smtp_port, timeout=10) as smtp:
                smtp.sendmail(agency.from_addr, [sub.email], raw)
            sent = True
        if what == "ack":
            sub.ack_message_id = message_id
        sub.message_ids.append(message_id)
        return self._record(now, sub, what, "email", {
            "message_id": message_id, "to": sub.email, "subject": subject, "charset": charset,
            "transfer": style.transfer, "html_only": style.html_only, "multipart": style.multipart,
            "quote": bool(quote), "in_reply_to": in_reply_to, "ref_in": style.ref_in, "sent": sent,
            "text": letter.body,
        })

    # --- what the status pages show ---------------------------------------------------------------

    def status_view(self, sub: Submission) -> dict:
        agency = self.agencies[sub.agency_id]
        cal = self.calendar(sub.agency_id)
        with self._lock:
            history = [(agency.status_words[stage], cal.local(at).strftime("%Y-%m-%d %H:%M"), note)
                       for stage, at, note in sub.history]
            return {
                "reference": sub.reference,
                "subject": sub.subject,
                "status": history[-1][0],
                "status_time": history[-1][1],
                "history": history,
                "reply": sub.reply_text,
                "reply_time": cal.local(sub.reply_at).strftime("%Y-%m-%d %H:%M") if sub.reply_at else None,
            }

    def answered(self, agency_id: str) -> list[Submission]:
        with self._lock:
            return [s for s in self.submissions if s.agency_id == agency_id and s.reply_text]
