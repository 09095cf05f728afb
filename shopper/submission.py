"""The submission engine: one browser, a fresh context per test, several tests at once.

A test is submitted at most once, whatever happens. Its state is written *before* the step that
sends the form (`submitting`, with a screenshot of the filled form) and after it (`submitted`,
with the reference number and the final page). If the process dies in between, nobody knows
whether the agency received it: on the next start such a test becomes `uncertain` for a person to
check, with its evidence, and it is never run again (the state change `planned → submitting` is
atomic, so no second engine can start it either).

A page that does not load, a selector that no longer matches, a site that answers with an error:
each is a `site.links_work` finding with the screenshot, and the run goes on with the next test.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from dataclasses import dataclass

from shopper import agencies
from shopper import personas as personas_mod
from shopper.browser import launch
from shopper.clock import get_clock, to_iso
from shopper.errors import ShopperError
from shopper.evidence import EvidenceStore
from shopper.notify import push
from shopper.steps import StepFailed, run_steps, submit_point, template_errors, watch_images
from shopper.timeline import record_event

log = logging.getLogger(__name__)

GRADER_VERSION = "submit-1"
# Words with which a form says it refused what was sent (after the submit click).
ERROR_WORDS = ("错误", "失败", "不能为空", "有误", "无效", "不正确", "请重新", "error", "failed", "invalid")
KIND_ZH = {"complaint": "投诉", "consultation": "咨询", "suggestion": "建议", "application-status": "网上办事申请"}

# Tests this process is submitting right now; `recover_interrupted` leaves them alone.
_IN_FLIGHT: set[str] = set()


async def _screenshot(page) -> bytes:
    # JPEG: a tenth of the CPU of PNG for a full CJK page, and as good as evidence.
    return await page.screenshot(full_page=True, type="jpeg", quality=70)


def _now_iso() -> str:
    return to_iso(get_clock().now())


def _record_event(db, test_id: str, kind: str, *, detail: dict | None = None) -> None:
    """An engine event on the test's timeline."""
    at = get_clock().now()
    record_event(db, test_id, kind, at=at, source="engine", window=(at, at), detail=detail, dedupe_key=kind)


def _update(db, test_id: str, **values) -> None:
    values["updated_at"] = _now_iso()
    db["tests"].update(test_id, values)
    db.conn.commit()


def _period(site, moment) -> str:
    local = site.business_calendar().local(moment)
    return f"{local.year}Q{(local.month - 1) // 3 + 1}"


def write_links_finding(db, *, test_id: str, site, detail: str, quote: str, shas: list[str], url: str | None = None) -> None:
    """A `site.links_work` fail for this test (idempotent on subject_key + rule_id)."""
    now = get_clock().now()
    evidence = {"quote": quote, "times": {"observed": to_iso(now)}, "sha256": shas}
    if url:
        evidence["url"] = url
    db.execute(
        """insert into findings (test_id, agency_id, subject_key, rule_id, verdict, detail, evidence_json,
                                 deadline_at, observed_at, grader_version, period, created_at, updated_at)
           values (?, ?, ?, 'site.links_work', 'fail', ?, ?, null, ?, ?, ?, ?, ?)
           on conflict (subject_key, rule_id) do update set verdict = excluded.verdict, detail = excluded.detail,
             evidence_json = excluded.evidence_json, observed_at = excluded.observed_at,
             grader_version = excluded.grader_version, updated_at = excluded.updated_at""",
        [test_id, site.id, test_id, detail, json.dumps(evidence, ensure_ascii=False), to_iso(now), GRADER_VERSION,
         _period(site, now), to_iso(now), to_iso(now)],
    )
    db.conn.commit()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_interrupted(db, store: EvidenceStore | None = None) -> list[str]:
    """Tests left in `submitting` by a process that is gone become `uncertain` (never re-run)."""
    recovered = []
    for row in list(db["tests"].rows_where("state = 'submitting'")):
        owner = (row.get("error") or "").rsplit(" ", 1)[-1]
        pid = int(owner) if owner.isdigit() else None
        if pid is not None and pid != os.getpid() and _pid_alive(pid):
            continue  # another engine is submitting it right now
        if pid == os.getpid() and row["id"] in _IN_FLIGHT:
            continue
        shas = [e["sha256"] for e in store.for_test(row["id"])] if store else [
            r["sha256"] for r in db["evidence"].rows_where("test_id = ?", [row["id"]])
        ]
        _update(db, row["id"], state="uncertain",
                error="interrupted while the form was being sent; check on the agency's site whether it arrived")
        _record_event(db, row["id"], "uncertain", detail={"reason": "interrupted mid-submit", "sha256": shas})
        push(db, "uncertain", f"测试 {row['id']}（{row['agency_id']}）提交中断，是否已送达不确定，请人工核实。", test_id=row["id"])
        recovered.append(row["id"])
    return recovered


class AlreadySubmitted(ShopperError):
    """Someone else moved the test out of `planned`: it must not be touched, let alone sent."""


@dataclass
class Job:
    site: object
    scenario: object
    persona: str | None = None
    test_id: str | None = None  # a planned test to run
    campaign_id: str | None = None
    started_by: str = "cli"
    dry_run: bool = False


class Engine:
    """Runs tests in one browser. Use `async with Engine(db, config) as engine:`."""

    def __init__(self, db, config, *, solver=None, browser=None, concurrency: int | None = None,
                 per_agency: int | None = None, timeout_ms: int | None = None, rng: random.Random | None = None,
                 store: EvidenceStore | None = None):
        self.db = db
        self.config = config
        self.solver = solver
        self.browser = browser
        self._own_browser = browser is None
        self._playwright = None
        self.concurrency = concurrency or int(config.get("browser", "concurrency", 4))
        self.per_agency = per_agency or int(config.get("browser", "per_agency", 1))
        self.timeout_ms = timeout_ms
        self.rng = rng or random.Random()
        self.store = store or EvidenceStore(config.evidence_dir, db)
        self._slots = asyncio.Semaphore(self.concurrency)
        self._agency_slots: dict[str, asyncio.Semaphore] = {}

    async def start(self) -> "Engine":
        recover_interrupted(self.db, self.store)
        if self.browser is None:
            from playwright.async_api import async_playwright

            self._playwright = await async_playwright().start()
            try:
                self.browser = await launch(
                    self._playwright,
                    executable=self.config.get("browser", "executable"),
                    cdp_url=self.config.get("browser", "cdp_url") or None,
                )
            except BaseException:
                await self._playwright.stop()
                raise
        return self

    async def close(self) -> None:
        if self._own_browser and self.browser is not None:
            await self.browser.close()
            self.browser = None
        if self._playwright is not None:
            await self._playwright.stop()
            self._playwright = None

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.close()

    def _agency_slot(self, agency_id: str) -> asyncio.Semaphore:
        if agency_id not in self._agency_slots:
            self._agency_slots[agency_id] = asyncio.Semaphore(self.per_agency)
        return self._agency_slots[agency_id]

    async def run(self, jobs: list[Job]) -> list[dict]:
        """Every job, several at once; a refused or failed job is a result, not an exception."""

        async def one(job: Job) -> dict:
            try:
                return await self.submit(job.site, job.scenario, persona=job.persona, test_id=job.test_id,
                                         campaign_id=job.campaign_id, started_by=job.started_by, dry_run=job.dry_run)
            except ShopperError as err:
                return {"id": job.test_id, "agency_id": job.site.id, "scenario_id": job.scenario.id,
                        "state": "refused", "error": str(err)}

        return list(await asyncio.gather(*(one(job) for job in jobs)))

    # -- one test ------------------------------------------------------------------------------

    def _prepare(self, site, scenario, *, persona, test_id, campaign_id, started_by, dry_run) -> dict:
        db = self.db
        agencies.sync(db, {site.id: site})
        if test_id:
            rows = list(db["tests"].rows_where("id = ?", [test_id]))
            if not rows:
                raise ShopperError(f"no test {test_id}; `shopper run` without a test id starts a new one")
            row = rows[0]
            if row["state"] != "planned":
                raise ShopperError(f"test {test_id} is {row['state']}; a test is submitted once only, never again")
            campaign_id = row["campaign_id"] or campaign_id
            persona = persona or row["persona_id"]
        if isinstance(persona, personas_mod.Persona):
            persona = persona.id
        chosen = personas_mod.choose(db, site.id, campaign_id=campaign_id, persona_id=persona, rng=self.rng,
                                     needs_account=bool(site.login), exclude_test=test_id)
        test_id = test_id or personas_mod.new_test_id(db)
        address = personas_mod.reply_address(test_id, self.config)
        writer = chosen.for_test(address)
        subject, body = scenario.render(writer, site, self.rng)
        steps = site.form_for(scenario.kind)
        if submit_point(steps) is None:
            raise ShopperError(f"{site.path}: the {scenario.kind} form's steps never click anything, so shopper "
                               "cannot tell when the form is sent; add the click that sends it (or submit = true)")
        test = {"id": test_id, "reply_address": address, "kind": scenario.kind, "important": scenario.important,
                "scenario_id": scenario.id, "campaign_id": campaign_id}
        context = {"site": site, "agency": site, "persona": writer, "test": test, "subject": subject, "body": body,
                   "homepage": site.homepage, "reply_address": address}
        if self.timeout_ms:
            context["timeout_ms"] = self.timeout_ms
        acct = personas_mod.account(db, chosen.id, site.id) if site.login else None
        login_context = None
        if site.login:
            login_context = {**context, "account": {"username": acct["username"],
                                                    "password": personas_mod.password(self.config, acct)}}
        problems = template_errors(steps, context, site.path)
        problems += template_errors(site.login, login_context, site.path) if site.login else []
        if problems:
            raise ShopperError("; ".join(problems))
        if not dry_run:
            values = {"agency_id": site.id, "scenario_id": scenario.id, "persona_id": chosen.id, "state": "planned",
                      "kind": scenario.kind, "important": int(scenario.important), "reply_address": address,
                      "subject": subject, "body": body, "campaign_id": campaign_id, "started_by": started_by,
                      "updated_at": _now_iso()}
            if db.execute("select 1 from tests where id = ?", [test_id]).fetchone():
                db["tests"].update(test_id, values)
            else:
                db["tests"].insert({"id": test_id, "created_at": _now_iso(), **values})
            db.conn.commit()
        return {"test_id": test_id, "persona": chosen, "context": context, "login_context": login_context,
                "account": acct, "steps": steps}

    async def submit(self, site, scenario, *, persona=None, test_id=None, campaign_id=None, started_by="cli",
                     dry_run=False) -> dict:
        """Submit one test (or, with `dry_run`, fill the form and stop before sending it).
        Returns the test row (a summary for a dry run). ShopperError when it is refused."""
        plan = self._prepare(site, scenario, persona=persona, test_id=test_id, campaign_id=campaign_id,
                             started_by=started_by, dry_run=dry_run)
        async with self._slots, self._agency_slot(site.id):
            return await self._in_browser(site, scenario, plan, dry_run)

    async def _new_page(self, site, plan):
        kept = personas_mod.kept_session(plan["account"])
        options = {"locale": "zh-CN", "timezone_id": site.timezone, "viewport": {"width": 1280, "height": 900}}
        if kept:
            options["storage_state"] = kept
        context = await self.browser.new_context(**options)
        page = await context.new_page()
        if any(step.action == "captcha" for step in [*plan["steps"], *site.login]):
            watch_images(page)
        return context, page, bool(kept)

    async def _login(self, site, plan, browser_context, page) -> None:
        await run_steps(page, site.login, plan["login_context"], self.solver, timeout_ms=self.timeout_ms)
        state = await browser_context.storage_state()
        personas_mod.keep_session(self.db, plan["account"], state, hours=site.raw.get("session_hours"))

    async def _in_browser(self, site, scenario, plan, dry_run) -> dict:
        db, store = self.db, self.store
        test_id = plan["test_id"]
        sent = {"past": False, "before": None}

        async def on_submit(index, step):
            shot = await _screenshot(page)
            sent["before"] = store.put(shot, "screenshot", None if dry_run else test_id, "before submit")
            if dry_run:
                return
            # The one guard against a second submission: only a planned test may be sent.
            cursor = db.execute(
                "update tests set state = 'submitting', error = ?, updated_at = ? where id = ? and state = 'planned'",
                [f"submitting in process {os.getpid()}", _now_iso(), test_id],
            )
            db.conn.commit()
            if cursor.rowcount != 1:
                raise AlreadySubmitted(f"test {test_id} is no longer planned; it is never submitted twice")
            sent["past"] = True

        _IN_FLIGHT.add(test_id)
        browser_context = page = None
        try:
            for attempt in (1, 2):
                browser_context, page, kept = await self._new_page(site, plan)
                try:
                    if site.login and not kept:
                        await self._login(site, plan, browser_context, page)
                    extracted = await run_steps(page, plan["steps"], plan["context"], self.solver,
                                                timeout_ms=self.timeout_ms, on_submit=on_submit,
                                                stop_before_submit=dry_run)
                    break
                except StepFailed:
                    # A kept session the site no longer honours: log in again, once, if nothing was sent.
                    if kept and attempt == 1 and not sent["past"]:
                        personas_mod.drop_session(db, plan["account"])
                        plan["account"] = personas_mod.account(db, plan["account"]["persona_id"], site.id)
                        await browser_context.close()
                        browser_context = None
                        continue
                    raise
            if dry_run:
                shot = await _screenshot(page)
                sha = store.put(shot, "screenshot", None, f"dry run {site.id} {scenario.id}")
                return {"dry_run": True, "agency_id": site.id, "scenario_id": scenario.id,
                        "persona_id": plan["persona"].id, "subject": plan["context"]["subject"],
                        "body": plan["context"]["body"], "screenshot": sha}
            return await self._finish(site, scenario, plan, page, extracted, sent)
        except AlreadySubmitted:
            raise
        except StepFailed as err:
            return await self._failed(site, scenario, plan, page, err, sent, dry_run)
        except ShopperError as err:
            if dry_run:
                raise
            state = "uncertain" if sent["past"] else "failed"
            _update(db, test_id, state=state, error=str(err))
            _record_event(db, test_id, state, detail={"reason": str(err)})
            push(db, state, f"测试 {test_id}（{site.name}）未能完成：{err}", test_id=test_id)
            return dict(db["tests"].get(test_id))
        except Exception as err:  # the browser died, the pool went away: still no crash, no repeat
            log.exception("test %s at %s", test_id, site.id)
            if dry_run:
                raise ShopperError(f"dry run at {site.id} failed: {err}") from err
            state = "uncertain" if sent["past"] else "failed"
            _update(db, test_id, state=state, error=f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
            _record_event(db, test_id, state, detail={"reason": str(err)[:300]})
            push(db, state, f"测试 {test_id}（{site.name}）出错：{type(err).__name__}", test_id=test_id)
            return dict(db["tests"].get(test_id))
        finally:
            _IN_FLIGHT.discard(test_id)
            if browser_context is not None:
                try:
                    await browser_context.close()
                except Exception:  # a context of a browser that is gone
                    pass

    async def _finish(self, site, scenario, plan, page, extracted, sent) -> dict:
        db, store, test_id = self.db, self.store, plan["test_id"]
        shot = await _screenshot(page)
        shas = [s for s in (sent["before"], store.put(shot, "screenshot", test_id, "after submit")) if s]
        shas.append(store.put((await page.content()).encode("utf-8"), "html", test_id, f"final page {page.url}"))
        reference = extracted.get("reference_number")
        if reference:
            shas.append(store.put(reference.encode("utf-8"), "reference", test_id, "reference number"))
        now = _now_iso()
        _update(db, test_id, state="submitted", reference_number=reference, query_code=extracted.get("query_code"),
                submitted_at=now, error=None)
        _record_event(db, test_id, "submitted", detail={"reference_number": reference, "sha256": shas,
                                                        "url": page.url})
        push(db, "submitted",
             f"已向{site.name}提交{KIND_ZH.get(scenario.kind, scenario.kind)}“{plan['context']['subject']}”"
             f"（{test_id}）" + (f"，受理编号 {reference}" if reference else "，网站未给出编号"), test_id=test_id)
        return dict(db["tests"].get(test_id))

    async def _failed(self, site, scenario, plan, page, err: StepFailed, sent, dry_run) -> dict:
        db, store, test_id = self.db, self.store, plan["test_id"]
        shas, shown = [], ""
        if page is not None:
            try:
                shas.append(store.put(await _screenshot(page), "screenshot",
                                      None if dry_run else test_id, f"failed: {err}"))
                html = await page.content()
                shas.append(store.put(html.encode("utf-8"), "html", None if dry_run else test_id, f"failed page {page.url}"))
                shown = " ".join((await page.locator("body").first.inner_text(timeout=1000)).split())
            except Exception:  # the page itself is gone; the reason still stands
                pass
        if dry_run:
            raise ShopperError(f"dry run at {site.id}: {err}")
        if sent["before"]:
            shas.insert(0, sent["before"])
        kind_zh = KIND_ZH.get(scenario.kind, scenario.kind)
        refused = any(w in shown.lower() for w in ERROR_WORDS)
        if err.ours and not sent["past"]:
            # Nobody read the captcha or the SMS code in time: the test failed, the site did not.
            state = "failed"
        elif sent["past"] and not refused:
            # The form may have gone through; only a person can tell. Not the site's fault (yet).
            state = "uncertain"
        else:
            state = "failed"
            if err.step.action == "goto":
                detail = f"在线{kind_zh}页面无法打开：{err.reason}"
            elif sent["past"]:
                detail = f"提交{kind_zh}后网站显示错误，未能受理：{shown[:80] or err.reason}"
            else:
                detail = f"在线{kind_zh}表单无法正常使用（第{(err.index or 0) + 1}步 {err.step.action} 失败）：{err.reason}"
            write_links_finding(db, test_id=test_id, site=site, detail=detail, quote=shown[:300] or err.reason,
                                shas=shas, url=page.url if page is not None else None)
        _update(db, test_id, state=state, error=str(err))
        _record_event(db, test_id, state, detail={"reason": str(err), "sha256": shas})
        push(db, state, f"测试 {test_id}（{site.name}，{kind_zh}）{'结果不确定' if state == 'uncertain' else '失败'}：{err.reason}",
             test_id=test_id)
        return dict(db["tests"].get(test_id))


async def submit(db, config, site, scenario, *, persona=None, started_by="cli", dry_run=False, solver=None,
                 browser=None, test_id=None, campaign_id=None, timeout_ms=None, rng=None) -> dict:
    """Submit one test; launches (or connects to) a browser unless one is given."""
    engine = Engine(db, config, solver=solver, browser=browser, timeout_ms=timeout_ms, rng=rng)
    async with engine:
        return await engine.submit(site, scenario, persona=persona, test_id=test_id, campaign_id=campaign_id,
                                   started_by=started_by, dry_run=dry_run)


def run_test(db, config, site, scenario, **kwargs) -> dict:
    """`submit` for callers without an event loop (the CLI, the bot's worker thread)."""
    return asyncio.run(submit(db, config, site, scenario, **kwargs))
