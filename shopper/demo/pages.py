"""The HTML of the demo agency sites (Chinese), as Jinja2 templates.

Pages are plain server-rendered HTML like most government sites: a header, a navigation bar, the
content, a footer with the address and the ICP number. Links are absolute paths under /<agency>/
so the same templates work inside an iframe.
"""

from __future__ import annotations

import jinja2

TEMPLATES = {
    "base.html": """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="{{ charset }}">
<title>{{ title }} - {{ agency.name }}</title>
<style>
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 0; background: #f4f6f9; color: #222; }
.header { background: #b3141c; color: #fff; padding: 18px 40px; }
.header h1 { margin: 0; font-size: 26px; }
.nav { background: #8e1016; padding: 8px 40px; }
.nav a { color: #fff; margin-right: 22px; text-decoration: none; font-size: 15px; }
.main { background: #fff; margin: 16px 40px; padding: 20px 28px; min-height: 300px; }
.banner { display: flex; gap: 16px; margin-bottom: 18px; }
.banner a { display: block; padding: 14px 26px; background: #1a5aa6; color: #fff; font-size: 18px; text-decoration: none; border-radius: 4px; }
.banner a.complaint { background: #d9534f; }
.row { margin: 10px 0; }
.row > label.name { display: inline-block; width: 110px; text-align: right; margin-right: 8px; }
input[type=text], input[type=password], select { width: 280px; padding: 4px; }
textarea { width: 520px; height: 160px; }
.error, .err { color: #c00; }
.footer { background: #333; color: #bbb; padding: 18px 40px; font-size: 13px; }
.footer a { color: #ddd; }
table.grid { border-collapse: collapse; }
table.grid td, table.grid th { border: 1px solid #ccc; padding: 6px 10px; }
.news li { margin: 6px 0; }
</style>
</head>
<body>
<div class="header"><h1 class="site-name">{{ agency.name }}</h1></div>
<div class="nav">
  <a href="/{{ agency.id }}/">首页</a>
  <a href="/{{ agency.id }}/xxgk/">政务公开</a>
  <a href="/{{ agency.id }}/service/1">网上办事</a>
  <a href="/{{ agency.id }}/consult">{{ '我要写信' if agency.form.login else '在线咨询' }}</a>
  {% if agency.home.complaint_link == 'top' %}<a id="nav-complaint" href="/{{ agency.id }}/complaint">监督投诉</a>{% endif %}
  <a href="/{{ agency.id }}/status">办件查询</a>
  {% if agency.status.answered_list %}<a href="/{{ agency.id }}/answered">答复列表</a>{% endif %}
  {% if agency.form.login %}{% if user %}<a href="/{{ agency.id }}/logout">退出（{{ user }}）</a>{% else %}<a href="/{{ agency.id }}/login">登录</a>{% endif %}{% endif %}
</div>
<div class="main">
{% block main %}{% endblock %}
</div>
<div class="footer">
  {% if agency.home.complaint_link == 'footer' %}<p><a id="footer-complaint" href="/{{ agency.id }}/complaint">监督投诉</a> | <a href="/{{ agency.id }}/consult">在线咨询</a></p>{% endif %}
  <p>主办：{{ agency.name }}　地址：{{ agency.address }}　电话：{{ agency.phone }}</p>
  <p>网站标识码：3100000{{ agency.id|length }}0{{ agency.phone[-4:] }}　沪ICP备0500{{ agency.phone[-4:] }}号</p>
</div>
</body>
</html>
""",
    "frame.html": """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="{{ charset }}"><title>{{ title }}</title>
<style>body { font-family: sans-serif; margin: 12px; } .row { margin: 10px 0; } .err, .error { color: #c00; }
textarea { width: 480px; height: 140px; } input[type=text] { width: 260px; }</style></head>
<body>{% block main %}{% endblock %}</body></html>
""",
    "home.html": """{% extends "base.html" %}
{% block main %}
{% if agency.home.complaint_link == 'top' %}
<div class="banner">
  <a class="complaint" id="complaint-link" href="/{{ agency.id }}/complaint">监督投诉</a>
  <a href="/{{ agency.id }}/consult">{{ '我要写信' if agency.form.login else '在线咨询' }}</a>
  <a href="/{{ agency.id }}/status">办件查询</a>
</div>
{% endif %}
<h2>工作动态</h2>
<ul class="news">
{% for item in news %}<li><a href="{{ item.href }}">{{ item.title }}</a> <span>{{ item.date }}</span></li>
{% endfor %}
</ul>
<h2>政务公开</h2>
<ul class="disclosure">
{% for kind, item in agency.home.disclosure %}<li><a href="/{{ agency.id }}/xxgk/{{ loop.index }}">{{ item }}</a></li>{% endfor %}
</ul>
<h2>网上办事</h2>
<ul class="services">
{% for s in agency.services %}<li><a href="/{{ agency.id }}/service/{{ loop.index }}">{{ s }}</a></li>{% endfor %}
{% if agency.home.broken_links %}<li><a id="broken-service" href="/{{ agency.id }}/wsbs/old/apply.jsp">房屋交易资金监管申请</a></li>{% endif %}
{% if agency.home.slow_page %}<li><a id="slow-link" href="/{{ agency.id }}/slow">执法事项清单（全文）</a></li>{% endif %}
</ul>
{% endblock %}
""",
    "page.html": """{% extends "base.html" %}
{% block main %}
<h2>{{ title }}</h2>
{% for p in paragraphs %}<p>{{ p }}</p>
{% endfor %}
{% if links %}<ul>{% for href, text in links %}<li><a href="{{ href }}">{{ text }}</a></li>{% endfor %}</ul>{% endif %}
{% endblock %}
""",
    "form_shell.html": """{% extends "base.html" %}
{% block main %}
<h2>{{ heading }}</h2>
<p>请在下方表单中填写您的{{ kind_word }}内容。</p>
<iframe id="form-frame" name="form-frame" src="/{{ agency.id }}/{{ page }}/frame" width="760" height="820" style="border:1px solid #ccc"></iframe>
{% endblock %}
""",
    "form.html": """{% extends layout %}
{% block main %}
<h2>{{ heading }}</h2>
{% if agency.form.login %}<p>当前登录用户：<span id="login-user">{{ user }}</span></p>{% endif %}
<p class="tip">带 * 的为必填项。{% if agency.form.title_min %}标题{{ agency.form.title_min }}—{{ agency.form.title_max }}个字，{% endif %}正文不超过{{ agency.form.body_max }}字。</p>
{% if error %}<div class="error" id="form-error">{{ error }}</div>{% endif %}
<div class="err" id="js-error"></div>
<form id="letter-form" method="post" action="/{{ agency.id }}/submit" novalidate{% if agency.form.js_validation %} onsubmit="return checkForm(this)"{% endif %}>
  <input type="hidden" name="form_kind" value="{{ kind }}">
  <input type="hidden" name="step" value="details">
  {% if agency.form.radios %}
  <div class="row"><label class="name">* 类型：</label>
    {% for value, label in kinds %}<label><input type="radio" name="{{ f.kind }}" id="{{ f.kind }}-{{ value }}" value="{{ value }}"{% if value == checked_kind %} checked{% endif %}>{{ label }}</label>
    {% endfor %}
  </div>
  {% endif %}
  {% if agency.form.departments %}
  <div class="row"><label class="name" for="{{ f.department }}">* 收信部门：</label>
    <select name="{{ f.department }}" id="{{ f.department }}" data-required="收信部门">
      <option value="">--请选择--</option>
      {% for d in agency.form.departments %}<option value="{{ d }}"{% if values.get(f.department) == d %} selected{% endif %}>{{ d }}</option>{% endfor %}
    </select></div>
  {% endif %}
  <div class="row"><label class="name" for="{{ f.title }}">* 标题：</label>
    <input type="text" name="{{ f.title }}" id="{{ f.title }}" maxlength="{{ agency.form.title_max }}" data-required="标题" value="{{ values.get(f.title, '') }}"></div>
  <div class="row"><label class="name" for="{{ f.body }}">* 内容：</label>
    <textarea name="{{ f.body }}" id="{{ f.body }}" maxlength="{{ agency.form.body_max }}" data-required="内容">{{ values.get(f.body, '') }}</textarea></div>
  <div class="row"><label class="name" for="{{ f.name }}">* 姓名：</label>
    <input type="text" name="{{ f.name }}" id="{{ f.name }}" data-required="姓名" value="{{ values.get(f.name, '') }}"></div>
  <div class="row"><label class="name" for="{{ f.phone }}">* 联系电话：</label>
    <input type="text" name="{{ f.phone }}" id="{{ f.phone }}" data-required="联系电话" value="{{ values.get(f.phone, '') }}"></div>
  <div class="row"><label class="name" for="{{ f.email }}">* 电子邮箱：</label>
    <input type="text" name="{{ f.email }}" id="{{ f.email }}" data-required="电子邮箱" value="{{ values.get(f.email, '') }}"></div>
  {% if agency.form.district %}
  <div class="row"><label class="name" for="{{ f.district }}">* 所在区：</label>
    <select name="{{ f.district }}" id="{{ f.district }}" data-required="所在区">
      <option value="">--请选择--</option>
      {% for d in districts %}<option value="{{ d }}"{% if values.get(f.district) == d %} selected{% endif %}>{{ d }}</option>{% endfor %}
    </select></div>
  {% endif %}
  {% if captcha %}
  <div class="row"><label class="name" for="{{ f.captcha }}">* 验证码：</label>
    <input type="text" name="{{ f.captcha }}" id="{{ f.captcha }}" data-required="验证码" style="width:80px" autocomplete="off">
    <img id="captcha-img" src="/{{ agency.id }}/captcha.png?t={{ captcha.token }}" alt="验证码" width="120" height="40">
    <input type="hidden" name="captcha_token" value="{{ captcha.token }}"></div>
  {% endif %}
  {% if agency.form.agreement %}
  <div class="row"><label><input type="checkbox" name="{{ f.agree }}" id="{{ f.agree }}" value="1">我已阅读并同意《网上来信须知》</label></div>
  {% endif %}
  <div class="row"><button type="submit" id="submit-btn">{{ '下一步' if agency.form.two_step else '提交' }}</button></div>
</form>
{% if agency.form.js_validation %}
<script>
function checkForm(form) {
  var missing = [];
  form.querySelectorAll('[data-required]').forEach(function (el) {
    if (!el.value || !el.value.trim()) { missing.push(el.getAttribute('data-required')); }
  });
  {% if agency.form.radios %}if (!form.querySelector('input[name="{{ f.kind }}"]:checked')) { missing.push('类型'); }{% endif %}
  var msg = '';
  if (missing.length) { msg = '请填写：' + missing.join('、'); }
  {% if agency.form.agreement %}else if (!form.querySelector('#{{ f.agree }}').checked) { msg = '请先阅读并同意《网上来信须知》'; }{% endif %}
  {% if agency.form.title_min %}else if (form['{{ f.title }}'].value.trim().length < {{ agency.form.title_min }}) { msg = '标题不能少于{{ agency.form.title_min }}个字'; }{% endif %}
  else if (form['{{ f.body }}'].value.length > {{ agency.form.body_max }}) { msg = '内容不能超过{{ agency.form.body_max }}字'; }
  else if (form['{{ f.email }}'].value.indexOf('@') < 1) { msg = '电子邮箱格式不正确'; }
  document.getElementById('js-error').textContent = msg;
  return msg === '';
}
</script>
{% endif %}
{% endblock %}
""",
    "confirm.html": """{% extends layout %}
{% block main %}
<h2>请确认您的来信</h2>
<table class="grid" id="confirm-table">
<tr><th>类型</th><td>{{ kind_word }}</td></tr>
<tr><th>标题</th><td>{{ draft.subject }}</td></tr>
<tr><th>内容</th><td>{{ draft.body }}</td></tr>
<tr><th>姓名</th><td>{{ draft.name }}</td></tr>
<tr><th>联系电话</th><td>{{ draft.phone }}</td></tr>
<tr><th>电子邮箱</th><td>{{ draft.email }}</td></tr>
</table>
<form method="post" action="/{{ agency.id }}/submit" id="confirm-form">
  <input type="hidden" name="step" value="confirm">
  <input type="hidden" name="draft" value="{{ draft_id }}">
  <button type="submit" id="confirm-btn">确认提交</button>
  <a href="/{{ agency.id }}/{{ page }}">返回修改</a>
</form>
{% endblock %}
""",
    "done.html": """{% extends layout %}
{% block main %}
<h2 id="result-title">提交成功</h2>
{% if shows == 'none' %}
<p id="result-text">您的来信已提交。受理编号将通过电子邮件发送给您，请注意查收。</p>
{% else %}
<p id="result-text">您的来信已提交成功，{{ '请牢记以下编号和查询码，凭其查询办理进度' if shows == 'ref+code' else '请记下受理编号以便查询办理进度' }}。</p>
<p>受理编号：<span id="ref">{{ sub.reference }}</span></p>
{% if shows == 'ref+code' %}<p>查询码：<span id="query-code">{{ sub.query_code }}</span></p>{% endif %}
{% endif %}
<p><a href="/{{ agency.id }}/">返回首页</a></p>
{% endblock %}
""",
    "status.html": """{% extends "base.html" %}
{% block main %}
<h2>办件查询</h2>
{% if error %}<div class="error" id="status-error">{{ error }}</div>{% endif %}
<form id="status-form" method="post" action="/{{ agency.id }}/status">
  <div class="row"><label class="name" for="ref-input">{{ '办件编号' if agency.status.needs_code else '受理编号' }}：</label>
    <input type="text" name="ref" id="ref-input" value="{{ values.get('ref', '') }}"></div>
  {% if agency.status.needs_code %}<div class="row"><label class="name" for="code-input">查询码：</label>
    <input type="text" name="code" id="code-input"></div>{% endif %}
  {% if agency.status.needs_phone %}<div class="row"><label class="name" for="phone-input">联系电话：</label>
    <input type="text" name="phone" id="phone-input"></div>{% endif %}
  {% if captcha %}<div class="row"><label class="name" for="status-captcha">验证码：</label>
    <input type="text" name="captcha" id="status-captcha" style="width:80px" autocomplete="off">
    <img id="status-captcha-img" src="/{{ agency.id }}/captcha.png?t={{ captcha.token }}" alt="验证码" width="120" height="40">
    <input type="hidden" name="captcha_token" value="{{ captcha.token }}"></div>{% endif %}
  <div class="row"><button type="submit" id="query-btn">查询</button></div>
</form>
{% if view %}
<h3>查询结果</h3>
<table class="grid" id="result">
<tr><th>编号</th><td id="result-ref">{{ view.reference }}</td></tr>
<tr><th>标题</th><td id="result-subject">{{ view.subject }}</td></tr>
<tr><th>当前状态</th><td id="status">{{ view.status }}</td></tr>
<tr><th>状态时间</th><td id="status-time">{{ view.status_time }}</td></tr>
</table>
<h3>办理过程</h3>
<table class="grid" id="history">
<tr><th>时间</th><th>状态</th><th>说明</th></tr>
{% for status, at, note in view.history %}<tr><td class="time">{{ at }}</td><td class="state">{{ status }}</td><td>{{ note }}</td></tr>
{% endfor %}
</table>
<h3>答复内容</h3>
{% if view.reply %}<p>答复时间：<span id="reply-time">{{ view.reply_time }}</span></p>{% endif %}
<div id="reply" style="white-space: pre-wrap">{{ view.reply or '暂无答复' }}</div>
{% endif %}
{% endblock %}
""",
    "answered.html": """{% extends "base.html" %}
{% block main %}
<h2>答复列表（办理结果）</h2>
<table class="grid" id="answered">
<tr><th>办件编号</th><th>标题</th><th>收信部门</th><th>答复时间</th></tr>
{% for s in letters %}<tr class="letter"><td class="ref">{{ s.reference }}</td><td class="title"><a href="/{{ agency.id }}/answered/{{ s.reference }}">{{ s.subject }}</a></td><td>{{ s.department }}</td><td class="time">{{ times[loop.index0] }}</td></tr>
{% else %}<tr><td colspan="4">暂无已答复的来信</td></tr>
{% endfor %}
</table>
{% endblock %}
""",
    "letter.html": """{% extends "base.html" %}
{% block main %}
<h2 id="letter-title">{{ view.subject }}</h2>
<p>办件编号：<span id="result-ref">{{ view.reference }}</span>　状态：<span id="status">{{ view.status }}</span></p>
<h3>来信内容</h3><div id="letter-body" style="white-space: pre-wrap">{{ body }}</div>
<h3>答复内容</h3><p>答复时间：<span id="reply-time">{{ view.reply_time }}</span></p>
<div id="reply" style="white-space: pre-wrap">{{ view.reply }}</div>
{% endblock %}
""",
    "login.html": """{% extends "base.html" %}
{% block main %}
<h2>用户登录</h2>
<p>市长信箱仅限登录用户写信。首次登录将以您填写的账号、密码和手机号自动注册。</p>
{% if error %}<div class="error" id="login-error">{{ error }}</div>{% endif %}
<form id="login-form" method="post" action="/{{ agency.id }}/login">
  <input type="hidden" name="next" value="{{ next }}">
  <div class="row"><label class="name" for="username">账号：</label><input type="text" name="username" id="username" value="{{ values.get('username', '') }}"></div>
  <div class="row"><label class="name" for="password">密码：</label><input type="password" name="password" id="password"></div>
  <div class="row"><label class="name" for="mobile">手机号：</label><input type="text" name="mobile" id="mobile" value="{{ values.get('mobile', '') }}"></div>
  <div class="row"><label class="name" for="sms">短信验证码：</label><input type="text" name="sms" id="sms" style="width:100px">
    <button type="button" id="send-sms" onclick="sendSms()">获取验证码</button> <span id="sms-tip"></span></div>
  <div class="row"><button type="submit" id="login-btn">登录</button></div>
</form>
<script>
function sendSms() {
  var mobile = document.getElementById('mobile').value.trim();
  var tip = document.getElementById('sms-tip');
  if (!/^1\\d{10}$/.test(mobile)) { tip.textContent = '请输入正确的手机号'; tip.className = 'err'; return; }
  fetch('/{{ agency.id }}/sms', {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'},
        body: 'mobile=' + encodeURIComponent(mobile)})
    .then(function (r) { return r.text(); })
    .then(function (t) { tip.textContent = t; tip.className = 'sent'; });
}
</script>
{% endblock %}
""",
    "index.html": """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>shopper 演示世界</title></head>
<body style="font-family: sans-serif; margin: 30px">
<h1>shopper 演示世界（仅供测试）</h1>
<p>模拟时间：{{ now }}</p>
<table border="1" cellpadding="6" style="border-collapse: collapse">
<tr><th>编号</th><th>机构</th><th>行为模式</th><th>表单特点</th></tr>
{% for a in agencies %}<tr><td>{{ a.id }}</td><td><a href="/{{ a.id }}/">{{ a.name }}</a></td><td>{{ a.profile.title }}</td><td>{{ notes[a.id] }}</td></tr>
{% endfor %}
</table>
</body></html>
""",
    "404.html": """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>404 页面不存在</title></head>
<body><h1>404</h1><p>您访问的页面不存在或已被删除。</p></body></html>
""",
}

_env = jinja2.Environment(loader=jinja2.DictLoader(TEMPLATES), autoescape=True)


def render(name: str, **context) -> str:
    context.setdefault("layout", "base.html")
    context.setdefault("user", None)
    context.setdefault("error", None)
    context.setdefault("values", {})
    return _env.get_template(name).render(**context)


def form_notes(agency) -> str:
    """What a site's forms exercise, in Chinese, for the world's index page."""
    form, notes = agency.form, []
    for flag, text in [(form.radios, "类型单选"), (form.district, "区县下拉"), (form.agreement, "同意条款"),
                       (form.captcha, "图片验证码"), (form.iframe, "iframe表单"), (form.two_step, "两步提交"),
                       (form.login, "登录+短信验证码"), (agency.charset.lower() == "gbk", "GBK编码"),
                       (form.shows == "ref+code", "提交后显示编号和查询码"), (form.shows == "none", "编号仅邮件告知"),
                       (agency.status.captcha, "查询需验证码"), (agency.status.answered_list, "答复列表"),
                       (agency.home.complaint_link == "footer", "投诉入口在页脚"),
                       (agency.home.broken_links, "含失效链接"), (agency.home.slow_page, "慢页面")]:
        if flag:
            notes.append(text)
    return "、".join(notes) or "普通表单"
