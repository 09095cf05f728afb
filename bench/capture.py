"""Capture benchmark: mail delivered by SMTP to the local mailbox, recorded and matched by the watcher.

    .venv/bin/python bench/capture.py            # 10,000 messages (the figure the issue asks for)
    .venv/bin/python bench/capture.py --n 1000   # a quick run

Two phases against a fresh MailSystem (aiosmtpd → spool → pymap with IDLE) and a fresh database:
1. latency: `--paced` messages sent one by one at `--rate` per second, each timed from the moment
   the SMTP server accepted it to the moment its row (matched to its test) and event are recorded;
2. ingest rate: `--n` messages sent as fast as four SMTP connections go, timed from the first
   send to the last message recorded; their latencies are printed too (they queue).
Aims (issue 5): median < 0.5 s, 95th percentile < 2 s, 10,000 messages < 60 s, on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import smtplib
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shopper.clock import get_clock, to_iso  # noqa: E402
from shopper.db import open_database  # noqa: E402
from shopper.demo.mail import MailSystem, compose  # noqa: E402
from shopper.ingest import Ingestor  # noqa: E402
from shopper.mailbox import MailboxSettings, MailboxWatcher  # noqa: E402

WHEN = datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc)
BODIES = [
    ("gb18030", "gb2312", "base64", "您好，您的来信已收悉，我们将在15个工作日内答复。"),
    ("gbk", "gbk", "quoted-printable", "张先生：您反映的路灯问题已转交区绿化市容局处理，联系电话021-12345678。"),
    ("utf-8", "utf-8", "base64", "您好！您咨询的事项答复如下：请携带身份证到窗口办理。感谢您的支持。"),
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="messages in the ingest-rate phase")
    parser.add_argument("--paced", type=int, default=200, help="messages in the latency phase")
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second in the latency phase")
    parser.add_argument("--tests", type=int, default=200, help="submitted tests the messages answer")
    parser.add_argument("--no-evidence", action="store_true",
                        help="keep raw mail in the database instead of the fsync'd evidence store")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="shopper-bench-"))
    os.environ["SHOPPER_HOME"] = str(home)
    db = open_database(home / "shopper.db")
    db["agencies"].insert({"id": "jtw", "name": "交通委", "email_domains_json": '["jtw.sh.gov.cn"]'}, pk="id")
    db["personas"].insert({"id": "p1", "name": "张伟"}, pk="id")
    tests = [f"t-{i:08x}" for i in range(args.tests)]
    db["tests"].insert_all(
        ({"id": t, "agency_id": "jtw", "persona_id": "p1", "state": "submitted", "kind": "complaint",
          "reference_number": f"JT{i:08d}", "submitted_at": to_iso(get_clock().now()),
          "reply_address": f"{t}@reply.shopper.test"} for i, t in enumerate(tests)), pk="id")

    sent: dict[str, float] = {}
    recorded: dict[str, float] = {}
    done = threading.Condition()

    def on_message(row: dict) -> None:
        at = time.monotonic()
        with done:
            recorded[row["subject"]] = at
            done.notify_all()

    def message(i: int, phase: str) -> tuple[str, bytes]:
        charset, label, transfer, body = BODIES[i % len(BODIES)]
        subject = f"{phase} {i}"
        test = tests[i % len(tests)]
        # every third one is matched by reference number, not by address
        to_addr = f"{test}@reply.shopper.test" if i % 3 else "office@reply.shopper.test"
        if not i % 3:
            body = f"受理编号 JT{i % len(tests):08d}。" + body
        return subject, compose(from_addr="信访办 <xf@jtw.sh.gov.cn>", to_addr=to_addr, subject=subject, body=body,
                                date=WHEN, charset=charset, label=label, transfer=transfer)

    def wait_for(subjects: list[str], timeout: float) -> bool:
        end = time.monotonic() + timeout
        with done:
            while not all(s in recorded for s in subjects):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                done.wait(min(left, 0.5))
        return True

    with MailSystem(home / "mail") as mail:
        settings = MailboxSettings(host=mail.imap_host, port=mail.imap_port, tls=False, user=mail.imap_user,
                                   password=mail.imap_password, tick=1.0, backoff_min=0.1, backoff_max=1)
        watch_db = open_database(home / "shopper.db")
        ingestor = Ingestor(watch_db, evidence=False) if args.no_evidence else None
        watcher = MailboxWatcher(watch_db, settings, ingestor=ingestor, on_message=on_message).start()
        while not watcher.connections:
            time.sleep(0.01)
        print(f"mail system: SMTP 127.0.0.1:{mail.smtp_port}, IMAP 127.0.0.1:{mail.imap_port} (pymap, IDLE)")
        print(f"evidence: {'in the database' if args.no_evidence else 'content-addressed store (fsync per file)'}")

        # Phase 1: latency, paced
        paced = [message(i, "paced") for i in range(args.paced)]
        with smtplib.SMTP("127.0.0.1", mail.smtp_port) as smtp:
            for subject, raw in paced:
                smtp.sendmail("xf@jtw.sh.gov.cn", ["office@reply.shopper.test"], raw)
                sent[subject] = time.monotonic()
                time.sleep(1 / args.rate)
        ok = wait_for([s for s, _ in paced], 60)
        lat = [recorded[s] - sent[s] for s, _ in paced if s in recorded]
        print(f"\nlatency, {len(lat)} messages at {args.rate:g}/s (SMTP accepted -> recorded and matched):")
        print(f"  median {statistics.median(lat):.3f} s   p95 {percentile(lat, 95):.3f} s   max {max(lat):.3f} s"
              + ("" if ok else "   (some never arrived!)"))

        # Phase 2: ingest rate, burst
        burst = [message(i, "burst") for i in range(args.n)]
        started = time.monotonic()

        def sender(chunk):
            with smtplib.SMTP("127.0.0.1", mail.smtp_port) as smtp:
                for subject, raw in chunk:
                    smtp.sendmail("xf@jtw.sh.gov.cn", ["office@reply.shopper.test"], raw)
                    sent[subject] = time.monotonic()

        threads = [threading.Thread(target=sender, args=(burst[k::4],)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sent_done = time.monotonic()
        ok = wait_for([s for s, _ in burst], 600)
        finished = max(recorded[s] for s, _ in burst if s in recorded)
        watcher.stop()
        lat = [recorded[s] - sent[s] for s, _ in burst if s in recorded]
        total = finished - started
        print(f"\ningest rate, {args.n} messages sent as fast as 4 SMTP connections go:")
        print(f"  sent in {sent_done - started:.1f} s; all recorded and matched after {total:.1f} s"
              f" = {args.n / total:.0f} messages/s" + ("" if ok else "   (some never arrived!)"))
        print(f"  latency under that load: median {statistics.median(lat):.3f} s   p95 {percentile(lat, 95):.3f} s")

    matched = db.execute("SELECT count(*) FROM messages WHERE test_id IS NOT NULL").fetchone()[0]
    stored = db.execute("SELECT count(*) FROM messages").fetchone()[0]
    events = db.execute("SELECT count(*) FROM events").fetchone()[0]
    print(f"\nstored {stored}, matched {matched}, events {events} (expected {args.paced + args.n} of each)")
    print(f"cpu cores: {os.cpu_count()}   load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
