"""The demo sites in real Chromium, driven by their own site files: scripts, iframes, two steps,
GBK, login with an SMS code, captchas, status queries."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from shopper.browser import launch
from shopper.personas import Persona
from shopper.sites import load_sites
from shopper.solvers import HarnessSolver
from shopper.steps import run_steps

SITES_DIR = Path(__file__).resolve().parent.parent / "scenarios" / "sites"
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def chromium():
    """One Chromium for the module (starting it is the slow part)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await launch(pw)
        yield browser
        await browser.close()


def _context(site, test_id: str, subject: str, body: str, **extra) -> dict:
    address = f"{test_id}@reply.shopper.test"
    persona = Persona(id="p-demo01", name="王伟", phone="13812345678", district="徐汇区").for_test(address)
    test = {"id": test_id, "reply_address": address, **extra.pop("test", {})}
    return {"site": site, "agency": site, "persona": persona, "test": test, "subject": subject, "body": body,
            "homepage": site.homepage, "reply_address": address, "timeout_ms": 8000, **extra}


async def test_site_files_submit_through_every_form_variant(world, chromium):
    sites = load_sites(SITES_DIR)
    solver = HarnessSolver(world.base_url)
    cases = [
        ("sww", "complaint", "小区自来水发黄", "最近一周自来水发黄，有异味。"),  # iframe
        ("ghj", "consultation", "咨询建设工程规划许可办理", "请问办理规划许可需要哪些材料？"),  # two steps
        ("sthjj", "complaint", "化工厂夜间排放异味", "化工厂夜间排放刺鼻气味，影响居民休息。"),  # GBK
        ("jw", "suggestion", "关于延长图书馆开放时间的建议", "建议周末延长学校图书馆开放时间。"),  # radios
        ("mzxx", "complaint", "公交站台雨棚破损请尽快修复", "公交站台雨棚破损，下雨天无法候车。"),  # login + SMS
    ]
    for i, (site_id, kind, subject, body) in enumerate(cases):
        site = sites[site_id]
        page = await (await chromium.new_context()).new_page()
        context = _context(site, f"t-b{i:07d}", subject, body,
                           account={"username": f"demo{i}", "password": "demo-pass-1"})
        if site.login:
            await run_steps(page, site.login, context, solver)
        got = await run_steps(page, site.form_for(kind), context, solver)
        sub = world.submissions[-1]
        assert (sub.agency_id, sub.subject, sub.body) == (site_id, subject, body)
        assert sub.email == context["reply_address"] and sub.name == "王伟"
        assert sub.reading.kind == kind
        if site_id in ("sww", "sthjj"):
            assert sub.district == "徐汇区"
        assert got.get("reference_number") == sub.reference, site_id
        if site_id == "mzxx":  # the status query with 办件编号, 查询码 and a captcha
            assert got["query_code"] == sub.query_code
            status_context = _context(site, f"t-b{i:07d}", subject, body, test={
                "reference_number": sub.reference, "query_code": sub.query_code})
            seen = await run_steps(page, site.status, status_context, solver)
            assert seen["status"] == world.status_view(sub)["status"] == "待审查"
            assert seen["reply"] in site.raw["status"]["no_reply"]
            world.advance(timedelta(days=8))
            seen = await run_steps(page, site.status, status_context, solver)
            assert seen["status"] in site.raw["status"]["replied"] and sub.reference in seen["reply"]
            assert seen["status_time"] == world.status_view(sub)["status_time"]
        await page.context.close()
    answered = await run_steps(await (await chromium.new_context()).new_page(), sites["mzxx"].answered_list,
                               _context(sites["mzxx"], "t-b9999999", "", ""), solver)
    assert "办件编号" in answered["answered_list"]


async def test_page_script_refuses_empty_fields_before_anything_is_sent(world, chromium):
    page = await chromium.new_page()
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    await page.goto(world.url("jtw", "complaint"))
    await page.fill("#title", "标题有了")
    await page.click("#submit-btn")
    assert "请填写：内容、姓名、联系电话、电子邮箱" in await page.inner_text("#js-error")
    await page.fill("#content", "内容")
    await page.fill("#name", "王伟")
    await page.fill("#phone", "13812345678")
    await page.fill("#email", "t-js@reply.shopper.test")
    await page.select_option("#district", label="徐汇区")
    await page.fill("#captcha", "ABCD")
    await page.click("#submit-btn")
    assert "请先阅读并同意" in await page.inner_text("#js-error")
    assert posts == [] and page.url == world.url("jtw", "complaint")

    # The iframe form checks inside its frame.
    await page.goto(world.url("sww", "complaint"))
    frame = page.frame_locator("#form-frame")
    await frame.locator("#submit-btn").click()
    assert "请填写：标题" in await frame.locator("#js-error").inner_text()
    assert posts == []
    await page.close()
