"""整改通知: exactly the agency's failures, quoted clauses, escaping, deadline, PDF and PNG."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from shopper.config import Config
from shopper.errors import ShopperError
from shopper.letters import chinese_number, write_letters
from shopper.rules import get_rule


@pytest.fixture
def config(tmp_path):
    return Config(tmp_path / "config.toml", {"office": {"name": "上海市人民政府办公厅"}})


def test_letters_only_for_agencies_with_failures(scored_world, tmp_path, config):
    paths = write_letters(scored_world, tmp_path / "letters", period="2026Q4", config=config)
    assert sorted(p.name for p in paths) == ["jtw-2026Q4.zh.html", "mzj-2026Q4.zh.html"]
    assert write_letters(scored_world, tmp_path / "none", agency="ghj", period="2026Q4", config=config) == []
    with pytest.raises(ShopperError):
        write_letters(scored_world, tmp_path / "x", agency="nobody", period="2026Q4", config=config)


def test_a_letter_lists_exactly_the_agencys_failures(scored_world, tmp_path, config):
    [path] = write_letters(scored_world, tmp_path, agency="jtw", period="2026Q4", config=config)
    html = path.read_text("utf-8")
    assert html.count('class="item"') == 2
    for rule_id in ("complaint.ack_24h", "complaint.reply_by_deadline"):
        rule = get_rule(rule_id)
        assert rule.rectify in html
        assert rule.clause in html
    assert "《上海市政府部门网站评议考核试行办法》附件四(三)(五)" in html  # Rule.quote()
    for rule_id in ("tone.plain_friendly", "consult.reply_in_time", "site.links_work"):  # pass, undetermined, other agency
        assert get_rule(rule_id).rectify not in html
    assert "一、受理告知超过24小时" in html and "二、逾期未答复" in html
    assert "市交通委&lt;b&gt;：" in html  # addressee
    assert "2026年第四季度" in html
    assert "2026-11-02 10:00" in html and "2026-11-03 16:00" in html  # submitted / acknowledged, Shanghai time
    assert "SHA-256 " + "b" * 64 in html and "SHA-256 " + "a" * 64 in html  # finding's file and the reply's raw mail
    # 15 working days from Thursday 2026-12-03: Dec 4, 7–11, 14–18, 21–24
    assert "2026年12月24日" in html and "十五个工作日" in html
    assert "2026年12月3日" in html


def test_reply_with_script_is_text_in_the_letter(scored_world, tmp_path, config):
    [path] = write_letters(scored_world, tmp_path, agency="jtw", period="2026Q4", config=config)
    html = path.read_text("utf-8")
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html


def test_site_check_failure_and_english_letter(scored_world, tmp_path, config):
    [path] = write_letters(scored_world, tmp_path, agency="mzj", lang="en", period="2026Q4", config=config)
    assert path.name == "mzj-2026Q4.en.html"
    html = path.read_text("utf-8")
    assert "Notice of rectification" in html and get_rule("site.links_work").gloss in html
    assert "check:mzj:links" in html and html.count('class="item"') == 1
    with pytest.raises(ShopperError):
        write_letters(scored_world, tmp_path, lang="fr", config=config)


def test_chinese_numbers():
    assert [chinese_number(n) for n in (1, 10, 12, 15, 20, 35)] == ["一", "十", "十二", "十五", "二十", "三十五"]


@pytest.mark.slow
def test_pdf_letter(scored_world, tmp_path, config):
    [pdf] = write_letters(scored_world, tmp_path, agency="jtw", pdf=True, period="2026Q4", config=config)
    assert pdf.suffix == ".pdf" and pdf.read_bytes().startswith(b"%PDF")
    assert pdf.with_suffix(".html").exists()


@pytest.mark.slow
async def test_letter_renders_to_a_non_blank_png(scored_world, tmp_path, config):
    from playwright.async_api import async_playwright

    from shopper.browser import launch

    [path] = write_letters(scored_world, tmp_path, agency="jtw", period="2026Q4", config=config)
    async with async_playwright() as p:
        browser = await launch(p)
        try:
            page = await browser.new_page(viewport={"width": 900, "height": 1200})
            await page.set_content(path.read_text("utf-8"))
            png = await page.screenshot(full_page=True)
            # the title laid out as text of real height
            height = await page.evaluate("() => document.querySelector('h1').getBoundingClientRect().height")
        finally:
            await browser.close()
    image = Image.open(io.BytesIO(png)).convert("RGB")
    raw = image.tobytes()
    pixels = [tuple(raw[i:i + 3]) for i in range(0, len(raw), 3)]
    dark = sum(1 for r, g, b in pixels if r + g + b < 300)
    red = sum(1 for r, g, b in pixels if r > 150 and g < 80 and b < 80)
    assert dark / len(pixels) > 0.01, "the letter rendered (nearly) blank"
    assert red > 500, "the red masthead is missing"
    assert height > 10
    (tmp_path / "letter.png").write_bytes(png)


def test_cli_letters(scored_world, tmp_path):
    from click.testing import CliRunner

    from shopper.cli import main

    db = str(tmp_path / "score.db")
    result = CliRunner().invoke(main, ["--db", db, "letters", "--out", str(tmp_path / "l"), "--period", "2026Q4"])
    assert result.exit_code == 0, result.output
    assert result.output.count("letter ") == 2
    result = CliRunner().invoke(main, ["--db", db, "letters", "--agency", "ghj", "--out", str(tmp_path / "l2")])
    assert result.exit_code == 0 and "nothing to rectify" in result.output
