"""The demo agencies, as data: who they are, what their site and forms look like, how they write
mail, and which behaviour profile they follow.

Every agency covers one behaviour profile and one or more form variants, so that together they
exercise everything the submission engine, the mailbox watcher and the site checks must cope
with. `AGENCIES` is the default world; tests build others with `dataclasses.replace`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from shopper.demo.profiles import PROFILES, Profile

DISTRICTS = (
    "黄浦区", "徐汇区", "长宁区", "静安区", "普陀区", "虹口区", "杨浦区", "闵行区",
    "宝山区", "嘉定区", "浦东新区", "金山区", "松江区", "青浦区", "奉贤区", "崇明区",
)

# Logical field -> the form's input name (and id). Real sites name fields every which way.
DEFAULT_FIELDS = {
    "title": "title", "body": "content", "name": "name", "phone": "phone", "email": "email",
    "district": "district", "kind": "kind", "agree": "agree", "captcha": "captcha", "department": "dept",
}
PINYIN_FIELDS = {
    "title": "bt", "body": "nr", "name": "xm", "phone": "lxdh", "email": "yx",
    "district": "qx", "kind": "lx", "agree": "ty", "captcha": "yzm", "department": "bm",
}


@dataclass(frozen=True)
class FormVariant:
    fields: dict = field(default_factory=lambda: dict(DEFAULT_FIELDS))
    radios: bool = False  # 咨询/投诉/建议 radio buttons on one letter form
    district: bool = False  # a select of Shanghai's districts
    agreement: bool = False  # "I have read the rules" checkbox
    captcha: bool = False
    js_validation: bool = True  # script on the page rejects empty fields
    iframe: bool = False  # the form lives in an iframe of the form page
    two_step: bool = False  # details, then a confirmation page
    login: bool = False  # only a logged-in account (password + SMS code) may write
    departments: tuple[str, ...] = ()  # a select of where to send the letter
    title_min: int = 0
    title_max: int = 50
    body_max: int = 2000
    shows: str = "ref"  # what the page shows after submit: ref | ref+code | none (e-mail only)


@dataclass(frozen=True)
class StatusVariant:
    needs_code: bool = False  # 查询码 besides the 办件编号
    needs_phone: bool = False  # the phone given in the letter besides the 办件编号
    captcha: bool = False
    answered_list: bool = False  # a public list of answered letters


@dataclass(frozen=True)
class HomeVariant:
    complaint_link: str = "top"  # top | footer
    broken_links: bool = False
    slow_page: bool = False  # /slow answers after the world's slow_delay
    # (kind of 附件一 as shopper.checks names it, the column's title on the site)
    disclosure: tuple[tuple[str, str], ...] = (
        ("functions", "机构职能"), ("contacts", "联系方式"), ("items", "审批服务事项目录"), ("legal_basis", "政策法规"),
        ("procedures", "办理程序和时限"), ("place_time_fees", "办理地点和时间"), ("eligibility", "申请条件"),
        ("results", "办理结果公示"),
    )


@dataclass(frozen=True)
class MailStyle:
    charset: str = "utf-8"
    transfer: str = "base64"  # base64 | quoted-printable
    html_only: bool = False
    multipart: bool = False
    quote: bool = False  # quote the citizen's letter below the answer
    in_reply_to: bool = False  # thread the reply onto the acknowledgement
    ref_in: str = "both"  # subject | body | both
    label: str = ""  # the charset the header names when it is not the real one ("" = the real one)


@dataclass(frozen=True)
class Agency:
    id: str
    name: str
    short: str
    name_en: str
    phone: str
    address: str
    department: str  # who handles letters inside
    signature: str
    regulation: str  # the rules its consultation answers cite
    profile: Profile
    form: FormVariant = FormVariant()
    status: StatusVariant = StatusVariant()
    home: HomeVariant = HomeVariant()
    ack_mail: MailStyle = MailStyle()
    reply_mail: MailStyle = MailStyle()
    charset: str = "utf-8"  # of its web pages
    greeting: str = "{name}同志："
    sender: str = "xinfang"
    scoring_class: str = "general"
    office_hours: str = "09:00-17:00"
    ref_prefix: str = ""
    services: tuple[str, ...] = ("办事指南查询",)
    status_words: tuple[str, str, str] = ("待审查", "待处理", "已处理")
    # Mail subjects ({kind} 咨询/投诉/建议, {subject} the citizen's title, {short} the agency).
    ack_subject: str = "您的{kind}已受理"
    reply_subject: str = "关于您{kind}事项的答复"

    @property
    def email_domain(self) -> str:
        return f"{self.id}.demo.gov.cn"

    @property
    def from_addr(self) -> str:
        return f"{self.sender}@{self.email_domain}"

    @property
    def prefix(self) -> str:
        return self.ref_prefix or self.id.upper()


AGENCIES: dict[str, Agency] = {a.id: a for a in [
    Agency(
        "jtw", "上海市交通委员会", "市交通委", "Shanghai Municipal Transportation Commission",
        "021-23113311", "上海市黄浦区大沽路100号", "信访办公室", "上海市交通委员会信访办公室",
        "上海市道路运输管理条例", PROFILES["exemplary"], scoring_class="service",
        form=FormVariant(radios=True, district=True, agreement=True, captcha=True),
        ack_mail=MailStyle("utf-8", "base64", ref_in="both"),
        reply_mail=MailStyle("gb2312", "base64", multipart=True, quote=True, in_reply_to=True, ref_in="body"),
        greeting="尊敬的{name}：", status_words=("已提交", "已受理", "已办结"),
        services=("出租汽车驾驶员证件办理", "道路运输经营许可"),
    ),
    Agency(
        "sww", "上海市水务局", "市水务局", "Shanghai Water Authority",
        "021-52397700", "上海市静安区江场路1377号", "行风监督办公室", "上海市水务局（上海市海洋局）",
        "上海市供水管理条例", PROFILES["late_ack"], scoring_class="service",
        form=FormVariant(iframe=True, district=True, captcha=False),
        ack_mail=MailStyle("gbk", "quoted-printable", ref_in="subject"),
        reply_mail=MailStyle("gbk", "base64", html_only=True, ref_in="both"),
        sender="jdts", services=("供水管道接入申请",),
        ack_subject="【{short}】来信受理回执", reply_subject="答复：{subject}",
    ),
    Agency(
        "ghj", "上海市规划和自然资源局", "市规划资源局", "Shanghai Planning and Natural Resources Bureau",
        "021-63190000", "上海市黄浦区北京西路99号", "监督投诉处", "上海市规划和自然资源局",
        "上海市城乡规划条例", PROFILES["ack_no_deadline"], scoring_class="regulatory",
        form=FormVariant(two_step=True, agreement=True, captcha=True),
        ack_mail=MailStyle("gb18030", "base64", multipart=True, ref_in="body"),
        reply_mail=MailStyle("utf-8", "quoted-printable", quote=True, in_reply_to=True, ref_in="subject"),
        services=("建设工程规划许可证",), ack_subject="来信受理通知", reply_subject="Re: {subject}",
    ),
    Agency(
        "sthjj", "上海市生态环境局", "市生态环境局", "Shanghai Ecology and Environment Bureau",
        "021-23115700", "上海市静安区大沽路100号", "环境信访处", "上海市生态环境局信访办公室",
        "上海市环境保护条例", PROFILES["misses_same_day"], scoring_class="regulatory",
        form=FormVariant(fields=dict(PINYIN_FIELDS), radios=True, district=True, captcha=True, js_validation=True),
        charset="gbk",
        ack_mail=MailStyle("gbk", "base64", ref_in="both"),
        reply_mail=MailStyle("gb2312", "quoted-printable", multipart=True, ref_in="body"),
        greeting="{name}：", services=("建设项目环评审批",),
        ack_subject="环境信访受理告知", reply_subject="环境信访答复意见",
    ),
    Agency(
        "scjgj", "上海市市场监督管理局", "市市场监管局", "Shanghai Administration for Market Regulation",
        "021-64220000", "上海市徐汇区肇嘉浜路301号", "投诉举报中心", "上海市市场监督管理局投诉举报中心",
        "上海市消费者权益保护条例", PROFILES["late_reply"], scoring_class="regulatory",
        form=FormVariant(shows="ref+code", captcha=True, district=True),
        status=StatusVariant(needs_code=True),
        ack_mail=MailStyle("utf-8", "quoted-printable", html_only=True, ref_in="body"),
        reply_mail=MailStyle("gb18030", "base64", quote=True, in_reply_to=True, ref_in="both", label="gb2312"),
        sender="12315", services=("营业执照办理进度",),
        ack_subject="12315投诉受理通知", reply_subject="Re: {subject}",
    ),
    Agency(
        "fgj", "上海市房屋管理局", "市房管局", "Shanghai Housing Administration Bureau",
        "021-23111111", "上海市黄浦区世博村路300号", "信访办公室", "上海市房屋管理局信访办",
        "上海市住宅物业管理规定", PROFILES["vague_redirect"], scoring_class="service",
        form=FormVariant(shows="none", agreement=True),
        status=StatusVariant(needs_phone=True),
        home=HomeVariant(broken_links=True, disclosure=(("functions", "机构职能"), ("legal_basis", "政策法规"),
                                                        ("items", "审批服务事项目录"), ("procedures", "办理程序和时限"))),
        ack_mail=MailStyle("gb2312", "base64", ref_in="both"),
        reply_mail=MailStyle("gbk", "quoted-printable", html_only=True, ref_in="subject"),
        services=("住房租赁合同备案",),
    ),
    Agency(
        "jw", "上海市教育委员会", "市教委", "Shanghai Municipal Education Commission",
        "021-23116666", "上海市黄浦区大沽路100号", "办公室（信访）", "上海市教育委员会",
        "上海市实施《中华人民共和国义务教育法》办法", PROFILES["out_of_scope_well"],
        form=FormVariant(radios=True, district=True),
        home=HomeVariant(complaint_link="footer"),
        ack_mail=MailStyle("utf-8", "base64", ref_in="body"),
        reply_mail=MailStyle("utf-8", "base64", multipart=True, quote=True, ref_in="both"),
        greeting="尊敬的{name}家长：", services=("义务教育入学登记",),
    ),
    Agency(
        "cgj", "上海市城市管理行政执法局", "市城管执法局", "Shanghai Urban Management and Law Enforcement Bureau",
        "021-12319000", "上海市长宁区娄山关路400号", "督察处", "上海市城市管理行政执法局",
        "上海市城市管理行政执法条例", PROFILES["rude"], scoring_class="regulatory",
        form=FormVariant(agreement=True, captcha=True),
        home=HomeVariant(slow_page=True),
        ack_mail=MailStyle("gbk", "base64", ref_in="subject"),
        reply_mail=MailStyle("gbk", "base64", ref_in="body"),
        services=("占道许可办理",), ack_subject="来信已收到", reply_subject="{subject}",
    ),
    Agency(
        "wjw", "上海市卫生健康委员会", "市卫健委", "Shanghai Municipal Health Commission",
        "021-33262000", "上海市黄浦区世博村路300号", "医政医管处", "上海市卫生健康委员会",
        "上海市医疗机构管理办法", PROFILES["silent"], scoring_class="service",
        form=FormVariant(district=True),
        services=("医师执业注册",),
    ),
    Agency(
        "mzxx", "上海市人民政府办公厅（市长信箱）", "市长信箱", "Shanghai Mayor's Mailbox",
        "021-12345000", "上海市黄浦区人民大道200号", "人民来信处理中心", "上海市人民政府办公厅人民来信处理中心",
        "上海市信访条例", PROFILES["status_only"],
        form=FormVariant(login=True, title_min=10, title_max=25, body_max=600, captcha=False, shows="ref+code",
                         departments=("市交通委", "市水务局", "市生态环境局", "市市场监管局", "市房管局", "市教委", "市城管执法局")),
        status=StatusVariant(needs_code=True, captcha=True, answered_list=True),
        ref_prefix="SZXX", services=("市长信箱办件查询",),
    ),
]}


def make_agency(agency_id: str, *, profile: Profile | str | None = None, base: str = "jtw", **changes) -> Agency:
    """An agency like `base` with a new id and any changes, for tests."""
    agency = AGENCIES[base]
    if isinstance(profile, str):
        profile = PROFILES[profile]
    return replace(agency, id=agency_id, ref_prefix=changes.pop("ref_prefix", agency_id.upper()),
                   profile=profile or agency.profile, **changes)


# --- site files ------------------------------------------------------------------------------------
# scenarios/sites/<id>.toml for each demo agency is written from this data (`site_file`), so the
# files and the sites cannot drift apart; tests/test_world_sites.py checks that they match.


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _step(where: str, action: str, **args) -> str:
    lines = [f"[[{where}]]", f"action = {_toml_str(action)}"]
    lines += [f"{k} = {_toml_str(v)}" for k, v in args.items()]
    return "\n".join(lines)


def form_steps(agency: Agency, kind: str) -> list[tuple[str, dict]]:
    """The citizen's steps to write one letter of `kind` on this agency's site."""
    form, f = agency.form, agency.form.fields
    page = {"consultation": "consult", "complaint": "complaint", "suggestion": "suggest"}[kind]
    if form.radios:
        page = "consult" if kind == "consultation" else "complaint"
    steps: list[tuple[str, dict]] = [("goto", {"url": page})]
    if form.iframe:
        steps.append(("frame", {"selector": "#form-frame"}))
    if form.radios:
        value = {"consultation": "zx", "complaint": "ts", "suggestion": "jy"}[kind]
        steps.append(("check", {"selector": f"#{f['kind']}-{value}"}))
    if form.departments:
        steps.append(("select", {"selector": f"#{f['department']}", "label": form.departments[0]}))
    steps += [
        ("fill", {"selector": f"#{f['title']}", "value": "{{ subject }}"}),
        ("fill", {"selector": f"#{f['body']}", "value": "{{ body }}"}),
        ("fill", {"selector": f"#{f['name']}", "value": "{{ persona.name }}"}),
        ("fill", {"selector": f"#{f['phone']}", "value": "{{ persona.phone }}"}),
        ("fill", {"selector": f"#{f['email']}", "value": "{{ persona.email }}"}),
    ]
    if form.district:
        steps.append(("select", {"selector": f"#{f['district']}", "label": "{{ persona.district }}"}))
    if form.captcha:
        steps.append(("captcha", {"image": "#captcha-img", "selector": f"#{f['captcha']}"}))
    if form.agreement:
        steps.append(("check", {"selector": f"#{f['agree']}"}))
    steps.append(("click", {"selector": "#submit-btn"}))
    if form.two_step:
        steps += [("expect", {"text": "请确认您的来信"}), ("click", {"selector": "#confirm-btn"})]
    steps.append(("expect", {"text": "提交成功"}))
    if form.shows in ("ref", "ref+code"):
        steps.append(("extract", {"selector": "#ref", "into": "reference_number"}))
    if form.shows == "ref+code":
        steps.append(("extract", {"selector": "#query-code", "into": "query_code"}))
    if form.iframe:
        steps.append(("frame", {"selector": ""}))
    return steps


def login_steps(agency: Agency) -> list[tuple[str, dict]]:
    if not agency.form.login:
        return []
    return [
        ("goto", {"url": "login"}),
        ("fill", {"selector": "#username", "value": "{{ account.username }}"}),
        ("fill", {"selector": "#password", "value": "{{ account.password }}"}),
        ("fill", {"selector": "#mobile", "value": "{{ persona.phone }}"}),
        ("click", {"selector": "#send-sms"}),
        ("wait", {"selector": "#sms-tip.sent"}),
        ("sms_code", {"selector": "#sms"}),
        ("click", {"selector": "#login-btn"}),
        ("expect", {"selector": "#login-user"}),
    ]


def status_steps(agency: Agency) -> list[tuple[str, dict]]:
    status = agency.status
    steps: list[tuple[str, dict]] = [
        ("goto", {"url": "status"}),
        ("fill", {"selector": "#ref-input", "value": "{{ test.reference_number }}"}),
    ]
    if status.needs_code:
        steps.append(("fill", {"selector": "#code-input", "value": "{{ test.query_code }}"}))
    if status.needs_phone:
        steps.append(("fill", {"selector": "#phone-input", "value": "{{ persona.phone }}"}))
    if status.captcha:
        steps.append(("captcha", {"image": "#status-captcha-img", "selector": "#status-captcha"}))
    steps += [
        ("click", {"selector": "#query-btn"}),
        ("expect", {"selector": "#result"}),
        ("extract", {"selector": "#status", "into": "status"}),
        ("extract", {"selector": "#status-time", "into": "status_time"}),
        ("extract", {"selector": "#reply", "into": "reply"}),  # "暂无答复" until answered
    ]
    return steps


def site_file(agency: Agency) -> str:
    """The text of scenarios/sites/<id>.toml for this agency."""
    from shopper.demo.pages import form_notes

    form, profile = agency.form, agency.profile
    required = ["subject", "body", "name", "phone", "email"] + (["district"] if form.district else [])
    out = [
        f"# Demo agency {agency.id} ({agency.name}) of `shopper world`; written by shopper.demo.agencies.site_file.",
        f"# Form variant: {form_notes(agency)}.",
        f"# Behaviour profile: {profile.name} — {profile.title}.",
        "" if not form.login else
        "# Login-only (市长信箱): log in with account + password + SMS code; the demo registers an account on first login.",
        f"id = {_toml_str(agency.id)}",
        f"name = {_toml_str(agency.name)}",
        f"name_en = {_toml_str(agency.name_en)}",
        f'homepage = "{{{{ env.SHOPPER_DEMO_URL }}}}/{agency.id}/"',
        f"email_domains = [{_toml_str(agency.email_domain)}]",
        f"class = {_toml_str(agency.scoring_class)}",
        'timezone = "Asia/Shanghai"',
        'calendar = "CN"',
        f"office_hours = {_toml_str(agency.office_hours)}",
        "",
        "[limits]",
    ]
    for kind, (n, unit) in [("consultation", profile.consult_limit), ("complaint", profile.complaint_limit),
                            ("suggestion", profile.complaint_limit)]:
        out.append(f"{kind} = {{ n = {n}, unit = {_toml_str(unit)} }}")
    out += ["", "[fields]"]
    if form.title_min:
        out.append(f"title_min = {form.title_min}")
    out += [f"title_max = {form.title_max}", f"body_max = {form.body_max}",
            "required = [" + ", ".join(_toml_str(r) for r in required) + "]"]
    if form.departments:
        out.append("departments = [" + ", ".join(_toml_str(d) for d in form.departments) + "]")
    out += ["", "[disclosure]", "# where each kind of information of 附件一 is published (relative to the homepage)"]
    for i, (kind, title) in enumerate(agency.home.disclosure, 1):
        out.append(f"{kind} = \"xxgk/{i}\"  # {title}")
    out.append("")
    for i, name in enumerate(agency.services, 1):
        result = "answered" if agency.status.answered_list else f"service/{i}"
        out += ["[[services]]", f"name = {_toml_str(name)}", f'guide = "service/{i}"',
                f'accept = "{"consult" if agency.form.login else "complaint"}"', 'query = "status"',
                f'result = {{ url = "{result}", text = "办理结果" }}', ""]
    if agency.home.broken_links:
        out += ["[[services]]", 'name = "房屋交易资金监管申请"', 'accept = "wsbs/old/apply.jsp"', 'query = "status"', ""]
    words = agency.status_words
    out += ["[status]", "# what the status page says: accepted, answered, and in the reply field while unanswered",
            f"acknowledged = [{_toml_str(words[1])}]", f"replied = [{_toml_str(words[2])}]", 'no_reply = ["暂无答复"]', ""]
    blocks = []
    for where, steps in [("login.steps", login_steps(agency))] + [
        (f"forms.{kind}.steps", form_steps(agency, kind)) for kind in ("consultation", "complaint", "suggestion")
    ] + [("status.steps", status_steps(agency))] + (
        [("answered_list.steps", [("goto", {"url": "answered"}),
                                  ("extract", {"selector": "#answered", "into": "answered_list"})])]
        if agency.status.answered_list else []
    ):
        blocks += [_step(where, action, **args) for action, args in steps]
    return "\n".join(line for line in out if line is not None) + "\n" + "\n\n".join(blocks) + "\n"


def write_site_files(directory, agencies: dict[str, Agency] | None = None) -> list:
    """Write one site file per agency into `directory`; returns the paths."""
    from pathlib import Path

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for agency in (agencies or AGENCIES).values():
        path = directory / f"{agency.id}.toml"
        path.write_text(site_file(agency), encoding="utf-8")
        paths.append(path)
    return paths
