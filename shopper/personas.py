"""Personas: the believable citizens who write the test messages.

A persona has a name, a phone, a Shanghai district and a writing style; every test gets its own
reply address (`t-<hex>@<reply_domain>`, an alias on the office's catch-all domain), so every
answer can be matched to its test. A persona is never used twice at the same agency within one
campaign, or the agency could notice the same citizen writing again and again.

Sites that let only registered users write keep one account per persona and site in
`persona_accounts`: the password is only ever a *secret name* (`config.secret(name)`), and the
logged-in browser session (Playwright storage state) is kept on disk and reused until it expires.
"""

from __future__ import annotations

import json
import logging
import os
import random
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from shopper.clock import from_iso, get_clock, to_iso
from shopper.config import home
from shopper.errors import ShopperError

log = logging.getLogger(__name__)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁沈任姚卢傅钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严莫孔向常汤康易乔赖文"
GIVEN = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "霞", "平", "刚", "桂英", "建华", "文", "辉", "玲", "志强", "海燕", "晓东", "丹",
    "建国", "红梅", "春燕", "国平", "立新", "雪梅", "俊杰", "佳怡", "子涵", "思远", "晨", "欣怡",
    "浩然", "雨婷", "家豪", "宇轩", "慧", "凤英", "德明", "卫东", "美玲", "嘉伟", "亦凡", "一鸣",
]
# Shanghai's districts with a few places a resident would name.
DISTRICTS = {
    "黄浦区": ["南京东路", "打浦桥", "老西门", "外滩"],
    "徐汇区": ["漕河泾", "田林", "龙华", "斜土路"],
    "长宁区": ["天山路", "仙霞路", "北新泾", "虹桥路"],
    "静安区": ["彭浦新村", "大宁路", "曹家渡", "江宁路"],
    "普陀区": ["长风", "真如", "曹杨新村", "桃浦"],
    "虹口区": ["曲阳路", "四川北路", "江湾镇", "凉城新村"],
    "杨浦区": ["五角场", "控江路", "延吉新村", "平凉路"],
    "闵行区": ["莘庄", "七宝", "古美路", "江川路"],
    "宝山区": ["大场镇", "庙行镇", "友谊路", "顾村镇"],
    "嘉定区": ["南翔镇", "安亭镇", "马陆镇", "新成路"],
    "浦东新区": ["花木", "张江", "塘桥", "三林", "金杨新村"],
    "金山区": ["石化街道", "朱泾镇", "枫泾镇"],
    "松江区": ["方松街道", "九亭镇", "泗泾镇"],
    "青浦区": ["夏阳街道", "赵巷镇", "徐泾镇"],
    "奉贤区": ["南桥镇", "奉城镇", "西渡街道"],
    "崇明区": ["城桥镇", "堡镇", "陈家镇"],
}
PHONE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
                  "155", "156", "157", "158", "159", "166", "177", "180", "181", "183", "186", "187",
                  "188", "189", "199"]
# How a writer of each style opens and closes a letter; scenarios use {{ greeting }} / {{ closing }}.
STYLES = {
    "polite": {
        "greeting": ["您好！", "领导您好：", "尊敬的工作人员，您好！"],
        "closing": ["麻烦您们了，谢谢！", "盼复，谢谢！", "感谢您们的辛勤工作！"],
    },
    "plain": {
        "greeting": ["你好，", "您好，", "你们好，"],
        "closing": ["谢谢。", "希望能尽快处理。", "请回复，谢谢。"],
    },
    "brief": {
        "greeting": ["", "您好。"],
        "closing": ["谢谢。", "请回复。", ""],
    },
    "elderly": {
        "greeting": ["同志你好：", "工作人员同志：", "您好，我是一名退休老人。"],
        "closing": ["给你们添麻烦了，谢谢！", "希望政府重视，谢谢！", "盼早日答复。"],
    },
}


@dataclass
class Persona:
    id: str
    name: str
    phone: str
    district: str
    style: str = "plain"
    email: str = ""  # the test's reply address, set per test; personas table keeps a default
    lang: str = "zh"
    created_at: str = ""

    @property
    def surname(self) -> str:
        return self.name[0]

    @property
    def given(self) -> str:
        return self.name[1:]

    @property
    def places(self) -> list[str]:
        return DISTRICTS.get(self.district, [self.district])

    def row(self) -> dict:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict) -> "Persona":
        fields = {k: row.get(k) for k in ("id", "name", "phone", "district", "style", "email", "lang", "created_at")}
        fields = {k: v for k, v in fields.items() if v is not None}
        return cls(**fields)

    def for_test(self, reply_address: str) -> "Persona":
        """This persona writing one test: its e-mail is the test's own reply alias."""
        return Persona(**{**asdict(self), "email": reply_address})


def new_test_id(db=None) -> str:
    """A short, unguessable test id like "t-3f9a1c2b"; never one that exists."""
    while True:
        test_id = f"t-{secrets.token_hex(4)}"
        if db is None or not db.execute("select 1 from tests where id = ?", [test_id]).fetchone():
            return test_id


def reply_address(test_id: str, config) -> str:
    """The test's reply alias on the office's catch-all domain."""
    return f"{test_id}@{config.reply_domain}"


def generate(rng: random.Random | None = None, *, district: str | None = None, style: str | None = None) -> Persona:
    """A new believable citizen (not saved)."""
    rng = rng or random.Random()
    name = rng.choice(SURNAMES) + rng.choice(GIVEN)
    phone = rng.choice(PHONE_PREFIXES) + "".join(str(rng.randrange(10)) for _ in range(8))
    if district is not None and district not in DISTRICTS:
        raise ShopperError(f"unknown district {district!r}; use one of {', '.join(DISTRICTS)}")
    if style is not None and style not in STYLES:
        raise ShopperError(f"unknown writing style {style!r}; use one of {', '.join(STYLES)}")
    return Persona(
        id=f"p-{secrets.token_hex(3)}",
        name=name,
        phone=phone,
        district=district or rng.choice(list(DISTRICTS)),
        style=style or rng.choice(list(STYLES)),
    )


def add(db, persona: Persona | None = None, **fields) -> Persona:
    """Save a persona (a generated one when none is given; `fields` override)."""
    persona = persona or generate(district=fields.pop("district", None), style=fields.pop("style", None))
    for key, value in fields.items():
        if value is not None:
            setattr(persona, key, value)
    if persona.style not in STYLES:
        raise ShopperError(f"unknown writing style {persona.style!r}; use one of {', '.join(STYLES)}")
    if not (persona.phone.isdigit() and len(persona.phone) == 11 and persona.phone.startswith("1")):
        raise ShopperError(f"phone {persona.phone!r} is not an 11-digit mainland mobile number")
    if db.execute("select 1 from personas where id = ?", [persona.id]).fetchone():
        raise ShopperError(f"persona {persona.id!r} exists already; choose another id")
    persona.created_at = persona.created_at or to_iso(get_clock().now())
    db["personas"].insert(persona.row())
    return persona


def get(db, persona_id: str) -> Persona:
    rows = list(db["personas"].rows_where("id = ?", [persona_id]))
    if not rows:
        raise ShopperError(f"unknown persona {persona_id!r}; `shopper personas list` shows them")
    return Persona.from_row(rows[0])


def all_personas(db) -> list[Persona]:
    return [Persona.from_row(r) for r in db["personas"].rows_where(order_by="id")]


def used_at(db, agency_id: str, campaign_id: str | None, *, exclude_test: str | None = None) -> set[str]:
    """Personas that already wrote (or are planned to write) to this agency in this campaign,
    apart from the test `exclude_test` itself."""
    if campaign_id is None:
        return set()
    rows = db.execute(
        "select distinct persona_id from tests where agency_id = ? and campaign_id = ? and id is not ? "
        "and persona_id is not null",
        [agency_id, campaign_id, exclude_test],
    ).fetchall()
    return {r[0] for r in rows}


def choose(db, agency_id: str, *, campaign_id: str | None = None, persona_id: str | None = None,
           rng: random.Random | None = None, needs_account: bool = False, exclude_test: str | None = None) -> Persona:
    """The persona for a new test at `agency_id`: the named one, or a fitting unused one (a new
    persona is created when every existing one was used here in this campaign)."""
    used = used_at(db, agency_id, campaign_id, exclude_test=exclude_test)
    if persona_id:
        if persona_id in used:
            raise ShopperError(
                f"persona {persona_id} already wrote to {agency_id} in campaign {campaign_id}; "
                "the agency could recognise them. Choose another persona or leave --persona out"
            )
        persona = get(db, persona_id)
        if needs_account and account(db, persona_id, agency_id) is None:
            raise ShopperError(
                f"{agency_id} lets only registered users write and persona {persona_id} has no account there; "
                f"add one with `shopper personas account {persona_id} {agency_id} USERNAME --secret NAME`"
            )
        return persona
    rng = rng or random.Random()
    candidates = [p for p in all_personas(db) if p.id not in used]
    if needs_account:
        with_account = {r["persona_id"] for r in db["persona_accounts"].rows_where("agency_id = ?", [agency_id])}
        candidates = [p for p in candidates if p.id in with_account]
        if not candidates:
            raise ShopperError(
                f"{agency_id} lets only registered users write and no unused persona has an account there; "
                f"add one with `shopper personas account PERSONA {agency_id} USERNAME --secret NAME`"
            )
    if candidates:
        return rng.choice(candidates)
    return add(db, generate(rng))


# --- accounts and kept sessions -------------------------------------------------------------

DEFAULT_SESSION_HOURS = 12


def sessions_dir() -> Path:
    return home() / "sessions"


def add_account(db, persona_id: str, agency_id: str, username: str, password_secret: str) -> dict:
    """Record a persona's account at a site. `password_secret` names a secret (SHOPPER_<NAME>
    or the secrets file); the password itself is never stored."""
    get(db, persona_id)
    if not password_secret.replace("_", "").isalnum():
        raise ShopperError(f"secret name {password_secret!r}: use letters, digits and _ only (e.g. jtw_wang)")
    row = {"persona_id": persona_id, "agency_id": agency_id, "username": username, "password_secret": password_secret}
    existing = account(db, persona_id, agency_id)
    if existing:
        db["persona_accounts"].update(existing["id"], row)
    else:
        db["persona_accounts"].insert(row)
    return account(db, persona_id, agency_id)


def account(db, persona_id: str, agency_id: str) -> dict | None:
    rows = list(db["persona_accounts"].rows_where("persona_id = ? and agency_id = ?", [persona_id, agency_id]))
    return rows[0] if rows else None


def password(config, acct: dict) -> str:
    value = config.secret(acct["password_secret"])
    if not value:
        raise ShopperError(
            f"no password for {acct['username']} at {acct['agency_id']}: set SHOPPER_{acct['password_secret'].upper()} "
            "or add it to the secrets file"
        )
    return value


def kept_session(acct: dict | None) -> str | None:
    """The stored storage-state file of this account while it is still valid, else None."""
    if not acct or not acct.get("storage_state_path") or not acct.get("session_expires_at"):
        return None
    path = Path(acct["storage_state_path"])
    if not path.exists() or from_iso(acct["session_expires_at"]) <= get_clock().now():
        return None
    return str(path)


def keep_session(db, acct: dict, state: dict, *, hours: float | None = None) -> str:
    """Store a logged-in storage state; it expires at the earliest cookie expiry, or after
    `hours` (the site's `session_hours`, default 12) when the cookies last only the session."""
    now = get_clock().now()
    expires = now + timedelta(hours=hours or DEFAULT_SESSION_HOURS)
    for cookie in state.get("cookies", []):
        if cookie.get("expires", -1) and cookie.get("expires", -1) > 0:
            at = datetime.fromtimestamp(cookie["expires"], tz=now.tzinfo)
            expires = min(expires, at)
    folder = sessions_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{acct['persona_id']}-{acct['agency_id']}.json"
    # Session cookies are as good as a password: only the owner may read them.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(state, fh)
    db["persona_accounts"].update(acct["id"], {"storage_state_path": str(path), "session_expires_at": to_iso(expires)})
    return str(path)


def drop_session(db, acct: dict) -> None:
    db["persona_accounts"].update(acct["id"], {"session_expires_at": None})


def assign(db, agency_id: str, campaign_id: str | None, rng: random.Random | None = None) -> str:
    """A persona id never used at `agency_id` in `campaign_id` (for campaign planning)."""
    return choose(db, agency_id, campaign_id=campaign_id, rng=rng).id
