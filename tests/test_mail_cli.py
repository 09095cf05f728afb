"""The capture commands end to end: watch --once, status, unmatched, assign; and hostile mail via IMAP."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timezone

from click.testing import CliRunner

from shopper.cli import main
from shopper.clock import get_clock
from shopper.db import open_database
from shopper.demo.mail import MailSystem, compose
from shopper.evidence import EvidenceStore
from shopper.config import Config
from tests.fixtures.capture import add_agency, add_test, wait_for

WHEN = datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc)


def _env(system: MailSystem, db_path) -> dict:
    return {"SHOPPER_DB": str(db_path), "SHOPPER_IMAP_PASSWORD": system.imap_password}


def _watch_args(system: MailSystem) -> list[str]:
    return ["watch", "--once", "--host", "127.0.0.1", "--port", str(system.imap_port), "--user", system.imap_user,
            "--plain"]


def test_watch_once_status_unmatched_assign(tmp_path):
    db_path = tmp_path / "cli.db"
    db = open_database(db_path)
    add_agency(db)
    test = add_test(db, submitted_at=get_clock().now(), reference="JT-7788")
    runner = CliRunner()
    with MailSystem() as system:
        system.send(compose(from_addr="信访办 <xf@jtw.sh.gov.cn>", to_addr="office@reply.shopper.test",
                            subject="关于JT-7788的受理回执", body="您好，您的来信已收悉，我们将在15个工作日内答复。",
                            date=WHEN, charset="gb18030", label="gb2312"))
        system.send(compose(from_addr="promo@shop.example", to_addr="office@reply.shopper.test",
                            subject="广告", body="打折", date=WHEN))
        wait_for(lambda: system.pending() == 0 and system.count() == 2)
        result = runner.invoke(main, _watch_args(system), env=_env(system, db_path))
        assert result.exit_code == 0, result.output
        assert "2 new message(s)" in result.output
        assert system.imap_password not in result.output

        again = runner.invoke(main, _watch_args(system), env=_env(system, db_path))
        assert "0 new message(s)" in again.output

    status = runner.invoke(main, ["status", test["id"]], env={"SHOPPER_DB": str(db_path)})
    assert status.exit_code == 0, status.output
    assert "acknowledged" in status.output and "JT-7788" in status.output
    assert "complaint.reply_by_deadline" in status.output or "due" in status.output

    queue = runner.invoke(main, ["unmatched"], env={"SHOPPER_DB": str(db_path)})
    assert "广告" in queue.output
    message_id = int(queue.output.split()[0])
    assigned = runner.invoke(main, ["assign", str(message_id), test["id"]], env={"SHOPPER_DB": str(db_path)})
    assert assigned.exit_code == 0 and f"-> {test['id']}" in assigned.output
    assert "no unmatched" in runner.invoke(main, ["unmatched"], env={"SHOPPER_DB": str(db_path)}).output

    bad = runner.invoke(main, ["status", "t-nope"], env={"SHOPPER_DB": str(db_path)})
    assert bad.exit_code == 2 and "no test" in bad.output


def test_watch_without_a_password_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("SHOPPER_IMAP_PASSWORD", raising=False)
    result = CliRunner().invoke(main, ["watch", "--once", "--port", "1", "--plain"],
                                env={"SHOPPER_DB": str(tmp_path / "x.db")})
    assert result.exit_code == 2 and "SHOPPER_IMAP_PASSWORD" in result.output


def test_hostile_mail_through_imap_is_all_kept_as_evidence(tmp_path):
    db_path = tmp_path / "hostile.db"
    db = open_database(db_path)
    add_agency(db)
    test = add_test(db, submitted_at=get_clock().now())
    to = test["reply_address"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.txt", b"\0" * (32 * 1024 * 1024))
    hostile = {
        "broken": (f"To: {to}\r\nSubject: broken\r\nMIME-Version: 1.0\r\n"
                   "Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
                   "half a message").encode(),
        "big": compose(from_addr="xf@jtw.sh.gov.cn", to_addr=to, subject="big", body="见附件", date=WHEN,
                       attachments=[("scan.pdf", "application/pdf", b"%PDF" + bytes(20 * 1024 * 1024))]),
        "bomb": compose(from_addr="xf@jtw.sh.gov.cn", to_addr=to, subject="bomb", body="见附件", date=WHEN,
                        attachments=[("材料.zip", "application/zip", buf.getvalue())]),
        "inject": (f"To: {to}\r\nFrom: xf@jtw.sh.gov.cn\r\n"
                   "Subject: =?utf-8?Q?inject=0D=0ABcc:_x@evil.example?=\r\n\r\nbody\r\n").encode(),
        "undecodable": (f"To: {to}\r\nSubject: undecodable\r\nContent-Type: text/plain; charset=gb2312\r\n"
                        "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + b"\xff\x80\xff\x80\r\n",
    }
    with MailSystem() as system:
        for raw in hostile.values():
            system.send(raw, to_addrs=[to], from_addr="xf@jtw.sh.gov.cn")
        wait_for(lambda: system.pending() == 0 and system.count() == len(hostile), timeout=30)
        result = CliRunner().invoke(main, _watch_args(system), env=_env(system, db_path))
        assert result.exit_code == 0, result.output
    rows = {r[0]: r for r in db.execute(
        "SELECT subject, test_id, raw_sha256, decode_error FROM messages").fetchall()}
    assert set(rows) == {"broken", "big", "bomb", "inject Bcc: x@evil.example", "undecodable"}
    assert all(r[1] == test["id"] for r in rows.values())  # every one tied to its test, none dropped
    store = EvidenceStore(Config.load().evidence_dir)
    for subject, (_, _, sha, _) in rows.items():
        assert store.path(sha).exists(), subject
    assert rows["undecodable"][3] and rows["broken"][3]
    assert store.path(rows["big"][2]).stat().st_size > 20 * 1024 * 1024
