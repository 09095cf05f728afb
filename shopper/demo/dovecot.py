"""A throwaway Dovecot on loopback: the IMAP server most users run, to prove the watcher on it.

Debian's dovecot-imapd is started in the foreground (`dovecot -F -c <our config>`) with its own
config, base and state folders in a temporary directory, plain-text auth against a passwd-file,
one user whose Maildir we can deliver into, a plain IMAP port and an implicit-TLS port with a
self-signed certificate (made with the openssl command). Nothing of the system's Dovecot setup
is read or touched.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

from shopper.demo.mail import LOOPBACK, free_port

DOVECOT = "/usr/sbin/dovecot"


def available() -> bool:
    return os.access(DOVECOT, os.X_OK)


def _user_lines() -> str:
    """Which system users run the login and internal processes."""
    if os.getuid() == 0:
        def exists(name):
            try:
                pwd.getpwnam(name)
                return True
            except KeyError:
                return False

        login = "dovenull" if exists("dovenull") else "nobody"
        internal = "dovecot" if exists("dovecot") else "nobody"
        return f"default_login_user = {login}\ndefault_internal_user = {internal}\n"
    me = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    return (f"default_login_user = {me}\ndefault_internal_user = {me}\ndefault_internal_group = {group}\n"
            "service imap-login {\n  chroot =\n}\n")


class Dovecot:
    """`Dovecot().start()`; `.port` (plain), `.tls_port` (implicit TLS), `.user`, `.password`,
    `.ssl_context()` trusting its certificate, `.deliver(raw)` into the user's Maildir."""

    def __init__(self, root: str | Path | None = None, *, user: str = "shopper", password: str | None = None):
        if not available():
            raise RuntimeError(f"{DOVECOT} is missing; install dovecot-imapd (apt-get install dovecot-imapd)")
        self._own_root = root is None
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="shopper-dovecot-"))
        self.user = user
        self.password = password or secrets.token_urlsafe(12)
        self.port = free_port()
        self.tls_port = free_port()
        self.host = LOOPBACK
        self.maildir = self.root / "home" / user / "Maildir"
        self._proc: subprocess.Popen | None = None
        self._seq = 0

    @property
    def cert(self) -> Path:
        return self.root / "cert.pem"

    def _write_config(self) -> Path:
        root = self.root
        for sub in ("run", "state", "home"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("tmp", "new", "cur"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        if not self.cert.exists():
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-keyout", str(root / "key.pem"), "-out", str(self.cert), "-subj", "/CN=localhost",
                 "-addext", f"subjectAltName=IP:{LOOPBACK},DNS:localhost"],
                check=True, capture_output=True,
            )
        (root / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}::::::\n")
        uid, gid = self._mail_ids()
        if os.getuid() == 0:
            # Dovecot never runs mail processes as root: the mail belongs to an unprivileged user.
            os.chmod(root, 0o755)
            for folder, _, files in os.walk(root / "home"):
                os.chown(folder, uid, gid)
                for name in files:
                    os.chown(os.path.join(folder, name), uid, gid)
        config = f"""
protocols = imap
listen = {LOOPBACK}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = shopper-{self.port}
shutdown_clients = yes
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
{_user_lines()}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = {LOOPBACK}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {LOOPBACK}
    port = {self.tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
protocol imap {{
  imap_idle_notify_interval = 2 mins
}}
"""
        path = root / "dovecot.conf"
        path.write_text(config)
        return path

    @staticmethod
    def _mail_ids() -> tuple[int, int]:
        if os.getuid() != 0:
            return os.getuid(), os.getgid()
        try:
            nobody = pwd.getpwnam("nobody")
            return nobody.pw_uid, nobody.pw_gid
        except KeyError:
            return 65534, 65534

    def start(self, timeout: float = 10.0) -> "Dovecot":
        config = self._write_config()
        self._proc = subprocess.Popen([DOVECOT, "-F", "-c", str(config)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, start_new_session=True)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode("utf-8", "replace")
                raise RuntimeError(f"dovecot did not start: {err.strip()}")
            try:
                with socket.create_connection((LOOPBACK, self.port), timeout=0.5) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot did not answer on {LOOPBACK}:{self.port}")

    def stop(self) -> None:
        if self._proc is not None:
            # The whole process group: the master and every imap process with its client
            # connection, so a stop is a real outage for the watcher.
            try:
                os.killpg(self._proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc.stderr.close()
            self._proc = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def restart(self) -> None:
        own, self._own_root = self._own_root, False
        self.stop()
        self._own_root = own
        self.start()

    def __enter__(self) -> "Dovecot":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def deliver(self, raw: bytes) -> Path:
        """Deliver like a local delivery agent: write in tmp/, rename into new/."""
        self._seq += 1
        name = f"{time.time_ns()}.{os.getpid()}_{self._seq}.shopper"
        tmp = self.maildir / "tmp" / name
        tmp.write_bytes(raw)
        if os.getuid() == 0:
            os.chown(tmp, *self._mail_ids())
        final = self.maildir / "new" / name
        os.replace(tmp, final)
        return final

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.cert))
        return context
