"""site.complaint_column (附件四(一)): a 监督、投诉 column in a prominent place of the site.

Prominent means what a visitor sees on opening the homepage in a 1366×768 window, before
scrolling: the link's box lies wholly inside the first screen, it is displayed, and nothing covers
its middle. The column must also lead to a working form: its page loads (status < 400) and holds a
text area for the complaint, there or one link further ("我要投诉", "写信", ...).
"""

from __future__ import annotations

import logging

from shopper.checks.browse import VIEWPORT, Outcome, count, goto, squash, vocabulary
from shopper.checks.crawl import same_origin

log = logging.getLogger(__name__)

FORM_SELECTOR = "textarea, [contenteditable=''], [contenteditable='true']"
LOGIN_SELECTOR = "form input[type=password]"  # the form is there, behind a citizen's login
MAX_FOLLOWED = 3

# Every link-like element whose text names the column, with where it is drawn.
_CANDIDATES_JS = """
([words, exclude]) => {
  window.scrollTo(0, 0);
  const vw = window.innerWidth, vh = window.innerHeight, out = [];
  for (const el of document.querySelectorAll('a[href], area[href], [role=link]')) {
    const alts = [...el.querySelectorAll('img')].map(i => i.alt || '').join(' ');
    const text = [el.innerText, el.getAttribute('title'), el.getAttribute('aria-label'), el.getAttribute('alt'), alts]
      .filter(Boolean).join(' ').replace(/\\s+/g, ' ').trim();
    const flat = text.replace(/\\s+/g, '');
    const word = words.find(w => flat.includes(w));
    if (!word || exclude.some(x => flat.includes(x) && !flat.replace(x, '').includes(word))) continue;
    const r = el.getBoundingClientRect(), style = getComputedStyle(el);
    let visible = r.width > 0 && r.height > 0 && style.visibility !== 'hidden' && parseFloat(style.opacity || '1') > 0;
    if (visible && el.checkVisibility) visible = el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true});
    const inView = r.top >= 0 && r.left >= 0 && r.bottom <= vh && r.right <= vw;
    let onTop = false;
    if (visible && inView) {
      const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      onTop = !!hit && (hit === el || el.contains(hit) || hit.contains(el));
    }
    out.push({text: text.slice(0, 60), word, href: el.href || el.getAttribute('href') || '',
              box: {x: Math.round(r.left), y: Math.round(r.top), width: Math.round(r.width), height: Math.round(r.height)},
              visible, in_view: inView, on_top: onTop, prominent: visible && inView && onTop});
  }
  return out;
}
"""

# Links on the column's page that lead on to the form itself.
_FORM_LINKS_JS = """
(words) => [...document.querySelectorAll('a[href]')]
  .map(a => ({text: (a.innerText || a.title || '').replace(/\\s+/g, ''), href: a.href}))
  .filter(a => a.href && words.some(w => a.text.includes(w)))
  .slice(0, 3)
"""


async def _reaches_form(page, url: str, homepage: str, form_words: list[str]) -> dict:
    """Whether `url` is, or links on to, a page with a complaint form."""
    tried = []
    queue = [url]
    while queue and len(tried) < 3:
        target = queue.pop(0)
        if not same_origin(target, homepage):
            tried.append({"url": target, "ok": False, "reason": "off_site"})
            continue
        loaded, status, error = await goto(page, target)
        step = {"url": target, "status": status, "ok": False, "reason": error}
        tried.append(step)
        if not loaded:
            continue
        if await count(page, FORM_SELECTOR):
            step.update(ok=True, reason="")
            return {"ok": True, "form_url": page.url, "tried": tried, "login": False}
        if await count(page, LOGIN_SELECTOR):
            step.update(ok=True, reason="login")
            return {"ok": True, "form_url": page.url, "tried": tried, "login": True}
        step["reason"] = "no_form"
        if target == url:  # the column's own page: look one link further, once
            try:
                more = await page.evaluate(_FORM_LINKS_JS, form_words)
            except Exception:
                more = []
            queue.extend(m["href"] for m in more if m["href"] not in queue and m["href"] != target)
    return {"ok": False, "form_url": None, "tried": tried, "login": False}


def _why(tried: list[dict]) -> str:
    first = tried[0] if tried else {"reason": "no_form"}
    if first["reason"] == "off_site":
        return "指向站外网址，未检查其表单"
    if first["reason"] == "no_form":
        return "页面上没有可填写的投诉表单"
    return f"页面无法打开（{first['reason']}）"


async def candidates(page, words: list[str], exclude: list[str]) -> list[dict]:
    """Candidates in the page and in its frames (old portals build the homepage from iframes),
    with boxes in the coordinates of the window."""
    found = []
    for frame in page.frames:
        try:
            items = await frame.evaluate(_CANDIDATES_JS, [words, exclude])
        except Exception:  # a frame that went away or is not ours
            continue
        if frame is not page.main_frame:
            try:
                box = await (await frame.frame_element()).bounding_box()
            except Exception:
                box = None
            for c in items:
                c["frame"] = frame.url
                if box is None:
                    c.update(visible=False, in_view=False, on_top=False, prominent=False)
                    continue
                c["box"]["x"] += round(box["x"])
                c["box"]["y"] += round(box["y"])
                b = c["box"]
                inside = b["x"] >= 0 and b["y"] >= 0 and b["x"] + b["width"] <= VIEWPORT["width"] \
                    and b["y"] + b["height"] <= VIEWPORT["height"]
                c["in_view"] = c["in_view"] and inside
                c["prominent"] = c["visible"] and c["in_view"] and c["on_top"]
        found += items
    return found


async def check_complaint_column(page, homepage: str, shots) -> Outcome:
    words = vocabulary()["complaint_column"]
    loaded, status, error = await goto(page, homepage)
    if not loaded:
        return Outcome("undetermined", f"网站首页无法打开（{error}），未能检查监督投诉栏目。",
                       {"homepage": homepage, "status": status, "error": error})
    shot = await shots.page(page, f"homepage {homepage}")
    found = await candidates(page, words["words"], words.get("exclude", []))
    evidence = {"homepage": homepage, "viewport": VIEWPORT, "candidates": found[:10],
                "sha256": [s for s in [shot] if s]}
    if not found:
        return Outcome("fail", "首页没有找到监督、投诉栏目或链接。", evidence)

    prominent = [c for c in found if c["prominent"]]
    if not prominent:
        first = min(found, key=lambda c: c["box"]["y"] if c["visible"] else 10**9)
        where = (f"位于页面第{first['box']['y']}像素处，需向下滚动才能看到（窗口高{VIEWPORT['height']}像素）"
                 if first["visible"] else "在页面上不可见")
        link = await _reaches_form(page, first["href"], homepage, words["form_links"]) if first["href"] else None
        evidence["followed"] = link
        return Outcome("fail", f"首页的“{first['text']}”链接{where}，不在显著位置。", evidence)

    followed = []
    seen = set()
    for candidate in prominent:
        href = candidate["href"]
        if not href or href in seen or len(seen) >= MAX_FOLLOWED:
            continue
        seen.add(href)
        link = await _reaches_form(page, href, homepage, words["form_links"])
        followed.append({"text": candidate["text"], **link})
        if link["ok"]:
            form_shot = await shots.page(page, f"complaint form {link['form_url']}")
            if form_shot:
                evidence["sha256"].append(form_shot)
            evidence.update(followed=followed, form_url=link["form_url"], link=candidate)
            login = "，需先登录" if link["login"] else ""
            return Outcome("pass", f"首页显著位置有“{candidate['text']}”链接，可打开在线投诉表单（{link['form_url']}{login}）。",
                           evidence)
    evidence["followed"] = followed
    first = followed[0] if followed else {"text": prominent[0]["text"], "tried": []}
    if all(t["reason"] == "off_site" for f in followed for t in f["tried"][:1]) and followed:
        return Outcome("undetermined", f"首页显著位置有“{first['text']}”链接，但它指向站外网址，未检查其投诉表单。",
                       evidence)
    return Outcome("fail", f"首页显著位置有“{first['text']}”链接，但其{_why(first['tried'])}。", evidence)
