"""Findings (shopper.findings): rules applied per scenario, written idempotently with the version."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from shopper.cli import main
from shopper.config import Config
from shopper.errors import ShopperError
from shopper.findings import applicable_rules, decider_version, grade_all, grade_test
from tests.fixtures.grading import GradingBed, SITE_TOML

SH = timezone(timedelta(hours=8))
LATER = datetime(2027, 1, 20, 10, 0, tzinfo=SH)  # every deadline of these tests has passed

ACK = "张先生：您好！您的投诉我局已收悉并登记受理，我们将在15个工作日内答复您。感谢您的支持！"
REPLY = "张先生：您好！经核查，您反映的夜间施工噪声问题属实，已责令施工单位停止夜间作业。感谢您的监督！"


def graded(bed, test_id, clock, when=LATER, config=None):
    clock.set(when)
    grade_test(bed.db, test_id, config)
    return bed.findings(test_id)


def test_findings_rows_follow_the_contract(grading_bed, sim_clock):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00", scenario_id="complaint-noise")
    grading_bed.answer(test_id, ACK, "2026-12-03T15:00+08:00")
    grading_bed.answer(test_id, REPLY, "2026-12-10T15:00+08:00")
    found = graded(grading_bed, test_id, sim_clock)
    assert set(found) == {"complaint.ack_24h", "complaint.ack_states_deadline", "complaint.reply_by_deadline",
                          "tone.plain_friendly"}
    assert {f["verdict"] for f in found.values()} == {"pass"}
    row = found["complaint.reply_by_deadline"]
    assert row["test_id"] == row["subject_key"] == test_id
    assert row["agency_id"] == "gtest"
    assert row["period"] == "2026Q4"
    assert row["grader_version"] == decider_version()
    assert row["deadline_at"] == "2026-12-24T15:59:59+00:00"  # 15 working days, UTC
    assert row["observed_at"] == "2026-12-10T07:00:00+00:00"
    assert row["created_at"] and row["updated_at"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in row["detail"])
    evidence = json.loads(row["evidence_json"])
    assert set(evidence) == {"quote", "times", "sha256", "message_id"}
    assert "15个工作日" in evidence["quote"]
    assert evidence["times"]["deadline"] == "2026-12-24T23:59:59+08:00"
    stated = json.loads(found["complaint.ack_states_deadline"]["evidence_json"])
    assert "15个工作日" in stated["quote"] and len(stated["sha256"]) == 1 and stated["message_id"]


def test_grading_again_is_idempotent(grading_bed, sim_clock):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00", scenario_id="complaint-noise")
    grading_bed.answer(test_id, ACK, "2026-12-03T15:00+08:00")
    first = graded(grading_bed, test_id, sim_clock)
    again = graded(grading_bed, test_id, sim_clock, LATER + timedelta(days=3))
    assert again == first  # same rows, same ids, same updated_at
    count = grading_bed.db.execute("SELECT count(*) FROM findings").fetchone()[0]
    assert count == len(first)


def test_a_changed_grader_re_decides_and_records_its_version(grading_bed, sim_clock, monkeypatch):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00", scenario_id="complaint-noise")
    grading_bed.answer(test_id, ACK, "2026-12-03T15:00+08:00")
    first = graded(grading_bed, test_id, sim_clock)
    monkeypatch.setattr("shopper.findings.GRADER_VERSION", "grade-test-next")
    second = graded(grading_bed, test_id, sim_clock, LATER + timedelta(hours=1))
    assert set(second) == set(first)
    for rule_id, row in second.items():
        assert row["id"] == first[rule_id]["id"]  # updated in place, no duplicate
        assert row["grader_version"].startswith("grade-test-next+rules.")
        assert row["updated_at"] > first[rule_id]["updated_at"]
        assert row["created_at"] == first[rule_id]["created_at"]


def test_a_late_reply_updates_the_verdict_in_place(grading_bed, sim_clock):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00", scenario_id="complaint-noise")
    grading_bed.answer(test_id, "您的投诉已受理，我们将于12月10日前答复。", "2026-12-03T15:00+08:00")
    before = graded(grading_bed, test_id, sim_clock, datetime(2026, 12, 12, tzinfo=SH))
    assert before["complaint.reply_by_deadline"]["verdict"] == "fail"
    assert before["complaint.reply_by_deadline"]["observed_at"] is None
    grading_bed.answer(test_id, REPLY, "2026-12-14T09:00+08:00")
    after = graded(grading_bed, test_id, sim_clock, datetime(2026, 12, 15, tzinfo=SH))
    row = after["complaint.reply_by_deadline"]
    assert row["verdict"] == "fail" and row["observed_at"] == "2026-12-14T01:00:00+00:00"
    assert row["id"] == before["complaint.reply_by_deadline"]["id"]


def test_nothing_due_yet_gives_no_findings(grading_bed, sim_clock):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00", scenario_id="complaint-noise")
    assert graded(grading_bed, test_id, sim_clock, datetime(2026, 12, 3, 12, tzinfo=SH)) == {}


def test_unanswered_complaint_fails_the_timed_rules(grading_bed, sim_clock):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00", scenario_id="complaint-safety-hazard",
                                    important=True)
    found = graded(grading_bed, test_id, sim_clock)
    assert {r: f["verdict"] for r, f in found.items()} == {
        "complaint.ack_24h": "fail", "complaint.important_same_day": "fail",
        "complaint.reply_by_deadline": "fail", "complaint.ack_states_deadline": "fail"}


@pytest.mark.parametrize("ack, auto_ack_counts, expected", [
    ("【系统通知】您的信件已成功接收，办理时限为15个工作日。此邮件由系统自动发送，请勿直接回复。", True, ("pass", "pass")),
    ("【系统通知】您的信件已成功接收。此邮件由系统自动发送，请勿直接回复。", True, ("pass", "fail")),
    ("【系统通知】您的信件已成功接收，办理时限为15个工作日。此邮件由系统自动发送，请勿直接回复。", False, ("fail", "fail")),
    ("您的投诉已受理。", True, ("pass", "fail")),
])
def test_acknowledgement_and_its_time_limit(grading_bed, sim_clock, ack, auto_ack_counts, expected):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00", scenario_id="complaint-noise")
    grading_bed.answer(test_id, ack, "2026-12-03T10:05+08:00")
    config = Config(None, {"policy": {"auto_ack_counts": auto_ack_counts}})
    found = graded(grading_bed, test_id, sim_clock, config=config)
    assert (found["complaint.ack_24h"]["verdict"], found["complaint.ack_states_deadline"]["verdict"]) == expected


@pytest.mark.parametrize("reply, expected, words", [
    ("您好！您反映的路灯问题已转交区路灯管理所处理，联系电话：021-54321876。", "pass", ""),
    ("您好！您反映的路灯问题已转交区路灯管理所处理。", "fail", "联系方式"),
    ("您反映的问题已转有关部门处理。", "fail", "名称"),
])
def test_redirect_destination(grading_bed, sim_clock, reply, expected, words):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00", scenario_id="complaint-streetlight")
    grading_bed.answer(test_id, reply, "2026-12-04T09:00+08:00")
    row = graded(grading_bed, test_id, sim_clock)["complaint.redirect_destination"]
    assert row["verdict"] == expected and words in row["detail"]


def test_suggestion_is_judged_on_the_answer_not_the_acknowledgement(grading_bed, sim_clock):
    test_id = grading_bed.make_test("suggestion", "2026-12-03T10:00+08:00", scenario_id="suggestion-bus-shelter")
    grading_bed.answer(test_id, "您好！您的建议已收悉，我们将在15个工作日内答复。", "2026-12-03T12:00+08:00")
    assert "suggestion.thanks" not in graded(grading_bed, test_id, sim_clock, datetime(2026, 12, 5, tzinfo=SH))


def test_redirect_destination_needs_a_redirect(grading_bed, sim_clock):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00", scenario_id="complaint-streetlight")
    grading_bed.answer(test_id, "您好！经核查，路灯已修复。", "2026-12-04T09:00+08:00")
    assert "complaint.redirect_destination" not in graded(grading_bed, test_id, sim_clock)


@pytest.mark.parametrize("reply, expected", [
    ("您好！非常感谢您的宝贵建议，您的建议已转交区交通委员会研究。", "pass"),
    ("您好！谢谢您的建议。经研究，我们将在明年增设两个候车亭。", "pass"),
    ("您的建议已收到，已转交区交通委员会研究。", "fail"),
    ("您好！经研究，我们将在明年增设两个候车亭。", "fail"),
])
def test_suggestion_thanks(grading_bed, sim_clock, reply, expected):
    test_id = grading_bed.make_test("suggestion", "2026-12-03T10:00+08:00", scenario_id="suggestion-bus-shelter")
    grading_bed.answer(test_id, reply, "2026-12-04T09:00+08:00")
    assert graded(grading_bed, test_id, sim_clock)["suggestion.thanks"]["verdict"] == expected


@pytest.mark.parametrize("reply, expected", [
    ("您好！您反映的社保问题，根据《社会保险法》属于市人力资源和社会保障局的职责，建议您拨打12333咨询。给您带来不便，敬请谅解！", "pass"),
    ("您反映的社保问题不属于本部门职责范围。", "fail"),
    ("此事不归我们管，请勿重复来信。", "fail"),
])
def test_complaint_out_of_scope(grading_bed, sim_clock, reply, expected):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00", scenario_id="complaint-social-insurance")
    grading_bed.answer(test_id, reply, "2026-12-04T09:00+08:00")
    assert graded(grading_bed, test_id, sim_clock)["complaint.out_of_scope"]["verdict"] == expected


@pytest.mark.parametrize("reply, expected", [
    ("您好！社保缴费问题超出了我局的职责范围，因为社会保险由人社部门负责。建议您向区社会保险事业管理中心咨询，电话12333。", "pass"),
    ("该咨询不在本局受理范围，请另行咨询。", "fail"),
])
def test_consult_out_of_scope(grading_bed, sim_clock, reply, expected):
    test_id = grading_bed.make_test("consultation", "2026-12-03T10:00+08:00", scenario_id="consultation-social-insurance")
    grading_bed.answer(test_id, reply, "2026-12-04T09:00+08:00")
    assert graded(grading_bed, test_id, sim_clock)["consult.out_of_scope"]["verdict"] == expected


@pytest.mark.parametrize("reply, expected", [
    ("您好！因您咨询的政策正在修订中，暂时无法答复，待政策发布后我们将第一时间告知您。", "pass"),
    ("您好，您咨询的问题暂时无法答复，我们会尽快给您回复。", "fail"),
])
def test_consult_delay_reason(grading_bed, sim_clock, reply, expected):
    test_id = grading_bed.make_test("consultation", "2026-12-03T10:00+08:00", scenario_id="consultation-residence-permit")
    grading_bed.answer(test_id, reply, "2026-12-04T09:00+08:00")
    assert graded(grading_bed, test_id, sim_clock)["consult.delay_reason"]["verdict"] == expected


def test_a_plain_receipt_is_no_delay_notice(grading_bed, sim_clock):
    test_id = grading_bed.make_test("consultation", "2026-12-03T10:00+08:00", scenario_id="consultation-residence-permit")
    grading_bed.answer(test_id, "您好，来信已收悉，我们会尽快答复。", "2026-12-03T12:00+08:00")
    grading_bed.answer(test_id, "您好！答复如下：可以申请。", "2026-12-04T09:00+08:00")
    assert "consult.delay_reason" not in graded(grading_bed, test_id, sim_clock)


def test_consult_answered_outright_has_no_delay_finding(grading_bed, sim_clock):
    test_id = grading_bed.make_test("consultation", "2026-12-03T10:00+08:00", scenario_id="consultation-residence-permit")
    grading_bed.answer(test_id, "您好！答复如下：可以申请居住证积分，具体材料请登录一网通办查询。", "2026-12-04T09:00+08:00")
    found = graded(grading_bed, test_id, sim_clock)
    assert "consult.delay_reason" not in found
    assert found["consult.reply_in_time"]["verdict"] == "pass"


@pytest.mark.parametrize("reply, neutral_passes, expected", [
    ("您好！您的投诉已受理，请您耐心等待。", False, "pass"),
    ("来件已登记。", False, "fail"),
    ("来件已登记。", True, "pass"),
    ("你的投诉我们看了。这种小事建议你自己先和物业协商，不要动不动就投诉到政府。", True, "fail"),
])
def test_tone(grading_bed, sim_clock, reply, neutral_passes, expected):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00", scenario_id="complaint-noise")
    grading_bed.answer(test_id, reply, "2026-12-04T09:00+08:00")
    config = Config(None, {"policy": {"neutral_tone_passes": neutral_passes}})
    assert graded(grading_bed, test_id, sim_clock, config=config)["tone.plain_friendly"]["verdict"] == expected


@pytest.mark.parametrize("reply, expected", [
    ("经审查，您的申请不予批准。理由：该路段为城市主干道。依据《城市道路管理条例》第三十一条，特此告知。", "pass"),
    ("您的申请未通过审核。根据相关规定，不予受理。", "fail"),
])
def test_rejection_reasons(grading_bed, sim_clock, reply, expected):
    test_id = grading_bed.make_test("application-status", "2026-12-03T10:00+08:00", scenario_id="application-status")
    grading_bed.answer(test_id, reply, "2026-12-04T09:00+08:00", source="status_page")
    assert graded(grading_bed, test_id, sim_clock)["service.rejection_reasons"]["verdict"] == expected


def test_unknown_scenario_falls_back_to_the_kind():
    assert applicable_rules("consultation", False) == {
        "consult.reply_in_time", "consult.delay_reason", "consult.out_of_scope", "tone.plain_friendly"}
    assert "complaint.important_same_day" in applicable_rules("complaint", True)
    assert "complaint.important_same_day" not in applicable_rules("complaint", False)


def test_unknown_scenario_grades_by_kind(grading_bed, sim_clock):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00", scenario_id="no-such-scenario")
    grading_bed.answer(test_id, "您好！您反映的路灯问题已转交区路灯管理所处理。", "2026-12-03T12:00+08:00")
    found = graded(grading_bed, test_id, sim_clock)
    assert found["complaint.redirect_destination"]["verdict"] == "fail"
    assert found["complaint.ack_24h"]["verdict"] == "pass"


def test_a_finding_that_no_longer_holds_is_withdrawn(grading_bed, sim_clock):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00", scenario_id="complaint-streetlight")
    message_id = grading_bed.answer(test_id, "您反映的问题已转有关部门处理。", "2026-12-03T12:00+08:00")
    assert "complaint.redirect_destination" in graded(grading_bed, test_id, sim_clock)
    # A supervisor finds the message belonged to another test.
    grading_bed.db["messages"].update(message_id, {"test_id": None})
    grading_bed.db.execute("DELETE FROM events WHERE message_id = ?", [message_id])
    grading_bed.db.conn.commit()
    assert "complaint.redirect_destination" not in graded(grading_bed, test_id, sim_clock)


def test_other_areas_findings_are_left_alone(grading_bed, sim_clock):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00", scenario_id="complaint-noise")
    grading_bed.db["findings"].insert({"test_id": test_id, "subject_key": test_id, "rule_id": "site.links_work",
                                       "verdict": "fail", "agency_id": "gtest"})
    graded(grading_bed, test_id, sim_clock)
    assert "site.links_work" in grading_bed.findings(test_id)


def test_unknown_test_is_a_clear_error(grading_bed):
    with pytest.raises(ShopperError, match="no test"):
        grade_test(grading_bed.db, "t-nope")


def test_grade_all_and_the_cli(db, tmp_path, sim_clock):
    site_path = tmp_path / "gtest.toml"
    site_path.write_text(SITE_TOML, encoding="utf-8")
    bed = GradingBed(db, site_path)
    first = bed.make_test("complaint", "2026-12-03T10:00+08:00", scenario_id="complaint-noise")
    bed.answer(first, ACK, "2026-12-03T15:00+08:00")
    second = bed.make_test("consultation", "2026-12-03T10:00+08:00", scenario_id="consultation-residence-permit")
    bed.answer(second, "您好！答复如下：可以申请。", "2026-12-04T09:00+08:00")
    sim_clock.set(LATER)
    counts = grade_all(db)
    assert counts["tests"] == 2 and counts["errors"] == 0 and counts["inserted"] == counts["findings"] > 0
    db_path = tmp_path / "shopper.db"
    result = CliRunner().invoke(main, ["--db", str(db_path), "grade", "--all"])
    assert result.exit_code == 0, result.output
    assert f"graded 2 tests: {counts['findings']} findings (0 new, 0 changed, {counts['findings']} unchanged" in result.output
    result = CliRunner().invoke(main, ["--db", str(db_path), "grade", "reply.txt", "--all"])
    assert result.exit_code == 2 and "not both" in result.output


def test_uncertain_submission_answered_gets_content_findings_only(grading_bed, sim_clock):
    test_id = grading_bed.make_test("complaint", "2026-12-03T10:00+08:00", scenario_id="complaint-noise")
    grading_bed.db["tests"].update(test_id, {"state": "uncertain", "submitted_at": None})
    grading_bed.answer(test_id, "来件已登记。", "2026-12-04T09:00+08:00")
    sim_clock.set(LATER)
    counts = grade_all(grading_bed.db)
    assert counts["tests"] == 1
    found = grading_bed.findings(test_id)
    assert set(found) == {"tone.plain_friendly"}  # no receipt time, so no timing verdicts


def test_demo_site_file_grades_without_its_homepage_variable(grading_bed, sim_clock, monkeypatch):
    monkeypatch.delenv("SHOPPER_DEMO_URL", raising=False)
    text = grading_bed.site_path.read_text(encoding="utf-8").replace(
        'homepage = "http://127.0.0.1:9/gtest/"', 'homepage = "{{ env.SHOPPER_DEMO_URL }}/gtest/"')
    path = grading_bed.site_path.with_name("gtest-demo.toml")
    path.write_text(text, encoding="utf-8")
    grading_bed.db["agencies"].update("gtest", {"site_file": str(path)})
    test_id = grading_bed.make_test("consultation", "2026-12-03T10:00+08:00", scenario_id="consultation-residence-permit")
    row = graded(grading_bed, test_id, sim_clock)["consult.reply_in_time"]
    assert row["verdict"] == "fail" and "网站公布的5个工作日" in row["detail"]
