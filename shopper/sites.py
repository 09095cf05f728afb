"""Site files (`scenarios/sites/*.toml`): how to say something on one agency's site.

A site file names the agency, its calendar and published response limits, and for each kind of
request the steps a citizen takes in the browser. Steps are data:

    [[forms.complaint.steps]]
    action = "fill"
    selector = "#title"
    value = "{{ subject }}"

Actions and what they need:

    goto     url                     open a page (a Jinja2 template over site, test, persona;
                                     relative URLs are taken from the homepage)
    fill     selector, value         type into a field (value is a template)
    select   selector, value|label   choose an option
    check    selector                tick a checkbox or a radio button
    click    selector                press a button or link
    upload   selector, file          attach a file
    captcha  image, selector         read the captcha image with the captcha solver, type the answer
    sms_code selector                ask the SMS-code solver for the code sent to the persona's phone
    wait     selector | ms           wait for an element or a number of milliseconds
    expect   text | selector         the page must show this, else the step fails
    extract  selector, into          read text into `reference_number`, `query_code`, `status`,
             [pattern]               `reply`, `status_time`, `answered_list` (optional regex group 1)
    frame    selector                go into an iframe for the following steps ("" goes back out)

`shopper scenarios validate` checks every file and names the file, the line and what to fix.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import jinja2

from shopper.errors import ShopperError

KINDS = ("consultation", "complaint", "suggestion", "application-status")

# action -> (required keys, one-of keys)
ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "goto": (("url",), ()),
    "fill": (("selector", "value"), ()),
    "select": (("selector",), ("value", "label")),
    "check": (("selector",), ()),
    "click": (("selector",), ()),
    "upload": (("selector", "file"), ()),
    "captcha": (("image", "selector"), ()),
    "sms_code": (("selector",), ()),
    "wait": ((), ("selector", "ms")),
    "expect": ((), ("text", "selector")),
    "extract": (("selector", "into"), ()),
    "frame": (("selector",), ()),
}
EXTRACT_TARGETS = {"reference_number", "query_code", "status", "reply", "status_time", "answered_list"}
TEMPLATED_KEYS = ("url", "value", "label", "text")

_jinja = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


@dataclass(frozen=True)
class Step:
    action: str
    args: dict
    line: int  # where the step starts in its file, for messages

    def __getitem__(self, key: str):
        return self.args[key]

    def get(self, key: str, default=None):
        return self.args.get(key, default)


@dataclass(frozen=True)
class Limit:
    n: int
    unit: str  # workday | day | hour

    def as_dict(self) -> dict:
        return {"n": self.n, "unit": self.unit}


@dataclass
class Site:
    id: str
    name: str
    homepage: str
    path: Path
    name_en: str = ""
    email_domains: tuple[str, ...] = ()
    scoring_class: str = "general"
    timezone: str = "Asia/Shanghai"
    calendar: str = "CN"
    office_hours: str = "09:00-17:00"
    limits: dict[str, Limit] = field(default_factory=dict)
    fields: dict = field(default_factory=dict)  # title_min, title_max, body_max, required ...
    forms: dict[str, list[Step]] = field(default_factory=dict)
    login: list[Step] = field(default_factory=list)
    status: list[Step] = field(default_factory=list)
    answered_list: list[Step] = field(default_factory=list)
    services: list[dict] = field(default_factory=list)  # online services for site checks
    disclosure_hints: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)

    def takes(self, kind: str) -> bool:
        """Whether the site has a form for this kind of request."""
        return bool(self._form(kind))

    def _form(self, kind: str) -> list[Step] | None:
        steps = self.forms.get(kind) or self.forms.get("default")
        if steps or kind != "application-status":
            return steps
        # An online-service application without a form of its own goes through the form at the
        # service's acceptance page (`[[services]] accept = "<url>"`: the form whose steps open
        # that page) or the form kind it names.
        for service in self.services:
            accept = str(service.get("accept") or service.get("apply") or "").strip("/")
            if accept in self.forms:
                return self.forms[accept]
            for candidate in self.forms.values():
                opens = [s for s in candidate if s.action == "goto"]
                if accept and opens and opens[0]["url"].strip("/") == accept:
                    return candidate
        return None

    def form_for(self, kind: str) -> list[Step]:
        steps = self._form(kind)
        if not steps:
            raise ShopperError(f"{self.path}: no form for {kind!r} (add [[forms.{kind}.steps]] or forms.default)")
        return steps

    def limit_for(self, kind: str) -> Limit | None:
        return self.limits.get(kind)

    def business_calendar(self, overrides=None):
        from shopper.calendar import BusinessCalendar, OfficeHours

        return BusinessCalendar(self.calendar, self.timezone, OfficeHours.parse(self.office_hours), overrides or {})


@lru_cache(maxsize=1024)
def _compiled(template: str) -> jinja2.Template:
    # Steps are rendered for every test and every status look; compiling is the costly part.
    return _jinja.from_string(template)


def render(template: str, **context) -> str:
    """Render a step's template; a missing variable is an error, not an empty string."""
    try:
        return _compiled(template).render(**context)
    except jinja2.TemplateError as err:
        raise ShopperError(f"template {template!r}: {err}") from err


def _header_lines(text: str, header: str) -> list[int]:
    pattern = re.compile(r"^[ \t]*\[\[\s*" + re.escape(header).replace(r"\.", r"\s*\.\s*") + r"\s*\]\]", re.M)
    return [text.count("\n", 0, m.start()) + 1 for m in pattern.finditer(text)]


def _parse_steps(raw_steps, where: str, text: str, path: Path) -> list[Step]:
    if not isinstance(raw_steps, list):
        raise ShopperError(f"{path}: {where} must be a list of [[{where}]] tables")
    lines = _header_lines(text, where)
    steps = []
    for i, raw in enumerate(raw_steps):
        line = lines[i] if i < len(lines) else 0
        at = f"{path}:{line}" if line else f"{path} ({where} #{i + 1})"
        if not isinstance(raw, dict) or "action" not in raw:
            raise ShopperError(f"{at}: step has no `action`; add action = \"goto\" (or fill, click, ...)")
        action = raw["action"]
        if action not in ACTIONS:
            raise ShopperError(f"{at}: unknown action {action!r}; use one of {', '.join(ACTIONS)}")
        required, one_of = ACTIONS[action]
        missing = [k for k in required if not isinstance(raw.get(k), str) or (k != "selector" and not raw[k])]
        if action != "frame":
            missing += [k for k in required if k == "selector" and not raw.get(k)]
        if missing:
            raise ShopperError(f"{at}: {action} step needs {' and '.join(sorted(set(missing)))}")
        if one_of and not any(raw.get(k) not in (None, "") for k in one_of):
            raise ShopperError(f"{at}: {action} step needs one of {' or '.join(one_of)}")
        if action == "extract" and raw["into"] not in EXTRACT_TARGETS:
            raise ShopperError(f"{at}: extract into {raw['into']!r}; use one of {', '.join(sorted(EXTRACT_TARGETS))}")
        if action == "extract" and "pattern" in raw:
            try:
                re.compile(raw["pattern"])
            except re.error as err:
                raise ShopperError(f"{at}: bad pattern {raw['pattern']!r}: {err}") from err
        for key in TEMPLATED_KEYS:
            if isinstance(raw.get(key), str):
                try:
                    _jinja.parse(raw[key])
                except jinja2.TemplateSyntaxError as err:
                    raise ShopperError(f"{at}: bad template in {key}: {err.message}") from err
        args = {k: v for k, v in raw.items() if k != "action"}
        steps.append(Step(action, args, line))
    return steps


def _limits(raw: dict, path: Path) -> dict[str, Limit]:
    result = {}
    for kind, value in raw.items():
        try:
            n, unit = int(value["n"]), value["unit"]
        except (TypeError, KeyError, ValueError) as err:
            raise ShopperError(f"{path}: limits.{kind} must look like {{ n = 15, unit = \"workday\" }}") from err
        if unit not in ("workday", "day", "hour"):
            raise ShopperError(f"{path}: limits.{kind}: unit {unit!r}; use workday, day or hour")
        result[kind] = Limit(n, unit)
    return result


def parse_site(text: str, path: Path) -> Site:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ShopperError(f"{path}: {err}; fix the TOML syntax") from err
    for key in ("id", "name", "homepage"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ShopperError(f"{path}:1: missing `{key}` (e.g. {key} = \"...\")")
    forms = {}
    for kind, form in (data.get("forms") or {}).items():
        if kind not in KINDS + ("default",):
            raise ShopperError(f"{path}: forms.{kind}: unknown kind; use one of {', '.join(KINDS)} or default")
        forms[kind] = _parse_steps(form.get("steps", []), f"forms.{kind}.steps", text, path)
    try:
        # Demo and test sites live on a port chosen at run time: their homepage says
        # "{{ env.SHOPPER_DEMO_URL }}/jtw/" and the world sets SHOPPER_DEMO_URL.
        homepage = _jinja.from_string(data["homepage"]).render(env=os.environ)
    except jinja2.TemplateError as err:
        raise ShopperError(
            f"{path}: homepage {data['homepage']!r}: {err}; set the variable it names "
            "(the demo sites need SHOPPER_DEMO_URL, which `shopper world` prints)"
        ) from err
    site = Site(
        id=data["id"],
        name=data["name"],
        homepage=homepage,
        path=path,
        name_en=data.get("name_en", ""),
        email_domains=tuple(data.get("email_domains", [])),
        scoring_class=data.get("class", "general"),
        timezone=data.get("timezone", "Asia/Shanghai"),
        calendar=data.get("calendar", "CN"),
        office_hours=data.get("office_hours", "09:00-17:00"),
        limits=_limits(data.get("limits", {}), path),
        fields=data.get("fields", {}),
        forms=forms,
        login=_parse_steps(data.get("login", {}).get("steps", []), "login.steps", text, path),
        status=_parse_steps(data.get("status", {}).get("steps", []), "status.steps", text, path),
        answered_list=_parse_steps(data.get("answered_list", {}).get("steps", []), "answered_list.steps", text, path),
        services=list(data.get("services", [])),
        disclosure_hints=dict(data.get("disclosure", {})),
        raw=data,
    )
    from shopper.calendar import OfficeHours, zone

    OfficeHours.parse(site.office_hours)
    zone(site.timezone)
    return site


def load_site_file(path: Path) -> Site:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ShopperError(f"{path}: cannot read ({err})") from err
    return parse_site(text, path)


def load_site(site_id: str, sites_dir: Path) -> Site:
    """The site with this id (or file name) from `sites_dir`."""
    path = sites_dir / f"{site_id}.toml"
    if path.exists():
        return load_site_file(path)
    for candidate in sorted(sites_dir.glob("*.toml")):
        try:
            site = load_site_file(candidate)
        except ShopperError:
            continue  # another site's broken file is `shopper scenarios validate`'s business
        if site.id == site_id:
            return site
    known = ", ".join(sorted(p.stem for p in sites_dir.glob("*.toml"))) or "none"
    raise ShopperError(f"unknown site {site_id!r} in {sites_dir}; known: {known}")


def load_sites(sites_dir: Path) -> dict[str, Site]:
    sites = {}
    for path in sorted(sites_dir.glob("*.toml")):
        site = load_site_file(path)
        if site.id in sites:
            raise ShopperError(f"{path}: id {site.id!r} is also used by {sites[site.id].path}")
        sites[site.id] = site
    return sites
