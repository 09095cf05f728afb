"""Scenario files (`scenarios/*.toml`): what a test says.

    id = "complaint-noise"
    title = "夜间施工噪声投诉"
    kind = "complaint"              # consultation | complaint | suggestion | application-status
    important = false               # the same-day rule applies
    keywords = []                   # words every rendering must keep (agencies read them)
    avoid = ["紧急"]                 # words no rendering may contain (they would change the kind)
    expects = ["complaint.ack_24h", "complaint.reply_by_deadline", "tone.plain_friendly"]

    [[phrasings]]
    subject = "{{ persona.district }}{{ place }}夜间施工噪声扰民"
    body = '''{{ greeting }}我住在{{ place }}附近……{{ closing }}'''

Subject and body are Jinja2 templates over `persona`, `agency` (the site) and a few helpers that
make each rendering differ: `greeting`/`closing` in the persona's style, `place` (somewhere in
the persona's district), `days`, `pick(a, b, ...)`. A seeded RNG chooses the phrasing and the
helpers, so a campaign is reproducible and yet no two agencies read the same words.

The text is fitted to the site's `fields` (title_min, title_max, body_min, body_max, required)
before anything is submitted; a scenario that cannot fit is refused with the reason.
"""

from __future__ import annotations

import random
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from shopper.errors import ShopperError
from shopper.personas import STYLES, Persona
from shopper.rules import all_rules
from shopper.sites import KINDS

_jinja = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)

# What a site may list under fields.required, and where the value comes from.
PROVIDED_FIELDS = {"name", "phone", "email", "district", "address", "subject", "body"}
# Where an over-long subject may be cut so that it still reads as a sentence.
_CUT_AT = "，。；：！？、,;:!? （("


@dataclass(frozen=True)
class Phrasing:
    subject: str
    body: str
    line: int


@dataclass
class Scenario:
    id: str
    kind: str
    important: bool
    expects: tuple[str, ...]
    phrasings: list[Phrasing]
    title: str = ""
    keywords: tuple[str, ...] = ()
    avoid: tuple[str, ...] = ()
    path: Path | None = None
    raw: dict = field(default_factory=dict)

    def render(self, persona: Persona, site, rng: random.Random | None = None) -> tuple[str, str]:
        """(subject, body) for this persona at this site, fitted to the site's field limits.
        Raises ShopperError when no phrasing can fit, naming the limit that is in the way."""
        rng = rng or random.Random()
        check_required(site, persona)
        order = list(range(len(self.phrasings)))
        rng.shuffle(order)
        reasons = []
        for index in order:
            subject, body = self.render_phrasing(index, persona, site, rng)
            fitted = fit(subject, body, getattr(site, "fields", {}) or {}, self.keywords)
            if isinstance(fitted, str):
                reasons.append(f"phrasing at line {self.phrasings[index].line}: {fitted}")
                continue
            return fitted
        raise ShopperError(
            f"scenario {self.id} cannot fit the form of {getattr(site, 'id', site)}: " + "; ".join(reasons)
        )

    def render_phrasing(self, index: int, persona: Persona, site, rng: random.Random) -> tuple[str, str]:
        phrasing = self.phrasings[index]
        context = template_context(persona, site, rng)
        where = f"{self.path}:{phrasing.line}"
        subject = _render(phrasing.subject, context, where, "subject")
        body = _render(phrasing.body, context, where, "body")
        return " ".join(subject.split()), _tidy(body)


def template_context(persona: Persona, site, rng: random.Random) -> dict:
    style = STYLES.get(persona.style, STYLES["plain"])
    places = persona.places

    def pick(*options):
        if len(options) == 1 and isinstance(options[0], (list, tuple)):
            options = options[0]
        return rng.choice(list(options))

    return {
        "persona": persona,
        "agency": site,
        "greeting": rng.choice(style["greeting"]),
        "closing": rng.choice(style["closing"]),
        "place": rng.choice(places),
        "days": rng.randint(2, 9),
        "pick": pick,
    }


def _render(template: str, context: dict, where: str, what: str) -> str:
    try:
        return _jinja.from_string(template).render(**context)
    except jinja2.TemplateError as err:
        raise ShopperError(f"{where}: {what} template: {err}; fix the template") from err


def _tidy(body: str) -> str:
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", body.strip())]
    return "\n\n".join(p for p in paragraphs if p)


def check_required(site, persona: Persona) -> None:
    fields = getattr(site, "fields", {}) or {}
    for name in fields.get("required", []):
        if name not in PROVIDED_FIELDS:
            raise ShopperError(
                f"{getattr(site, 'path', site)}: fields.required lists {name!r}, which a persona cannot provide "
                f"(shopper provides {', '.join(sorted(PROVIDED_FIELDS))}); such a form cannot be tested covertly"
            )
        if name in ("name", "phone", "district") and not getattr(persona, name):
            raise ShopperError(f"persona {persona.id} has no {name}, which {getattr(site, 'id', site)} requires")


def fit(subject: str, body: str, fields: dict, keywords=()) -> tuple[str, str] | str:
    """The text cut or padded to the site's limits, or the reason it cannot be (a str)."""
    title_min, title_max = int(fields.get("title_min", 0)), int(fields.get("title_max", 0))
    body_min, body_max = int(fields.get("body_min", 0)), int(fields.get("body_max", 0))
    if title_max and len(subject) > title_max:
        cut = subject[:title_max]
        # Prefer ending at a clause boundary when that keeps most of the title.
        stops = [i for i, ch in enumerate(cut) if ch in _CUT_AT and i >= title_max * 0.6]
        subject = cut[: stops[-1]] if stops else cut
        subject = subject.rstrip("".join(_CUT_AT))
    if title_min and len(subject) < title_min:
        return f"subject {subject!r} has {len(subject)} characters, the site needs at least {title_min}"
    if not subject.strip() and "subject" in fields.get("required", []):
        return "the subject is empty and the site requires one"
    if body_max and len(body) > body_max:
        paragraphs = body.split("\n\n")
        # Drop closing paragraphs that carry none of the keywords, last first.
        while len("\n\n".join(paragraphs)) > body_max and len(paragraphs) > 1:
            droppable = [i for i in range(len(paragraphs) - 1, 0, -1)
                         if not any(k in paragraphs[i] for k in keywords)]
            if not droppable:
                break
            del paragraphs[droppable[0]]
        body = "\n\n".join(paragraphs)
        if len(body) > body_max:
            return f"the body needs {len(body)} characters, the site allows {body_max}"
    if body_min and len(body) < body_min:
        return f"the body has {len(body)} characters, the site needs at least {body_min}"
    text = subject + "\n" + body
    lost = [k for k in keywords if k not in text]
    if lost:
        return f"fitting would lose the words {', '.join(lost)} the agency must read"
    return subject, body


# --- loading and validation -----------------------------------------------------------------


def _key_line(text: str, key: str, after: int = 0) -> int:
    """The line where `key = ` is first set (at or after line `after`)."""
    start = 0
    for _ in range(max(0, after - 1)):
        start = text.find("\n", start) + 1
    m = re.compile(r"^[ \t]*" + re.escape(key) + r"[ \t]*=", re.M).search(text, start)
    return text.count("\n", 0, m.start()) + 1 if m else max(after, 1)


def _phrasing_lines(text: str) -> list[int]:
    return [text.count("\n", 0, m.start()) + 1 for m in re.finditer(r"^[ \t]*\[\[\s*phrasings\s*\]\]", text, re.M)]


_SAMPLE = Persona(id="p-sample", name="王建华", phone="13812345678", district="徐汇区", style="polite",
                  email="t-00000000@reply.shopper.test")


class _SampleSite:
    id = "sample"
    name = "上海市示例局"
    name_en = "Sample Bureau"
    homepage = "http://127.0.0.1/sample/"
    fields: dict = {}
    path = Path("sample.toml")


def parse_scenario(text: str, path: Path) -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ShopperError(f"{path}: {err}; fix the TOML syntax") from err
    at = lambda key: f"{path}:{_key_line(text, key)}"  # noqa: E731
    if not isinstance(data.get("id"), str) or not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", data.get("id") or ""):
        raise ShopperError(f"{at('id')}: `id` must be a short slug like \"complaint-noise\"")
    kind = data.get("kind")
    if kind not in KINDS:
        raise ShopperError(f"{at('kind')}: kind {kind!r}; use one of {', '.join(KINDS)}")
    important = data.get("important", False)
    if not isinstance(important, bool):
        raise ShopperError(f"{at('important')}: important must be true or false")
    if important and kind != "complaint":
        raise ShopperError(f"{at('important')}: only a complaint can be important (the same-day rule)")
    rules = all_rules()
    expects = data.get("expects", [])
    if not isinstance(expects, list) or not expects:
        raise ShopperError(f"{at('expects')}: list the rule ids the reply must satisfy, e.g. expects = [\"complaint.ack_24h\"]")
    for rule_id in expects:
        if rule_id not in rules:
            raise ShopperError(f"{at('expects')}: unknown rule {rule_id!r}; `shopper rules` lists them")
        if kind not in rules[rule_id].kinds:
            raise ShopperError(
                f"{at('expects')}: rule {rule_id} applies to {', '.join(rules[rule_id].kinds)}, not to a {kind}"
            )
    keywords = data.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k for k in keywords):
        raise ShopperError(f"{at('keywords')}: keywords must be a list of words, e.g. [\"路灯\"]")
    avoid = data.get("avoid", [])
    if not isinstance(avoid, list) or not all(isinstance(k, str) and k for k in avoid):
        raise ShopperError(f"{at('avoid')}: avoid must be a list of words, e.g. [\"紧急\"]")
    raw_phrasings = data.get("phrasings")
    lines = _phrasing_lines(text)
    if not isinstance(raw_phrasings, list) or not raw_phrasings:
        raise ShopperError(f"{path}:1: no [[phrasings]]; add at least one with subject and body")
    phrasings = []
    for i, raw in enumerate(raw_phrasings):
        line = lines[i] if i < len(lines) else 1
        for key in ("subject", "body"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise ShopperError(f"{path}:{line}: phrasing needs a {key} (a Jinja2 template)")
            try:
                _jinja.parse(raw[key])
            except jinja2.TemplateSyntaxError as err:
                key_line = _key_line(text, key, after=line)
                raise ShopperError(
                    f"{path}:{key_line + (err.lineno or 1) - 1}: bad template in {key}: {err.message}"
                ) from err
        unknown = set(raw) - {"subject", "body"}
        if unknown:
            raise ShopperError(f"{path}:{line}: unknown key {', '.join(sorted(unknown))} in a phrasing; use subject and body")
        phrasings.append(Phrasing(raw["subject"], raw["body"], line))
    scenario = Scenario(
        id=data["id"], kind=kind, important=important, expects=tuple(expects), phrasings=phrasings,
        title=data.get("title", ""), keywords=tuple(keywords), avoid=tuple(avoid), path=path, raw=data,
    )
    # Every phrasing must render with a sample persona and keep its keywords: a typo in a
    # variable name or a forgotten keyword shows now, not in the middle of a campaign.
    for i, phrasing in enumerate(phrasings):
        for seed in range(3):
            subject, body = scenario.render_phrasing(i, _SAMPLE, _SampleSite(), random.Random(seed))
            missing = [k for k in keywords if k not in subject + body]
            if missing:
                raise ShopperError(
                    f"{path}:{phrasing.line}: this phrasing does not contain {', '.join(missing)}; "
                    "agencies read these words, so every phrasing must say them"
                )
            present = [k for k in avoid if k in subject + body]
            if present:
                raise ShopperError(
                    f"{path}:{phrasing.line}: this phrasing says {', '.join(present)}, which the scenario avoids "
                    "(agencies would read the request as another kind); reword it"
                )
    return scenario


def load_scenario_file(path: Path) -> Scenario:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ShopperError(f"{path}: cannot read ({err})") from err
    return parse_scenario(text, Path(path))


def load_scenarios(directory: str | Path) -> dict[str, Scenario]:
    """Every scenario in `directory` (sites/ beneath is not scenarios), by id."""
    directory = Path(directory)
    found: dict[str, Scenario] = {}
    for path in sorted(directory.glob("*.toml")):
        scenario = load_scenario_file(path)
        if scenario.id in found:
            raise ShopperError(f"{path}: id {scenario.id!r} is also used by {found[scenario.id].path}")
        found[scenario.id] = scenario
    return found


def load_scenario(scenario_id: str, directory: str | Path) -> Scenario:
    directory = Path(directory)
    path = directory / f"{scenario_id}.toml"
    if path.exists():
        return load_scenario_file(path)
    scenarios = load_scenarios(directory)
    if scenario_id in scenarios:
        return scenarios[scenario_id]
    raise ShopperError(f"unknown scenario {scenario_id!r}; known: {', '.join(sorted(scenarios)) or 'none'}")


def validate_files(paths: list[Path]) -> list[str]:
    """Problems of scenario and site files, one line each ("file:line: what to fix")."""
    import os

    from shopper.sites import load_site_file

    problems = []
    # Demo site files name their address through SHOPPER_DEMO_URL, set only while a world runs;
    # their steps can be checked without one.
    placeholder = "SHOPPER_DEMO_URL" not in os.environ
    if placeholder:
        os.environ["SHOPPER_DEMO_URL"] = "http://127.0.0.1:1"
    try:
        return _validate(paths, problems, load_site_file)
    finally:
        if placeholder:
            os.environ.pop("SHOPPER_DEMO_URL", None)


def _validate(paths, problems, load_site_file) -> list[str]:
    for path in paths:
        path = Path(path)
        try:
            is_site = path.parent.name == "sites" or "homepage" in path.read_text(encoding="utf-8", errors="replace")
            if is_site:
                problems += site_problems(load_site_file(path))
            else:
                load_scenario_file(path)
        except ShopperError as err:
            problems.append(str(err))
        except OSError as err:
            problems.append(f"{path}: cannot read ({err})")
    return problems


def sample_context(site) -> dict:
    """What a site's step templates may use, with sample values (for validation)."""
    persona = _SAMPLE
    return {
        "site": site, "agency": site, "persona": persona, "homepage": site.homepage,
        "test": {"id": "t-00000000", "reply_address": persona.email, "kind": "complaint", "important": False,
                 "scenario_id": "sample", "campaign_id": None, "reference_number": "X1", "query_code": "Q1"},
        "subject": "示例标题", "body": "示例正文", "reply_address": persona.email,
        "account": {"username": "sample", "password": "sample"},
        "reference_number": "X1", "query_code": "Q1",
    }


def site_problems(site) -> list[str]:
    """Templates in a site's steps that name something the engine does not provide."""
    from shopper.steps import template_errors

    context = sample_context(site)
    problems = []
    for kind, steps in site.forms.items():
        problems += template_errors(steps, context, site.path)
    for steps in (site.login, site.status, site.answered_list):
        problems += template_errors(steps, context, site.path)
    return problems
