from pathlib import Path

import pytest

from shopper.errors import ShopperError
from shopper.sites import load_site, load_sites, parse_site, render

GOOD = """\
id = "jtw"
name = "市交通委员会"
homepage = "{{ env.SHOPPER_DEMO_URL }}/jtw/"
email_domains = ["jtw.demo.gov.cn"]
office_hours = "08:30-17:30"

[limits]
complaint = { n = 15, unit = "workday" }

[[forms.complaint.steps]]
action = "goto"
url = "complaint.html"

[[forms.complaint.steps]]
action = "fill"
selector = "#title"
value = "{{ subject }}"

[[forms.complaint.steps]]
action = "extract"
selector = "#ref"
into = "reference_number"
pattern = "编号[:：]\\\\s*(\\\\w+)"
"""


@pytest.fixture(autouse=True)
def demo_url(monkeypatch):
    monkeypatch.setenv("SHOPPER_DEMO_URL", "http://127.0.0.1:9999")


def test_homepage_variable_missing(tmp_path, monkeypatch):
    monkeypatch.delenv("SHOPPER_DEMO_URL")
    with pytest.raises(ShopperError, match="SHOPPER_DEMO_URL"):
        parse(GOOD, tmp_path)


def parse(text, tmp_path):
    return parse_site(text, tmp_path / "jtw.toml")


def test_good_site(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPPER_DEMO_URL", "http://127.0.0.1:9999")
    site = parse(GOOD, tmp_path)
    assert site.homepage == "http://127.0.0.1:9999/jtw/"
    steps = site.form_for("complaint")
    assert [s.action for s in steps] == ["goto", "fill", "extract"]
    assert steps[1].line == 14
    assert site.limit_for("complaint").as_dict() == {"n": 15, "unit": "workday"}
    assert site.business_calendar().hours.close.hour == 17
    with pytest.raises(ShopperError, match="no form for 'consultation'"):
        site.form_for("consultation")


@pytest.mark.parametrize(
    "change, message",
    [
        (('action = "fill"', 'action = "type"'), r"jtw.toml:14: unknown action 'type'"),
        (('selector = "#title"\n', ""), r"jtw.toml:14: fill step needs selector"),
        (('value = "{{ subject }}"', 'value = "{{ subject "'), r"jtw.toml:14: bad template in value"),
        (('into = "reference_number"', 'into = "nothing"'), r"jtw.toml:19: extract into 'nothing'"),
        (('unit = "workday"', 'unit = "fortnight"'), r"unit 'fortnight'"),
        (('office_hours = "08:30-17:30"', 'office_hours = "late"'), r"office hours 'late'"),
        (('id = "jtw"\n', ""), r"missing `id`"),
        (('[limits]', '[limits'), r"fix the TOML syntax"),
    ],
)
def test_bad_site_names_file_line_and_fix(tmp_path, change, message):
    with pytest.raises(ShopperError, match=message):
        parse(GOOD.replace(*change), tmp_path)


def test_load_by_id_and_duplicates(tmp_path):
    (tmp_path / "a.toml").write_text(GOOD, encoding="utf-8")
    assert load_site("jtw", tmp_path).id == "jtw"
    with pytest.raises(ShopperError, match="unknown site 'nope'"):
        load_site("nope", tmp_path)
    (tmp_path / "b.toml").write_text(GOOD, encoding="utf-8")
    with pytest.raises(ShopperError, match="also used by"):
        load_sites(tmp_path)


def test_render_is_strict():
    assert render("{{ a }}-{{ b }}", a=1, b=2) == "1-2"
    with pytest.raises(ShopperError, match="undefined"):
        render("{{ missing }}")
