"""A real mail system on loopback for the demo and the tests, and `compose()` for real-world mail.

    SMTP (aiosmtpd, in this process) ──> spool (a Maildir on disk) ──> IMAP (pymap, subprocess)

The demo agencies send their replies with smtplib to `smtp_port`. The SMTP server accepts every
recipient (catch-all) and delivers one copy into a Maildir spool, the way an MTA hands mail to a
local delivery agent; the envelope recipients become `Delivered-To:` headers. The IMAP server is
pymap's in-memory backend, run as its own process and fed from the spool: every new file is
appended through pymap's own mailbox API, which wakes IDLE clients at once, then moved to `cur/`
under the UID it got. A restarted IMAP server reloads `cur/` with the same UIDs and the same
UIDVALIDITY, then takes whatever arrived while it was down. SMTP keeps accepting during an IMAP
outage, so "the IMAP server restarted while mail kept coming" is a real scenario here.

(pymap's own Maildir backend would persist by itself, but it rewrites its UID list on every
append — ~50 ms per message, far too slow for 10,000 — and it notices new files only on its
one-second IDLE tick.)

Delivery times come from shopper's clock (the spool file name carries them), so mail sent under a
simulated clock has a simulated INTERNALDATE.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import email.utils
import html
import itertools
import logging
import os
import quopri
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from email.header import Header
from pathlib import Path

from shopper.clock import get_clock

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# The spool: a Maildir whose file names carry the delivery time and, once served, the UID.
#   new/<epoch>_<seq>_<pid>.eml         delivered, not yet served by IMAP
#   cur/<uid>_<epoch>_<seq>_<pid>.eml   served under <uid>
# ---------------------------------------------------------------------------------------------

_seq = itertools.count(1)
_seq_lock = threading.Lock()


def deliver_to_spool(spool: Path, raw: bytes, when: datetime | None = None) -> Path:
    """Deliver one message into the spool (atomically: write in tmp/, rename into new/)."""
    when = when or get_clock().now()
    with _seq_lock:
        seq = next(_seq)
    name = f"{when.timestamp():.6f}_{seq:09d}_{os.getpid()}.eml"
    tmp = spool / "tmp" / name
    tmp.write_bytes(raw)
    final = spool / "new" / name
    os.replace(tmp, final)
    return final


def _make_spool(spool: Path) -> None:
    for sub in ("tmp", "new", "cur"):
        (spool / sub).mkdir(parents=True, exist_ok=True)


def _new_sort_key(name: str):
    epoch, seq, pid = name[:-4].split("_")
    return (float(epoch), int(pid), int(seq))


# ---------------------------------------------------------------------------------------------
# The IMAP side, run as `python -m shopper.demo.mail imap-server ...` in its own process.
# ---------------------------------------------------------------------------------------------


async def _serve_imap(spool: Path, port: int, user: str, password: str, poll: float) -> None:
    from argparse import ArgumentParser
    from contextlib import AsyncExitStack

    from pymap.backend.dict import DictBackend
    from pymap.imap import IMAPService
    from pymap.parsing.message import AppendMessage
    from pysasl.hashing import BuiltinHash

    parser = ArgumentParser()
    parser.add_argument("--debug", action="store_true")
    parser.set_defaults(skip_services=[], passlib_cfg=None)
    sub = parser.add_subparsers(dest="backend")
    DictBackend.add_subparser("dict", sub)
    IMAPService.add_arguments(parser)
    args = parser.parse_args(
        ["--host", LOOPBACK, "--port", str(port), "--no-tls", "dict",
         "--demo-user", user, "--demo-password", password]
    )
    # A throwaway loopback mailbox: a cheap password hash keeps start-up and LOGIN fast.
    backend, config = await DictBackend.init(args, hash_context=BuiltinHash(rounds=1000))
    config.apply_context()
    async with AsyncExitStack() as stack:
        await backend.start(stack)
        identity = backend.login.demo_user_identity
        session = await stack.enter_async_context(identity.new_session())
        inbox = await session.mailbox_set.get_mailbox("INBOX")

        # One UIDVALIDITY for the life of the spool, so a restart is not a new mailbox.
        validity_file = spool / "uidvalidity"
        if validity_file.exists():
            validity = int(validity_file.read_text())
        else:
            validity = inbox.uid_validity
            validity_file.write_text(str(validity))
        inbox._uid_validity = validity  # pymap 0.36 keeps it here; no public setter

        async def append(raw: bytes, when: datetime, uid: int | None = None) -> int:
            if uid is not None:
                inbox._max_uid = uid - 1  # reload under the UID it was served with before
            msg = await inbox.append(AppendMessage(raw, when, frozenset()), recent=True)
            return msg.uid

        served = sorted((spool / "cur").iterdir(), key=lambda p: int(p.name.split("_", 1)[0]))
        for path in served:
            uid_text, rest = path.name.split("_", 1)
            when = datetime.fromtimestamp(_new_sort_key(rest)[0], timezone.utc)
            await append(path.read_bytes(), when, int(uid_text))
        if not served:
            inbox._max_uid = 0  # UIDs start at 1, like every other server

        await IMAPService(backend, config).start(stack)
        print("ready", flush=True)

        new = spool / "new"
        parent = os.getppid()
        while os.getppid() == parent:  # the MailSystem that started us is gone: so are we
            names = sorted(os.listdir(new), key=_new_sort_key)
            for name in names:
                path = new / name
                when = datetime.fromtimestamp(_new_sort_key(name)[0], timezone.utc)
                uid = await append(path.read_bytes(), when)
                os.replace(path, spool / "cur" / f"{uid}_{name}")
            await asyncio.sleep(poll)


# ---------------------------------------------------------------------------------------------
# The SMTP side, in the calling process.
# ---------------------------------------------------------------------------------------------


class _SpoolHandler:
    def __init__(self, spool: Path, system: "MailSystem"):
        self.spool = spool
        self.system = system

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        envelope.rcpt_tos.append(address)  # catch-all: every address is ours
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        delivered = b"".join(
            b"Delivered-To: " + rcpt.encode("utf-8", "replace") + b"\r\n" for rcpt in envelope.rcpt_tos
        )
        clock = self.system.clock or get_clock()
        deliver_to_spool(self.spool, delivered + content, clock.now())
        return "250 Message accepted for delivery"


class MailSystem:
    """SMTP in, IMAP out, on loopback, catch-all into one INBOX with IDLE.

    `root` keeps the spool; by default a temporary folder removed by `stop()`. `stop_imap()` /
    `start_imap()` restart the IMAP server on the same port with the mailbox kept."""

    def __init__(self, root: str | Path | None = None, *, user: str = "shopper",
                 password: str | None = None, smtp_port: int = 0, imap_port: int = 0,
                 poll: float = 0.02, clock=None):
        self._own_root = root is None
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="shopper-mail-"))
        self.spool = self.root / "Maildir"
        _make_spool(self.spool)
        self.imap_user = user
        self.imap_password = password or secrets.token_urlsafe(12)
        self.smtp_port = smtp_port or free_port()
        self.imap_port = imap_port or free_port()
        self.imap_host = self.smtp_host = LOOPBACK
        self.poll = poll
        # Whose time stamps a delivery: the program's clock unless told (a World on its own
        # simulated clock sets `mail.clock = clock`, so INTERNALDATE is the world's time).
        self.clock = clock
        self._smtp = None
        self._imap: subprocess.Popen | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> "MailSystem":
        self.start_smtp()
        self.start_imap()
        return self

    def stop(self) -> None:
        self.stop_imap()
        self.stop_smtp()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "MailSystem":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start_smtp(self) -> None:
        from aiosmtpd.controller import Controller

        if self._smtp is not None:
            return
        self._smtp = Controller(
            _SpoolHandler(self.spool, self), hostname=LOOPBACK, port=self.smtp_port,
            data_size_limit=64 * 1024 * 1024, enable_SMTPUTF8=True, ready_timeout=5,
        )
        self._smtp.start()

    def stop_smtp(self) -> None:
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None

    def start_imap(self, timeout: float = 10.0) -> None:
        if self.imap_running:
            return
        env = dict(os.environ, SHOPPER_DEMO_IMAP_PASSWORD=self.imap_password)
        self._imap = subprocess.Popen(
            [sys.executable, "-m", "shopper.demo.mail", "imap-server", "--spool", str(self.spool),
             "--port", str(self.imap_port), "--user", self.imap_user, "--poll", str(self.poll)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
        )
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            line = self._imap.stdout.readline()
            if line.strip() == b"ready" or not line:
                break
        if line.strip() != b"ready":
            self.stop_imap()
            raise RuntimeError(f"the demo IMAP server did not start on {LOOPBACK}:{self.imap_port}")

    def stop_imap(self) -> None:
        """Take the IMAP server away abruptly (connections drop, as in an outage)."""
        if self._imap is not None:
            self._imap.kill()
            self._imap.wait()
            self._imap.stdout.close()
            self._imap = None

    def restart_imap(self) -> None:
        self.stop_imap()
        self.start_imap()

    @property
    def imap_running(self) -> bool:
        return self._imap is not None and self._imap.poll() is None

    # -- use --------------------------------------------------------------------------------
    def send(self, raw: bytes, *, to_addrs: list[str] | str | None = None, from_addr: str | None = None) -> None:
        """Send one message through the SMTP server, as an agency does."""
        import smtplib

        msg = email.message_from_bytes(raw)
        if to_addrs is None:
            to_addrs = [a for _, a in email.utils.getaddresses(msg.get_all("To", []) + msg.get_all("Cc", []))]
        from_addr = from_addr or email.utils.parseaddr(msg.get("From", ""))[1] or "sender@localhost"
        with smtplib.SMTP(LOOPBACK, self.smtp_port, timeout=30) as smtp:
            smtp.sendmail(from_addr, to_addrs, raw)

    def deliver(self, raw: bytes, when: datetime | None = None) -> Path:
        """Put a message straight into the mailbox (seeding many old messages fast)."""
        return deliver_to_spool(self.spool, raw, when or (self.clock or get_clock()).now())

    def count(self) -> int:
        """Messages delivered so far (served or waiting for the IMAP server)."""
        return len(os.listdir(self.spool / "new")) + len(os.listdir(self.spool / "cur"))

    def pending(self) -> int:
        return len(os.listdir(self.spool / "new"))

    def settings(self) -> dict:
        """What `shopper watch` needs to read this mailbox (the password goes in the environment)."""
        return {"host": LOOPBACK, "port": self.imap_port, "tls": False, "user": self.imap_user}


# ---------------------------------------------------------------------------------------------
# compose(): mail as real mail servers and clients write it.
# ---------------------------------------------------------------------------------------------

TRANSFERS = ("base64", "quoted-printable", "8bit")


def _encode_body(text: str, codec: str, transfer: str) -> bytes:
    data = text.replace("\r\n", "\n").encode(codec)
    if transfer == "base64":
        return base64.encodebytes(data).replace(b"\n", b"\r\n")
    if transfer == "quoted-printable":
        encoded = quopri.encodestring(data).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        return encoded if encoded.endswith(b"\r\n") else encoded + b"\r\n"
    if transfer == "8bit":
        return data.replace(b"\n", b"\r\n") + b"\r\n"
    raise ValueError(f"unknown transfer encoding {transfer!r}; use one of {', '.join(TRANSFERS)}")


def _text_part(text: str, subtype: str, codec: str, label: str | None, transfer: str) -> bytes:
    ctype = f"text/{subtype}" + (f'; charset="{label}"' if label else "")
    return (
        f"Content-Type: {ctype}\r\nContent-Transfer-Encoding: {transfer}\r\n\r\n".encode("ascii")
        + _encode_body(text, codec, transfer)
    )


def _to_html(own: str, quote_block: str | None, marker: str = "原始邮件") -> str:
    paras = "".join(f"<p>{html.escape(line) or '&nbsp;'}</p>\n" for line in own.split("\n"))
    quoted = ""
    if quote_block:
        quoted = (
            '<div style="font-size:12px;color:#666">------------------&nbsp;' + marker + '&nbsp;------------------</div>\n'
            "<blockquote>" + "<br>\n".join(html.escape(l) for l in quote_block.split("\n")) + "</blockquote>\n"
        )
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html"><style>p{margin:0}</style>'
        "<script>var x=1;</script></head>\n<body>\n" + paras + quoted + "</body></html>"
    )


def _header_value(value: str, codec: str) -> str:
    if value.isascii():
        return value
    return Header(value, codec if codec != "utf-8" else "utf-8").encode()


def _address(addr: str, codec: str) -> str:
    name, address = email.utils.parseaddr(addr)
    if not name:
        return address or addr
    if name.isascii():
        return email.utils.formataddr((name, address))
    return f"{Header(name, codec).encode()} <{address}>"


def compose(*, from_addr: str, to_addr: str, subject: str, body: str, date: datetime,
            charset: str = "utf-8", transfer: str = "base64", html_only: bool = False,
            multipart: bool = False, quote: str | None = None, in_reply_to: str | None = None,
            message_id: str | None = None, references: str | None = None,
            label: str | None = "", header_charset: str | None = None,
            attachments: list[tuple[str, str, bytes]] = (), extra_headers: dict | None = None) -> bytes:
    """Build one message as bytes, the way agency mail systems really write them.

    `charset` is the codec of the body bytes; `label` is what the Content-Type says (default: the
    same; None: no charset parameter at all; another name: a mislabeled message, e.g. label
    "gb2312" over GB18030 bytes). `quote` is the citizen's original, appended under a Foxmail/
    Coremail style "原始邮件" block (plain) or a blockquote (HTML). `attachments` are
    (filename, content type, bytes), sent base64."""
    if transfer not in TRANSFERS:
        raise ValueError(f"unknown transfer encoding {transfer!r}; use one of {', '.join(TRANSFERS)}")
    label = charset if label == "" else label
    hcodec = header_charset or charset
    quote_block = None
    traditional = charset.lower().replace("-", "") in ("big5", "big5hkscs", "cp950")
    if quote:
        sent, to, subj = ("寄件時間", "收件者", "主旨") if traditional else ("发件时间", "收件人", "主题")
        quote_block = f"{sent}: {email.utils.format_datetime(date)}\n{to}: {from_addr}\n{subj}: {subject}\n\n{quote}"
    plain = body
    if quote_block:
        marker = "原始郵件" if traditional else "原始邮件"
        plain = body.rstrip("\n") + f"\n\n------------------ {marker} ------------------\n" + quote_block

    if html_only:
        content = _text_part(_to_html(body, quote_block, "原始郵件" if traditional else "原始邮件"), "html", charset, label, transfer)
    elif multipart:
        boundary = "----=_Part_" + secrets.token_hex(8)
        content = (
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
            "This is a multi-part message in MIME format.\r\n".encode("ascii")
            + f"--{boundary}\r\n".encode() + _text_part(plain, "plain", charset, label, transfer)
            + f"\r\n--{boundary}\r\n".encode()
            + _text_part(_to_html(body, quote_block, "原始郵件" if traditional else "原始邮件"), "html", charset, label, transfer)
            + f"\r\n--{boundary}--\r\n".encode()
        )
    else:
        content = _text_part(plain, "plain", charset, label, transfer)

    if attachments:
        boundary = "----=_Mixed_" + secrets.token_hex(8)
        parts = [content]
        for filename, ctype, data in attachments:
            parts.append(
                f'Content-Type: {ctype}; name="{filename}"\r\nContent-Transfer-Encoding: base64\r\n'
                f'Content-Disposition: attachment; filename="{filename}"\r\n\r\n'.encode()
                + base64.encodebytes(data).replace(b"\n", b"\r\n")
            )
        content = (
            f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode()
            + b"".join(f"--{boundary}\r\n".encode() + p + b"\r\n" for p in parts)
            + f"--{boundary}--\r\n".encode()
        )

    domain = email.utils.parseaddr(from_addr)[1].rpartition("@")[2] or "localhost"
    headers = {
        "From": _address(from_addr, hcodec),
        "To": _address(to_addr, hcodec),
        "Subject": _header_value(subject, hcodec),
        "Date": email.utils.format_datetime(date),
        "Message-ID": message_id or f"<{secrets.token_hex(10)}@{domain}>",
        "MIME-Version": "1.0",
    }
    if in_reply_to:
        headers["In-Reply-To"] = in_reply_to
        headers["References"] = references or in_reply_to
    elif references:
        headers["References"] = references
    headers.update(extra_headers or {})
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode("utf-8")
    return head + content


# ---------------------------------------------------------------------------------------------


def _main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shopper.demo.mail")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("imap-server", help="serve a spool over IMAP (started by MailSystem)")
    serve.add_argument("--spool", required=True, type=Path)
    serve.add_argument("--port", required=True, type=int)
    serve.add_argument("--user", default="shopper")
    serve.add_argument("--poll", type=float, default=0.02)
    args = parser.parse_args(argv)
    password = os.environ.get("SHOPPER_DEMO_IMAP_PASSWORD", "")
    logging.basicConfig(level=logging.WARNING)
    try:
        asyncio.run(_serve_imap(args.spool, args.port, args.user, password, args.poll))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    _main()
