"""The bot's commands. Each one parses its arguments, calls the library, and answers briefly.

Read-only commands fall back to reading the tables when the library module behind them is not
there yet; commands that would change something say plainly that the feature is not available.
Commands that change something (starting a test, writing a letter, steering a campaign) are for
supervisors only and are written to the audit table.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
import re
import tomllib
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot.access import User, audit
from bot.messages import text, usage
from shopper.clock import from_iso, get_clock, to_iso
from shopper.errors import ShopperError

log = logging.getLogger(__name__)

MAX_TEXT = 4000  # Telegram takes 4096 characters per message
CALLBACK_TEST = "t"  # callback data: "t|AGENCY" then "t|AGENCY|SCENARIO"
VERDICT_MARK = {"pass": "✓", "fail": "✗", "undetermined": "?"}


# --- helpers ---------------------------------------------------------------------------------

def optional(module: str):
    """The library module, or None when it has not landed (or does not import)."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        log.debug("%s not available: %s", module, err)
        return None


def _state(context: ContextTypes.DEFAULT_TYPE):
    data = context.application.bot_data
    return data["db"], data["config"], data["access"]


def current_user(update: Update, context) -> User:
    return context.application.bot_data["access"].get(update.effective_user.id)


async def say(update: Update, message: str, **kwargs):
    if len(message) > MAX_TEXT:
        message = message[: MAX_TEXT - 1] + "…"
    return await update.effective_message.reply_text(message, **kwargs)


def office_zone(config) -> ZoneInfo:
    return ZoneInfo(config.timezone if config else "Asia/Shanghai")


def local_time(iso: str | None, zone: ZoneInfo) -> str:
    if not iso:
        return "—"
    try:
        return from_iso(iso).astimezone(zone).strftime("%m-%d %H:%M")
    except ValueError:
        return iso


def current_period(config, db=None) -> str:
    """The period to show: scoring's newest period with findings when it can tell, else this
    quarter in the office's zone."""
    scoring = optional("shopper.scoring")
    if db is not None and scoring is not None and hasattr(scoring, "latest_period"):
        return str(scoring.latest_period(db))
    local = get_clock().now().astimezone(office_zone(config))
    return f"{local.year}Q{(local.month - 1) // 3 + 1}"


def agency_row(db, agency_id: str) -> dict | None:
    return next(db["agencies"].rows_where("id = ?", [agency_id], limit=1), None)


def list_scenarios(config) -> dict[str, dict]:
    """Scenario id -> {kind, important, obj}, from `shopper.scenarios` or the files themselves."""
    directory = config.scenarios_dir
    module = optional("shopper.scenarios")
    if module is not None:
        try:
            found = module.load_scenarios(directory)
            return {sid: {"kind": getattr(s, "kind", ""), "important": getattr(s, "important", False), "obj": s}
                    for sid, s in sorted(found.items())}
        except Exception as err:  # fall back to reading the files; say why in the log
            log.warning("load_scenarios failed (%s); reading scenario files directly", err)
    found = {}
    for path in sorted(Path(directory).glob("*.toml")) if Path(directory).is_dir() else []:
        try:
            data = tomllib.loads(path.read_text("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue
        found[str(data.get("id", path.stem))] = {"kind": data.get("kind", ""), "important": data.get("important", False), "obj": None}
    return found


def as_dict(obj) -> dict:
    if isinstance(obj, dict):
        return obj
    if callable(getattr(obj, "as_dict", None)):  # scoring's results know their published form
        return obj.as_dict()
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    if hasattr(obj, "_asdict"):
        return obj._asdict()
    return dict(vars(obj))


def _pick(d: dict, *names, default=None):
    for name in names:
        if d.get(name) is not None:
            return d[name]
    return default


def _num(value) -> str:
    if value is None or value == "":
        return "—"
    return f"{value:.1f}" if isinstance(value, (int, float)) else str(value)


def parse_since(value: str, zone: ZoneInfo) -> datetime | None:
    """`2026-11-01` (local midnight) or `7d` / `12h`; None when it is neither."""
    m = re.fullmatch(r"(\d+)([dh])", value.strip().lower())
    if m:
        n = int(m.group(1))
        return get_clock().now() - (timedelta(days=n) if m.group(2) == "d" else timedelta(hours=n))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return datetime.fromisoformat(value.strip()).replace(tzinfo=zone)
        except ValueError:
            return None
    return None


async def require_supervisor(update: Update, context, command: str) -> User | None:
    user = current_user(update, context)
    if user is None or not user.is_supervisor:
        await say(update, text(user.lang if user else "zh", "viewer_only", command=command))
        return None
    return user


# --- read-only commands ----------------------------------------------------------------------

async def cmd_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = current_user(update, context)
    await say(update, text(user.lang, "help"))


async def cmd_agencies(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    db, _, _ = _state(context)
    user = current_user(update, context)
    rows = list(db["agencies"].rows_where(order_by="id"))
    if not rows:
        await say(update, text(user.lang, "no_agencies"))
        return
    name_key = "name_en" if user.lang == "en" else "name"
    await say(update, "\n".join(f"{r['id']} — {r.get(name_key) or r.get('name') or ''}" for r in rows))


async def cmd_scenarios(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    _, config, _ = _state(context)
    user = current_user(update, context)
    found = list_scenarios(config)
    if not found:
        await say(update, text(user.lang, "no_scenarios"))
        return
    lines = [f"{sid} — {s['kind']}{' ⚠' if s['important'] else ''}" for sid, s in found.items()]
    await say(update, "\n".join(lines))


async def cmd_status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    db, config, _ = _state(context)
    user = current_user(update, context)
    args = context.args or []
    zone = office_zone(config)
    if len(args) > 1:
        await say(update, usage(user.lang, "status"))
        return
    if not args:
        rows = list(db["tests"].rows_where(order_by="coalesce(created_at, '') desc, id desc", limit=10))
        if not rows:
            await say(update, text(user.lang, "no_tests"))
            return
        await say(update, "\n".join(
            f"{r['id']} {r.get('agency_id') or ''} {r.get('scenario_id') or ''} {r.get('state') or ''} "
            f"{local_time(r.get('submitted_at') or r.get('created_at'), zone)}" for r in rows))
        return
    test_id = args[0]
    row = next(db["tests"].rows_where("id = ?", [test_id], limit=1), None)
    if row is None:
        await say(update, text(user.lang, "unknown_test", test=test_id))
        return
    lines = [f"{row['id']} · {row.get('agency_id')} · {row.get('scenario_id')} · {row.get('state')}"]
    if row.get("reference_number"):
        lines.append(f"# {row['reference_number']}")
    if row.get("error"):
        lines.append(f"! {row['error']}")
    timeline = optional("shopper.timeline")
    if timeline is not None:
        events = timeline.timeline(db, test_id)
    else:
        events = list(db["events"].rows_where("test_id = ?", [test_id], order_by="at, id"))
    for ev in events:
        lines.append(f"{local_time(ev.get('at'), zone)} {ev.get('kind')} ({ev.get('source') or ''})")
    for f in db["findings"].rows_where("subject_key = ? or test_id = ?", [test_id, test_id], order_by="rule_id"):
        lines.append(f"{VERDICT_MARK.get(f.get('verdict'), '·')} {f.get('rule_id')}: {f.get('detail') or ''}")
    shas = [e["sha256"] for e in db["evidence"].rows_where("test_id = ?", [test_id], order_by="created_at")]
    if shas:
        lines.append("evidence: " + ", ".join(s[:12] for s in shas[:8]))
    await say(update, "\n".join(lines))


async def cmd_findings(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    db, config, _ = _state(context)
    user = current_user(update, context)
    args = context.args or []
    zone = office_zone(config)
    agency, since = None, None
    if len(args) > 2:
        await say(update, usage(user.lang, "findings"))
        return
    for arg in args:
        parsed = parse_since(arg, zone)
        if parsed is not None and since is None:
            since = parsed
        elif re.fullmatch(r"[\d-]+[dh]?", arg):
            await say(update, text(user.lang, "bad_date", value=arg) + "\n" + usage(user.lang, "findings"))
            return
        elif agency is None:
            agency = arg
        else:
            await say(update, usage(user.lang, "findings"))
            return
    if agency and agency_row(db, agency) is None:
        await say(update, text(user.lang, "unknown_agency", agency=agency))
        return
    where, params = ["1 = 1"], []
    if agency:
        where.append("agency_id = ?")
        params.append(agency)
    if since:
        where.append("coalesce(observed_at, updated_at, created_at) >= ?")
        params.append(to_iso(since))
    rows = list(db["findings"].rows_where(" and ".join(where), params, order_by="id desc", limit=20))
    if not rows:
        await say(update, text(user.lang, "no_findings"))
        return
    await say(update, "\n".join(
        f"{VERDICT_MARK.get(r.get('verdict'), '·')} {r.get('agency_id') or ''} {r.get('rule_id')} "
        f"[{r.get('subject_key') or r.get('test_id') or ''}] {r.get('detail') or ''}" for r in rows))


def _scores_from_table(db, period: str) -> dict[str, dict]:
    by_agency: dict[str, dict] = {}
    for r in db["scores"].rows_where("period = ?", [period], order_by="agency_id, part"):
        by_agency.setdefault(r["agency_id"], {})[r["part"]] = r["value"]
    return by_agency


def _score_lines(db, config, period: str, agency: str | None) -> list[str]:
    scoring = optional("shopper.scoring")
    lines = []
    if scoring is not None and hasattr(scoring, "score_agencies"):
        for item in scoring.score_agencies(db, period, config):
            d = as_dict(item)
            aid = _pick(d, "agency_id", "agency", "id", default="?")
            if agency and aid != agency:
                continue
            total = _pick(d, "total", "score", "value", default="")
            parts = _pick(d, "parts", default={}) or {}
            detail = ""
            if isinstance(parts, dict):
                detail = " ".join(
                    f"{(v.get('name') if isinstance(v, dict) else None) or k} "
                    f"{_num(v.get('value') if isinstance(v, dict) else v)}" for k, v in parts.items())
            lines.append(f"{aid}: {_num(total)}  {detail}".rstrip())
    if not lines:
        for aid, parts in _scores_from_table(db, period).items():
            if agency and aid != agency:
                continue
            lines.append(f"{aid}: " + " ".join(f"{k} {_num(v)}" for k, v in parts.items()))
    return lines


async def cmd_score(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    db, config, _ = _state(context)
    user = current_user(update, context)
    args = context.args or []
    if len(args) > 1:
        await say(update, usage(user.lang, "score"))
        return
    agency = args[0] if args else None
    if agency and agency_row(db, agency) is None:
        await say(update, text(user.lang, "unknown_agency", agency=agency))
        return
    period = current_period(config, db)
    lines = _score_lines(db, config, period, agency)
    await say(update, f"{period}\n" + "\n".join(lines) if lines else text(user.lang, "no_scores", period=period))


async def cmd_ranking(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    db, config, _ = _state(context)
    user = current_user(update, context)
    if context.args:
        await say(update, usage(user.lang, "ranking"))
        return
    period = current_period(config, db)
    lines = []
    for name in ("shopper.scoring", "shopper.ranking"):
        module = optional(name)
        if module is not None and hasattr(module, "ranking"):
            for i, row in enumerate(module.ranking(db, period), 1):
                d = as_dict(row)
                rank = d["rank"] if "rank" in d else i
                lines.append(f"{rank if rank is not None else '—'}. {_pick(d, 'agency_id', 'agency', default='?')} "
                             f"{_pick(d, 'name', default='')} {_num(_pick(d, 'total', 'score', 'value', default=''))} "
                             f"{d.get('movement_label') or ''}".rstrip())
            break
    if not lines:
        totals = {aid: sum(v for v in parts.values() if isinstance(v, (int, float)))
                  for aid, parts in _scores_from_table(db, period).items()}
        for i, (aid, total) in enumerate(sorted(totals.items(), key=lambda kv: -kv[1]), 1):
            lines.append(f"{i}. {aid} {_num(total)}")
    await say(update, f"{period}\n" + "\n".join(lines) if lines else text(user.lang, "no_ranking", period=period))


# --- commands that change something ----------------------------------------------------------

def _keyboard(buttons: list[tuple[str, str]], per_row: int = 2) -> InlineKeyboardMarkup:
    rows = [buttons[i:i + per_row] for i in range(0, len(buttons), per_row)]
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows])


def _agency_keyboard(db) -> InlineKeyboardMarkup | None:
    rows = list(db["agencies"].rows_where(order_by="id"))
    if not rows:
        return None
    return _keyboard([(f"{r['id']} {r.get('name') or ''}"[:40], f"{CALLBACK_TEST}|{r['id']}"[:64]) for r in rows])


def _scenario_keyboard(config, agency: str) -> InlineKeyboardMarkup | None:
    found = list_scenarios(config)
    if not found:
        return None
    return _keyboard([(sid, f"{CALLBACK_TEST}|{agency}|{sid}"[:64]) for sid in found], per_row=1)


def _load_site(db, config, agency_id: str):
    sites = optional("shopper.sites")
    row = agency_row(db, agency_id) or {}
    if row.get("site_file"):
        path = Path(row["site_file"])
        if not path.is_absolute():
            path = config.sites_dir / path if not path.exists() else path
        if path.exists():
            return sites.load_site_file(path)
    return sites.load_site(agency_id, config.sites_dir)


async def start_test(context, chat_id: int, user: User, agency: str, scenario: str) -> str:
    """Validate, audit and launch a test in the background; returns what to tell the user."""
    db, config, _ = _state(context)
    if agency_row(db, agency) is None:
        return text(user.lang, "unknown_agency", agency=agency)
    found = list_scenarios(config)
    if scenario not in found:
        return text(user.lang, "unknown_scenario", scenario=scenario)
    try:
        site = _load_site(db, config, agency)
    except ShopperError as err:  # no site file yet, or a broken one: say so before anything runs
        return text(user.lang, "test_failed", error=str(err)[:500])
    submission = optional("shopper.submission")
    if submission is None or found[scenario]["obj"] is None:
        return text(user.lang, "not_available", what="/test" if user.lang == "en" else "发起测试")
    audit(db, user.id, user.name, "test", {"agency": agency, "scenario": scenario})
    solver = context.application.bot_data.get("solver")

    async def run() -> None:
        try:
            row = await submission.submit(db, config, site, found[scenario]["obj"], started_by=str(user.id), solver=solver)
        except Exception as err:  # the engine records failures itself; the supervisor hears why
            log.warning("test %s/%s started by %s failed: %s", agency, scenario, user.id, err)
            await context.bot.send_message(chat_id, text(user.lang, "test_failed", error=str(err)[:500]))
            return
        test_id = row.get("id") if isinstance(row, dict) else None
        if test_id and not db["notifications"].count_where("test_id = ?", [test_id]):
            state = text(user.lang, f"state_{row.get('state')}") if row.get("state") in ("submitted", "failed", "uncertain") else row.get("state")
            await context.bot.send_message(chat_id, text(user.lang, "test_done", test=test_id, state=state))

    context.application.create_task(run(), name=f"test {agency}/{scenario}")
    return text(user.lang, "test_started", agency=agency, scenario=scenario)


async def cmd_test(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = await require_supervisor(update, context, "/test")
    if user is None:
        return
    db, config, _ = _state(context)
    args = context.args or []
    if len(args) > 2:
        await say(update, usage(user.lang, "test"))
        return
    if not args:
        keyboard = _agency_keyboard(db)
        if keyboard is None:
            await say(update, text(user.lang, "no_agencies"))
        else:
            await say(update, text(user.lang, "pick_agency"), reply_markup=keyboard)
        return
    if len(args) == 1:
        if agency_row(db, args[0]) is None:
            await say(update, text(user.lang, "unknown_agency", agency=args[0]) + "\n" + usage(user.lang, "test"))
            return
        keyboard = _scenario_keyboard(config, args[0])
        if keyboard is None:
            await say(update, text(user.lang, "no_scenarios"))
        else:
            await say(update, text(user.lang, "pick_scenario", agency=args[0]), reply_markup=keyboard)
        return
    await say(update, await start_test(context, update.effective_chat.id, user, args[0], args[1]))


async def on_test_choice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The inline-keyboard path of /test: first the agency, then the scenario."""
    query = update.callback_query
    user = current_user(update, context)
    if not user.is_supervisor:
        await query.answer(text(user.lang, "viewer_only", command="/test"), show_alert=True)
        return
    await query.answer()
    _, config, _ = _state(context)
    parts = (query.data or "").split("|")
    if len(parts) == 2:
        keyboard = _scenario_keyboard(config, parts[1])
        await query.edit_message_text(text(user.lang, "pick_scenario", agency=parts[1]), reply_markup=keyboard)
    elif len(parts) == 3:
        await query.edit_message_text(await start_test(context, update.effective_chat.id, user, parts[1], parts[2]))


async def cmd_letter(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = await require_supervisor(update, context, "/letter")
    if user is None:
        return
    db, config, _ = _state(context)
    args = context.args or []
    if len(args) != 1:
        await say(update, usage(user.lang, "letter"))
        return
    agency = args[0]
    if agency_row(db, agency) is None:
        await say(update, text(user.lang, "unknown_agency", agency=agency))
        return
    letters = optional("shopper.letters")
    if letters is None:
        await say(update, text(user.lang, "not_available", what="/letter" if user.lang == "en" else "通知书"))
        return
    audit(db, user.id, user.name, "letter", {"agency": agency})
    from shopper.config import home

    out_dir = home() / "letters" / get_clock().now().strftime("%Y%m%dT%H%M%S")
    # Letters render in Chromium: off the event loop, so the bot keeps answering meanwhile.
    written = await asyncio.to_thread(letters.write_letters, db, out_dir, agency=agency, pdf=True,
                                      lang=user.lang, config=config)
    paths = [Path(p) for p in written]
    pdfs = [p for p in paths if p.suffix.lower() == ".pdf"] or paths
    if not pdfs:
        await say(update, text(user.lang, "letter_none", agency=agency))
        return
    for path in pdfs:
        with path.open("rb") as fh:
            await update.effective_message.reply_document(fh, filename=path.name,
                                                          caption=text(user.lang, "letter_caption", agency=agency))


CAMPAIGN_STATES = {"start": "running", "pause": "paused", "resume": "running"}


def _campaign_line(c: dict) -> str:
    return f"{c['name']} · {c.get('state')} · {c.get('starts_on') or ''}–{c.get('ends_on') or ''} · {c.get('owner') or ''}"


async def cmd_campaign(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    db, config, _ = _state(context)
    user = current_user(update, context)
    campaigns = optional("shopper.campaigns")
    if campaigns is None:
        await say(update, text(user.lang, "campaigns_unavailable"))
        return
    args = context.args or []
    if not args or args == ["list"]:
        rows = list(db["campaigns"].rows_where(order_by="created_at desc", limit=20))
        await say(update, "\n".join(map(_campaign_line, rows)) if rows else text(user.lang, "campaign_list_empty"))
        return
    if len(args) != 2 or args[0] not in (*CAMPAIGN_STATES, "status"):
        await say(update, usage(user.lang, "campaign"))
        return
    action, name = args
    try:
        if action == "status":
            found = campaigns.status(db, name)
            counts = ", ".join(f"{k} {v}" for k, v in sorted(found["counts"].items()))
            await say(update, f"{_campaign_line(found['campaign'])}\n{counts or '—'}"
                              + (f"\nnext: {local_time(found.get('next_at'), office_zone(config))}" if found.get("next_at") else ""))
            return
        if not user.is_supervisor:
            await say(update, text(user.lang, "viewer_only", command="/campaign " + action))
            return
        campaigns.get(db, name)  # an unknown name is told, not audited
        audit(db, user.id, user.name, f"campaign.{action}", {"name": name})
        campaigns.set_state(db, name, CAMPAIGN_STATES[action])
    except ShopperError as err:  # carries a message meant for people (unknown name, campaign done)
        await say(update, str(err)[:500])
        return
    await say(update, text(user.lang, "campaign_done", name=name, action=action))


# --- plain text: answers to the relay --------------------------------------------------------

async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = current_user(update, context)
    message = update.effective_message
    solver = context.application.bot_data.get("solver")
    reply_to = message.reply_to_message.message_id if message.reply_to_message else None
    if solver is not None and solver.answer(update.effective_chat.id, message.text or "", reply_to):
        await say(update, text(user.lang, "answer_thanks"))
    elif reply_to is not None:
        await say(update, text(user.lang, "answer_late"))
    else:
        await say(update, text(user.lang, "help"))


COMMANDS = {
    "start": cmd_help,
    "help": cmd_help,
    "agencies": cmd_agencies,
    "scenarios": cmd_scenarios,
    "test": cmd_test,
    "status": cmd_status,
    "findings": cmd_findings,
    "score": cmd_score,
    "ranking": cmd_ranking,
    "letter": cmd_letter,
    "campaign": cmd_campaign,
}
