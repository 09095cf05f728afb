"""Where things live and the office's settings.

Paths: `--db` or SHOPPER_DB chooses the database, SHOPPER_CONFIG the config file, SHOPPER_HOME the
folder both default into (`~/.shopper`). Secrets (mailbox password, bot token) never live in the
config or the database: they come from the environment or a secrets file named in the config.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from shopper.errors import ShopperError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

CONFIG_TEMPLATE = """\
# shopper configuration. Every setting has a default; uncomment what you change.

[office]
# name = "市政府办公厅网站监督处"
# timezone = "Asia/Shanghai"        # how times are shown when an agency names no zone
# reply_domain = "mail.example.gov.cn"  # catch-all domain the office owns: each test replies to
#                                     # its own alias there (t-<id>@reply_domain)

[paths]
# scenarios = "scenarios"           # scenario files (*.toml) and sites/ beneath
# templates = "templates"           # Jinja2 letters and reports
# evidence = "~/.shopper/evidence"  # content-addressed evidence store
# calendar_overrides = "~/.shopper/calendar.toml"  # holiday schedules the library lacks

[policy]
# auto_ack_counts = true            # an automatic notice e-mail counts as acknowledgement of receipt

[mailbox]
# host = "127.0.0.1"
# port = 993
# tls = true
# user = "shopper"
# password: from SHOPPER_IMAP_PASSWORD or the secrets file, never here
# folder = "INBOX"

[browser]
# executable = "/usr/bin/chromium"  # found automatically when empty
# cdp_url = ""                      # connect to a remote browser pool over CDP instead
# concurrency = 4                   # tests at once
# per_agency = 1                    # tests at once at one agency

[solver]
# kind = "telegram"                 # who reads captchas and SMS codes in `shopper serve`:
#                                     # telegram (ask the supervisor), harness (the demo world), none
# url = ""                          # for kind = "harness": the demo world's address

[bot]
# token: from SHOPPER_BOT_TOKEN or the secrets file, never here
# digest_hour = 18                  # daily digest, in the office's time zone
# relay_timeout = 300               # seconds a captcha/SMS question waits for the supervisor
# api_url = ""                      # another Bot API server (a local one); default Telegram's
# api_file_url = ""
# webhook_secret: from SHOPPER_WEBHOOK_SECRET or the secrets file
# [[bot.users]]
# id = 123456789
# role = "supervisor"               # or "viewer"
# lang = "zh"

# secrets_file = "~/.shopper/secrets.toml"  # mode 600; keys imap_password, bot_token
"""


def home() -> Path:
    return Path(os.environ.get("SHOPPER_HOME", "~/.shopper")).expanduser()


def default_db_path() -> Path:
    return Path(os.environ.get("SHOPPER_DB") or home() / "shopper.db").expanduser()


def default_config_path() -> Path:
    return Path(os.environ.get("SHOPPER_CONFIG") or home() / "config.toml").expanduser()


@dataclass
class Config:
    path: Path | None = None
    data: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Config":
        path = Path(path).expanduser() if path else default_config_path()
        if not path.exists():
            return cls(path, {})
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ShopperError(f"{path}: not valid TOML ({err}); fix it or run `shopper init --force`") from err
        return cls(path, data)

    def get(self, section: str, key: str, default=None):
        value = self.data.get(section, {})
        return value.get(key, default) if isinstance(value, dict) else default

    def _path(self, key: str, default: Path) -> Path:
        value = self.get("paths", key)
        if not value:
            return default
        p = Path(value).expanduser()
        if not p.is_absolute() and self.path is not None:
            p = self.path.parent / p
        return p

    @property
    def scenarios_dir(self) -> Path:
        return self._path("scenarios", PROJECT_ROOT / "scenarios")

    @property
    def sites_dir(self) -> Path:
        return self.scenarios_dir / "sites"

    @property
    def templates_dir(self) -> Path:
        return self._path("templates", PROJECT_ROOT / "templates")

    @property
    def evidence_dir(self) -> Path:
        return self._path("evidence", home() / "evidence")

    @property
    def calendar_overrides(self) -> Path:
        return self._path("calendar_overrides", home() / "calendar.toml")

    @property
    def reply_domain(self) -> str:
        return self.get("office", "reply_domain", "reply.shopper.test")

    @property
    def timezone(self) -> str:
        return self.get("office", "timezone", "Asia/Shanghai")

    @property
    def auto_ack_counts(self) -> bool:
        return bool(self.get("policy", "auto_ack_counts", True))

    def secret(self, name: str) -> str | None:
        """A secret from SHOPPER_<NAME> or the secrets file; None when neither has it."""
        env = os.environ.get(f"SHOPPER_{name.upper()}")
        if env:
            return env
        secrets_file = self.data.get("secrets_file")
        if secrets_file:
            p = Path(secrets_file).expanduser()
            if p.exists():
                try:
                    return tomllib.loads(p.read_text("utf-8")).get(name)
                except tomllib.TOMLDecodeError as err:
                    raise ShopperError(f"{p}: not valid TOML ({err})") from err
        return None


def write_template(path: Path, force: bool = False) -> bool:
    """Write the commented config file; returns False if one exists and `force` is off."""
    if path.exists() and not force:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CONFIG_TEMPLATE, encoding="utf-8")
    return True
