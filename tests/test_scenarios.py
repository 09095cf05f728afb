"""Scenario files: the shipped ones cover the annexes, render differently each time, fit each
form's limits or are refused with the reason, and bad files name the file, line and fix."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from shopper.cli import main
from shopper.errors import ShopperError
from shopper.personas import generate
from shopper.rules import all_rules
from shopper.scenarios import fit, load_scenarios, parse_scenario, validate_files

ROOT = Path(__file__).resolve().parent.parent


class Site:
    id = "jtw"
    name = "上海市交通委员会"
    path = Path("jtw.toml")

    def __init__(self, **fields):
        self.fields = fields


@pytest.fixture(scope="module")
def shipped():
    return load_scenarios(ROOT / "scenarios")


def test_shipped_scenarios_cover_every_rule_of_annexes_three_and_four(shipped):
    assert len(shipped) >= 8
    # Rules about replies (site checks such as site.complaint_column are not answered by anyone).
    annex = {rid for rid, r in all_rules().items()
             if r.clause.startswith(("附件三", "附件四")) and set(r.kinds) - {"site"}}
    covered = {rid for s in shipped.values() for rid in s.expects}
    assert annex <= covered, annex - covered
    kinds = {s.kind for s in shipped.values()}
    assert kinds == {"complaint", "consultation", "suggestion", "application-status"}
    assert any(s.important for s in shipped.values())
    assert all(len(s.phrasings) >= 3 for s in shipped.values())


@pytest.mark.parametrize("words,rule", [
    (("安全隐患", "紧急"), "complaint.important_same_day"),
    (("路灯",), "complaint.redirect_destination"),
    (("社保",), "complaint.out_of_scope"),
    (("社保",), "consult.out_of_scope"),
    (("建议",), "suggestion.thanks"),
])
def test_texts_carry_the_words_agencies_read(shipped, words, rule):
    """The demo agencies (like real clerks) sort requests by words in the text."""
    scenarios = [s for s in shipped.values() if rule in s.expects]
    assert scenarios
    for scenario in scenarios:
        for seed in range(12):
            rng = random.Random(seed)
            subject, body = scenario.render(generate(rng), Site(), rng)
            assert any(w in subject + body for w in words), (scenario.id, subject, body)


def test_ordinary_texts_do_not_trigger_other_kinds(shipped):
    ordinary = shipped["complaint-noise"]
    for seed in range(12):
        rng = random.Random(seed)
        text = "".join(ordinary.render(generate(rng), Site(), rng))
        assert not any(w in text for w in ("紧急", "安全隐患", "路灯", "社保", "建议")), text


def test_text_varies_between_runs_and_is_reproducible_by_seed(shipped):
    scenario = shipped["complaint-streetlight"]
    persona = generate(random.Random(1))
    texts = {scenario.render(persona, Site(), random.Random(seed)) for seed in range(10)}
    assert len(texts) >= 5
    assert scenario.render(persona, Site(), random.Random(3)) == scenario.render(persona, Site(), random.Random(3))
    subject, body = scenario.render(persona, Site(), random.Random(3))
    assert "{{" not in subject + body and "路灯" in subject + body


def test_text_is_fitted_to_the_form_limits(shipped):
    scenario = shipped["complaint-safety-hazard"]
    for seed in range(10):
        rng = random.Random(seed)
        subject, body = scenario.render(generate(rng), Site(title_max=12, body_max=120), rng)
        assert len(subject) <= 12 and len(body) <= 120
        assert "安全隐患" in subject + body


def test_fit_cuts_titles_at_a_clause_and_drops_closing_paragraphs():
    subject, body = fit("关于某某路口的问题，请尽快处理", "第一段有路灯。\n\n第二段。\n\n谢谢。", {"title_max": 12, "body_max": 13}, ("路灯",))
    assert subject == "关于某某路口的问题"
    assert body == "第一段有路灯。\n\n第二段。"


def test_a_scenario_that_cannot_fit_is_refused_with_the_reason(shipped):
    scenario = shipped["complaint-noise"]
    with pytest.raises(ShopperError, match=r"cannot fit.*body needs \d+ characters, the site allows 20"):
        scenario.render(generate(random.Random(1)), Site(body_max=20), random.Random(1))
    with pytest.raises(ShopperError, match="at least 40"):
        scenario.render(generate(random.Random(1)), Site(title_min=40), random.Random(1))
    with pytest.raises(ShopperError, match="id_card.*cannot provide"):
        scenario.render(generate(random.Random(1)), Site(required=["id_card"]), random.Random(1))


GOOD = '''id = "x"
kind = "complaint"
expects = ["complaint.ack_24h"]
keywords = ["路灯"]

[[phrasings]]
subject = "路灯坏了"
body = "{{ greeting }}{{ place }}的路灯坏了。{{ closing }}"
'''


@pytest.mark.parametrize("bad,line,message", [
    (GOOD.replace('kind = "complaint"', 'kind = "praise"'), 2, "kind 'praise'; use one of"),
    (GOOD.replace("complaint.ack_24h", "complaint.nonsense"), 3, "unknown rule 'complaint.nonsense'"),
    (GOOD.replace("complaint.ack_24h", "consult.out_of_scope"), 3, "applies to consultation, not to a complaint"),
    (GOOD.replace("{{ place }}", "{{ place }"), 8, "bad template in body"),
    (GOOD.replace("{{ place }}", "{{ persona.shoe_size }}"), 6, "body template.*shoe_size"),
    (GOOD.replace('"路灯坏了"', '"灯坏了"').replace("的路灯", "的灯"), 6, "does not contain 路灯"),
    (GOOD.replace('subject = "路灯坏了"\n', ""), 6, "phrasing needs a subject"),
])
def test_bad_scenarios_name_file_line_and_fix(tmp_path, bad, line, message):
    path = tmp_path / "x.toml"
    with pytest.raises(ShopperError, match=message) as err:
        parse_scenario(bad, path)
    assert str(err.value).startswith(f"{path}:{line}:")


def test_validate_command_checks_scenarios_and_sites(tmp_path):
    runner = CliRunner()
    good = tmp_path / "good.toml"
    good.write_text(GOOD, encoding="utf-8")
    sites = tmp_path / "sites"
    sites.mkdir()
    site = sites / "s.toml"
    site.write_text('id = "s"\nname = "测试局"\nhomepage = "http://127.0.0.1:9/"\n\n'
                    '[[forms.default.steps]]\naction = "goto"\nurl = "/"\n\n'
                    '[[forms.default.steps]]\naction = "hover"\nselector = "#x"\n', encoding="utf-8")
    result = runner.invoke(main, ["scenarios", "validate", str(good)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["scenarios", "validate", str(good), str(site)])
    assert result.exit_code == 2
    assert f"{site}:9: unknown action 'hover'" in result.output
    # Undefined variables in a site's templates are caught before any browser starts.
    site.write_text(site.read_text().replace('action = "hover"\nselector = "#x"',
                                             'action = "fill"\nselector = "#x"\nvalue = "{{ persona.shoe }}"'))
    result = runner.invoke(main, ["scenarios", "validate", str(site)])
    assert result.exit_code == 2 and "shoe" in result.output and f"{site}:9" in result.output


def test_scenarios_list_and_validate_all_shipped():
    runner = CliRunner()
    result = runner.invoke(main, ["scenarios", "list"])
    assert result.exit_code == 0, result.output
    assert "complaint-streetlight" in result.output and "complaint.redirect_destination" in result.output
    assert validate_files(sorted((ROOT / "scenarios").glob("*.toml"))) == []
