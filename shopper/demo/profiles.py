"""How a demo agency behaves: profiles as data, and the plan of what it does with a letter.

A `Profile` says when an agency acknowledges and answers, whether it states a time limit, how it
handles an important complaint, a complaint for a subordinate body and one outside its remit, what
tone it takes and whether it answers by e-mail at all. `plan()` turns a received letter into dated
actions on the agency's business calendar; the world performs them when the shared clock reaches
them. Tests build any mix with `dataclasses.replace(PROFILES["exemplary"], ...)`.

Demo agencies read letters the way the brief's interface says real ones do, by words in the text:
important ← "安全隐患" or "紧急"; a subordinate body's matter ← "路灯"; outside the remit ← "社保";
a suggestion ← the form's kind 建议 or "建议" in the subject.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from shopper.calendar import BusinessCalendar

IMPORTANT_WORDS = ("安全隐患", "紧急")
SUBORDINATE_WORDS = ("路灯",)
OUT_OF_SCOPE_WORDS = ("社保",)


@dataclass(frozen=True)
class After:
    """A delay on a business calendar.

    unit: "minute" / "hour" (clock time), "office_hour" (counted only inside office hours),
    "workday" (on the n-th working day after the day of receipt, at local time `at`),
    "past_same_day" (n minutes after the close of business that a same-day answer had to beat).
    """

    n: float
    unit: str
    at: str = "10:00"
    within: float | None = None  # but never later than this many hours (a duty officer answers)

    def from_(self, start: datetime, cal: BusinessCalendar) -> datetime:
        moment = self._from(start, cal)
        if self.within is not None:
            moment = min(moment, start + timedelta(hours=self.within))
        return max(moment, start)

    def _from(self, start: datetime, cal: BusinessCalendar) -> datetime:
        if self.unit == "minute":
            return start + timedelta(minutes=self.n)
        if self.unit == "hour":
            return start + timedelta(hours=self.n)
        if self.unit == "office_hour":
            return add_office_time(start, timedelta(hours=self.n), cal)
        if self.unit == "past_same_day":
            from shopper.deadlines import same_day

            return same_day(start, cal).at + timedelta(minutes=self.n)
        if self.unit == "workday":
            day = cal.local(start).date()
            for _ in range(int(self.n)):
                day = cal.next_working_day(day)
            moment = cal.at(day, time.fromisoformat(self.at))
            return max(moment, start + timedelta(minutes=5))
        raise ValueError(f"unknown delay unit {self.unit!r}; use minute, hour, office_hour, workday or past_same_day")


def add_office_time(start: datetime, amount: timedelta, cal: BusinessCalendar) -> datetime:
    """`start` plus `amount` of time inside office hours (weekends, holidays, nights skipped)."""
    moment = cal.local(start)
    left = amount
    for _ in range(800):
        day = moment.date()
        opens, closes = cal.at(day, cal.hours.open), cal.at(day, cal.hours.close)
        if not cal.is_working_day(day) or moment >= closes:
            moment = cal.at(cal.next_working_day(day), cal.hours.open)
            continue
        if moment < opens:
            moment = opens
        if moment + left <= closes:
            return moment + left
        left -= closes - moment
        moment = closes
    raise ValueError("office time does not fit in 800 days; check the calendar")


@dataclass(frozen=True)
class Profile:
    name: str
    title: str  # what it is, in Chinese, for the world's index page
    acknowledges: bool = True
    ack_after: After = After(1, "office_hour", within=20)
    ack_states_deadline: bool = True
    # An important complaint: within 20 minutes, and always before the same-day close.
    important_ack_after: After = After(-5, "past_same_day", within=1 / 3)
    replies: bool = True
    reply_after: After = After(3, "workday", "15:30")
    consult_reply_after: After = After(1, "workday", "11:00")
    # What the agency states and publishes: (n, unit) with unit workday | day | hour.
    complaint_limit: tuple[int, str] = (15, "workday")
    consult_limit: tuple[int, str] = (5, "workday")
    redirect_names_body: bool = True
    out_of_scope_well: bool = True
    thanks_suggestions: bool = True
    tone: str = "friendly"  # friendly | neutral | rude
    by_email: bool = True  # False: answers only on its status page
    updates_status_page: bool = True


def _profiles(*profiles: Profile) -> dict[str, Profile]:
    return {p.name: p for p in profiles}


PROFILES: dict[str, Profile] = _profiles(
    Profile("exemplary", "示范：数小时内确认并告知时限，按时答复，语言亲切"),
    Profile("late_ack", "确认迟到（超过24小时）", ack_after=After(2, "workday", "10:30"),
            important_ack_after=After(2, "workday", "10:30")),
    Profile("ack_no_deadline", "确认但不说明办理时限", ack_states_deadline=False),
    Profile("misses_same_day", "重要投诉未当日回应", ack_after=After(2, "office_hour", within=20),
            important_ack_after=After(30, "past_same_day")),
    Profile("late_reply", "超过自己承诺的时限才答复", complaint_limit=(3, "workday"), consult_limit=(2, "workday"),
            reply_after=After(5, "workday", "16:00"), consult_reply_after=After(4, "workday", "16:00")),
    Profile("vague_redirect", "转办但不说明转给谁、如何联系", redirect_names_body=False, out_of_scope_well=False),
    Profile("out_of_scope_well", "非本部门职责时说明依据、指明主管部门", out_of_scope_well=True),
    Profile("rude", "答复生硬、推诿", tone="rude", out_of_scope_well=False, thanks_suggestions=False),
    Profile("silent", "从不答复", acknowledges=False, replies=False, updates_status_page=False),
    Profile("status_only", "只在办件查询页答复，从不发邮件", by_email=False),
)


@dataclass(frozen=True)
class Reading:
    """What the agency makes of a letter."""

    kind: str  # consultation | complaint | suggestion
    important: bool
    subordinate: bool
    out_of_scope: bool

    @property
    def suggestion(self) -> bool:
        return self.kind == "suggestion"


def read_letter(kind: str, subject: str, body: str) -> Reading:
    text = f"{subject}\n{body}"
    if kind != "suggestion" and "建议" in subject:
        kind = "suggestion"
    return Reading(
        kind=kind,
        important=any(w in text for w in IMPORTANT_WORDS),
        subordinate=any(w in text for w in SUBORDINATE_WORDS),
        out_of_scope=any(w in text for w in OUT_OF_SCOPE_WORDS),
    )


@dataclass
class Planned:
    what: str  # ack | reply
    due: datetime
    done_at: datetime | None = None


def plan(profile: Profile, reading: Reading, received: datetime, cal: BusinessCalendar) -> list[Planned]:
    """The agency's dated actions for one letter, in order."""
    actions: list[Planned] = []
    ack_rule = profile.important_ack_after if reading.important else profile.ack_after
    ack_at = ack_rule.from_(received, cal) if profile.acknowledges else None
    if reading.out_of_scope:
        # One letter does both: confirms receipt and explains whose matter it is.
        if profile.replies and ack_at is not None:
            actions.append(Planned("reply", ack_at))
        return actions
    if ack_at is not None:
        actions.append(Planned("ack", ack_at))
    if profile.replies:
        rule = profile.consult_reply_after if reading.kind == "consultation" else profile.reply_after
        reply_at = rule.from_(received, cal)
        if ack_at is not None and reply_at <= ack_at:
            reply_at = ack_at + timedelta(hours=1)
        actions.append(Planned("reply", reply_at))
    return actions


def limit_text(limit: tuple[int, str]) -> str:
    n, unit = limit
    return {"workday": f"{n}个工作日", "day": f"{n}日", "hour": f"{n}小时"}[unit]


@dataclass
class Letter:
    subject: str
    body: str  # plain text; the world turns it into HTML where the agency sends HTML


# Where a streetlight complaint belongs, for agencies that pass it down.
SUBORDINATE = {"name": "市路灯管理所", "phone": "021-63178900", "address": "上海市黄浦区福州路200号"}


def _date_cn(moment: datetime, cal: BusinessCalendar) -> str:
    local = cal.local(moment)
    return f"{local.year}年{local.month}月{local.day}日"


def _kind_word(reading: Reading) -> str:
    return {"consultation": "咨询", "complaint": "投诉", "suggestion": "建议"}[reading.kind]


def write(what: str, *, agency, profile: Profile, reading: Reading, sub, now: datetime,
          cal: BusinessCalendar, ref_in_body: bool = True) -> Letter:
    """The text of an acknowledgement or a reply, as that agency would write it."""
    limit = profile.consult_limit if reading.kind == "consultation" else profile.complaint_limit
    kind_word = _kind_word(reading)
    received = cal.local(sub.received_at)
    when = f"{received.year}年{received.month}月{received.day}日{received:%H:%M}"
    ref = f"（受理编号：{sub.reference}）" if ref_in_body else ""
    rude = profile.tone == "rude"
    greeting = f"{sub.name}：" if rude else agency.greeting.format(name=sub.name)
    sign = f"\n\n{agency.signature}\n联系电话：{agency.phone}\n{_date_cn(now, cal)}"
    paragraphs: list[str] = []

    if what == "ack":
        subject = agency.ack_subject.format(kind=kind_word, subject=sub.subject, short=agency.short)
        if rude:
            paragraphs.append(f"你的来信{ref}已收到。")
        else:
            paragraphs.append(f"您好！您于{when}通过{agency.short}网站提交的{kind_word}“{sub.subject}”已收悉{ref}。")
        if profile.ack_states_deadline and rude:
            paragraphs.append(f"按规定在{limit_text(limit)}内办理，其间不要重复来信。")
        elif profile.ack_states_deadline:
            paragraphs.append(f"我们将在{limit_text(limit)}内办理并答复您，办理进度可在本网站“办件查询”栏目查询。")
        else:
            paragraphs.append("我们将尽快处理，请耐心等待。")
        if reading.important and not rude:
            paragraphs.append("您反映的情况涉及安全，我们已通知相关处室优先处理。")
        if not rude:
            paragraphs.append(f"如有疑问，请在工作日拨打{agency.phone}咨询。感谢您对我们工作的关心和支持！")
        return Letter(subject, greeting + "\n" + "\n".join(paragraphs) + sign)

    subject = agency.reply_subject.format(kind=kind_word, subject=sub.subject, short=agency.short)
    if reading.out_of_scope:
        if profile.out_of_scope_well and not rude:
            paragraphs += [
                f"您好！您于{when}提交的来信{ref}已收悉，非常感谢您对我们工作的信任。",
                "您反映的社保相关事项，根据《中华人民共和国社会保险法》和《社会保险费征缴暂行条例》的规定，"
                "社会保险的登记、缴费核定和待遇发放由人力资源和社会保障部门负责，不属于"
                f"{agency.short}的职责范围，我们无法直接为您办理，敬请谅解。",
                "建议您联系上海市人力资源和社会保障局，或拨打12333社保服务热线咨询，"
                "也可以到就近的社区事务受理服务中心办理。",
                "如还有其他需要我们帮助的地方，欢迎随时与我们联系。",
            ]
        else:
            paragraphs.append(f"你反映的事项{ref}不属于{agency.short}职责范围，不予受理。")
    elif reading.subordinate and reading.kind != "consultation":
        if profile.redirect_names_body and not rude:
            paragraphs += [
                f"您好！您于{when}反映的路灯问题{ref}已收悉。",
                f"经研究，道路照明设施的日常养护属于{SUBORDINATE['name']}的职责。"
                f"我们已于{_date_cn(now, cal)}将您的来信转交{SUBORDINATE['name']}办理，"
                f"该所联系电话：{SUBORDINATE['phone']}，地址：{SUBORDINATE['address']}。"
                "您也可以直接与该所联系了解办理进度。",
                "感谢您对城市管理工作的关心！",
            ]
        else:
            paragraphs.append(f"您反映的问题{ref}已转有关部门处理，请耐心等待。")
    elif reading.suggestion:
        if rude:
            paragraphs.append(f"你的来信{ref}已收到。相关工作已有安排，你的意见我们知道了。")
        else:
            paragraphs += [
                f"您好！您于{when}提出的建议{ref}已收悉。",
                f"感谢您提出的宝贵建议！您的建议已转交{agency.department}研究，我们将在今后的工作中认真参考。",
            ]
    elif rude:
        paragraphs.append(
            f"你反映的问题{ref}我们已经知道了。这类问题早有规定，请自行查阅相关文件，"
            "不要反复来信占用行政资源。对处理结果有异议的，自己去找相关部门。"
        )
    elif reading.kind == "consultation":
        paragraphs += [
            f"您好！您于{when}咨询的“{sub.subject}”{ref}，现答复如下：",
            f"根据《{agency.regulation}》的规定，您咨询的事项可以通过本网站“办事指南”栏目查询办理条件、"
            f"所需材料和办理流程，也可以携带本人身份证件到{agency.address}办事大厅现场办理"
            "（工作日9:00—17:00）。",
            f"如仍有不清楚的地方，欢迎拨打{agency.phone}咨询。感谢您的来信！",
        ]
    else:
        paragraphs += [
            f"您好！您于{when}反映的“{sub.subject}”问题{ref}已收悉，我们高度重视。",
            f"经{agency.department}调查核实，您反映的情况基本属实。我们已责成相关单位立即整改，"
            "并将加强日常监督检查，防止类似问题再次发生。",
            f"如您对处理结果有疑问，可在工作日拨打{agency.phone}与我们联系。感谢您对我们工作的理解和支持！",
        ]
    return Letter(subject, greeting + "\n" + "\n".join(paragraphs) + sign)
