"""Reading the time limit an agency promises in a reply.

`find_promise(text, reference)` returns what `shopper grade` reports as `promised`:
`{"n": 15, "unit": "workday"|"day"|"hour"}` for a limit counted from the reply, or
`{"date": "YYYY-MM-DD"}` for a day, or None when the reply promises no limit.

The forms it reads (the patterns live in `shopper/data/grading/<lang>.toml`, `[promises]`):

- 15个工作日内, 十五个工作日 (after 时限为/在/于...), 3日内, 五天内, 48小时内, 两周内 (14 days),
  一个月内 (30 days), 半个月内 (15 days); "within 10 working days", "within 48 hours".
- 12月20日前 (the year of the reply; a month-day already past at the reply is next year's: 1月5日前
  written on 28 December is 5 January of the next year), 2026年12月20日前, "by 20 December".
- 次日下班前 / 明天下班前: close of business of the next working day on the agency's calendar,
  returned as that day's {"date"}; `read_promise` also says `by_close=True` so a timing verdict
  can hold the agency to the close of business rather than the end of the day.
- 当日下班前: close of business today (or the next working day after hours).
- 月底前 / "by the end of the month": the last day of the reply's month.

What is not a promise: a denial (暂无法确定办理时限, "cannot give a timeframe"), vague words
(尽快, as soon as possible, in due course: no pattern reads them), and limits that describe
something else in the same clause: the citizen's own appeal window (可在六十日内申请行政复议),
office hours, an order to a third party (责令...15日内整改), or a past event (已于3日内完成).

Chinese dates are parsed here, not by dateparser: it reads 12月20日前 as a date in the past and
returns nothing for most Chinese limits. English absolute dates ("by 20 December") go through
dateparser, which is right for them.
"""

from __future__ import annotations

import calendar as _calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

MAX_DAYS = 366  # a longer "limit" is no promise of an answer (a permit's validity, a year plan)

CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def chinese_number(text: str) -> int | None:
    """15, "15", "十五", "二十", "两", "一百二十" → int; None when it is not a number."""
    text = text.strip().translate(FULLWIDTH)
    if not text:
        return None
    if text.isdigit():
        return int(text)
    total, current = 0, 0
    for ch in text:
        if ch in CN_DIGITS:
            current = CN_DIGITS[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
        elif ch == "千":
            total += (current or 1) * 1000
            current = 0
        else:
            return None
    return total + current


@dataclass(frozen=True)
class Promise:
    value: dict  # {"n", "unit"} or {"date"}
    quote: str  # the sentence that states it
    note: str = ""  # how a form was read, when it is not literal
    by_close: bool = False  # the limit is the close of business of `date`, not its end

    def as_dict(self) -> dict:
        return dict(self.value)


@dataclass
class _Patterns:
    relative: list[re.Pattern]
    absolute: list[re.Pattern]
    absolute_dateparser: list[re.Pattern]
    next_working_day: re.Pattern | None
    same_day: re.Pattern | None
    month_end: re.Pattern | None
    weekday: re.Pattern | None
    weekdays: dict[str, int]
    next_week_words: str
    half: re.Pattern | None
    not_a_promise: re.Pattern
    prefilter: re.Pattern | None
    denial: re.Pattern | None
    past: re.Pattern | None
    units: dict[str, str]
    unit_days: dict[str, int]
    words: dict[str, int]


@lru_cache(maxsize=16)
def _patterns(code: str) -> _Patterns:
    from shopper.grading import language

    raw = language(code).promises
    flags = re.IGNORECASE
    numeral = raw.get("numeral", r"\d+")

    def one(key):
        return re.compile(raw[key], flags) if raw.get(key) else None

    return _Patterns(
        relative=[re.compile(p.replace("{n}", numeral), flags) for p in raw.get("relative", [])],
        absolute=[re.compile(p, flags) for p in raw.get("absolute", [])],
        absolute_dateparser=[re.compile(p, flags) for p in raw.get("absolute_dateparser", [])],
        next_working_day=one("next_working_day"),
        same_day=one("same_day"),
        month_end=one("month_end"),
        weekday=one("weekday"),
        weekdays={k.lower(): v for k, v in raw.get("weekdays", {}).items()},
        next_week_words=raw.get("next_week_words", ""),
        half=one("half"),
        prefilter=one("prefilter"),
        not_a_promise=re.compile("|".join(f"(?:{p})" for p in raw.get("not_a_promise", [])) or r"(?!x)x", flags),
        denial=one("denial"),
        past=one("past"),
        units={k.lower(): v for k, v in raw.get("units", {}).items()},
        unit_days=dict(raw.get("unit_days", {})),
        words={k.lower(): v for k, v in raw.get("words", {}).items()},
    )


@lru_cache(maxsize=4)
def _default_calendar():
    from shopper.calendar import BusinessCalendar

    return BusinessCalendar()


def _reference_date(reference, cal) -> tuple[date, datetime | None]:
    if reference is None:
        from shopper.clock import now

        reference = now()
    if isinstance(reference, datetime):
        if reference.tzinfo is None:
            return reference.date(), None
        local = cal.local(reference)
        return local.date(), local
    return reference, None


def _number(text: str, pats: _Patterns) -> int | None:
    text = text.strip().lower()
    if text in pats.words:
        return pats.words[text]
    return chinese_number(text)


def _clause(sentence: str, start: int, end: int, splitter: re.Pattern) -> str:
    lo, hi = 0, len(sentence)
    for m in splitter.finditer(sentence):
        if m.end() <= start:
            lo = m.end()
        elif m.start() >= end:
            hi = m.start()
            break
    return sentence[lo:hi]


def _next_year_if_past(day: date, ref: date) -> date:
    if day < ref:
        try:
            return day.replace(year=day.year + 1)
        except ValueError:  # 29 February
            return day + timedelta(days=365)
    return day


@lru_cache(maxsize=4096)
def _parse_english_date(text: str, ref: date) -> date | None:
    import dateparser

    parsed = dateparser.parse(
        text,
        languages=["en"],
        settings={
            "RELATIVE_BASE": datetime(ref.year, ref.month, ref.day, 12, 0),
            "PREFER_DATES_FROM": "future",
            "DATE_ORDER": "DMY",
            "REQUIRE_PARTS": ["day", "month"],
        },
    )
    if parsed is None:
        return None
    day = parsed.date()
    if not re.search(r"\d{4}", text):
        day = _next_year_if_past(day, ref)
    return day


def _candidates(sentence: str, pats: _Patterns, ref: date, ref_local: datetime | None, cal):
    """(start, end, value, note, by_close) for every promise form in one sentence."""
    found = []
    if pats.next_working_day is not None:
        for m in pats.next_working_day.finditer(sentence):
            day = cal.next_working_day(ref)
            found.append((m.start(), m.end(), {"date": day.isoformat()},
                          "close of business of the next working day", True))
    if pats.same_day is not None:
        for m in pats.same_day.finditer(sentence):
            day = ref
            if not cal.is_working_day(day) or (ref_local is not None and ref_local.time() >= cal.hours.close):
                day = cal.next_working_day(day)
            found.append((m.start(), m.end(), {"date": day.isoformat()}, "close of business of the day of the reply", True))
    if pats.month_end is not None:
        for m in pats.month_end.finditer(sentence):
            last = _calendar.monthrange(ref.year, ref.month)[1]
            found.append((m.start(), m.end(), {"date": ref.replace(day=last).isoformat()}, "the end of the month of the reply", False))
    if pats.weekday is not None:
        for m in pats.weekday.finditer(sentence):
            target = pats.weekdays.get(m.group("day").lower())
            if target is None:
                continue
            ahead = (target - ref.weekday()) % 7
            if m.group("week") and m.group("week").lower() in pats.next_week_words:
                # next week's day: the day of the week after this one (Monday-based weeks)
                ahead = 7 - ref.weekday() + target
            found.append((m.start(), m.end(), {"date": (ref + timedelta(days=ahead)).isoformat()}, "a weekday read as a date", False))
    for pattern in pats.absolute:
        for m in pattern.finditer(sentence):
            groups = m.groupdict()
            month, day_n = _number(groups["m"], pats), _number(groups["d"], pats)
            year = int(groups["y"]) if groups.get("y") else ref.year
            try:
                day = date(year, month, day_n)
            except (TypeError, ValueError):
                continue
            if not groups.get("y"):
                day = _next_year_if_past(day, ref)
            found.append((m.start(), m.end(), {"date": day.isoformat()}, "", False))
    for pattern in pats.absolute_dateparser:
        for m in pattern.finditer(sentence):
            day = _parse_english_date(m.group("date"), ref)
            if day is not None:
                found.append((m.start(), m.end(), {"date": day.isoformat()}, "", False))
    for pattern in pats.relative:
        for m in pattern.finditer(sentence):
            groups = m.groupdict()
            if "pre" in groups and not groups.get("pre") and not groups.get("post"):
                continue
            n = _number(groups["n"], pats)
            unit = pats.units.get(re.sub(r"\s+", " ", groups["unit"].lower()))
            if not n or unit is None:
                continue
            note = ""
            if unit in pats.unit_days:
                n, note = n * pats.unit_days[unit], f"{groups['unit']} read as {pats.unit_days[unit]} days each"
                unit = "day"
            found.append((m.start(), m.end(), {"n": n, "unit": unit}, note, False))
    if pats.half is not None:
        for m in pats.half.finditer(sentence):
            if "月" in m.group(0) or "month" in m.group(0).lower():
                found.append((m.start(), m.end(), {"n": 15, "unit": "day"}, "half a month read as 15 days", False))
    found.sort(key=lambda c: (c[0], -c[1]))
    return found


def _too_long(value: dict) -> bool:
    n, unit = value.get("n"), value.get("unit")
    if n is None:
        return False
    return (unit == "hour" and n > MAX_DAYS * 24) or (unit in ("day", "workday") and n > MAX_DAYS)


def read_promise(reading, reference=None, *, calendar=None) -> Promise | None:
    """The first limit the reply promises. `reading` is a `shopper.grading.Reading` (the agency's
    own words, in sentences) or plain text (then the quoted original is cut off first)."""
    from shopper.grading import Reading, detect_language, language, split_quoted

    if isinstance(reading, str):
        from shopper.grading import MAX_CHARS

        reading = reading[:MAX_CHARS]
        lang = language(detect_language(reading))
        own, _ = split_quoted(reading, lang)
        reading = Reading.of(own, lang)
    lang = reading.lang
    pats = _patterns(lang.code)
    cal = calendar or _default_calendar()
    ref, ref_local = _reference_date(reference, cal)
    for i in range(len(reading.starts)):
        sentence = reading.sentence(i)
        if pats.prefilter is not None and not pats.prefilter.search(sentence):
            continue
        for start, end, value, note, by_close in _candidates(sentence, pats, ref, ref_local, cal):
            clause = _clause(sentence, start, end, lang.clause_split)
            if pats.not_a_promise.search(clause):
                continue
            if pats.denial is not None and pats.denial.search(clause):
                continue
            if pats.past is not None and pats.past.search(sentence[max(0, start - 12) : start + 2]):
                continue
            if _too_long(value):
                continue
            return Promise(value, sentence, note, by_close)
    return None


def find_promise(text: str, reference=None, *, calendar=None) -> dict | None:
    """The promised limit in a reply as `shopper grade` reports it, or None.

    `reference` is when the reply was written (an aware datetime, or a date): it gives the year
    of 12月20日前 and the day of 次日下班前. `calendar` is the agency's business calendar (default:
    mainland China, Asia/Shanghai, 09:00-17:00)."""
    if not text:
        return None
    promise = read_promise(text, reference, calendar=calendar)
    return promise.as_dict() if promise is not None else None
