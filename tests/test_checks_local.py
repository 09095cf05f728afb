"""Site checks against small sites this module serves itself on 127.0.0.1.

One site with everything (prominent 投诉 link, the eight kinds of information, a complete online
service) and a few faults (a 404, a 500, a slow page, a robots.txt-forbidden folder, a link and an
image on another origin); one site whose only 投诉 link sits in the footer below the fold.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from shopper.checks import due_checks, run_checks, run_checks_many
from shopper.checks.crawl import crawl
from shopper.checks.record import Screenshots
from shopper.config import Config
from shopper.db import memory_database
from shopper.errors import ShopperError
from shopper.evidence import EvidenceStore
from shopper.sites import parse_site

module_loop = pytest.mark.asyncio(loop_scope="module")
SLOW = 1.3  # seconds the slow page takes; checks use slow_after=1.0

PAGE = '<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head><body style="margin:0">{body}</body></html>'


def pages(other: str) -> dict[str, tuple[int, str]]:
    html = lambda title, body="": (200, PAGE.format(title=title, body=body))  # noqa: E731
    return {
        "/robots.txt": (200, "User-agent: *\nDisallow: /good/private/\n"),
        "/good/": html("测试局", f"""
            <header style="height:90px"><h1>测试局</h1>
              <a href="complaint.html">监督投诉</a> <a href="about.html">机构职能</a>
              <a href="contact.html">联系我们</a> <a href="guide.html">办事指南</a></header>
            <img src="{other}/pixel.png" alt="">
            <main><a href="missing.html">旧通知</a> <a href="error.html">统计数据</a> <a href="slow.html">慢</a>
              <a href="private/secret.html">内部</a> <a href="{other}/offsite.html">友情链接</a>
              <a href="mailto:office@example.gov.cn">邮件</a> <a href="#top">顶部</a>
              <a href="moved">搬家</a> <a href="away">外迁</a></main>"""),
        "/good/moved": (302, "/good/contact.html"),
        "/good/away": (302, f"{other}/landing.html"),
        "/good/complaint.html": html("我要投诉", "<form><input name=t><textarea name=b></textarea><button>提交</button></form>"),
        "/good/about.html": html("机构职能", "<p>本局主要职责……</p>"),
        "/good/contact.html": html("联系我们", "<p>电话 021-0000</p>"),
        "/good/guide.html": html("办事指南", "<h2>事项目录</h2><h2>设定依据</h2><h2>办理流程</h2>"
                                           "<h2>办理地点和收费标准</h2><h3><a href='about.html'>申请条件</a></h3>"),
        "/good/results.html": html("公示", "<div id=results>2026年第4季度审批结果</div>"),
        "/good/error.html": (500, "oops"),
        "/good/slow.html": html("慢页面"),
        "/good/private/secret.html": html("内部"),
        "/good/service/apply.html": html("申请", "<form><input name=who><button>提交</button></form>"),
        "/good/service/query.html": html("查询", "<form><input name=code><button>查询</button></form>"
                                             "<script>if (location.search) document.body.append('未查询到该编号')</script>"),
        "/good/service/result.html": html("结果", "<p>办理结果：准予许可</p>"),
        "/footer/": html("底部局", """<h1>底部局</h1><div style="height:1600px">新闻</div>
            <footer><a href="complaint.html">监督投诉</a> <a href="contact.html">联系我们</a></footer>"""),
        "/footer/complaint.html": html("投诉", "<form><textarea></textarea></form>"),
        "/framed/": html("框架局", '<iframe src="nav.html" style="width:600px;height:60px;border:0"></iframe>'
                                 '<div style="height:1200px"></div><iframe src="nav.html"></iframe>'),
        "/framed/nav.html": html("导航", '<a href="/footer/complaint.html" target="_top">我要投诉</a>'),
        "/nolink/": html("无栏目局", "<h1>无栏目局</h1><a href='/footer/contact.html'>联系我们</a>"),
        "/footer/contact.html": html("联系我们"),
        "/footer/apply.html": html("申请", "<form><input name=x></form>"),
    }


class Server:
    """A tiny site on 127.0.0.1 that remembers every path asked for."""

    def __init__(self, routes: dict | None = None):
        self.routes = routes or {}
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits.append(self.path)
                if self.path == "/good/slow.html":
                    time.sleep(SLOW)
                status, body = server.routes.get(self.path.split("?")[0], (404, "not found"))
                data = body.encode("utf-8")
                self.send_response(status)
                kind = "text/plain" if self.path.endswith(".txt") else "text/html; charset=utf-8"
                self.send_header("Content-Type", kind)
                if 300 <= status < 400:
                    self.send_header("Location", body)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def servers():
    other = Server()
    site = Server()
    site.routes = pages(other.url)
    yield site, other
    site.stop()
    other.stop()


@pytest.fixture(scope="module")
def browser(checks_browser):
    return checks_browser


GOOD_SITE = """\
id = "good"
name = "测试局"
homepage = "{url}/good/"

[[services]]
name = "测试许可"
accept = "service/apply.html"
query = "service/query.html"
result = {{ url = "service/result.html", text = "办理结果" }}

[[services]]
name = "查询可用"
accept = "service/apply.html"
result = "service/result.html"
query = {{ url = "service/query.html", steps = [
    {{ action = "fill", selector = "input[name=code]", value = "SHOPPER-0000" }},
    {{ action = "click", selector = "button" }},
    {{ action = "expect", text = "未查询到该编号" }} ] }}

[disclosure]
results = {{ url = "results.html", selector = "#results" }}
"""

FOOTER_SITE = """\
id = "footer"
name = "底部局"
homepage = "{url}/footer/"

[[services]]
name = "只能申请"
accept = "apply.html"
result = "gone.html"

[[services]]
name = "查询失灵"
accept = "apply.html"
result = "contact.html"
query = {{ url = "apply.html", steps = [{{ action = "click", selector = "#query-btn", timeout = 500 }}] }}
"""


def site_of(text: str, url: str, tmp_path: Path):
    return parse_site(text.format(url=url), tmp_path / "site.toml")


@pytest.fixture
def config(tmp_path):
    return Config(None, {"paths": {"evidence": str(tmp_path / "evidence")}})


def by_rule(rows):
    return {row["rule_id"]: row for row in rows}


# ------------------------------------------------------------------------------------ the crawler


async def test_crawl_finds_faults_with_referrers_obeys_robots_and_stays_on_origin(servers):
    site, other = servers
    before = len(other.hits)
    result = await crawl(f"{site.url}/good/", depth=2, pages=50, delay=0.01, slow_after=1.0)
    problems = {p.url.rsplit("/", 1)[1]: p for p in result.problems}
    assert set(problems) == {"missing.html", "error.html", "slow.html"}
    assert (problems["missing.html"].kind, problems["missing.html"].status) == ("broken", 404)
    assert problems["missing.html"].referrers == [f"{site.url}/good/"]
    assert problems["error.html"].kind == "server_error"
    assert problems["slow.html"].kind == "slow" and problems["slow.html"].seconds >= 1.0
    assert f"{site.url}/good/private/secret.html" in result.robots_disallowed
    assert "/good/private/secret.html" not in site.hits
    assert f"{other.url}/offsite.html" in result.off_site
    # a redirect is followed on the origin (its target gets the redirecting page as referrer), not off it
    assert f"{site.url}/good/moved" in result.referrers[f"{site.url}/good/contact.html"]
    assert f"{other.url}/landing.html" in result.off_site
    assert len(other.hits) == before  # never fetched
    # about.html is linked from the homepage and from guide.html: both are its referrers
    assert result.referrers[f"{site.url}/good/about.html"] == [f"{site.url}/good/", f"{site.url}/good/guide.html"]


async def test_crawl_waits_as_long_as_robots_txt_asks():
    polite = Server({"/robots.txt": (200, "User-agent: *\nCrawl-delay: 1\n"),
                     "/": (200, PAGE.format(title="首页", body='<a href="a.html">a</a>')),
                     "/a.html": (200, PAGE.format(title="a", body=""))})
    try:
        started = time.monotonic()
        result = await crawl(f"{polite.url}/", delay=0.01)
        assert result.delay == 1 and len(result.pages) == 2
        assert time.monotonic() - started >= 1.0
    finally:
        polite.stop()


def test_pages_in_gbk_are_read():
    from shopper.checks.crawl import decode

    body = '<meta charset="gbk"><title>联系方式</title>'.encode("gbk")
    assert "联系方式" in decode(body, "text/html")
    assert "联系方式" in decode("联系方式".encode("gb18030"), "text/html; charset=GB2312")


async def test_crawl_depth_and_page_budget(servers):
    site, _ = servers
    only_home = await crawl(f"{site.url}/good/", depth=0, delay=0)
    assert list(only_home.pages) == [f"{site.url}/good/"]
    budget = await crawl(f"{site.url}/good/", depth=2, pages=3, delay=0, slow_after=1.0)
    assert len(budget.pages) == 3 and budget.budget_exhausted


async def test_crawl_of_a_site_that_is_down():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = await crawl(f"http://127.0.0.1:{port}/x/", delay=0, timeout=5)
    assert result.home is not None and result.home.status is None and result.home.error
    assert [p.kind for p in result.problems] == ["unreachable"]


# ------------------------------------------------------------------------ the checks in Chromium


@module_loop
async def test_good_site(servers, browser, db, config, tmp_path, sim_clock):
    site, other = servers
    before = len(other.hits)
    good = site_of(GOOD_SITE, site.url, tmp_path)
    rows = by_rule(await run_checks(db, config, good, delay=0.01, slow_after=1.0, browser=browser))
    assert set(rows) == {"site.complaint_column", "site.links_work", "service.online_loop", "disclosure.items"}

    column = rows["site.complaint_column"]
    assert column["verdict"] == "pass", column["detail"]
    assert column["subject_key"] == "check:good:site.complaint_column" and column["period"] == "2026Q4"
    evidence = json.loads(column["evidence_json"])
    assert evidence["form_url"] == f"{site.url}/good/complaint.html"
    assert len(evidence["sha256"]) == 2
    store = EvidenceStore(config.evidence_dir, db)
    for sha in evidence["sha256"]:
        assert db["evidence"].get(sha)["kind"] == "screenshot"
        assert store.read(sha)[:8] == b"\x89PNG\r\n\x1a\n"
    assert store.verify() == []

    links = rows["site.links_work"]
    assert links["verdict"] == "fail"
    problems = {p["url"]: p for p in json.loads(links["evidence_json"])["problems"]}
    assert problems[f"{site.url}/good/missing.html"]["status"] == 404
    assert problems[f"{site.url}/good/missing.html"]["referrers"] == [f"{site.url}/good/"]
    assert problems[f"{site.url}/good/slow.html"]["kind"] == "slow"
    shot = problems[f"{site.url}/good/missing.html"]["sha256"]
    assert shot in json.loads(links["evidence_json"])["sha256"] and store.read(shot)[:4] == b"\x89PNG"
    assert "missing.html" in links["detail"] or "error.html" in links["detail"]

    assert rows["service.online_loop"]["verdict"] == "pass", rows["service.online_loop"]["detail"]
    played = json.loads(rows["service.online_loop"]["evidence_json"])["services"][1]["stages"][1]
    assert played["stage"] == "query" and played["ok"] and played["sha256_after"]

    disclosure = rows["disclosure.items"]
    assert disclosure["verdict"] == "pass", disclosure["detail"]
    items = json.loads(disclosure["evidence_json"])["items"]
    assert items["functions"]["url"] == f"{site.url}/good/about.html"
    assert items["results"]["via"] == "hint" and items["results"]["url"] == f"{site.url}/good/results.html"
    assert items["procedures"]["url"] == f"{site.url}/good/guide.html"
    assert items["eligibility"]["via"] == "heading"
    assert all(item.get("sha256") for item in items.values())

    assert len(other.hits) == before  # neither the image nor the link on the other origin was fetched
    assert "/good/private/secret.html" not in site.hits
    assert db["agencies"].get("good")["name"] == "测试局"



@module_loop
async def test_footer_only_link_is_not_prominent(servers, browser, db, config, tmp_path, sim_clock):
    """Also: several sites in one browser (a bad site file is skipped), which are due, reruns."""
    site, _ = servers
    footer = site_of(FOOTER_SITE, site.url, tmp_path)
    bad = site_of(FOOTER_SITE.replace('id = "footer"', 'id = "bad"').replace("{url}/footer/", "ftp://x/"), site.url,
                  tmp_path)
    assert due_checks(db, ["footer", "bad"]) == ["footer", "bad"]  # never checked
    results = await run_checks_many(db, config, [bad, footer], browser=browser, delay=0.01, slow_after=1.0)
    assert list(results) == ["footer"]
    rows = by_rule(results["footer"])
    column = rows["site.complaint_column"]
    assert column["verdict"] == "fail"
    assert "滚动" in column["detail"] and "监督投诉" in column["detail"]
    candidate = json.loads(column["evidence_json"])["candidates"][0]
    assert candidate["visible"] and not candidate["in_view"] and candidate["box"]["y"] > 768

    loop = rows["service.online_loop"]
    assert loop["verdict"] == "fail"
    assert "缺少实时查询环节" in loop["detail"] and "结果反馈页面无法打开" in loop["detail"]
    assert "“查询失灵”的实时查询无法正常使用" in loop["detail"] and "#query-btn" in loop["detail"]

    disclosure = rows["disclosure.items"]
    assert disclosure["verdict"] == "fail"
    assert "部门职能" in disclosure["detail"] and "联系方式" not in disclosure["detail"]
    assert json.loads(disclosure["evidence_json"])["items"]["contacts"]["url"] == f"{site.url}/footer/contact.html"

    assert due_checks(db, ["footer", "bad"]) == ["bad"]
    sim_clock.advance(timedelta(hours=23))
    assert due_checks(db, ["footer"]) == []
    sim_clock.advance(timedelta(hours=1))
    assert due_checks(db, ["footer"]) == ["footer"]

    # Idempotent: a second run updates the same four findings in place.
    again = by_rule(await run_checks(db, config, footer, depth=0, delay=0, browser=browser))
    assert db["findings"].count == 4
    assert again["disclosure.items"]["id"] == disclosure["id"]
    assert again["disclosure.items"]["created_at"] == disclosure["created_at"] != again["disclosure.items"]["updated_at"]
    assert due_checks(db, ["footer"]) == []


@module_loop
async def test_site_that_is_down_gives_findings_not_a_crash(browser, db, config, tmp_path, sim_clock):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = site_of(GOOD_SITE, f"http://127.0.0.1:{port}", tmp_path)
    rows = by_rule(await run_checks(db, config, down, delay=0, timeout=5, browser=browser))
    assert rows["site.complaint_column"]["verdict"] == "undetermined"
    assert "首页无法打开" in rows["site.complaint_column"]["detail"]
    assert rows["site.links_work"]["verdict"] == "fail" and "首页无法访问" in rows["site.links_work"]["detail"]
    assert rows["service.online_loop"]["verdict"] == "fail"
    assert rows["disclosure.items"]["verdict"] == "undetermined"


@module_loop
async def test_complaint_link_inside_a_frame_and_no_link_at_all(servers, browser, tmp_path):
    from shopper.checks.browse import new_context
    from shopper.checks.column import check_complaint_column

    site, _ = servers
    shots = Screenshots(memory_database(), Config(None, {"paths": {"evidence": str(tmp_path / "ev")}}))
    context = await new_context(browser, f"{site.url}/framed/", timeout=10)
    page = await context.new_page()
    framed = await check_complaint_column(page, f"{site.url}/framed/", shots)
    assert framed.verdict == "pass", framed.detail
    top, below = framed.evidence["candidates"]
    assert top["frame"].endswith("/framed/nav.html") and top["prominent"]
    assert not below["in_view"] and below["box"]["y"] > 1200  # the same link again, in the frame further down
    none = await check_complaint_column(page, f"{site.url}/nolink/", shots)
    assert none.verdict == "fail" and none.detail == "首页没有找到监督、投诉栏目或链接。"
    await context.close()


async def test_homepage_that_is_not_http_is_refused(db, config, tmp_path):
    site = site_of(GOOD_SITE.replace("{url}/good/", "file:///etc/"), "", tmp_path)
    with pytest.raises(ShopperError, match="not an http"):
        await run_checks(db, config, site)
    assert db["findings"].count == 0


def test_cli_check_unknown_agency(tmp_path):
    from shopper.cli import main

    sites = tmp_path / "scenarios" / "sites"
    sites.mkdir(parents=True)
    (tmp_path / "config.toml").write_text(f'[paths]\nscenarios = "{tmp_path / "scenarios"}"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["--db", str(tmp_path / "cli.db"), "--config", str(tmp_path / "config.toml"),
                                       "check", "nosuch"])
    assert result.exit_code == 2 and "unknown site 'nosuch'" in result.output
    (sites / "ftp.toml").write_text('id = "ftp"\nname = "x"\nhomepage = "ftp://127.0.0.1/"\n', encoding="utf-8")
    refused = CliRunner().invoke(main, ["--db", str(tmp_path / "cli.db"), "--config", str(tmp_path / "config.toml"),
                                        "check", "ftp"])
    assert refused.exit_code == 2 and "not an http(s) URL" in refused.output
    nothing = CliRunner().invoke(main, ["--config", str(tmp_path / "config.toml"), "check"])
    assert nothing.exit_code == 2 and "--all" in nothing.output
