"""The status-page poller against a real page on 127.0.0.1, in real Chromium, on a simulated clock."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

from shopper.clock import get_clock
from shopper.poller import next_due_at, next_poll_at, page_time, poll_due
from shopper.sites import load_site_file
from shopper.timeline import next_deadline, raise_passed_deadlines, timeline
from tests.fixtures.capture import add_agency, add_test

SHANGHAI = ZoneInfo("Asia/Shanghai")
MON_10 = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)
ACK_DEADLINE = MON_10 + timedelta(hours=24)

SITE = """
id = "polldemo"
name = "轮询演示局"
homepage = "{base}/"
office_hours = "09:00-17:00"
[limits]
complaint = {{ n = 15, unit = "workday" }}

[[status.steps]]
action = "goto"
url = "status"
[[status.steps]]
action = "fill"
selector = "#ref-input"
value = "{{{{ test.reference_number }}}}"
[[status.steps]]
action = "click"
selector = "#query-btn"
[[status.steps]]
action = "expect"
selector = "#result"
[[status.steps]]
action = "extract"
selector = "#status"
into = "status"
[[status.steps]]
action = "extract"
selector = "#status-time"
into = "status_time"
[[status.steps]]
action = "extract"
selector = "#reply"
into = "reply"

[[answered_list.steps]]
action = "goto"
url = "answered"
[[answered_list.steps]]
action = "extract"
selector = "#list"
into = "answered_list"
"""


class Page:
    """What the agency's status page shows, as a function of the (simulated) time."""

    def __init__(self):
        # ref -> list of (from when, status, page time text, reply)
        self.timeline: dict[str, list[tuple[datetime, str, str, str]]] = {}
        self.answered: list[tuple[datetime, str]] = []

    def show(self, ref: str):
        now = get_clock().now()
        current = ("待审查", "—", "暂无")
        for since, status, shown, reply in self.timeline.get(ref, []):
            if now >= since:
                current = (status, shown, reply)
        return current


def _serve(page: Page):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            url = urlparse(self.path)
            ref = parse_qs(url.query).get("ref", [""])[0]
            if url.path == "/status" and ref:
                status, shown, reply = page.show(ref)
                body = (f'<div id="result"><span id="status">{status}</span>'
                        f'<span id="status-time">{shown}</span><div id="reply">{reply}</div></div>')
            elif url.path == "/status":
                body = ('<form action="status"><input id="ref-input" name="ref">'
                        '<button id="query-btn" type="submit">查询</button></form>')
            elif url.path == "/answered":
                now = get_clock().now()
                body = '<ul id="list"><li>已答复来信</li>' + "".join(f"<li>{ref}</li>" for since, ref in page.answered if now >= since) + "</ul>"
            else:
                self.send_error(404)
                return
            data = f'<html><head><meta charset="utf-8"></head><body>{body}</body></html>'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_next_poll_at_is_sparse_far_from_a_deadline_and_dense_around_it():
    d = ACK_DEADLINE
    assert next_poll_at({}, MON_10, [d], None) == MON_10  # never looked: now
    assert next_poll_at({}, MON_10, [], MON_10) == MON_10 + timedelta(hours=4)
    assert next_poll_at({}, MON_10, [d], d - timedelta(hours=3)) == d - timedelta(hours=1)
    assert next_poll_at({}, MON_10, [d], d - timedelta(minutes=55)) == d - timedelta(minutes=45)
    assert next_poll_at({}, MON_10, [d], d - timedelta(minutes=5)) == d - timedelta(minutes=1)
    assert next_poll_at({}, MON_10, [d], d - timedelta(minutes=1)) == d + timedelta(minutes=1)
    assert next_poll_at({}, MON_10, [d], d + timedelta(minutes=1)) == d + timedelta(minutes=11)
    assert next_poll_at({}, MON_10, [d], d + timedelta(hours=2)) == d + timedelta(hours=6)


def test_pace_comes_from_the_config():
    from shopper.config import Config
    from shopper.poller import Pace

    pace = Pace.from_config(Config(None, {"poller": {"sparse_hours": 24, "dense_minutes": 30}}))
    assert pace.sparse == timedelta(hours=24) and pace.dense == timedelta(minutes=30)
    assert next_poll_at({}, MON_10, [], MON_10, pace) == MON_10 + timedelta(hours=24)


def test_page_time_reads_what_the_page_shows():
    assert page_time("受理时间：2026-12-01 09:30", SHANGHAI) == datetime(2026, 12, 1, 9, 30, tzinfo=SHANGHAI)
    assert page_time("2026年12月1日 9:05:07", SHANGHAI) == datetime(2026, 12, 1, 9, 5, 7, tzinfo=SHANGHAI)
    assert page_time("暂无", SHANGHAI) is None


async def test_the_poller_decides_ack_24h_from_looks_on_both_sides_of_the_deadline(db, tmp_path, sim_clock,
                                                                                 monkeypatch):
    from playwright.async_api import async_playwright

    from shopper import poller
    from shopper.browser import launch

    # A dense phase of 20 minutes instead of an hour: the same decisions with fewer browser rounds.
    monkeypatch.setattr(poller, "PACE", poller.Pace(dense_span=timedelta(minutes=20)))

    page = Page()
    server = _serve(page)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    site_path = tmp_path / "polldemo.toml"
    site_path.write_text(SITE.format(base=base), encoding="utf-8")
    sites = {"polldemo": load_site_file(site_path)}
    add_agency(db, "polldemo", domains=("polldemo.gov.cn",), site_file=str(site_path))
    silent = add_test(db, agency_id="polldemo", reference="REF-SILENT", submitted_at=MON_10)
    in_time = add_test(db, agency_id="polldemo", reference="REF-INTIME", submitted_at=MON_10)
    late = add_test(db, agency_id="polldemo", reference="REF-LATE", submitted_at=MON_10)
    local = lambda dt: dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")  # noqa: E731
    page.timeline["REF-INTIME"] = [
        (ACK_DEADLINE - timedelta(minutes=30), "已受理", local(ACK_DEADLINE - timedelta(minutes=30)), "暂无"),
        (ACK_DEADLINE + timedelta(minutes=40), "已办结", local(ACK_DEADLINE + timedelta(minutes=40)),
         "您好，您反映的问题已处理完毕，感谢您的监督。"),
    ]
    page.timeline["REF-LATE"] = [(ACK_DEADLINE + timedelta(minutes=20), "已受理",
                                  local(ACK_DEADLINE + timedelta(minutes=20)), "暂无")]
    page.answered = [(ACK_DEADLINE + timedelta(minutes=15), "REF-LATE")]
    # The far-from-the-deadline part is plain arithmetic (tested above): start the browser part
    # with the first look of each test made at submission and the clock two hours before.
    for test in (silent, in_time, late):
        db["status_polls"].insert({"test_id": test["id"], "polled_at": "2026-11-30T02:00:00+00:00",
                                   "status": "待审查", "polls": 1}, pk="test_id")
    sim_clock.set(ACK_DEADLINE - timedelta(hours=2))

    looks: list[datetime] = []
    end = ACK_DEADLINE + timedelta(hours=4)  # in_time, answered, is looked at sparsely again at 05:59
    try:
        async with async_playwright() as pw:
            browser = await launch(pw)
            while sim_clock.now() < end:
                now = sim_clock.now()
                result = await poll_due(db, None, sites, browser=browser, now=now)
                if result["polled"]:
                    looks.append(now)
                assert not result["errors"], result["errors"]
                raise_passed_deadlines(db, now)
                wake = [t for t in (next_due_at(db, now), next_deadline(db, now)) if t is not None]
                sim_clock.set(max(min(wake), now + timedelta(seconds=1)) if wake else end)
            await browser.close()
    finally:
        server.shutdown()

    # Looks on both sides of the deadline, close to it; few looks far from it.
    assert ACK_DEADLINE - timedelta(minutes=1) in looks and ACK_DEADLINE + timedelta(minutes=1) in looks
    assert looks[0] == ACK_DEADLINE - timedelta(hours=2)  # overdue after 4 sparse hours: looked at once
    assert looks[1] == ACK_DEADLINE - timedelta(minutes=20)  # then nothing until the dense phase

    def kinds(test):
        return [(e["kind"], (e["detail"] or {}).get("rule")) for e in timeline(db, test["id"])]

    assert ("deadline_passed", "complaint.ack_24h") in kinds(silent)
    assert ("acknowledged", None) not in kinds(silent)

    assert ("deadline_passed", "complaint.ack_24h") not in kinds(in_time)
    ack = [e for e in timeline(db, in_time["id"]) if e["kind"] == "acknowledged"][0]
    assert ack["at"] == "2026-12-01T01:30:00+00:00"  # the time the page shows
    assert ack["window_end"] <= "2026-12-01T02:00:00+00:00"
    replied = [e for e in timeline(db, in_time["id"]) if e["kind"] == "replied"]
    assert replied and replied[0]["source"] == "status_page"
    msg = db.execute("SELECT source, own_text FROM messages WHERE test_id = ?", [in_time["id"]]).fetchone()
    assert msg[0] == "status_page" and "处理完毕" in msg[1]

    assert ("deadline_passed", "complaint.ack_24h") in kinds(late)
    late_ack = [e for e in timeline(db, late["id"]) if e["kind"] == "acknowledged"][0]
    assert late_ack["window_start"] >= "2026-12-01T02:00:00+00:00"  # seen only after the deadline
    assert late_ack["at"] == "2026-12-01T02:20:00+00:00"
    listed = [e for e in timeline(db, late["id"]) if e["kind"] == "replied"]
    assert listed and listed[0]["detail"] == {"answered_list": True}  # read off the public answered list
    passed = [e for e in timeline(db, late["id"]) if e["kind"] == "deadline_passed"][0]
    assert passed["at"] == "2026-12-01T02:00:00+00:00"
