"""service.online_loop (附件二(三)): every online service has online acceptance, real-time status
query and result feedback, and each of them works.

The site file lists the services (a missing stage is itself a failure):

    [[services]]
    name = "占道施工许可"
    guide = "service/3"                            # the service's own page (optional, or `url`)
    apply = "service/3/apply"                      # 网上受理 (or `accept`): a page with a form
    status = "status"                              # 实时查询 (or `query`): a field for the number
    result = { url = "results", text = "办理结果" }  # 结果反馈

Each stage is a URL (relative to the homepage) or a table with `url` and, optionally, `selector`
(must be on the page) and `text` (must be shown). Without them a stage's page must hold what that
stage needs: a form to fill (apply), a field to type the number into (status), some content (result).
A stage may also carry `steps` (site-file steps, played on its page after it loads) to show that it
works, e.g. that a query for an unknown number is answered rather than failing:

    status = { url = "status", steps = [
        { action = "fill", selector = "#ref-input", value = "SHOPPER-CHECK-0000" },
        { action = "click", selector = "#query-btn" },
        { action = "expect", selector = "#status-error" } ] }

Steps run without captcha or SMS solvers: a stage behind a captcha is only checked by its page.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urljoin

from shopper.checks.browse import Outcome, count, goto, has_text
from shopper.checks.crawl import same_origin
from shopper.errors import ShopperError

STAGES = {"page": "事项页面", "accept": "网上受理", "query": "实时查询", "result": "结果反馈"}
KEYS = {"page": ("guide", "url"), "accept": ("apply", "accept"), "query": ("status", "query"), "result": ("result",)}
DEFAULT_EXPECT = {
    "page": "body *",
    "accept": "form textarea, form input:not([type=hidden]):not([type=submit]):not([type=button]), form select",
    "query": "input:not([type=hidden]):not([type=submit]):not([type=button]):not([type=checkbox]):not([type=radio])",
    "result": "body *",
}


def _spec(value, homepage: str) -> dict | None:
    if isinstance(value, str) and value:
        return {"url": urljoin(homepage, value)}
    if isinstance(value, dict) and value.get("url"):
        return {**value, "url": urljoin(homepage, value["url"])}
    return None


async def _play(page, raw_steps, stage: str, site) -> str:
    """Play a stage's steps; "" when they all went through, else why not."""
    from shopper.sites import _parse_steps
    from shopper.steps import StepFailed, run_steps

    path = getattr(site, "path", None) or Path("site file")
    try:
        steps = _parse_steps(raw_steps, f"services.{stage}.steps", "", path)
        await run_steps(page, steps, {"site": site})
    except StepFailed as err:
        return f"steps: {err}"
    except ShopperError as err:
        return f"steps: {err}"
    return ""


async def check_stage(page, stage: str, value, homepage: str, shots, name: str, site=None) -> dict:
    spec = _spec(value, homepage)
    if spec is None:
        return {"stage": stage, "ok": False, "reason": "missing"}
    url = spec["url"]
    result = {"stage": stage, "url": url, "ok": False}
    if not same_origin(url, homepage):
        return {**result, "reason": "off_site"}
    loaded, status, error = await goto(page, url)
    result["status"] = status
    if not loaded:
        return {**result, "reason": error}
    shot = await shots.page(page, f"service {name} {stage} {url}")
    if shot:
        result["sha256"] = shot
    selector = spec.get("selector") or (None if spec.get("text") else DEFAULT_EXPECT[stage])
    if selector and not await count(page, selector):
        return {**result, "reason": f"no {selector}"}
    if spec.get("text") and not await has_text(page, spec["text"]):
        return {**result, "reason": f"text {spec['text']!r} not shown"}
    if spec.get("steps"):
        why = await _play(page, spec["steps"], stage, site)
        after = await shots.page(page, f"service {name} {stage} after steps")
        if after:
            result["sha256_after"] = after
        if why:
            return {**result, "reason": why}
    return {**result, "ok": True, "reason": ""}


def _problem(name: str, stage: dict) -> str:
    label = STAGES[stage["stage"]]
    reason = stage["reason"]
    if reason == "missing":
        return f"“{name}”缺少{label}环节"
    if reason == "off_site":
        return f"“{name}”的{label}在站外，未检查"
    if reason.startswith(("no ", "text ")):
        return f"“{name}”的{label}页面没有相应功能"
    if reason.startswith("steps: "):
        return f"“{name}”的{label}无法正常使用（{reason[7:]}）"
    return f"“{name}”的{label}页面无法打开（{reason}）"


async def check_online_loop(page, services: list, homepage: str, shots, site=None) -> Outcome:
    seen: dict[tuple, dict] = {}  # services often share one status page: open each page once

    async def stage_result(stage, value, name):
        spec = _spec(value, homepage)
        key = (stage, json.dumps(spec, sort_keys=True, default=str))
        if key not in seen:
            seen[key] = await check_stage(page, stage, value, homepage, shots, name, site)
        return dict(seen[key])

    if not services:
        return Outcome("undetermined", "站点文件未列出网上办事事项，未检查网上办事环节。", {"services": []})
    results = []
    for i, service in enumerate(services):
        if not isinstance(service, dict):
            service = {}
        name = str(service.get("name") or f"事项{i + 1}")
        stages = []
        for stage, keys in KEYS.items():
            value = next((service[k] for k in keys if service.get(k)), None)
            if stage == "page" and value is None:
                continue  # the service's own page is optional; the three stages are not
            stages.append(await stage_result(stage, value, name))
        results.append({"name": name, "ok": all(s["ok"] for s in stages), "stages": stages})
    shots_taken = [s[k] for r in results for s in r["stages"] for k in ("sha256", "sha256_after") if s.get(k)]
    evidence = {"services": results, "sha256": sorted(set(shots_taken), key=shots_taken.index)}
    problems = [_problem(r["name"], s) for r in results for s in r["stages"] if not s["ok"]]
    if not problems:
        names = "、".join(f"“{r['name']}”" for r in results)
        return Outcome("pass", f"{names}均具备网上受理、实时查询和结果反馈三个环节，且均可正常使用。", evidence)
    if all("站外" in p for p in problems):
        return Outcome("undetermined", "；".join(problems[:3]) + "。", evidence)
    more = f"等{len(problems)}处问题" if len(problems) > 3 else ""
    return Outcome("fail", "；".join(problems[:3]) + more + "。", evidence)
