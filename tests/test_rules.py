import re
from pathlib import Path

import pytest

from shopper.errors import ShopperError
from shopper.rules import all_rules, get_rule, parts

DESIGN = Path(__file__).resolve().parents[2] / "shared" / "DESIGN.md"


def test_every_rule_of_design_is_data():
    ids = set(all_rules())
    if DESIGN.exists():
        design_ids = set(re.findall(r"^\| `([a-z_]+\.[a-z_0-9]+)` \|", DESIGN.read_text("utf-8"), re.M))
        assert design_ids and design_ids == ids
    assert len(ids) == 16


def test_rules_have_clause_text_gloss_and_part():
    for rule in all_rules().values():
        assert rule.clause.startswith("附件")
        assert re.search(r"[\u4e00-\u9fff]", rule.text)
        assert rule.gloss and rule.rectify
        assert rule.part in parts()
        assert rule.quote().startswith("《上海市政府部门网站评议考核试行办法》附件")


def test_five_parts_of_article_5():
    assert [p.zh for p in parts().values()] == ["信息公开", "网上办事", "网上服务", "监督投诉", "系统维护"]


def test_lookup_short_and_unknown():
    assert get_rule("ack_24h").id == "complaint.ack_24h"
    assert get_rule("complaint.important_same_day").deadline == "same_day"
    with pytest.raises(ShopperError, match="unknown rule"):
        get_rule("complaint.nonsense")
