"""Timing verdicts: was the agency on time, read from a test's timeline.

Four rules have a deadline (DESIGN.md):

- complaint.ack_24h: an acknowledgement (or any answer) within 24 hours of receipt.
- complaint.important_same_day: an important complaint gets a response before close of business
  of its working day (after hours or on a non-working day: the next working day's close).
- complaint.reply_by_deadline: the reply comes within the limit the agency stated in its
  acknowledgement, else within the limit it publishes (the site file's `limits`).
- consult.reply_in_time: a consultation's reply comes within the published limit.

Receipt is the test's `submitted_at`. An answer is known only within its observation window
(`window_start`, last seen without it .. `window_end`, first seen with it; for e-mail both are the
delivery time). Against a deadline D:

    window_end <= D            pass
    window_start > D           fail
    window_start <= D < end    undetermined (the window straddles the deadline)
    no answer, D passed        fail
    no answer, D not passed    no finding yet

The site's own "submitted successfully" page (source `engine`) is never an acknowledgement. An
automatic notice e-mail counts as receipt unless the office's policy says otherwise
(`[policy] auto_ack_counts = false`). Times in verdicts are shown in the agency's zone.

Everything here is pure: the caller (`shopper.findings`) reads the database and the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shopper import deadlines
from shopper.clock import from_iso

TIMING_RULES = (
    "complaint.ack_24h",
    "complaint.important_same_day",
    "complaint.reply_by_deadline",
    "consult.reply_in_time",
)
ACK_TYPES = ("acknowledgement", "auto")
RESPONSE_KINDS = ("acknowledged", "replied")


@dataclass
class Observation:
    """One answer of the agency, as the timeline knows it."""

    kind: str  # acknowledged | replied
    at: datetime
    window_start: datetime
    window_end: datetime
    source: str
    message_id: int | None = None
    message_type: str | None = None

    @classmethod
    def from_event(cls, event: dict, message_type: str | None = None) -> "Observation":
        at = from_iso(event["at"])
        start = from_iso(event["window_start"]) if event.get("window_start") else at
        end = from_iso(event["window_end"]) if event.get("window_end") else at
        detail = event.get("detail") or {}
        return cls(event["kind"], at, min(start, end), max(start, end), event.get("source") or "",
                   event.get("message_id"), message_type or detail.get("message_type"))


@dataclass
class Finding:
    rule_id: str
    verdict: str  # pass | fail | undetermined
    detail: str  # one sentence, Chinese
    deadline_at: datetime | None = None
    observed_at: datetime | None = None
    times: dict = field(default_factory=dict)
    message_id: int | None = None
    quote: str = ""


def local_text(moment: datetime | None, cal) -> str:
    """A moment as a person at the agency reads it: 2026-12-02 10:00 (Asia/Shanghai)."""
    if moment is None:
        return "—"
    return f"{cal.local(moment):%Y-%m-%d %H:%M} ({cal.timezone})"


def local_iso(moment: datetime | None, cal) -> str | None:
    return cal.local(moment).isoformat(timespec="seconds") if moment is not None else None


def judge(deadline: datetime, answers: list[Observation], now: datetime) -> tuple[str | None, Observation | None]:
    """The verdict of one deadline given the answers that satisfy it (see the module doc)."""
    if answers:
        in_time = [a for a in answers if a.window_end <= deadline]
        if in_time:
            return "pass", min(in_time, key=lambda a: a.window_end)
        straddling = [a for a in answers if a.window_start <= deadline]
        if straddling:
            return "undetermined", min(straddling, key=lambda a: a.window_start)
        return "fail", min(answers, key=lambda a: a.window_start)
    if deadline <= now:
        return "fail", None
    return None, None


def observations(events: list[dict], message_types: dict[int, str], *, auto_ack_counts: bool = True) -> list[Observation]:
    """The agency's answers in the timeline. The site's own confirmation page (source `engine`) is
    not an answer; an automatic notice is one only when the policy counts it."""
    found = []
    for event in events:
        if event["kind"] not in RESPONSE_KINDS or event.get("source") == "engine":
            continue
        mtype = message_types.get(event.get("message_id")) if event.get("message_id") else None
        obs = Observation.from_event(event, mtype)
        if obs.message_type == "auto" and not auto_ack_counts:
            continue
        found.append(obs)
    return found


def _timing_finding(rule_id: str, what: str, deadline, basis: str, answers, now, received, cal) -> Finding | None:
    verdict, answer = judge(deadline, answers, now)
    if verdict is None:
        return None
    times = {"received": local_iso(received, cal), "deadline": local_iso(deadline, cal)}
    if answer is not None:
        times.update(window_start=local_iso(answer.window_start, cal), window_end=local_iso(answer.window_end, cal))
    if answer is None:
        arrived = ""
    elif answer.window_start == answer.window_end:
        arrived = f"于 {local_text(answer.window_end, cal)} 到达"
    else:
        arrived = f"在 {local_text(answer.window_start, cal)} 至 {local_text(answer.window_end, cal)} 之间到达"
    head = f"{local_text(received, cal)} 收到，{basis}期限为 {local_text(deadline, cal)}"
    if verdict == "pass":
        detail = f"{head}；{what}{arrived}，按时。"
    elif verdict == "undetermined":
        detail = f"{head}；{what}{arrived}，观察窗口跨越期限，无法判定是否按时。"
    elif answer is not None:
        detail = f"{head}；{what}{arrived}，已逾期。"
    else:
        detail = f"{head}；期限已过，仍未收到{what}。"
    observed = answer.window_end if answer is not None else None
    return Finding(rule_id, verdict, detail, deadline, observed, times, answer.message_id if answer else None)


def stated_promise(answers: list[Observation], messages: dict[int, dict], cal):
    """The limit the agency stated in its first acknowledgement that states one:
    (Promise, Observation) or (None, None)."""
    from shopper.promises import read_promise

    for obs in sorted(answers, key=lambda a: a.at):
        if obs.kind != "acknowledged" or obs.message_id is None:
            continue
        msg = messages.get(obs.message_id) or {}
        text = msg.get("own_text") or msg.get("text")
        if not text:
            continue
        promise = read_promise(text, obs.at, calendar=cal)
        if promise is not None:
            return promise, obs
    return None, None


UNIT_WORDS = {"workday": "个工作日", "day": "日", "hour": "小时"}


def reply_deadline(received: datetime, answers, messages, site, kind: str, cal):
    """(deadline, basis words, promise quote) for the reply: the stated limit, else the published
    one; (None, "", "") when there is neither."""
    promise, _ = stated_promise(answers, messages, cal)
    if promise is not None:
        if promise.by_close and "date" in promise.value:
            from datetime import date

            at = cal.close_of_business(date.fromisoformat(promise.value["date"]))
        else:
            at = deadlines.promise_deadline(received, promise.value, cal).at
        return at, "受理告知中承诺的答复", promise.quote
    limit = site.limit_for(kind) if site is not None else None
    if limit is not None:
        at = deadlines.promised(received, limit.n, limit.unit, cal).at
        return at, f"网站公布的{limit.n}{UNIT_WORDS[limit.unit]}答复", ""
    return None, "", ""


def timing_verdicts(test: dict, events: list[dict], messages: dict[int, dict], *, site, cal, now: datetime,
                    rules: set[str] | frozenset[str], auto_ack_counts: bool = True) -> list[Finding]:
    """The timing findings of one test for the rules in `rules` that apply to it.

    `test` is the tests row (kind, important, submitted_at); `events` its timeline; `messages`
    its messages by id (own_text/text, graded message_type); `site` its Site or None; `cal` the
    agency's BusinessCalendar; `now` the program clock's time."""
    if not test.get("submitted_at"):
        return []
    received = from_iso(test["submitted_at"])
    kind = test.get("kind") or ""
    types = {mid: (m.get("message_type") or "") for mid, m in messages.items()}
    answers = observations(events, types, auto_ack_counts=auto_ack_counts)
    replies = [a for a in answers if a.kind == "replied" and a.message_type not in ACK_TYPES]
    out: list[Finding] = []

    if "complaint.ack_24h" in rules:
        d = deadlines.ack_24h(received, cal).at
        f = _timing_finding("complaint.ack_24h", "受理告知", d, "24小时告知", answers, now, received, cal)
        if f:
            out.append(f)
    if "complaint.important_same_day" in rules and test.get("important"):
        d = deadlines.same_day(received, cal).at
        f = _timing_finding("complaint.important_same_day", "响应", d, "当日下班前响应", answers, now, received, cal)
        if f:
            out.append(f)
    for rule_id in ("complaint.reply_by_deadline", "consult.reply_in_time"):
        if rule_id not in rules:
            continue
        # A complaint is held to the limit it was told, else the published one (附件四(三)(五)); a
        # consultation to the published response limit (附件三(三)).
        stated = rule_id == "complaint.reply_by_deadline"
        d, basis, quote = reply_deadline(received, answers if stated else [], messages, site, kind, cal)
        if d is None:
            continue
        f = _timing_finding(rule_id, "答复", d, basis, replies, now, received, cal)
        if f:
            f.quote = quote
            out.append(f)
    return out
