"""Which test a message answers.

In order of certainty: the per-test reply address (t-<hex>@reply_domain) among the recipients;
the test's reference number (受理编号) in the subject or body; In-Reply-To/References pointing at
a message already tied to a test; the agency's mail domain together with the persona's name in
the text. A method that finds more than one test gives no answer (the next method is tried): a
message is never attached to two tests. What matches nothing stays with test_id NULL — the
unmatched queue a supervisor works through with `shopper assign`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from shopper.decoding import Decoded

METHODS = ("reply_address", "reference", "in_reply_to", "domain_persona")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-_/.]{2,40}[A-Za-z0-9]")
_SCAN_CHARS = 20000  # references sit near the top; a 2 MB body is not searched to the end


@dataclass(frozen=True)
class Match:
    test_id: str | None
    method: str | None
    candidates: tuple[str, ...] = ()  # when ambiguous: the tests it could be

    def __bool__(self) -> bool:
        return self.test_id is not None


def _one(rows) -> str | None:
    ids = sorted({r[0] for r in rows})
    return ids[0] if len(ids) == 1 else None


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower().strip(">. ")


def _agencies_for_domain(db, domain: str) -> list[str]:
    if not domain:
        return []
    found = []
    for agency_id, domains_json in db.execute("SELECT id, email_domains_json FROM agencies").fetchall():
        try:
            domains = json.loads(domains_json or "[]")
        except ValueError:
            continue
        for d in domains:
            d = str(d).lower().lstrip("@.")
            if d and (domain == d or domain.endswith("." + d)):
                found.append(agency_id)
                break
    return found


def by_reply_address(db, msg: Decoded) -> list[str]:
    if not msg.to_addrs:
        return []
    marks = ", ".join("?" for _ in msg.to_addrs)
    rows = db.execute(f"SELECT id FROM tests WHERE lower(reply_address) IN ({marks})", msg.to_addrs).fetchall()
    return sorted({r[0] for r in rows})


def by_reference(db, msg: Decoded) -> list[str]:
    haystack = f"{msg.subject}\n{msg.text[:_SCAN_CHARS]}"
    tokens = set(_TOKEN.findall(haystack))
    # A reference like "XF-2026-0001" is also found inside "XF-2026-0001." or "编号XF-2026-0001".
    tokens |= {t.strip(".-/_") for t in tokens}
    tokens = [t for t in tokens if len(t) >= 4]
    if not tokens:
        return []
    found: set[str] = set()
    for i in range(0, len(tokens), 500):
        chunk = tokens[i:i + 500]
        marks = ", ".join("?" for _ in chunk)
        rows = db.execute(f"SELECT id, agency_id FROM tests WHERE reference_number IN ({marks})", chunk).fetchall()
        found |= {(r[0], r[1]) for r in rows}
    if len(found) > 1:  # the same number at two agencies: the sender's domain decides
        agencies = set(_agencies_for_domain(db, _domain_of(msg.from_addr)))
        narrowed = {f for f in found if f[1] in agencies}
        found = narrowed or found
    return sorted({f[0] for f in found})


def by_thread(db, msg: Decoded) -> list[str]:
    ids = [i for i in ([msg.in_reply_to] if msg.in_reply_to else []) + list(msg.references) if i]
    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    rows = db.execute(
        f"SELECT DISTINCT test_id FROM messages WHERE message_id_header IN ({marks}) AND test_id IS NOT NULL", ids
    ).fetchall()
    return sorted({r[0] for r in rows})


def by_domain_persona(db, msg: Decoded) -> list[str]:
    agencies = _agencies_for_domain(db, _domain_of(msg.from_addr))
    if not agencies:
        return []
    marks = ", ".join("?" for _ in agencies)
    rows = db.execute(
        "SELECT t.id, p.name, t.state FROM tests t JOIN personas p ON p.id = t.persona_id"
        f" WHERE t.agency_id IN ({marks}) AND t.submitted_at IS NOT NULL",
        agencies,
    ).fetchall()
    text = f"{msg.subject}\n{msg.text[:_SCAN_CHARS]}"
    hits = [(test_id, state) for test_id, name, state in rows if name and len(name) >= 2 and name in text]
    open_hits = [t for t, state in hits if state not in ("closed", "replied")]
    return sorted(set(open_hits or [t for t, _ in hits]))


_FINDERS = {
    "reply_address": by_reply_address,
    "reference": by_reference,
    "in_reply_to": by_thread,
    "domain_persona": by_domain_persona,
}


def match_message(db, msg: Decoded) -> Match:
    """The one test this message answers, and how we know; Match(None, None) when none or
    ambiguous at every level."""
    ambiguous: tuple[str, ...] = ()
    for method in METHODS:
        found = _FINDERS[method](db, msg)
        if len(found) == 1:
            return Match(found[0], method)
        if len(found) > 1 and not ambiguous:
            ambiguous = tuple(found)
    return Match(None, None, ambiguous)


def unmatched(db, limit: int = 100) -> list[dict]:
    """The unmatched queue: messages tied to no test, oldest first."""
    return list(db["messages"].rows_where(
        "test_id IS NULL", order_by="received_at, id", limit=limit,
        select="id, received_at, from_addr, subject, source, decode_error",
    ))
