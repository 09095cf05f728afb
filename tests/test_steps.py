"""The step runner against real forms in Chromium: iframe, two steps, GBK, captcha, client-side
validation, a late reference number, login with an SMS code, and the ways a page can fail."""

from __future__ import annotations

import pytest

from shopper.personas import Persona
from shopper.sites import parse_site
from shopper.solvers import HarnessSolver
from shopper.steps import StepFailed, run_steps, submit_point
from tests.fixtures.submit import SUBMIT_AND_EXTRACT, closed_port_url, site_toml

pytestmark = pytest.mark.asyncio(loop_scope="module")

PERSONA = Persona(id="p-1", name="王建华", phone="13812345678", district="徐汇区", style="plain",
                  email="t-0000abcd@reply.shopper.test")


def _site(text, tmp_path):
    return parse_site(text, tmp_path / "s.toml")


def _context(site, subject="小区门口夜间施工噪声扰民", body="每天晚上十一点以后还在施工，请查处。"):
    return {"site": site, "persona": PERSONA, "subject": subject, "body": body, "homepage": site.homepage,
            "test": {"id": "t-0000abcd", "reply_address": PERSONA.email, "kind": "complaint"}}


async def _run(browser, site, solver=None, timeout_ms=3000, **context):
    page = await browser.new_page()
    try:
        return await run_steps(page, site.form_for("complaint"), _context(site, **context), solver, timeout_ms=timeout_ms)
    finally:
        await page.close()


async def test_plain_form(shared_browser, form_server, tmp_path):
    site = _site(site_toml(form_server.url, "plain"), tmp_path)
    got = await _run(shared_browser, site)
    sent = form_server.submissions[-1]
    assert got == {"reference_number": sent["ref"]}
    assert sent["title"] == "小区门口夜间施工噪声扰民" and sent["name"] == "王建华"
    assert sent["email"] == PERSONA.email and sent["agree"] == "1" and sent["kind"] == "complaint"


async def test_form_inside_an_iframe(shared_browser, form_server, tmp_path):
    site = _site(site_toml(form_server.url, "iframe", before='[[forms.default.steps]]\naction = "frame"\nselector = "#box"\n'), tmp_path)
    got = await _run(shared_browser, site)
    assert form_server.submissions[-1]["variant"] == "iframe"
    assert got["reference_number"] == form_server.submissions[-1]["ref"]


async def test_two_step_form(shared_browser, form_server, tmp_path):
    first = ('[[forms.default.steps]]\naction = "goto"\nurl = "twostep/"\n\n'
             '[[forms.default.steps]]\naction = "fill"\nselector = "#name"\nvalue = "{{ persona.name }}"\n\n'
             '[[forms.default.steps]]\naction = "click"\nselector = "#next"\n\n'
             '[[forms.default.steps]]\naction = "wait"\nselector = "#title"\n')
    site = _site(site_toml(form_server.url, "twostep", start=first), tmp_path)
    steps = site.form_for("complaint")
    assert steps[submit_point(steps)].get("selector") == "#submit"  # not the "next" button
    got = await _run(shared_browser, site)
    assert form_server.submissions[-1]["variant"] == "twostep" and got["reference_number"]


async def test_gbk_page_sends_chinese_intact(shared_browser, form_server, tmp_path):
    site = _site(site_toml(form_server.url, "gbk"), tmp_path)
    await _run(shared_browser, site, subject="镕基路段噪声扰民", body="夜间施工，请查处。")
    sent = form_server.submissions[-1]
    assert sent["variant"] == "gbk" and sent["title"] == "镕基路段噪声扰民" and sent["name"] == "王建华"


async def test_gbk_page_refuses_characters_it_cannot_send(shared_browser, form_server, tmp_path):
    site = _site(site_toml(form_server.url, "gbk"), tmp_path)
    count = len(form_server.submissions)
    with pytest.raises(StepFailed, match="GBK and cannot take"):
        await _run(shared_browser, site, subject="噪声扰民😡")
    assert len(form_server.submissions) == count


async def test_captcha_is_read_from_the_bytes_served(shared_browser, form_server, tmp_path):
    captcha = ('\n[[forms.default.steps]]\naction = "captcha"\nimage = "#cimg"\nselector = "#ccode"\n')
    site = _site(site_toml(form_server.url, "captcha", after=captcha + SUBMIT_AND_EXTRACT), tmp_path)
    got = await _run(shared_browser, site, solver=HarnessSolver(form_server.url))
    assert form_server.submissions[-1]["variant"] == "captcha" and got["reference_number"]


async def test_client_side_validation_stops_a_bad_form(shared_browser, form_server, tmp_path):
    site = _site(site_toml(form_server.url, "validate"), tmp_path)
    count = len(form_server.submissions)
    with pytest.raises(StepFailed, match="标题不能少于5个字") as err:
        await _run(shared_browser, site, subject="噪声", timeout_ms=1000)
    assert err.value.step.action == "extract"
    assert len(form_server.submissions) == count
    await _run(shared_browser, site)  # a fitting text passes
    assert form_server.submissions[-1]["variant"] == "validate"


async def test_late_reference_number_is_waited_for(shared_browser, form_server, tmp_path):
    site = _site(site_toml(form_server.url, "late"), tmp_path)
    got = await _run(shared_browser, site)
    assert got["reference_number"] == form_server.submissions[-1]["ref"]


async def test_login_with_sms_code(shared_browser, form_server, tmp_path):
    login = ('[[login.steps]]\naction = "goto"\nurl = "login/"\n\n'
             '[[login.steps]]\naction = "fill"\nselector = "#user"\nvalue = "{{ account.username }}"\n\n'
             '[[login.steps]]\naction = "fill"\nselector = "#pass"\nvalue = "{{ account.password }}"\n\n'
             '[[login.steps]]\naction = "fill"\nselector = "#phone"\nvalue = "{{ persona.phone }}"\n\n'
             '[[login.steps]]\naction = "click"\nselector = "#sendsms"\n\n'
             '[[login.steps]]\naction = "sms_code"\nselector = "#sms"\n\n'
             '[[login.steps]]\naction = "click"\nselector = "#login"\n\n'
             '[[login.steps]]\naction = "wait"\nselector = "#title"\n')
    site = _site(site_toml(form_server.url, "login", start='[[forms.default.steps]]\naction = "goto"\nurl = "login/form"\n',
                           extra="") + "\n" + login, tmp_path)
    page = await shared_browser.new_page()
    context = _context(site)
    await run_steps(page, site.login, {**context, "account": {"username": "wang", "password": "s3cret"}},
                    HarnessSolver(form_server.url), timeout_ms=3000)
    got = await run_steps(page, site.form_for("complaint"), context, None, timeout_ms=3000)
    await page.close()
    assert form_server.submissions[-1]["variant"] == "login" and got["reference_number"]


async def test_dry_run_stops_before_the_submit_click(shared_browser, form_server, tmp_path):
    site = _site(site_toml(form_server.url, "plain"), tmp_path)
    count = len(form_server.submissions)
    page = await shared_browser.new_page()
    seen = []

    async def on_submit(index, step):
        seen.append(await page.locator("#title").input_value())

    await run_steps(page, site.form_for("complaint"), _context(site), None, stop_before_submit=True, on_submit=on_submit)
    await page.close()
    assert len(form_server.submissions) == count and seen == []


@pytest.mark.parametrize("variant,start,message", [
    ("changed", None, "nothing matches '#content' within 1 s"),
    ("missing", '[[forms.default.steps]]\naction = "goto"\nurl = "no/such/page"\n', "answered HTTP 404"),
    ("error", None, "提交失败"),
])
async def test_failures_say_which_step_and_why(shared_browser, form_server, tmp_path, variant, start, message):
    site = _site(site_toml(form_server.url, variant, start=start), tmp_path)
    with pytest.raises(StepFailed, match=message) as err:
        await _run(shared_browser, site, timeout_ms=1000)
    assert f"line {err.value.step.line}" in str(err.value)


async def test_a_site_that_is_down(shared_browser, tmp_path):
    site = _site(site_toml(closed_port_url(), "plain"), tmp_path)
    with pytest.raises(StepFailed, match=r"cannot load http://127.0.0.1:\d+/plain/: .*ERR_CONNECTION_REFUSED") as err:
        await _run(shared_browser, site, timeout_ms=1000)
    assert err.value.index == 0


async def test_console_solver_shows_the_captcha_file_and_types_the_answer(shared_browser, form_server, tmp_path):
    import hashlib
    import re as _re

    from shopper.solvers import ConsoleSolver

    def person_at_the_console(prompt: str) -> str:
        # They open the file the prompt names and read it (here: the server knows its answer).
        path = _re.search(r"captcha in (\S+);", prompt).group(1)
        return form_server.captchas[hashlib.sha256(open(path, "rb").read()).hexdigest()]

    captcha = '\n[[forms.default.steps]]\naction = "captcha"\nimage = "#cimg"\nselector = "#ccode"\n'
    site = _site(site_toml(form_server.url, "captcha", after=captcha + SUBMIT_AND_EXTRACT), tmp_path)
    got = await _run(shared_browser, site, solver=ConsoleSolver(person_at_the_console))
    assert got["reference_number"] == form_server.submissions[-1]["ref"]


async def test_harness_solver_talks_only_to_loopback():
    from shopper.errors import ShopperError

    with pytest.raises(ShopperError, match="only talks to a local demo world"):
        HarnessSolver("http://example.org/")
