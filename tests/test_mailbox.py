"""The mailbox watcher against the real loopback mail system (pymap, IDLE) and Dovecot."""

from __future__ import annotations

import asyncio
import time

import pytest

from shopper.clock import get_clock
from shopper.db import open_database
from shopper.demo.mail import MailSystem, compose
from shopper.errors import ShopperError
from shopper.ingest import Ingestor
from shopper.mailbox import MailboxWatcher
from tests.fixtures.capture import add_agency, add_test, wait_for


def _reply(to_addr: str, subject: str, body: str = "您好，您的来信已收悉，我们将在15个工作日内答复。") -> bytes:
    return compose(from_addr="上海市交通委 <xinfang@jtw.sh.gov.cn>", to_addr=to_addr, subject=subject, body=body,
                   date=get_clock().now(), charset="gb18030", label="gb2312")


def _count(db_path, where="1=1", args=()):
    db = open_database(db_path)
    try:
        return db.execute(f"SELECT count(*) FROM messages WHERE {where}", list(args)).fetchone()[0]
    finally:
        db.close()


@pytest.fixture
def db_path(tmp_path, db):
    return tmp_path / "shopper.db"


def test_idle_brings_a_reply_to_its_test_at_once(mail_system, watcher_settings, db, db_path):
    add_agency(db)
    test = add_test(db, submitted_at=get_clock().now())
    watcher = MailboxWatcher(open_database(db_path), watcher_settings()).start()
    try:
        wait_for(lambda: watcher.connections >= 1)
        time.sleep(0.3)  # the watcher is now waiting in IDLE
        sent = time.monotonic()
        mail_system.send(_reply(test["reply_address"], "关于您反映的问题"))
        wait_for(lambda: _count(db_path, "test_id = ?", [test["id"]]) == 1)
        latency = time.monotonic() - sent
    finally:
        watcher.stop()
    assert watcher.idle_used
    assert latency < 2.0
    row = db.execute("SELECT matched_by, subject, charset, own_text FROM messages WHERE test_id = ?",
                     [test["id"]]).fetchone()
    assert row[0] == "reply_address" and row[1] == "关于您反映的问题"
    assert "15个工作日" in row[3]
    kinds = [r[0] for r in db.execute("SELECT kind FROM events WHERE test_id = ?", [test["id"]])]
    assert kinds and kinds[0] in ("acknowledged", "replied")
    assert db.execute("SELECT count(*) FROM notifications WHERE test_id = ?", [test["id"]]).fetchone()[0] == 1


def test_polling_when_idle_is_not_used(mail_system, watcher_settings, db, db_path):
    add_agency(db)
    test = add_test(db, submitted_at=get_clock().now())
    watcher = MailboxWatcher(open_database(db_path), watcher_settings(use_idle=False, poll_interval=0.2)).start()
    try:
        wait_for(lambda: watcher.connections >= 1)
        mail_system.send(_reply(test["reply_address"], "轮询"))
        wait_for(lambda: _count(db_path, "test_id = ?", [test["id"]]) == 1)
    finally:
        watcher.stop()
    assert not watcher.idle_used


def test_imap_restart_mid_stream_loses_nothing_and_doubles_nothing(watcher_settings, db, db_path):
    add_agency(db)
    test = add_test(db, submitted_at=get_clock().now())
    with MailSystem() as system:
        watcher = MailboxWatcher(open_database(db_path), watcher_settings(system)).start()
        try:
            for i in range(10):
                system.send(_reply(test["reply_address"], f"第{i}封"))
            wait_for(lambda: _count(db_path) == 10)
            system.stop_imap()
            for i in range(10, 20):  # SMTP still takes mail while IMAP is down
                system.send(_reply(test["reply_address"], f"第{i}封"))
            time.sleep(0.5)  # the watcher fails to reconnect a few times
            system.start_imap()
            for i in range(20, 30):
                system.send(_reply(test["reply_address"], f"第{i}封"))
            wait_for(lambda: _count(db_path) == 30, timeout=20)
            time.sleep(0.5)
        finally:
            watcher.stop()
    subjects = [r[0] for r in db.execute("SELECT subject FROM messages ORDER BY uid")]
    assert sorted(subjects) == sorted(f"第{i}封" for i in range(30))
    assert db.execute("SELECT count(DISTINCT uid) FROM messages").fetchone()[0] == 30
    assert db.execute("SELECT count(*) FROM events WHERE test_id = ?", [test["id"]]).fetchone()[0] == 30
    assert watcher.connections >= 2


def test_a_thousand_old_messages_at_first_start_then_only_new_ones(watcher_settings, db, db_path):
    add_agency(db)
    tests = [add_test(db, submitted_at=get_clock().now()) for _ in range(5)]
    with MailSystem() as system:
        for i in range(1000):
            system.deliver(_reply(tests[i % 5]["reply_address"], f"旧邮件 {i}"))
        wait_for(lambda: system.pending() == 0)
        # Evidence (two fsyncs a message) is tested elsewhere; here the catching up is the point.
        watcher = MailboxWatcher(db, watcher_settings(system), ingestor=Ingestor(db, evidence=False),
                                 deadline_watch=False)
        assert asyncio.run(watcher.run(once=True)) == 1000
        assert asyncio.run(watcher.run(once=True)) == 0  # a restart reads nothing twice
        system.send(_reply(tests[0]["reply_address"], "新邮件"))
        wait_for(lambda: system.pending() == 0)
        assert asyncio.run(watcher.run(once=True)) == 1
    assert watcher.state()[1] == 1001
    assert db.execute("SELECT count(*) FROM messages WHERE test_id IS NOT NULL").fetchone()[0] == 1001
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 1001


def test_changed_uidvalidity_reads_again_but_stores_once(watcher_settings, db, db_path):
    add_agency(db)
    test = add_test(db, submitted_at=get_clock().now())
    with MailSystem() as system:
        for i in range(3):
            system.send(_reply(test["reply_address"], f"信 {i}"))
        wait_for(lambda: system.pending() == 0)
        watcher = MailboxWatcher(db, watcher_settings(system), deadline_watch=False)
        assert asyncio.run(watcher.run(once=True)) == 3
        first_validity = watcher.state()[0]
        system.stop_imap()
        (system.spool / "uidvalidity").write_text(str(first_validity + 1))  # the server rebuilt its index
        system.start_imap()
        system.send(_reply(test["reply_address"], "信 3"))
        wait_for(lambda: system.pending() == 0)
        assert asyncio.run(watcher.run(once=True)) == 1
        assert watcher.state()[0] == first_validity + 1
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 4


def test_wrong_password_is_a_clear_error_and_never_printed(mail_system, watcher_settings, db):
    watcher = MailboxWatcher(db, watcher_settings(password="not-the-password"))
    with pytest.raises(ShopperError) as err:
        asyncio.run(watcher.run(once=True))
    assert "not-the-password" not in str(err.value)
    assert "password" in str(err.value)


# ------------------------------------------------------------------------------ Dovecot


def _dovecot_settings(server, **overrides):
    from shopper.mailbox import MailboxSettings

    values = dict(host=server.host, port=server.port, tls=False, user=server.user, password=server.password,
                  tick=0.2, backoff_min=0.05, backoff_max=0.5, timeout=10)
    values.update(overrides)
    return MailboxSettings(**values)


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_dovecot_idle_plain_and_tls(dovecot, db, db_path, tls):
    add_agency(db)
    test = add_test(db, submitted_at=get_clock().now())
    settings = _dovecot_settings(dovecot, tls=tls, port=dovecot.tls_port if tls else dovecot.port,
                                 ssl_context=dovecot.ssl_context() if tls else None)
    watcher = MailboxWatcher(open_database(db_path), settings).start()
    try:
        wait_for(lambda: watcher.connections >= 1)
        time.sleep(0.3)
        sent = time.monotonic()
        dovecot.deliver(_reply(test["reply_address"], f"Dovecot {tls}"))
        wait_for(lambda: _count(db_path, "test_id = ?", [test["id"]]) == 1)
        latency = time.monotonic() - sent
    finally:
        watcher.stop()
    assert watcher.idle_used and latency < 2.0
    assert db.execute("SELECT subject FROM messages WHERE test_id = ?", [test["id"]]).fetchone()[0] == f"Dovecot {tls}"


def test_tls_with_an_untrusted_certificate_is_refused(dovecot, db):
    watcher = MailboxWatcher(db, _dovecot_settings(dovecot, tls=True, port=dovecot.tls_port))
    with pytest.raises(ShopperError, match="mailbox"):
        asyncio.run(watcher.run(once=True))


def test_dovecot_restart_mid_stream(dovecot, db, db_path):
    add_agency(db)
    test = add_test(db, submitted_at=get_clock().now())
    watcher = MailboxWatcher(open_database(db_path), _dovecot_settings(dovecot)).start()
    try:
        for i in range(5):
            dovecot.deliver(_reply(test["reply_address"], f"重启前 {i}"))
        wait_for(lambda: _count(db_path, "test_id = ?", [test["id"]]) == 5)
        dovecot.restart()
        for i in range(5):
            dovecot.deliver(_reply(test["reply_address"], f"重启后 {i}"))
        wait_for(lambda: _count(db_path, "test_id = ?", [test["id"]]) == 10, timeout=20)
        time.sleep(0.3)
    finally:
        watcher.stop()
    assert _count(db_path, "test_id = ?", [test["id"]]) == 10
    assert watcher.connections >= 2
