"""Decoding real-world agency mail: charsets, transfer encodings, headers, HTML, quotes, hostile input."""

from __future__ import annotations

import base64
import io
import time
import zipfile
from datetime import datetime, timezone

import pytest

from shopper.decoding import decode_bytes, decode_header, decode_message, html_to_text, split_quoted
from shopper.demo.mail import compose

WHEN = datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc)
TEXT = "王女士您好：您反映的安全隐患问题我局已受理，将于15个工作日内答复。"
RARE = TEXT + "𠮷"  # only GB18030 (not GBK) can carry it


def _msg(**kw) -> bytes:
    args = dict(from_addr="市市场监管局 <xf@scjgj.sh.gov.cn>", to_addr="t-1@reply.shopper.test",
                subject="关于您的来信", body=TEXT, date=WHEN)
    args.update(kw)
    return compose(**args)


@pytest.mark.parametrize("charset", ["gb2312", "gbk", "gb18030", "utf-8"])
@pytest.mark.parametrize("transfer", ["base64", "quoted-printable", "8bit"])
def test_simplified_chinese_in_every_charset_and_transfer_encoding(charset, transfer):
    decoded = decode_message(_msg(charset=charset, transfer=transfer))
    assert decoded.own_text == TEXT
    assert decoded.subject == "关于您的来信"
    assert decoded.from_name == "市市场监管局" and decoded.from_addr == "xf@scjgj.sh.gov.cn"
    assert decoded.decode_error is None


def test_big5():
    text = "王女士您好：您反映的問題我局已受理，將於十五個工作日內答覆。"
    decoded = decode_message(_msg(body=text, subject="關於您的來信", charset="big5", from_addr="市監局 <xf@scjgj.sh.gov.cn>"))
    assert decoded.own_text == text and decoded.subject == "關於您的來信"


@pytest.mark.parametrize("actual,label", [
    ("gb18030", "gb2312"),  # GB2312 label over GB18030 bytes: the usual case
    ("gbk", "gb2312"),
    ("gbk", None),  # no charset at all
    ("utf-8", None),
    ("gbk", "utf-8"),  # labelled UTF-8, written in GBK
    ("utf-8", "iso-8859-1"),
    ("big5", "gb2312"),
])
def test_mislabeled_and_unlabeled_charsets_are_read_right(actual, label):
    text = RARE if actual in ("gb18030", "utf-8") else TEXT
    if actual == "big5":
        text = "王女士您好：您反映的問題我局已受理，將於十五個工作日內答覆。"
    decoded = decode_message(_msg(body=text, charset=actual, label=label, transfer="8bit",
                                  header_charset="utf-8"))
    assert decoded.own_text == text
    assert decoded.decode_error is None


@pytest.mark.parametrize("value,expected", [
    ("=?GB2312?B?udjT2sT6tcTAtNDF?=", "关于您的来信"),
    ("=?gbk?Q?=B9=D8=D3=DA?= test", "关于 test"),
    ("=?utf-8?B?5Zue5aSN77ya?= =?utf-8?B?5L2g5aW9?=", "回复：你好"),
    ("Re: =?big5?B?" + base64.b64encode("關於".encode("big5")).decode() + "?=", "Re: 關於"),
])
def test_rfc2047_headers(value, expected):
    assert decode_header(value) == expected


def test_raw_8bit_headers_are_decoded_too():
    raw = "Subject: 关于您的来信\r\nFrom: 交通委 <a@jtw.gov.cn>\r\n\r\nhi\r\n".encode("gbk")
    decoded = decode_message(raw)
    assert decoded.subject == "关于您的来信" and decoded.from_name == "交通委"


def test_html_only_becomes_readable_text():
    decoded = decode_message(_msg(html_only=True, quote="原来的投诉"))
    assert decoded.html_only
    assert decoded.own_text == TEXT
    assert "var x" not in decoded.text and "<p>" not in decoded.text
    assert "原来的投诉" in decoded.quoted_text
    assert html_to_text("<p>A&amp;B&nbsp;C</p><br>D<table><tr><td>x</td><td>y</td></tr></table>") == "A&B C\n\nD\n\nx y"


def test_multipart_alternative_prefers_the_plain_part():
    decoded = decode_message(_msg(multipart=True, charset="gbk", transfer="quoted-printable"))
    assert decoded.own_text == TEXT and not decoded.html_only


@pytest.mark.parametrize("marker", [
    "------------------ 原始邮件 ------------------",
    "-----Original Message-----",
    "在 2026年11月30日 10:00，王女士 写道：",
    "On Mon, 30 Nov 2026 at 10:00, Wang <w@x.cn> wrote:",
    "> 我要投诉",
    "发件人: 王女士 <w@qq.com>",
])
def test_the_quoted_original_is_split_from_the_agencys_words(marker):
    own, quoted = split_quoted(f"{TEXT}\n谢谢。\n\n{marker}\n我要投诉路灯坏了")
    assert own == f"{TEXT}\n谢谢。"
    assert quoted.startswith(marker.strip())


def test_references_and_threading_headers():
    raw = _msg(in_reply_to="<ack-1@jtw.sh.gov.cn>", references="<sub-1@x> <ack-1@jtw.sh.gov.cn>",
               message_id="<reply-2@jtw.sh.gov.cn>")
    decoded = decode_message(raw)
    assert decoded.in_reply_to == "<ack-1@jtw.sh.gov.cn>"
    assert decoded.references == ["<sub-1@x>", "<ack-1@jtw.sh.gov.cn>"]
    assert decoded.message_id == "<reply-2@jtw.sh.gov.cn>"
    assert decoded.date == WHEN


# ------------------------------------------------------------------------------ hostile input


def test_undecodable_bytes_are_kept_and_flagged_never_dropped():
    raw = (b"Subject: x\r\nContent-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           b"\xff\xfe\x80\xff\x80 \xd6\xd0\r\n")
    decoded = decode_message(raw)
    assert decoded.decode_error and "no charset fits" in decoded.decode_error
    assert decoded.text  # what could be read is there, with replacement characters


def test_broken_mime_still_yields_the_text():
    raw = (b"Subject: broken\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n"
           b"--XYZ\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.b64encode(TEXT.encode())[:-3] + b"!!!\r\n")  # no closing boundary, bad base64 padding
    decoded = decode_message(raw)
    assert decoded.subject == "broken"
    assert decoded.decode_error and "broken MIME" in decoded.decode_error
    assert TEXT[:10] in decoded.text


@pytest.mark.parametrize("raw", [b"", b"\x00\x01\x02binary garbage\xff" * 100, b"no headers at all",
                                 b"Content-Type: multipart/mixed\r\n\r\nno boundary"])
def test_garbage_never_raises(raw):
    decoded = decode_message(raw)
    assert isinstance(decoded.text, str)


def test_deeply_nested_multiparts_do_not_crash():
    depth = 400
    head = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(depth))
    raw = b"Subject: deep\r\n" + head + b"Content-Type: text/plain\r\n\r\ninner text\r\n"
    decoded = decode_message(raw)
    assert decoded.subject == "deep"


def test_a_20_mb_attachment_is_listed_not_decoded():
    blob = bytes(range(256)) * (20 * 1024 * 1024 // 256)
    raw = _msg(attachments=[("scan.pdf", "application/pdf", blob)])
    started = time.monotonic()
    decoded = decode_message(raw)
    assert time.monotonic() - started < 10
    assert decoded.own_text == TEXT
    assert decoded.attachments[0]["name"] == "scan.pdf" and decoded.attachments[0]["size"] > 20_000_000


def test_a_zip_bomb_is_never_decompressed():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.txt", b"\0" * (64 * 1024 * 1024))  # 64 MB of zeros in ~64 KB
    bomb = buf.getvalue()
    assert len(bomb) < 1_000_000
    decoded = decode_message(_msg(attachments=[("材料.zip", "application/zip", bomb)]))
    assert decoded.own_text == TEXT
    assert decoded.attachments[0]["type"] == "application/zip"
    assert decoded.attachments[0]["size"] < 2_000_000


def test_header_injection_stays_inside_its_field():
    raw = (b"From: a@jtw.sh.gov.cn\r\nTo: t-1@reply.shopper.test\r\n"
           b"Subject: =?utf-8?Q?hello=0D=0ABcc:_victim@evil.example=0D=0A=0D=0Afake?=\r\n\r\nbody\r\n")
    decoded = decode_message(raw)
    assert "\n" not in decoded.subject and "\r" not in decoded.subject
    assert decoded.subject.startswith("hello Bcc: victim@evil.example")
    assert decoded.to_addrs == ["t-1@reply.shopper.test"]


def test_decode_bytes_prefers_what_reads_as_chinese():
    text = "您好，来信已收悉，我们将尽快办理。"
    assert decode_bytes(text.encode("gbk"), None)[0] == text
    assert decode_bytes(text.encode("utf-8"), "gbk")[0] == text
