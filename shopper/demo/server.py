"""The HTTP side of the demo world: every agency's site under /<agency>/ on one loopback server,
plus the harness endpoints tests use in place of a person (captcha answers, SMS codes).

Routes per agency: / (home), consult, complaint, suggest (+ /frame for iframe forms), submit
(POST), status (GET form, POST query), answered (+ /<ref>), login, sms (POST), logout,
captcha.png?t=, xxgk/<n>, service/<n>, slow. The server checks every form again (a browser with
scripts off must not get past it), and answers in the agency's own charset (GBK for one).
"""

from __future__ import annotations

import html
import logging
import re
import secrets
import time
from http import cookies
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from shopper.demo.agencies import DISTRICTS, Agency
from shopper.demo.pages import form_notes, render

log = logging.getLogger(__name__)

KINDS = {"consult": "consultation", "complaint": "complaint", "suggest": "suggestion"}
KIND_WORDS = {"consultation": "咨询", "complaint": "投诉", "suggestion": "建议"}
RADIO_VALUES = {"zx": "consultation", "ts": "complaint", "jy": "suggestion"}
HEADINGS = {"consultation": "在线咨询", "complaint": "监督投诉", "suggestion": "意见建议"}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^[0-9+\-() ]{7,20}$")


def make_server(world, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(DemoHandler):
        pass

    Handler.world = world
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


class DemoHandler(BaseHTTPRequestHandler):
    world = None  # set per server by make_server
    server_version = "nginx"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
        log.debug("%s %s", self.address_string(), format % args)

    # --- plumbing --------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _page(self, agency: Agency | None, template: str, status: int = 200, headers: dict | None = None, **context):
        charset = agency.charset if agency else "utf-8"
        if agency is not None:
            context.setdefault("agency", agency)
            context.setdefault("user", self._user(agency))
        text = render(template, charset=charset, **context)
        label = "GBK" if charset.lower() == "gbk" else "utf-8"
        self._send(status, text.encode(charset, errors="xmlcharrefreplace"), f"text/html; charset={label}", headers)

    def _text(self, status: int, text: str) -> None:
        self._send(status, text.encode("utf-8"), "text/plain; charset=utf-8")

    def _redirect(self, location: str, headers: dict | None = None) -> None:
        self.send_response(303)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()

    def _not_found(self) -> None:
        self._send(404, render("404.html").encode("utf-8"), "text/html; charset=utf-8")

    def _form(self, agency: Agency | None) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        charset = agency.charset if agency else "utf-8"
        parsed = parse_qs(raw.decode("ascii", errors="replace"), keep_blank_values=True, encoding=charset,
                          errors="replace")
        # Browsers send characters the page's charset lacks as &#NNNN; references.
        return {k: html.unescape(v[-1]) for k, v in parsed.items()}

    def _cookie(self, name: str) -> str | None:
        jar = cookies.SimpleCookie(self.headers.get("Cookie", ""))
        return jar[name].value if name in jar else None

    def _user(self, agency: Agency) -> str | None:
        sid = self._cookie(f"sid_{agency.id}")
        entry = self.world.sessions.get(sid) if sid else None
        return entry[1] if entry and entry[0] == agency.id else None

    # --- dispatch ----------------------------------------------------------------------------------

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        try:
            if not parts:
                return self._index()
            if parts[0] == "__harness":
                return self._harness(parts[1:], query)
            agency = self.world.agencies.get(parts[0])
            if agency is None:
                return self._not_found()
            if len(parts) == 1 and not url.path.endswith("/"):
                return self._redirect(f"/{agency.id}/")
            self._agency(method, agency, parts[1:], query)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception:  # a bug in one page must show as a server error, not a dropped connection
            log.exception("demo world: %s %s failed", method, self.path)
            self._send(500, "服务器内部错误".encode("utf-8"), "text/plain; charset=utf-8")

    def _index(self) -> None:
        world = self.world
        agencies = list(world.agencies.values())
        self._page(None, "index.html", agencies=agencies, notes={a.id: form_notes(a) for a in agencies},
                   now=world.now().isoformat(timespec="seconds"))

    def _harness(self, parts: list[str], query: dict) -> None:
        if parts == ["captcha"]:
            answer = None
            if "sha" in query:
                answer = self.world.captcha_answer(query["sha"])
            elif "token" in query:
                answer = self.world.captchas.answer_for_token(query["token"])
            return self._text(200, answer) if answer else self._text(404, "unknown captcha")
        if parts == ["sms"]:
            phone = query.get("phone", "")
            # The page sends the code with a script; give it a moment to arrive.
            for _ in range(10):
                code = self.world.sms_code(phone)
                if code:
                    return self._text(200, code)
                time.sleep(0.05)
            return self._text(404, "no code sent to this phone")
        self._not_found()

    def _agency(self, method: str, agency: Agency, parts: list[str], query: dict) -> None:
        page = parts[0] if parts else ""
        rest = parts[1:]
        if page == "" and method == "GET":
            return self._home(agency)
        if page in KINDS and method == "GET":
            return self._form_page(agency, page, frame=rest == ["frame"])
        if page == "submit" and method == "POST":
            return self._submit(agency, self._form(agency))
        if page == "status":
            return self._status(agency, self._form(agency) if method == "POST" else None)
        if page == "answered" and agency.status.answered_list:
            return self._answered(agency, rest)
        if page == "captcha.png":
            captcha = self.world.captchas.get(query.get("t", ""))
            if captcha is None:
                return self._not_found()
            return self._send(200, captcha.png, "image/png")
        if page == "login" and agency.form.login:
            return self._login(agency, self._form(agency) if method == "POST" else None, query)
        if page == "sms" and method == "POST" and agency.form.login:
            mobile = self._form(agency).get("mobile", "").strip()
            if not re.fullmatch(r"1\d{10}", mobile):
                return self._text(400, "手机号格式不正确")
            self.world.send_sms(mobile)
            return self._text(200, "验证码已发送，5分钟内有效")
        if page == "logout":
            sid = self._cookie(f"sid_{agency.id}")
            self.world.sessions.pop(sid, None)
            return self._redirect(f"/{agency.id}/")
        if page == "slow" and agency.home.slow_page:
            time.sleep(self.world.slow_delay)  # real time: the point is a page that loads slowly
            return self._page(agency, "page.html", title="执法事项清单", paragraphs=["执法事项清单全文（共326项）。"] * 20)
        if page == "xxgk":
            return self._disclosure(agency, rest)
        if page == "service" and rest and rest[0].isdigit() and 1 <= int(rest[0]) <= len(agency.services):
            name = agency.services[int(rest[0]) - 1]
            return self._page(agency, "page.html", title=name, paragraphs=[
                f"事项名称：{name}", "办理依据：详见政务公开“政策法规”栏目。", "办理时限：20个工作日。",
                f"办理地点：{agency.address}。", "办理结果：办结后通过“办件查询”反馈。"],
                links=[(f"/{agency.id}/complaint", "网上受理"), (f"/{agency.id}/status", "办件查询"),
                       (f"/{agency.id}/status", "结果反馈")])
        self._not_found()

    # --- pages -------------------------------------------------------------------------------------

    def _home(self, agency: Agency) -> None:
        local = self.world.calendar(agency.id).local(self.world.now())
        news = []
        count = 40 if agency.home.complaint_link == "footer" else 8
        topics = ["召开专题工作会议", "开展专项检查", "发布年度工作要点", "推进“一网通办”", "举办政策解读会",
                  "公布第三季度办件情况", "开展安全生产大检查", "召开党组（扩大）会议"]
        for i in range(count):
            href = f"/{agency.id}/xxgk/1"
            if agency.home.broken_links and i % 3 == 0:
                href = f"/{agency.id}/news/2019/{1000 + i}.html"
            news.append({"title": f"{agency.short}{topics[i % len(topics)]}", "href": href,
                         "date": f"{local.year}-{local.month:02d}-{max(1, local.day - i % 28):02d}"})
        self._page(agency, "home.html", title="首页", news=news)

    def _disclosure(self, agency: Agency, rest: list[str]) -> None:
        items = [title for _, title in agency.home.disclosure]
        if not rest:
            return self._page(agency, "page.html", title="政务公开", paragraphs=[],
                              links=[(f"/{agency.id}/xxgk/{i + 1}", t) for i, t in enumerate(items)])
        if rest[0].isdigit() and 1 <= int(rest[0]) <= len(items):
            item = items[int(rest[0]) - 1]
            text = {"联系方式": f"地址：{agency.address}；电话：{agency.phone}；邮箱：{agency.from_addr}"}.get(
                item, f"{agency.name}{item}，依照《中华人民共和国政府信息公开条例》主动公开。")
            if item == "办理结果公示":
                text += f"本月共办结{len(self.world.answered(agency.id))}件来信。"
            return self._page(agency, "page.html", title=item, paragraphs=[text])
        self._not_found()

    def _form_page(self, agency: Agency, page: str, *, frame: bool, error: str | None = None,
                   values: dict | None = None, kind: str | None = None) -> None:
        kind = kind or KINDS[page]
        if agency.form.login and self._user(agency) is None:
            return self._redirect(f"/{agency.id}/login?next={page}")
        if agency.form.iframe and not frame and error is None:
            return self._page(agency, "form_shell.html", title=HEADINGS[kind], heading=HEADINGS[kind],
                              kind_word=KIND_WORDS[kind], page=page)
        checked = {v: k for k, v in RADIO_VALUES.items()}[kind]
        self._page(agency, "form.html", layout="frame.html" if agency.form.iframe else "base.html",
                   title=HEADINGS[kind], heading=HEADINGS[kind], kind=kind, f=agency.form.fields,
                   kinds=[("zx", "咨询"), ("ts", "投诉"), ("jy", "建议")], checked_kind=checked,
                   districts=DISTRICTS, captcha=self.world.captchas.issue() if agency.form.captcha else None,
                   error=error, values=values or {})

    def _read_letter(self, agency: Agency, form: dict) -> tuple[dict | None, str | None]:
        """The letter in a posted form, or the reason the form is refused (as the page says it)."""
        f = agency.form.fields
        # The captcha first, as real sites do: any attempt uses it up.
        if agency.form.captcha and not self.world.captchas.check(form.get("captcha_token", ""), form.get(f["captcha"], "")):
            return None, "验证码错误，请重新输入"
        kind = form.get("form_kind", "complaint")
        if kind not in KIND_WORDS:
            kind = "complaint"
        if agency.form.radios:
            chosen = form.get(f["kind"], "")
            if chosen not in RADIO_VALUES:
                return None, "请选择类型（咨询、投诉或建议）"
            kind = RADIO_VALUES[chosen]
        letter = {
            "kind": kind, "subject": form.get(f["title"], "").strip(), "body": form.get(f["body"], "").strip(),
            "name": form.get(f["name"], "").strip(), "phone": form.get(f["phone"], "").strip(),
            "email": form.get(f["email"], "").strip(), "district": form.get(f["district"], "").strip(),
            "department": form.get(f["department"], "").strip(),
        }
        labels = [("subject", "标题"), ("body", "内容"), ("name", "姓名"), ("phone", "联系电话"), ("email", "电子邮箱")]
        if agency.form.district:
            labels.append(("district", "所在区"))
        if agency.form.departments:
            labels.insert(0, ("department", "收信部门"))
        missing = [label for key, label in labels if not letter[key]]
        if missing:
            return None, "请填写：" + "、".join(missing)
        if agency.form.district and letter["district"] not in DISTRICTS:
            return None, "请选择所在区"
        if agency.form.departments and letter["department"] not in agency.form.departments:
            return None, "请选择收信部门"
        if not PHONE.match(letter["phone"]):
            return None, "联系电话格式不正确"
        if not EMAIL.match(letter["email"]):
            return None, "电子邮箱格式不正确"
        if agency.form.title_min and len(letter["subject"]) < agency.form.title_min:
            return None, f"标题不能少于{agency.form.title_min}个字"
        if len(letter["subject"]) > agency.form.title_max:
            return None, f"标题不能超过{agency.form.title_max}个字"
        if len(letter["body"]) > agency.form.body_max:
            return None, f"内容不能超过{agency.form.body_max}字"
        if agency.form.agreement and not form.get(f["agree"]):
            return None, "请先阅读并同意《网上来信须知》"
        return letter, None

    def _submit(self, agency: Agency, form: dict) -> None:
        if agency.form.login and self._user(agency) is None:
            return self._redirect(f"/{agency.id}/login?next=complaint")
        layout = "frame.html" if agency.form.iframe else "base.html"
        page = {v: k for k, v in KINDS.items()}.get(form.get("form_kind", ""), "complaint")
        if form.get("step") == "confirm" and agency.form.two_step:
            draft = self.world.drafts.pop(form.get("draft", ""), None)
            if draft is None:
                return self._form_page(agency, page, frame=True, error="页面已过期，请重新填写")
            letter = draft
        else:
            letter, error = self._read_letter(agency, form)
            if error:
                log.info("%s refused a form: %s", agency.id, error)
                return self._form_page(agency, page, frame=True, error=error, values=form,
                                       kind=form.get("form_kind") if form.get("form_kind") in KIND_WORDS else None)
            if agency.form.two_step:
                draft_id = secrets.token_hex(8)
                self.world.drafts[draft_id] = {**letter, "fields": form}
                return self._page(agency, "confirm.html", layout=layout, title="确认提交", draft=letter,
                                  draft_id=draft_id, kind_word=KIND_WORDS[letter["kind"]], page=page)
        fields = letter.pop("fields", form)
        sub = self.world.receive(agency.id, account=self._user(agency) or "", fields=fields, **letter)
        self._page(agency, "done.html", layout=layout, title="提交成功", sub=sub, shows=agency.form.shows)

    def _status(self, agency: Agency, form: dict | None) -> None:
        need_captcha = agency.status.captcha
        view, error = None, None
        if form is not None:
            sub = self.world.find(agency.id, form.get("ref", ""))
            if need_captcha and not self.world.captchas.check(form.get("captcha_token", ""), form.get("captcha", "")):
                error = "验证码错误，请重新输入"
            elif sub is None:
                error = "未查询到该编号的办件，请核对后重新输入"
            elif agency.status.needs_code and form.get("code", "").strip().upper() != sub.query_code:
                error = "查询码不正确"
            elif agency.status.needs_phone and form.get("phone", "").strip() != sub.phone:
                error = "联系电话与办件登记信息不一致"
            else:
                view = self.world.status_view(sub)
        self._page(agency, "status.html", title="办件查询", view=view, error=error, values=form or {},
                   captcha=self.world.captchas.issue() if need_captcha else None)

    def _answered(self, agency: Agency, rest: list[str]) -> None:
        cal = self.world.calendar(agency.id)
        if rest:
            sub = self.world.find(agency.id, rest[0])
            if sub is None or not sub.reply_text:
                return self._not_found()
            return self._page(agency, "letter.html", title=sub.subject, view=self.world.status_view(sub), body=sub.body)
        letters = sorted(self.world.answered(agency.id), key=lambda s: s.reply_at, reverse=True)
        times = [cal.local(s.reply_at).strftime("%Y-%m-%d") for s in letters]
        self._page(agency, "answered.html", title="答复列表", letters=letters, times=times)

    def _login(self, agency: Agency, form: dict | None, query: dict) -> None:
        next_page = (form or query).get("next", "complaint")
        if next_page not in KINDS:
            next_page = "complaint"
        if form is None:
            return self._page(agency, "login.html", title="用户登录", next=next_page)
        username, password = form.get("username", "").strip(), form.get("password", "")
        mobile, sms = form.get("mobile", "").strip(), form.get("sms", "").strip()
        error = None
        account = self.world.accounts.get((agency.id, username))
        if not username or not password or not mobile:
            error = "请填写账号、密码和手机号"
        elif account is not None and (account["password"] != password or account["phone"] != mobile):
            error = "账号、密码或手机号错误"
        elif account is None and len(password) < 6:
            error = "新账号的密码不能少于6位"
        elif not sms or sms != self.world.sms_code(mobile):
            error = "短信验证码错误"
        if error:
            return self._page(agency, "login.html", title="用户登录", next=next_page, error=error, values=form)
        if account is None:
            self.world.accounts[(agency.id, username)] = {"password": password, "phone": mobile}
        self.world.sms_codes.pop(mobile, None)
        sid = self.world.new_session(agency.id, username)
        self._redirect(f"/{agency.id}/{next_page}",
                       headers={"Set-Cookie": f"sid_{agency.id}={sid}; Path=/{agency.id}/; HttpOnly"})
