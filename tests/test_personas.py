"""Personas: believable, never reused at one agency within a campaign, one reply alias per
test, accounts whose passwords stay secrets and whose sessions are kept until they expire."""

from __future__ import annotations

import json
import random
import re
from datetime import timedelta

import pytest
from click.testing import CliRunner

from shopper import personas
from shopper.cli import main
from shopper.config import Config
from shopper.errors import ShopperError


def test_generated_personas_look_like_shanghai_citizens():
    rng = random.Random(7)
    people = [personas.generate(rng) for _ in range(50)]
    for p in people:
        assert 2 <= len(p.name) <= 3 and p.surname in personas.SURNAMES
        assert re.fullmatch(r"1[3-9]\d{9}", p.phone)
        assert p.district in personas.DISTRICTS and p.style in personas.STYLES
    assert len({p.name for p in people}) > 30
    assert len({p.district for p in people}) > 8


def test_reply_address_is_unique_per_test(db):
    config = Config(data={"office": {"reply_domain": "mail.jdc.test"}})
    ids = {personas.new_test_id(db) for _ in range(200)}
    assert len(ids) == 200
    address = personas.reply_address(next(iter(ids)), config)
    assert re.fullmatch(r"t-[0-9a-f]{8}@mail\.jdc\.test", address)


def _test_row(db, test_id, persona_id, agency, campaign):
    db["tests"].insert({"id": test_id, "agency_id": agency, "persona_id": persona_id, "campaign_id": campaign,
                        "state": "submitted"})


def test_a_persona_is_never_reused_at_the_same_agency_in_a_campaign(db):
    a = personas.add(db, personas.generate(random.Random(1)))
    b = personas.add(db, personas.generate(random.Random(2)))
    _test_row(db, "t-1", a.id, "jtw", "c-1")
    rng = random.Random(0)
    for _ in range(20):
        assert personas.choose(db, "jtw", campaign_id="c-1", rng=rng).id == b.id
    _test_row(db, "t-2", b.id, "jtw", "c-1")
    fresh = personas.choose(db, "jtw", campaign_id="c-1", rng=rng)  # everyone used: a new citizen
    assert fresh.id not in (a.id, b.id)
    assert db["personas"].count == 3
    with pytest.raises(ShopperError, match="already wrote to jtw"):
        personas.choose(db, "jtw", campaign_id="c-1", persona_id=a.id)
    # Another agency, or another campaign, may hear from the same citizen.
    assert personas.choose(db, "hbj", campaign_id="c-1", persona_id=a.id).id == a.id
    assert personas.choose(db, "jtw", campaign_id="c-2", persona_id=a.id).id == a.id


def test_add_refuses_bad_details(db):
    with pytest.raises(ShopperError, match="11-digit"):
        personas.add(db, phone="12345")
    with pytest.raises(ShopperError, match="writing style"):
        personas.add(db, style="shouty")
    p = personas.add(db, name="陈立新", phone="13912345678", district="闵行区", style="elderly")
    with pytest.raises(ShopperError, match="exists already"):
        personas.add(db, id=p.id)


def test_accounts_keep_passwords_as_secrets_and_sessions_until_expiry(db, sim_clock, monkeypatch):
    p = personas.add(db)
    acct = personas.add_account(db, p.id, "jtw", "wang88", "jtw_wang")
    row = db["persona_accounts"].get(acct["id"])
    assert "s3cret" not in json.dumps(row)
    config = Config()
    with pytest.raises(ShopperError, match="SHOPPER_JTW_WANG"):
        personas.password(config, acct)
    monkeypatch.setenv("SHOPPER_JTW_WANG", "s3cret")
    assert personas.password(config, acct) == "s3cret"

    assert personas.kept_session(acct) is None
    state = {"cookies": [{"name": "sid", "value": "x", "expires": -1}], "origins": []}
    path = personas.keep_session(db, acct, state, hours=2)
    acct = personas.account(db, p.id, "jtw")
    assert personas.kept_session(acct) == path
    assert oct(__import__("os").stat(path).st_mode & 0o777) == "0o600"
    sim_clock.advance(timedelta(hours=1, minutes=59))
    assert personas.kept_session(acct) == path
    sim_clock.advance(timedelta(minutes=2))
    assert personas.kept_session(acct) is None
    # A cookie that expires sooner ends the session sooner.
    soon = sim_clock.now() + timedelta(minutes=30)
    personas.keep_session(db, acct, {"cookies": [{"name": "sid", "expires": soon.timestamp()}]}, hours=12)
    acct = personas.account(db, p.id, "jtw")
    sim_clock.advance(timedelta(minutes=31))
    assert personas.kept_session(acct) is None


def test_personas_cli(tmp_path):
    runner = CliRunner()
    db = str(tmp_path / "s.db")
    result = runner.invoke(main, ["--db", db, "personas", "add", "--name", "周建国", "--phone", "13800001111",
                                  "--district", "杨浦区", "--id", "p-zhou"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["--db", db, "personas", "add", "-n", "3", "--style", "brief"])
    assert result.exit_code == 0 and result.output.count("brief") == 3
    result = runner.invoke(main, ["--db", db, "personas", "account", "p-zhou", "jtw", "zhoujg", "--secret", "jtw_zhou"])
    assert result.exit_code == 0 and "NOT set" in result.output
    result = runner.invoke(main, ["--db", db, "personas", "list"])
    assert "周建国" in result.output and "jtw:zhoujg" in result.output
    assert len(result.output.strip().splitlines()) == 4
    result = runner.invoke(main, ["--db", db, "personas", "add", "--phone", "999"])
    assert result.exit_code == 2 and "11-digit" in result.output
