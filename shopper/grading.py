"""Grading what a reply says: the properties of DESIGN.md ("Contracts"), with evidence.

`grade_text(text)` reads one reply and returns exactly the JSON that `shopper grade` prints:
acknowledges, states_deadline, promised, gives_reasons, cites_legal_basis, redirects,
redirect_target, redirect_contact, thanks, tone, message_type, evidence.

How it reads: the citizen's quoted original is cut off first (thanks or a deadline in the
citizen's own words are not the agency's); the rest is split into sentences; each property is a
set of cue patterns from the language's data file (`shopper/data/grading/<lang>.toml`). A cue
does not count when a negation stands just before it in the same clause ("不予受理", "we will not
thank") or when a negated form overlaps it. The sentence holding the first counted cue is the
evidence. Adding a language is adding a data file; nothing here names a word of any language.

The grader is rule-based on purpose: it is fast (thousands of replies a second on one core), it
explains itself by quoting, and a supervisor can read and change its vocabulary.
"""

from __future__ import annotations

import bisect
import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from shopper.errors import ShopperError

# The version of the grader: findings record it; change it whenever a rule or vocabulary changes
# what a reply is graded as, so `grade --all` re-decides the findings.
GRADER_VERSION = "grade-2026.12.3"

DATA_DIR = Path(__file__).parent / "data" / "grading"
KEYS = (
    "acknowledges",
    "states_deadline",
    "promised",
    "gives_reasons",
    "cites_legal_basis",
    "redirects",
    "redirect_target",
    "redirect_contact",
    "thanks",
    "tone",
    "message_type",
    "evidence",
)
BOOLEANS = (
    "acknowledges",
    "states_deadline",
    "gives_reasons",
    "cites_legal_basis",
    "redirects",
    "redirect_target",
    "redirect_contact",
    "thanks",
)
TONES = ("friendly", "neutral", "hostile")
MESSAGE_TYPES = ("acknowledgement", "substantive", "redirect", "rejection", "auto")
# Longer texts are graded on their first part: a reply that matters says so early, and a
# megabyte of pasted text must not stall the watcher.
MAX_CHARS = 20_000
QUOTE_LIMIT = 200

# Properties whose cues are lists of patterns in the data file.
CUE_LISTS = (
    "acknowledges", "thanks", "redirects", "contact", "gives_reasons", "cites_legal_basis",
    "refusal", "hostile", "greeting", "courtesy", "auto", "substantive", "pending", "out_of_scope",
    "redirects_weak", "delay",
)
# Only these can be negated: "不予受理" is no receipt, "we will not thank" no thanks. A reason or
# a refusal stays one whatever stands before it ("not approved because ...").
NEGATABLE = frozenset({"acknowledges", "thanks", "redirects", "redirects_weak", "courtesy", "substantive"})
# The closing block of a letter: a few short lines after a blank line, none ending a sentence.
BLANK_LINE = re.compile(r"\n[ \t\u3000]*\n")
LEADING_THE = re.compile(r"^(the|The)\s+")
CLAUSE_BREAK = re.compile(r"[，。；！？,.;!?\n]")
SENTENCE_END = re.compile(r"[。！？.!?]\s*$")


def _compile(pattern: str | list[str], flags: int, where: str) -> re.Pattern:
    if isinstance(pattern, list):
        pattern = "|".join(f"(?:{p})" for p in pattern) if pattern else r"(?!x)x"
    try:
        return re.compile(pattern, flags)
    except re.error as err:
        raise ShopperError(f"{where}: bad pattern {pattern[:60]!r}: {err}; fix the grading data file") from err


@dataclass
class Language:
    """One language's compiled vocabulary."""

    code: str
    name: str
    detect: re.Pattern
    quote_markers: list[re.Pattern]
    quote_lines: re.Pattern
    signoff: re.Pattern | None
    sentence_split: re.Pattern
    clause_split: re.Pattern
    negation: re.Pattern
    negated_forms: re.Pattern
    cues: dict[str, re.Pattern]
    body: re.Pattern
    body_lead: re.Pattern | None
    generic_body: re.Pattern
    own_contact: re.Pattern
    not_basis: re.Pattern | None
    formal_refusal: re.Pattern
    suggestion_word: re.Pattern
    promises: dict = field(default_factory=dict)  # raw [promises] table; shopper.promises compiles it
    window: int = 8  # characters before a cue searched for a negation

    @classmethod
    def from_file(cls, path: Path) -> "Language":
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            raise ShopperError(f"{path}: cannot read grading vocabulary ({err})") from err
        code = data.get("lang") or path.stem
        # English words come in any case; Chinese has none, so IGNORECASE costs nothing there.
        flags = re.MULTILINE | (re.IGNORECASE if data.get("ignore_case", True) else 0)
        cues = data.get("cues", {})
        where = str(path)

        def c(value, default=r"(?!x)x", fl=flags):
            return _compile(value if value not in (None, "") else default, fl, where)

        return cls(
            code=code,
            name=data.get("name", code),
            detect=c(data["detect"]),
            quote_markers=[c(p) for p in data.get("quote_markers", [])],
            quote_lines=c(data.get("quote_lines")),
            signoff=c(data["signoff"]) if data.get("signoff") else None,
            sentence_split=c(data.get("sentence_split", r"\n+")),
            clause_split=c(data.get("clause_split", ",")),
            negation=c(data.get("negation")),
            negated_forms=c(cues.get("negated_forms", [])),
            cues={name: c(cues.get(name, [])) for name in CUE_LISTS},
            body=_compile(cues["body"], 0, where),  # case matters: English names are capitalised
            body_lead=c(cues["body_lead"]) if cues.get("body_lead") else None,
            generic_body=c(cues.get("generic_body")),
            own_contact=c(cues.get("own_contact")),
            not_basis=_compile(cues["not_basis"], 0, where) if cues.get("not_basis") else None,
            formal_refusal=c(cues.get("formal_refusal")),
            suggestion_word=c(cues.get("suggestion_word")),
            promises=data.get("promises", {}),
            window=int(data.get("negation_window", 24 if code == "en" else 8)),
        )


@lru_cache(maxsize=1)
def languages() -> dict[str, Language]:
    """Every language with a data file, by code."""
    found = {}
    for path in sorted(DATA_DIR.glob("*.toml")):
        lang = Language.from_file(path)
        found[lang.code] = lang
    if not found:
        raise ShopperError(f"no grading vocabularies in {DATA_DIR}; reinstall shopper")
    return found


def language(code: str) -> Language:
    langs = languages()
    if code not in langs:
        raise ShopperError(f"no grading vocabulary for language {code!r}; known: {', '.join(sorted(langs))}")
    return langs[code]


def detect_language(text: str) -> str:
    """The language whose script or words dominate the text (Chinese counts characters)."""
    best, best_count = "zh", 0
    sample = text[:4000]
    for code, lang in languages().items():
        count = len(lang.detect.findall(sample))
        if count > best_count:
            best, best_count = code, count
    return best


def split_quoted(text: str, lang: Language) -> tuple[str, str]:
    """(the agency's own words, the quoted original). The original starts at the first quote
    marker; single quoted lines ("> ...") anywhere are dropped from the own words."""
    cut = len(text)
    for marker in lang.quote_markers:
        m = marker.search(text)
        if m and m.start() < cut:
            cut = m.start()
    own, quoted = text[:cut], text[cut:]
    lines = lang.quote_lines.findall(own)
    if lines:
        own = lang.quote_lines.sub("", own)
        quoted = "\n".join(lines) + ("\n" + quoted if quoted else "")
    return own.strip(), quoted.strip()


@dataclass
class Reading:
    """A reply cut into sentences, with the offsets to find a match's sentence."""

    text: str
    lang: Language
    starts: list[int]
    ends: list[int]
    body_end: int  # where the signature starts

    @classmethod
    def of(cls, text: str, lang: Language) -> "Reading":
        starts, ends = [], []
        pos = 0
        for m in lang.sentence_split.finditer(text):
            if m.start() > pos or m.end() > pos:
                if text[pos : m.start()].strip():
                    starts.append(pos)
                    ends.append(m.start())
                pos = m.end()
        if text[pos:].strip():
            starts.append(pos)
            ends.append(len(text))
        body_end = len(text)
        if lang.signoff is not None:
            m = lang.signoff.search(text)
            if m:
                body_end = m.start()
        blanks = [m for m in BLANK_LINE.finditer(text)]
        if blanks and blanks[-1].start() < body_end:
            lines = [line for line in text[blanks[-1].end() :].splitlines() if line.strip()]
            if 0 < len(lines) <= 5 and all(len(line) <= 40 and not SENTENCE_END.search(line) for line in lines):
                body_end = blanks[-1].start()
        return cls(text, lang, starts, ends, body_end)

    def sentence_index(self, pos: int) -> int:
        return max(0, bisect.bisect_right(self.starts, pos) - 1)

    def sentence(self, i: int) -> str:
        if not self.starts:
            return ""
        return self.text[self.starts[i] : self.ends[i]].strip()

    def negated(self, m: re.Match) -> bool:
        before = self.text[max(0, m.start() - self.lang.window) : m.start()]
        if self.lang.negation.search(before):
            return True
        for neg in self.lang.negated_forms.finditer(self.text, max(0, m.start() - 16), m.end() + 4):
            if neg.start() < m.end() and neg.end() > m.start():
                return True
        return False

    def matches(self, name: str, *, negatable: bool | None = None):
        """The cue matches of one property that count."""
        if negatable is None:
            negatable = name in NEGATABLE
        for m in self.lang.cues[name].finditer(self.text):
            if negatable and self.negated(m):
                continue
            yield m

    def first(self, name: str, *, negatable: bool | None = None) -> re.Match | None:
        return next(self.matches(name, negatable=negatable), None)

    def quote(self, m: re.Match | None) -> str:
        if m is None:
            return ""
        return _clip(self.sentence(self.sentence_index(m.start())))


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_LIMIT else text[: QUOTE_LIMIT - 1] + "…"


def _named_bodies(reading: Reading, sentence_ids: set[int]) -> list[str]:
    """Bodies named specifically in the given sentences ("有关部门", "我局" name none)."""
    lang = reading.lang
    names = []
    for i in sorted(sentence_ids):
        sentence = reading.sentence(i)
        for m in lang.body.finditer(sentence):
            name = m.group(0).strip()
            if lang.body_lead is not None:
                name = lang.body_lead.sub("", name).strip()
            name = LEADING_THE.sub("", name)
            if len(name) < 2 or lang.generic_body.search(name):
                continue
            if len(name.split()) == 1 and name[:1].isascii() and len(name) < 4:
                continue
            names.append(name)
    return names


def _redirect_contact(reading: Reading, first_redirect: int) -> re.Match | None:
    """A contact of the body the matter went to: in or after the redirect sentence, before the
    signature, and not introduced as the replying agency's own line."""
    lang = reading.lang
    for m in reading.matches("contact", negatable=False):
        if m.start() >= reading.body_end:
            break
        if reading.sentence_index(m.start()) < first_redirect:
            continue
        window = reading.text[max(0, m.start() - (40 if lang.code == "en" else 12)) : m.start()]
        window = CLAUSE_BREAK.split(window)[-1]
        if lang.own_contact.search(window):
            continue
        # A bare number on its own line at the end is the letter's footer, not the body's line.
        return m
    return None


def _legal_basis(reading: Reading) -> re.Match | None:
    lang = reading.lang
    for m in reading.matches("cites_legal_basis", negatable=False):
        if lang.not_basis is not None and lang.not_basis.search(m.group(0).strip()):
            continue
        return m
    return None


def empty_grade() -> dict:
    return {
        "acknowledges": False,
        "states_deadline": False,
        "promised": None,
        "gives_reasons": False,
        "cites_legal_basis": False,
        "redirects": False,
        "redirect_target": False,
        "redirect_contact": False,
        "thanks": False,
        "tone": "neutral",
        "message_type": "auto",
        "evidence": {},
    }


def grade_text(text: str, *, kind: str | None = None, lang: str | None = None,
               reference: datetime | None = None, calendar=None) -> dict:
    """Grade one reply. `kind` is the test's kind (consultation, complaint, suggestion,
    application-status) when known; `lang` is zh or en (detected when None); `reference` is when
    the reply was sent, for dates without a year (default: now by the program's clock);
    `calendar` the agency's BusinessCalendar (for 次日下班前)."""
    return grade_with_signals(text, kind=kind, lang=lang, reference=reference, calendar=calendar)[0]


def grade_with_signals(text: str, *, kind: str | None = None, lang: str | None = None,
                       reference: datetime | None = None, calendar=None) -> tuple[dict, dict]:
    """`grade_text`, plus what the findings need beyond the contract: {"lang", "out_of_scope"
    (the reply says the matter is outside the body's remit), "out_of_scope_quote", "delay" (it
    says the matter cannot be answered yet)}."""
    from shopper.promises import read_promise

    if text is None:
        text = ""
    if not isinstance(text, str):
        raise ShopperError("grade_text needs text (str); decode the message first")
    text = text[:MAX_CHARS].replace("\r\n", "\n").replace("\x00", "")
    lang_obj = language(lang) if lang else language(detect_language(text))
    own, _quoted = split_quoted(text, lang_obj)
    result = empty_grade()
    signals = {"lang": lang_obj.code, "out_of_scope": False, "out_of_scope_quote": "", "delay": False}
    if not own.strip():
        return result, signals
    reading = Reading.of(own, lang_obj)
    evidence: dict[str, str] = {}

    ack = reading.first("acknowledges")
    thanks = reading.first("thanks")
    reasons = reading.first("gives_reasons")
    basis = _legal_basis(reading)
    refusal = reading.first("refusal")
    hostile = reading.first("hostile")
    auto = reading.first("auto", negatable=False)
    substantive = reading.first("substantive")
    pending = reading.first("pending", negatable=False)
    out_of_scope = reading.first("out_of_scope")

    redirect_matches = list(reading.matches("redirects"))
    if substantive is None:
        redirect_matches += list(reading.matches("redirects_weak"))
        redirect_matches.sort(key=lambda m: m.start())
    redirects = bool(redirect_matches)
    target = contact = None
    if redirects:
        ids = {reading.sentence_index(m.start()) for m in redirect_matches}
        names = _named_bodies(reading, ids)
        target = names[0] if names else None
        contact = _redirect_contact(reading, min(ids))
        evidence["redirects"] = reading.quote(redirect_matches[0])
        if target:
            evidence["redirect_target"] = _clip(target)
        if contact:
            evidence["redirect_contact"] = reading.quote(contact)

    promise = read_promise(reading, reference, calendar=calendar)

    for name, m in (("acknowledges", ack), ("thanks", thanks), ("gives_reasons", reasons),
                    ("cites_legal_basis", basis)):
        if m is not None:
            evidence[name] = reading.quote(m)
    if promise is not None:
        evidence["states_deadline"] = _clip(promise.quote)

    # Tone: hostile words, or a bare refusal that invokes nothing, outweigh any courtesy formula.
    greeting = reading.first("greeting", negatable=False)
    courtesy = reading.first("courtesy")
    bare_refusal = (refusal is not None and reasons is None and not redirects
                    and not lang_obj.formal_refusal.search(own))
    if hostile is not None or bare_refusal:
        tone = "hostile"
        evidence["tone"] = reading.quote(hostile or refusal)
    elif auto is not None and not (substantive or redirects or reasons):
        tone = "neutral"
    elif greeting is not None or courtesy is not None:
        tone = "friendly"
        evidence["tone"] = reading.quote(greeting or courtesy)
    else:
        tone = "neutral"

    is_suggestion = kind == "suggestion" or (kind is None and lang_obj.suggestion_word.search(own))
    if auto is not None and not (substantive or redirects or reasons or refusal):
        message_type = "auto"
    elif refusal is not None:
        message_type = "rejection"
    elif tone == "hostile" and not redirects:
        # A rude acknowledgement that still promises a limit is an acknowledgement; a rude brush-off
        # that only says it was received is a refusal in substance.
        message_type = "acknowledgement" if (promise is not None or pending is not None) and substantive is None else "rejection"
    elif redirects:
        # A suggestion thanked and passed on for study is answered; a complaint sent elsewhere is
        # a redirect.
        message_type = "substantive" if is_suggestion and thanks is not None else "redirect"
    elif out_of_scope is not None:
        message_type = "rejection"
    elif substantive is not None:
        message_type = "substantive"
    elif ack is not None or promise is not None or pending is not None or thanks is not None:
        message_type = "acknowledgement"
    else:
        message_type = "substantive"

    result.update(
        acknowledges=ack is not None,
        states_deadline=promise is not None,
        promised=promise.value if promise is not None else None,
        gives_reasons=reasons is not None,
        cites_legal_basis=basis is not None,
        redirects=redirects,
        redirect_target=target is not None,
        redirect_contact=contact is not None,
        thanks=thanks is not None,
        tone=tone,
        message_type=message_type,
        evidence=evidence,
    )
    signals["out_of_scope"] = out_of_scope is not None
    signals["delay"] = reading.first("delay") is not None
    signals["out_of_scope_quote"] = reading.quote(out_of_scope)
    return result, signals
