"""The behaviour profiles over a simulated week: when each agency acknowledges and answers, what it
states, how its status page moves, and that its mail reaches the IMAP mailbox intact."""

from __future__ import annotations

import email
import email.header
import email.policy
import html
import imaplib
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from shopper import deadlines
from shopper.clock import SimulatedClock
from shopper.demo.agencies import AGENCIES, make_agency
from shopper.demo.profiles import PROFILES, After
from shopper.demo.world import World

MONDAY_10 = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 in Shanghai
WEEK = timedelta(days=8)

LETTERS = {
    "plain": ("小区门口下水道堵塞", "小区门口下水道堵塞一周，污水外溢，请尽快处理。"),
    "important": ("燃气管道存在安全隐患", "楼下燃气管道锈蚀严重，存在安全隐患，情况紧急，请马上处理。"),
    "streetlight": ("小区门口路灯不亮", "小区门口路灯坏了一个月，晚上很黑。"),
    "social": ("单位不给缴纳社保", "我所在的公司一直不给员工缴纳社保，我该怎么办？"),
    "suggestion": ("关于增设公交线路的建议", "建议在我们小区附近增设一条公交线路。"),
}


@pytest.fixture(scope="module")
def week(mail_system):
    """Every demo agency receives the same five letters on Monday 10:00; then a week passes."""
    clock = SimulatedClock(MONDAY_10)
    world = World(clock, mail=mail_system, seed=7).start()
    sent: dict[tuple[str, str], str] = {}
    for agency_id in world.agencies:
        for name, (subject, body) in LETTERS.items():
            kind = "suggestion" if name == "suggestion" else "complaint"
            sub = world.receive(agency_id, kind=kind, subject=subject, body=body, name="王伟", phone="13812345678",
                                email=f"t-{agency_id}-{name}@reply.shopper.test")
            sent[(agency_id, name)] = sub.reference
    assert world.tick() == []  # nothing is due at the moment of receipt
    world.run_until(MONDAY_10 + WEEK)
    yield world, sent
    world.stop()


def acts(world, reference, what=None, channel=None):
    return [a for a in world.actions_for(reference)
            if (what is None or a.what == what) and (channel is None or a.channel == channel)]


def first(world, reference, what):
    found = acts(world, reference, what)
    return found[0] if found else None


def test_exemplary_acknowledges_within_hours_stating_a_deadline_and_replies_in_time(week):
    world, sent = week
    ref = sent[("jtw", "plain")]
    cal = world.calendar("jtw")
    ack, reply = first(world, ref, "ack"), first(world, ref, "reply")
    assert ack.at - MONDAY_10 <= timedelta(hours=1)
    assert "15个工作日内" in ack.detail["text"] and "收悉" in ack.detail["text"]
    assert reply.at <= deadlines.promised(MONDAY_10, 15, "workday", cal).at
    assert "021-23113311" in reply.detail["text"] and "尊敬的王伟" in reply.detail["text"]
    assert world.submission(ref).history[-1][0] == 2
    statuses = [a.detail["status"] for a in acts(world, ref, "status")]
    assert statuses == ["已受理", "已办结"]
    important = first(world, sent[("jtw", "important")], "ack")
    assert important.at <= deadlines.same_day(MONDAY_10, cal).at
    redirect = first(world, sent[("jtw", "streetlight")], "reply").detail["text"]
    assert "市路灯管理所" in redirect and "021-63178900" in redirect
    assert "感谢您提出的宝贵建议" in first(world, sent[("jtw", "suggestion")], "reply").detail["text"]


def test_late_acknowledgement_comes_after_24_hours(week):
    world, sent = week
    for name in LETTERS:
        ack = first(world, sent[("sww", name)], "ack") or first(world, sent[("sww", name)], "reply")
        assert ack.at - MONDAY_10 > timedelta(hours=24), name


def test_acknowledgement_without_a_deadline(week):
    world, sent = week
    text = first(world, sent[("ghj", "plain")], "ack").detail["text"]
    assert "收悉" in text and "尽快" in text and not re.search(r"\d+个工作日", text)


def test_important_complaint_misses_its_same_day(week):
    world, sent = week
    cal = world.calendar("sthjj")
    important = first(world, sent[("sthjj", "important")], "ack")
    assert important.at > deadlines.same_day(MONDAY_10, cal).at
    assert important.at - MONDAY_10 < timedelta(hours=24)  # only the same-day rule is broken
    assert first(world, sent[("sthjj", "plain")], "ack").at - MONDAY_10 <= timedelta(hours=2)


def test_reply_after_its_own_stated_deadline(week):
    world, sent = week
    ref = sent[("scjgj", "plain")]
    assert "3个工作日内" in first(world, ref, "ack").detail["text"]
    promised = deadlines.promised(MONDAY_10, 3, "workday", world.calendar("scjgj"))
    assert first(world, ref, "reply").at > promised.at


def test_redirect_without_naming_the_body(week):
    world, sent = week
    text = first(world, sent[("fgj", "streetlight")], "reply").detail["text"]
    assert "有关部门" in text and "路灯管理所" not in text and "021-63178900" not in text


def test_out_of_scope_handled_well(week):
    world, sent = week
    ref = sent[("jw", "social")]
    assert not acts(world, ref, "ack")  # one letter confirms receipt and explains
    text = first(world, ref, "reply").detail["text"]
    assert "收悉" in text and "上海市人力资源和社会保障局" in text and "12333" in text
    assert "《中华人民共和国社会保险法》" in text and "敬请谅解" in text
    bare = first(world, sent[("cgj", "social")], "reply").detail["text"]
    assert "不予受理" in bare and "12333" not in bare


def test_rude_agency(week):
    world, sent = week
    text = first(world, sent[("cgj", "plain")], "reply").detail["text"]
    assert "不要反复来信" in text and "您好" not in text


def test_silent_agency_sends_nothing_and_its_page_never_moves(week):
    world, sent = week
    for name in LETTERS:
        ref = sent[("wjw", name)]
        assert [a.what for a in world.actions_for(ref)] == ["received"]
        assert world.status_view(world.submission(ref))["status"] == "待审查"
    assert not [to for to, _ in world.outbox if to.startswith("t-wjw-")]


def test_status_only_agency_answers_on_its_page_never_by_mail(week):
    world, sent = week
    ref = sent[("mzxx", "plain")]
    assert not acts(world, ref, channel="email")
    view = world.status_view(world.submission(ref))
    assert view["status"] == "已处理" and ref in view["reply"]
    assert [h[0] for h in view["history"]] == ["待审查", "待处理", "已处理"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", view["status_time"])
    assert not [to for to, _ in world.outbox if to.startswith("t-mzxx-")]


def test_actions_happen_at_their_own_simulated_times_in_office_hours(week):
    world, _ = week
    mails = [a for a in world.actions if a.channel == "email"]
    assert len(mails) > 30
    for action in mails:
        local = world.calendar(action.agency_id).local(action.at)
        assert world.calendar(action.agency_id).is_working_day(local.date()), action
    assert [a.at for a in world.actions] == sorted(a.at for a in world.actions)


def test_profiles_are_data_any_mix_can_be_built(mail_system):
    clock = SimulatedClock(datetime(2026, 12, 4, 9, 0, tzinfo=timezone.utc))  # Friday 17:00 Shanghai
    odd = replace(PROFILES["exemplary"], name="odd", ack_after=After(3, "hour"), ack_states_deadline=False,
                  complaint_limit=(2, "day"), tone="rude")
    agency = make_agency("odd", profile=odd, base="cgj")
    with World(clock, agencies=[agency], mail=mail_system) as world:
        sub = world.receive("odd", kind="complaint", subject="噪声扰民", body="夜间施工噪声扰民。", name="李娜",
                            phone="13900000000", email="t-odd@reply.shopper.test")
        world.advance(timedelta(hours=2, minutes=59))
        assert [a.what for a in world.actions_for(sub.reference)] == ["received"]
        world.advance(timedelta(minutes=2))
        ack = first(world, sub.reference, "ack")
        assert ack.at == clock.now() - timedelta(minutes=1) and "尽快" in ack.detail["text"]
        world.advance(timedelta(days=7))
        reply = first(world, sub.reference, "reply")
        # 3 working days after a Friday is the next Wednesday, 15:30 Shanghai
        assert world.calendar("odd").local(reply.at).strftime("%a %H:%M") == "Wed 15:30"


# --- mail in the IMAP mailbox ---------------------------------------------------------------------


def _decoded_text(message) -> str:
    parts = []
    for part in message.walk():
        if part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        charset = (part.get_content_charset() or "utf-8").lower()
        if charset in ("gb2312", "gbk"):
            charset = "gb18030"  # what mail readers do: the superset reads every mislabeled GB text
        text = payload.decode(charset)
        if part.get_content_subtype() == "html":
            text = html.unescape(re.sub(r"<[^>]+>", "\n", re.sub(r"<script.*?</script>", "", text, flags=re.S)))
        parts.append(text)
    return "\n".join(parts)


def test_every_mail_reaches_the_mailbox_intact_in_its_encoding(week, mail_system):
    world, _ = week
    mails = [a for a in world.actions if a.channel == "email"]
    assert all(a.detail["sent"] for a in mails)
    styles = {(a.detail["charset"], a.detail["transfer"], a.detail["html_only"], a.detail["multipart"]) for a in mails}
    assert {s[0] for s in styles} >= {"utf-8", "gbk", "gb2312", "gb18030"}
    assert {s[1] for s in styles} == {"base64", "quoted-printable"}
    assert any(s[2] for s in styles) and any(s[3] for s in styles)
    imap = imaplib.IMAP4("127.0.0.1", mail_system.imap_port)
    try:
        imap.login(mail_system.imap_user, mail_system.imap_password)
        imap.select("INBOX")
        for action in mails:
            status, found = imap.search(None, "HEADER", "Message-ID", action.detail["message_id"])
            assert status == "OK" and found[0].split(), action.detail["message_id"]
            _, data = imap.fetch(found[0].split()[-1], "(RFC822)")
            message = email.message_from_bytes(data[0][1])
            subject = str(email.header.make_header(email.header.decode_header(message["Subject"])))
            assert subject == action.detail["subject"]
            assert re.sub(r"\s+", "", action.detail["text"]) in re.sub(r"\s+", "", _decoded_text(message))
            assert (message["In-Reply-To"] is not None) == bool(action.detail["in_reply_to"])
            body_has_ref = action.reference in _decoded_text(message).split("原始邮件")[0]
            assert body_has_ref == (action.detail["ref_in"] in ("body", "both")), action
            assert (action.reference in subject) == (action.detail["ref_in"] in ("subject", "both"))
    finally:
        imap.logout()


def test_mail_server_away_means_later_not_lost(mail_system):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]

    class Away:
        smtp_port = closed_port

    clock = SimulatedClock(MONDAY_10)
    with World(clock, agencies=[AGENCIES["jtw"]], mail=Away()) as world:
        sub = world.receive("jtw", kind="complaint", subject="噪声扰民", body="夜间施工噪声扰民。", name="李娜",
                            phone="13900000000", email="t-away@reply.shopper.test")
        world.advance(timedelta(hours=1, minutes=1))
        assert not acts(world, sub.reference, "ack")
        assert world.status_view(sub)["status"] == "已受理"  # the page moved; the mail is still to go
        world.mail = mail_system
        world.advance(timedelta(minutes=5))
        ack = first(world, sub.reference, "ack")
        assert ack.detail["sent"] and ack.at == MONDAY_10 + timedelta(hours=1, minutes=5)


def test_the_world_drives_itself_on_the_programs_clock():
    import time

    from shopper.clock import use_clock

    clock = SimulatedClock(MONDAY_10)
    with use_clock(clock), World(agencies=[AGENCIES["mzxx"]], tick_interval=0.02) as world:
        assert world.now() == MONDAY_10  # no clock of its own: it follows the program's
        sub = world.receive("mzxx", kind="complaint", subject="公交站台雨棚破损请尽快修复", body="雨棚破损。",
                            name="李娜", phone="13900000000", email="t-self@reply.shopper.test")
        clock.advance(timedelta(hours=2))  # nobody calls tick(): the world's own thread does
        deadline = time.monotonic() + 5
        while world.submission(sub.reference).stage < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert world.status_view(sub)["status"] == "待处理"
