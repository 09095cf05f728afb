"""The demo agency sites over plain HTTP: pages, forms and their checks, status queries, harness."""

from __future__ import annotations

import hashlib
import http.cookiejar
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from shopper.demo.agencies import AGENCIES, site_file
from shopper.sites import load_sites

SITES_DIR = Path(__file__).resolve().parent.parent / "scenarios" / "sites"


class Browser:
    """Just enough of a browser: cookies, forms posted in the page's charset."""

    def __init__(self, world):
        self.world = world
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[int, str, str]:
        return self._open(urllib.request.Request(self.world.base_url + path))

    def post(self, path: str, fields: dict, charset: str = "utf-8") -> tuple[int, str, str]:
        data = urllib.parse.urlencode(fields, encoding=charset).encode("ascii")
        return self._open(urllib.request.Request(self.world.base_url + path, data=data))

    def _open(self, request) -> tuple[int, str, str]:
        try:
            with self.opener.open(request, timeout=10) as response:
                raw, status, ctype = response.read(), response.status, response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as err:
            raw, status, ctype = err.read(), err.code, err.headers.get("Content-Type", "")
        charset = "gbk" if "GBK" in ctype else "utf-8"
        return status, raw.decode(charset), ctype

    def solve_captcha(self, page: str, img_id: str = "captcha-img") -> tuple[str, str]:
        """(token, answer) of the captcha on `page`, read the way a solver does: by the image's sha."""
        src = re.search(rf'id="{img_id}" src="([^"]+)"', page).group(1)
        png = self.opener.open(self.world.base_url + src.replace("&amp;", "&")).read()
        assert png.startswith(b"\x89PNG")
        sha = hashlib.sha256(png).hexdigest()
        answer = self.opener.open(f"{self.world.base_url}/__harness/captcha?sha={sha}").read().decode()
        token = re.search(r'name="captcha_token" value="([^"]+)"', page).group(1)
        return token, answer


def letter(agency_id: str, **overrides) -> dict:
    f = AGENCIES[agency_id].form.fields
    fields = {
        "form_kind": "complaint", "step": "details",
        f["title"]: "小区门口下水道堵塞", f["body"]: "小区门口下水道堵塞一周，污水外溢，请尽快处理。",
        f["name"]: "王伟", f["phone"]: "13812345678", f["email"]: "t-0a1b2c3d@reply.shopper.test",
        f["district"]: "徐汇区", f["kind"]: "ts", f["agree"]: "1",
    }
    fields.update(overrides)
    return fields


def test_every_agency_has_its_pages_in_chinese(world):
    browser = Browser(world)
    assert len(world.agencies) >= 8
    for agency in world.agencies.values():
        for path in ("", "consult", "complaint", "status"):
            status, text, _ = browser.get(f"/{agency.id}/{path}")
            assert status == 200, (agency.id, path)
            assert agency.name in text or "登录" in text, (agency.id, path)
        status, text, _ = browser.get(f"/{agency.id}/")
        top, footer = text.split('<div class="main">')[0], text.split('<div class="footer">')[1]
        if agency.home.complaint_link == "top":
            assert "监督投诉" in top and 'id="complaint-link"' in text
        else:
            assert "监督投诉" not in top and "监督投诉" in footer


def test_site_files_are_written_from_the_agencies_and_load(world):
    for agency in AGENCIES.values():
        path = SITES_DIR / f"{agency.id}.toml"
        assert path.read_text(encoding="utf-8") == site_file(agency), f"regenerate {path}"
    sites = load_sites(SITES_DIR)
    demo = {k: v for k, v in sites.items() if k in AGENCIES}
    assert set(demo) == set(AGENCIES)
    for site_id, site in demo.items():
        assert site.homepage == world.url(site_id)
        assert site.form_for("complaint") and site.status
        assert site.limit_for("complaint").as_dict() == dict(zip(("n", "unit"), AGENCIES[site_id].profile.complaint_limit))
    assert sites["mzxx"].login and sites["mzxx"].answered_list
    assert sites["mzxx"].fields["title_min"] == 10 and sites["mzxx"].fields["title_max"] == 25


def test_gbk_site_really_speaks_gbk(world):
    browser = Browser(world)
    raw = urllib.request.urlopen(world.url("sthjj", "complaint"), timeout=10)
    assert raw.headers["Content-Type"] == "text/html; charset=GBK"
    body = raw.read()
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    text = body.decode("gbk")
    assert '<meta charset="gbk">' in text and "上海市生态环境局" in text
    token, answer = browser.solve_captcha(text)
    status, page, _ = browser.post("/sthjj/submit", letter("sthjj", captcha_token=token, yzm=answer,
                                                           bt="化工厂排放异味严重"), charset="gbk")
    assert "提交成功" in page
    reference = re.search(r'id="ref">([^<]+)<', page).group(1)
    assert world.submission(reference).subject == "化工厂排放异味严重"


def test_server_refuses_incomplete_forms_and_keeps_what_was_typed(world):
    browser = Browser(world)
    before = len(world.submissions)
    _, page, _ = browser.get("/jtw/complaint")
    token, answer = browser.solve_captcha(page)
    _, page, _ = browser.post("/jtw/submit", letter("jtw", captcha_token=token, captcha=answer, content=""))
    assert "请填写：内容" in page and "小区门口下水道堵塞" in page
    _, page, _ = browser.post("/jtw/submit", letter("jtw", captcha_token=token, captcha=answer))
    assert "验证码错误" in page  # a captcha is good for one try
    token, _ = browser.solve_captcha(page)
    _, page, _ = browser.post("/jtw/submit", letter("jtw", captcha_token=token, captcha="XXXX"))
    assert "验证码错误" in page
    token, answer = browser.solve_captcha(page)
    fields = letter("jtw", captcha_token=token, captcha=answer)
    del fields["agree"]
    _, page, _ = browser.post("/jtw/submit", fields)
    assert "请先阅读并同意" in page
    assert len(world.submissions) == before
    assert "checkForm" in page and "data-required" in page  # the page checks before sending, too


def test_two_step_form_and_reference_only_by_mail(world):
    browser = Browser(world)
    _, page, _ = browser.get("/ghj/consult")
    token, answer = browser.solve_captcha(page)
    _, page, _ = browser.post("/ghj/submit", letter("ghj", form_kind="consultation", captcha_token=token,
                                                    captcha=answer, title="咨询建设工程规划许可办理"))
    assert "请确认您的来信" in page and "咨询建设工程规划许可办理" in page
    before = len(world.submissions)
    draft = re.search(r'name="draft" value="([^"]+)"', page).group(1)
    _, page, _ = browser.post("/ghj/submit", {"step": "confirm", "draft": draft})
    assert "提交成功" in page and len(world.submissions) == before + 1
    assert world.submissions[-1].kind == "consultation"
    _, page, _ = browser.post("/ghj/submit", {"step": "confirm", "draft": draft})
    assert "页面已过期" in page and len(world.submissions) == before + 1

    _, page, _ = browser.post("/fgj/submit", letter("fgj"))
    assert "提交成功" in page and 'id="ref"' not in page and "电子邮件" in page


def test_iframe_form_lives_in_its_frame(world):
    browser = Browser(world)
    _, shell, _ = browser.get("/sww/complaint")
    assert 'iframe id="form-frame"' in shell and "letter-form" not in shell
    _, frame, _ = browser.get("/sww/complaint/frame")
    assert "letter-form" in frame and 'class="nav"' not in frame
    _, page, _ = browser.post("/sww/submit", letter("sww"))
    assert "提交成功" in page and 'class="nav"' not in page


def test_reference_and_query_code_after_submit_and_status_query(world):
    browser = Browser(world)
    _, page, _ = browser.get("/scjgj/complaint")
    token, answer = browser.solve_captcha(page)
    _, page, _ = browser.post("/scjgj/submit", letter("scjgj", captcha_token=token, captcha=answer))
    reference = re.search(r'id="ref">([^<]+)<', page).group(1)
    code = re.search(r'id="query-code">([^<]+)<', page).group(1)
    _, page, _ = browser.post("/scjgj/status", {"ref": reference, "code": "WRONG1"})
    assert "查询码不正确" in page
    _, page, _ = browser.post("/scjgj/status", {"ref": reference, "code": code})
    assert re.search(r'id="status">待审查<', page) and 'id="status-time"' in page


def test_mayor_mailbox_login_sms_limits_and_answered_list(world):
    browser = Browser(world)
    status, page, _ = browser.get("/mzxx/complaint")
    assert "用户登录" in page  # redirected: only accounts may write
    phone = "13900001111"
    browser.post("/mzxx/sms", {"mobile": phone})
    code = urllib.request.urlopen(f"{world.base_url}/__harness/sms?phone={phone}", timeout=10).read().decode()
    assert re.fullmatch(r"\d{6}", code)
    _, page, _ = browser.post("/mzxx/login", {"username": "zhangsan", "password": "secret99", "mobile": phone,
                                              "sms": "000000" if code != "000000" else "111111", "next": "complaint"})
    assert "短信验证码错误" in page
    _, page, _ = browser.post("/mzxx/login", {"username": "zhangsan", "password": "secret99", "mobile": phone,
                                              "sms": code, "next": "complaint"})
    assert 'id="login-user">zhangsan<' in page and 'id="dept"' in page
    base = {"form_kind": "complaint", "dept": "市交通委", "content": "公交站台雨棚破损，下雨天无法候车。",
            "name": "张三", "phone": phone, "email": "t-99999999@reply.shopper.test"}
    _, page, _ = browser.post("/mzxx/submit", {**base, "title": "雨棚破损"})
    assert "标题不能少于10个字" in page
    _, page, _ = browser.post("/mzxx/submit", {**base, "title": "公交站台雨棚破损" * 4})
    assert "标题不能超过25个字" in page
    _, page, _ = browser.post("/mzxx/submit", {**base, "title": "公交站台雨棚破损请尽快修复", "content": "很" * 601})
    assert "内容不能超过600字" in page
    _, page, _ = browser.post("/mzxx/submit", {**base, "title": "公交站台雨棚破损请尽快修复", "dept": ""})
    assert "请填写：收信部门" in page
    _, page, _ = browser.post("/mzxx/submit", {**base, "title": "公交站台雨棚破损请尽快修复"})
    reference = re.search(r'id="ref">([^<]+)<', page).group(1)
    sub = world.submission(reference)
    assert sub.department == "市交通委" and sub.account == "zhangsan" and reference.startswith("SZXX")

    _, page, _ = browser.get("/mzxx/status")
    token, answer = browser.solve_captcha(page, "status-captcha-img")
    _, page, _ = browser.post("/mzxx/status", {"ref": reference, "code": sub.query_code, "captcha_token": token,
                                               "captcha": "ZZZZ" if answer != "ZZZZ" else "YYYY"})
    assert "验证码错误" in page
    token, answer = browser.solve_captcha(page, "status-captcha-img")
    _, page, _ = browser.post("/mzxx/status", {"ref": reference, "code": sub.query_code, "captcha_token": token,
                                               "captcha": answer})
    assert 'id="status">待审查<' in page

    world.advance(60 * 60 * 24 * 8)  # the mayor's office answers on its site within the week
    token, answer = browser.solve_captcha(browser.get("/mzxx/status")[1], "status-captcha-img")
    _, page, _ = browser.post("/mzxx/status", {"ref": reference, "code": sub.query_code, "captcha_token": token,
                                               "captcha": answer})
    assert 'id="status">已处理<' in page and "张三" in page and "受理编号" in page
    assert [s for s in re.findall(r'class="state">([^<]+)<', page)] == ["待审查", "待处理", "已处理"]
    _, listing, _ = browser.get("/mzxx/answered")
    assert reference in listing and "公交站台雨棚破损请尽快修复" in listing
    _, detail, _ = browser.get(f"/mzxx/answered/{reference}")
    assert "公交站台雨棚破损" in detail and 'id="reply"' in detail
    assert not [a for a in world.actions_for(reference) if a.channel == "email"]


def test_site_check_material_broken_links_and_slow_page(world):
    browser = Browser(world)
    _, home, _ = browser.get("/fgj/")
    links = set(re.findall(r'href="(/fgj/[^"]*)"', home))
    broken = [link for link in links if browser.get(link)[0] == 404]
    assert broken and all(browser.get(link)[0] == 200 for link in links - set(broken))
    assert "/fgj/wsbs/old/apply.jsp" in broken
    started = time.monotonic()
    status, _, _ = browser.get("/cgj/slow")
    assert status == 200 and time.monotonic() - started >= world.slow_delay


def test_harness_says_plainly_when_it_knows_nothing(world):
    for path in ("/__harness/captcha?sha=" + "0" * 64, "/__harness/sms?phone=10000000000", "/nosuch/", "/jtw/nosuch"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(world.base_url + path, timeout=10)
        assert err.value.code == 404
