"""The demo mail system: SMTP in, IMAP (with IDLE) out, every encoding intact, restartable."""

from __future__ import annotations

import imaplib
import smtplib
import time
from datetime import datetime, timezone

import pytest

from shopper.decoding import decode_message
from shopper.demo.mail import MailSystem, compose

WHEN = datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc)
SIMPLIFIED = "张先生您好：您反映的路灯问题已收悉，我们将在十五个工作日内答复。谢谢您的支持！"
TRADITIONAL = "張先生您好：您反映的路燈問題已收悉，我們將在十五個工作日內答覆。謝謝您的支持！"
RARE = SIMPLIFIED + "（𠮷字只在GB18030里有）"

VARIANTS = [
    # charset of the bytes, label in the header, transfer, html_only, multipart, text
    ("gb2312", "gb2312", "base64", False, False, SIMPLIFIED),
    ("gbk", "gbk", "quoted-printable", False, False, SIMPLIFIED),
    ("gb18030", "gb18030", "8bit", False, False, RARE),
    ("gb18030", "gb2312", "base64", False, False, RARE),  # the common mislabel
    ("big5", "big5", "base64", False, False, TRADITIONAL),
    ("utf-8", "utf-8", "quoted-printable", False, True, SIMPLIFIED),
    ("utf-8", "utf-8", "base64", True, False, SIMPLIFIED),
    ("gbk", None, "8bit", False, False, SIMPLIFIED),  # no label at all
]


def _fetch_all(system: MailSystem) -> list[bytes]:
    conn = imaplib.IMAP4(system.imap_host, system.imap_port)
    try:
        conn.login(system.imap_user, system.imap_password)
        conn.select("INBOX")
        _, data = conn.uid("SEARCH", "ALL")
        uids = data[0].split()
        if not uids:
            return []
        _, data = conn.uid("FETCH", b",".join(uids).decode(), "(BODY.PEEK[])")
        return [item[1] for item in data if isinstance(item, tuple)]
    finally:
        conn.logout()


@pytest.mark.parametrize("charset,label,transfer,html_only,multipart,text", VARIANTS)
def test_every_encoding_reaches_the_mailbox_intact(mail_system, charset, label, transfer, html_only, multipart, text):
    subject = f"回复：关于路灯的投诉 {charset}-{label}-{transfer}-{html_only}-{multipart}"
    if charset == "big5":
        subject = f"回覆：關於路燈的投訴 {charset}-{label}-{transfer}"
    raw = compose(from_addr="市交通委 <xf@jtw.sh.gov.cn>", to_addr="t-0001@reply.shopper.test", subject=subject,
                  body=text, date=WHEN, charset=charset, label=label, transfer=transfer, html_only=html_only,
                  multipart=multipart, quote="我家门口的路灯坏了一个月。" if charset != "big5" else "路燈壞了")
    mail_system.send(raw)
    deadline = time.monotonic() + 5
    found = None
    while found is None and time.monotonic() < deadline:
        found = next((m for m in _fetch_all(mail_system) if m.endswith(raw)), None)
        time.sleep(0.05)
    assert found is not None, "the message never reached the IMAP mailbox"
    assert found.startswith(b"Delivered-To: t-0001@reply.shopper.test\r\n")
    decoded = decode_message(found)
    assert decoded.subject == subject
    assert decoded.own_text == text
    assert decoded.decode_error is None
    assert "t-0001@reply.shopper.test" in decoded.to_addrs


def test_every_recipient_lands_in_the_one_inbox(mail_system):
    raw = compose(from_addr="a@jtw.sh.gov.cn", to_addr="t-aaaa@reply.shopper.test", subject="catch-all",
                  body="hello", date=WHEN, transfer="8bit")
    with smtplib.SMTP(mail_system.smtp_host, mail_system.smtp_port) as smtp:
        smtp.sendmail("a@jtw.sh.gov.cn", ["t-aaaa@reply.shopper.test", "anyone@else.example"], raw)
    time.sleep(0.2)
    found = [m for m in _fetch_all(mail_system) if m.endswith(raw)]
    assert len(found) == 1
    assert b"Delivered-To: anyone@else.example" in found[0]


def test_imap_restarts_on_the_same_port_with_the_mailbox_kept_and_smtp_accepting_meanwhile():
    with MailSystem() as system:
        port = system.imap_port
        system.send(compose(from_addr="a@b.cn", to_addr="x@y.cn", subject="one", body="1", date=WHEN))
        time.sleep(0.1)
        before = _fetch_all(system)
        system.stop_imap()
        with pytest.raises(OSError):
            imaplib.IMAP4(system.imap_host, port)
        system.send(compose(from_addr="a@b.cn", to_addr="x@y.cn", subject="two", body="2", date=WHEN))
        started = time.monotonic()
        system.start_imap()
        assert time.monotonic() - started < 2.0  # about half a second; loaded CI machines are slower
        assert system.imap_port == port
        time.sleep(0.1)
        after = _fetch_all(system)
    assert after[: len(before)] == before
    assert [decode_message(m).subject for m in after] == ["one", "two"]


def test_the_delivery_time_is_the_programs_clock(sim_clock):
    with MailSystem() as system:
        system.send(compose(from_addr="a@b.cn", to_addr="x@y.cn", subject="sim", body="1", date=WHEN))
        time.sleep(0.1)
        conn = imaplib.IMAP4(system.imap_host, system.imap_port)
        conn.login(system.imap_user, system.imap_password)
        conn.select("INBOX")
        _, data = conn.fetch("1", "(INTERNALDATE)")
        conn.logout()
    assert b'"30-Nov-2026 02:00:00 +0000"' in data[0]
