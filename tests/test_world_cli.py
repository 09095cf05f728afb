"""`shopper world`: starts the sites and the mail system, says where they are, stops on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

pytestmark = pytest.mark.slow


def test_shopper_world_prints_urls_ports_and_credentials_and_stops_on_ctrl_c(tmp_path):
    env = dict(os.environ, SHOPPER_FAKE_NOW="2026-11-30T10:00+08:00")
    proc = subprocess.Popen([sys.executable, "-m", "shopper", "world", "--speed", "60"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C" in line:
                break
        out = "".join(lines)
        base = re.search(r"SHOPPER_DEMO_URL=(http://127\.0\.0\.1:\d+)", out).group(1)
        assert re.search(r"smtp\s+127\.0\.0\.1:\d+", out) and re.search(r"imap\s+127\.0\.0\.1:\d+\s+user \S+\s+password \S+", out)
        assert f"{base}/mzxx/" in out and "status_only" in out
        assert "2026-11-30T02:0" in out  # the simulated clock starts at SHOPPER_FAKE_NOW
        page = urllib.request.urlopen(base + "/", timeout=10).read().decode()
        assert "上海市交通委员会" in page
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, proc.stderr.read()


def test_shopper_world_on_a_taken_port_says_what_to_do():
    import socket

    from click.testing import CliRunner

    from shopper.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["world", "--no-mail", "--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot serve on 127.0.0.1:{port}" in result.output and "--port" in result.output
    result = CliRunner().invoke(main, ["world", "--no-mail", "--speed", "-1"])
    assert result.exit_code == 2 and "--speed" in result.output
