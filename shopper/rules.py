"""The rules of DESIGN.md as data (`shopper/data/rules.toml`).

Adding a rule means adding a table to that file; no code branches on a rule id except the grader
that decides it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from shopper.errors import ShopperError

DEADLINE_KINDS = {"", "ack_24h", "same_day", "promised", "published"}


@dataclass(frozen=True)
class Part:
    id: str
    zh: str
    en: str


@dataclass(frozen=True)
class Rule:
    id: str
    clause: str
    part: str
    deadline: str
    kinds: tuple[str, ...]
    text: str  # the clause, quoted from the measure
    gloss: str  # English gloss
    rectify: str  # what a letter asks to put right

    def quote(self) -> str:
        """How a letter cites the rule: clause and text."""
        return f"《{MEASURE_TITLE}》{self.clause}：“{self.text}”"


MEASURE_TITLE = "上海市政府部门网站评议考核试行办法"


@lru_cache(maxsize=1)
def _load() -> tuple[dict[str, Rule], dict[str, Part], dict]:
    data = tomllib.loads(resources.files("shopper.data").joinpath("rules.toml").read_text("utf-8"))
    parts = {pid: Part(pid, p["zh"], p["en"]) for pid, p in data["parts"].items()}
    rules = {}
    for rid, r in data["rules"].items():
        rule = Rule(rid, r["clause"], r["part"], r["deadline"], tuple(r["kinds"]), r["text"], r["gloss"], r["rectify"])
        assert rule.part in parts, f"rule {rid}: unknown part {rule.part}"
        assert rule.deadline in DEADLINE_KINDS, f"rule {rid}: unknown deadline kind {rule.deadline}"
        rules[rid] = rule
    return rules, parts, data["measure"]


def all_rules() -> dict[str, Rule]:
    return dict(_load()[0])


def parts() -> dict[str, Part]:
    return dict(_load()[1])


def measure() -> dict:
    return dict(_load()[2])


def get_rule(rule_id: str) -> Rule:
    rules = _load()[0]
    if rule_id in rules:
        return rules[rule_id]
    # Accept the short form people type: "ack_24h" for "complaint.ack_24h".
    matches = [r for rid, r in rules.items() if rid.split(".", 1)[1] == rule_id]
    if len(matches) == 1:
        return matches[0]
    raise ShopperError(f"unknown rule {rule_id!r}; `shopper rules` lists them")
