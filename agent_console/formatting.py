"""How values read in the console: local times, and enum values in the reader's language."""
from __future__ import annotations

import re

from flask import Flask
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from jinja2 import pass_context

from agent_console.database import services
from db.service_requests import full_address

LABELS = {
    # request status
    "new": _l("待派单"), "dispatched": _l("已派单"), "in_service": _l("服务中"), "completed": _l("已完成"),
    "surveyed": _l("已回访"), "closed": _l("已关闭"), "cancelled": _l("已取消"),
    # priority
    "normal": _l("普通"), "urgent": _l("加急"), "emergency": _l("紧急"),
    # channel
    "phone": _l("电话"), "callback": _l("回拨"), "voicemail": _l("留言"), "web": _l("网页"),
    # dispatch
    "offered": _l("待接单"), "accepted": _l("已接单"), "declined": _l("已拒单"), "timed_out": _l("超时未答"),
    # tasks, complaints, sms
    "pending": _l("待处理"), "in_progress": _l("处理中"), "done": _l("已完成"), "failed": _l("失败"),
    "open": _l("待处理"), "assigned": _l("已分派"), "resolved": _l("已解决"),
    "queued": _l("待发送"), "sending": _l("发送中"), "sent": _l("已发送"),
    # messages to the hotline's SMS number ("accepted"/"declined" as a dispatch's)
    "received": _l("未及处理"), "not_understood": _l("未能识别"), "no_open_offer": _l("无待答派单"),
    "already_answered": _l("派单已处理过"),
    # surveys and their calls
    "scheduled": _l("待回访"), "dialling": _l("呼叫中"), "no_answer": _l("无人接听"), "busy": _l("占线"),
    "congestion": _l("线路忙"), "no_input": _l("接听未按键"),
    # languages
    "cmn": _l("普通话"), "yue": _l("粤语"), "hak": _l("客家话"),
    # how well an operator speaks one
    "native": _l("母语"), "fluent": _l("流利"), "basic": _l("基本"),
    # call outcomes
    "answered": _l("已接听"), "abandoned_in_ivr": _l("语音导航中挂断"), "abandoned_in_queue": _l("排队中挂断"),
    "callback_requested": _l("预约回拨"), "after_hours": _l("非工作时间"),
    # roles, providers, callbacks
    "operator": _l("话务员"), "supervisor": _l("班长"), "admin": _l("管理员"),
    "active": _l("正常"), "suspended": _l("已暂停"),
    # credit files: commendations and sanctions
    "commendation": _l("守法诚信奖励"), "warning": _l("警告"), "suspension": _l("暂停派单"), "removal": _l("移出平台"),
    # operators' states and pause reasons
    "logged_in": _l("已签入"), "available": _l("空闲"), "paused": _l("暂停"), "on_call": _l("通话中"),
    "wrap_up": _l("话后整理"), "logged_out": _l("已签出"),
    "break": _l("小休"), "meal": _l("用餐"), "training": _l("培训"), "after_call_work": _l("话后处理"),
    "queue_callback": _l("排队回拨"), "survey_follow_up": _l("回访跟进"), "other": _l("其他"),
    "lost_call": _l("未接来电回拨"),
    # IVR scripts and how a caller's time in one ended
    "ivr": _l("语音导航"), "survey": _l("满意度回访"),
    "routed": _l("已转队列"), "to_operator": _l("转人工"), "abandoned": _l("中途挂断"), "error": _l("系统出错，转人工"),
}

# Q.850 cause codes as Asterisk reports them (HANGUPCAUSE, the Hangup event's Cause):
# the common ones in words, any other as "other cause".
HANGUP_CAUSES = {
    0: _l("原因不明"), 1: _l("空号"), 3: _l("无法接通"), 16: _l("正常挂断"), 17: _l("用户忙"),
    18: _l("用户无响应"), 19: _l("无人接听"), 20: _l("用户不在服务区"), 21: _l("呼叫被拒绝"),
    22: _l("号码已改"), 27: _l("对方线路故障"), 28: _l("号码格式错误"), 31: _l("正常结束"),
    34: _l("无可用线路"), 38: _l("网络故障"), 41: _l("临时故障"), 42: _l("交换设备拥塞"),
    102: _l("超时未应答"), 127: _l("网间互通故障"),
}
# Why an Originate ended, as Asterisk's OriginateResponse gives it (a survey call's attempt):
# the dial states it can end in, in words; any other as "other".
ORIGINATE_REASONS = {
    0: _l("失败/无此号码"), 1: _l("无人接听"), 3: _l("振铃超时"), 4: _l("已接通"), 5: _l("忙线"), 8: _l("网络拥塞"),
}
# A key pressed in the IVR, or what a step did (db.models.IvrStep.key, ivr.engine.describe):
# "played" is a message the caller just heard, so there is nothing to add to its title.
STEP_EVENTS = {"timeout": _l("未按键"), "hangup": _l("挂机"), "recorded": _l("已录音"), "silence": _l("未录到声音"),
               "played": ""}
STATUS_FOUND = re.compile(r"found:(\d+)")  # a status check: how many requests it read back
DTMF = frozenset("0123456789*#ABCD")
# Why a provider is suggested (db.dispatching.REASON_TEXTS, in the reader's language).
DISPATCH_REASONS = {
    "district_unknown": _l("区县未填 +0"),
    "district_served": _l("服务该区县 +%(points)d"),
    "district_not_served": _l("不在服务区县 +0"),
    "grade": _l("%(grade)d星级 +%(points)d"),
    "ungraded": _l("未定级 +0"),
    "rating": _l("评分%(rating).2f（%(count)d次） %(points)+.0f"),
    "few_ratings": _l("评价不足%(minimum)d次 +0"),
    "complaints": _l("近%(days)d天投诉%(count)d次 -%(points)d"),
    "load": _l("在办%(load)d/%(capacity)d +%(points).0f"),
}
# Nodes that only pass a caller on: left out of the way a caller took through the menu.
PASSING_KINDS = frozenset({"language", "announce", "hours"})


REFUSALS = {
    "provider_suspended": _l("%(provider)s 已暂停派单。"),
    "provider_category": _l("%(provider)s 不提供%(category)s。"),
    "already_dispatched": _l("工单 %(number)s 已派给企业。"),
    "already_answered": _l("这次派单已有答复。"),
    "pause_reason": _l("请选择暂停原因。"),
    "no_extension": _l("账号 %(username)s 没有分机号，请管理员在账号管理中设置后再签入。"),
    "bad_username": _l("用户名为1到64个字符，不含空格。"),
    "short_password": _l("密码至少%(length)d个字符。"),
    "user_exists": _l("用户 %(username)s 已存在。"),
    "extension_taken": _l("分机 %(extension)s 已属于其他账号。"),
    "bad_transition": _l("工单 %(number)s 不能从“%(current)s”改为“%(wanted)s”。"),
    "offer_not_accepted": _l("工单 %(number)s 的企业还没有接单：请先记录“企业已接单”，再改为服务中。"),
    "survey_not_waiting": _l("只有待回访、失败或已取消的回访可以改期。"),
    "survey_in_progress": _l("正在呼叫或已完成的回访不能取消。"),
    "bad_grade": _l("星级为1到5星。"),
    "reason_required": _l("请写明理由。"),
    "not_overridden": _l("%(provider)s 的星级是按规则定的，无需续期。"),
    "bad_days": _l("暂停天数为1到%(most)d天。"),
    "already_removed": _l("%(provider)s 已移出平台。"),
    "not_removed": _l("%(provider)s 未被移出平台。"),
    "measure_repeated": _l("刚刚已为%(provider)s记入同样的奖惩，未重复记录。"),
    # disputes (纠纷处理)
    "dispute_needs_provider": _l("纠纷须涉及一家企业：请选择企业，或填写已派单的工单号。"),
    "dispute_summary_required": _l("请写明纠纷事由。"),
    "already_disputed": _l("已转为纠纷，不能重复转入。"),
    "not_low_rating": _l("只有评分不高于%(most)d星的回访可以转为纠纷。"),
    "dispute_closed": _l("纠纷 #%(id)d 已办结，不能再修改。"),
    "author_required": _l("请填写陈述人。"),
    "statement_required": _l("请填写陈述内容。"),
    "bad_step_day": _l("调解日期须在受理日%(first)s到今天%(last)s之间。"),
    "step_note_required": _l("请填写调解经过。"),
    "bad_outcome": _l("请选择处理结果。"),
    "remedy_required": _l("支持或部分支持消费者诉求时，请填写补救措施。"),
}


def refusal(error: Exception) -> str:
    """A rule's refusal in the reader's language (db/errors.py); anything else as it is."""
    template = REFUSALS.get(getattr(error, "code", None))
    if template is None:
        return str(error)
    params = {k: label(v) if k in ("current", "wanted") else v for k, v in getattr(error, "params", {}).items()}
    return str(template) % params


def label(value) -> str:
    if value is None:
        return ""
    key = getattr(value, "value", value)
    return str(LABELS.get(key, key))


def local_time(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(services().tz).strftime(fmt)


def named(row) -> str:
    """A category or district in the reader's language."""
    if row is None:
        return ""
    return row.name_en if str(get_locale()) == "en" else row.name_zh


def address(request) -> str:
    """A request's district and address, the district said once (db.service_requests)."""
    return full_address(request, english=_english())


def _english() -> bool:
    return str(get_locale()) == "en"


def _titled(titles: dict[str, str]) -> str:
    return titles["en" if _english() else "zh"]


def node_title(name: str | None) -> str:
    """A menu node's title (config/ivr_menu.toml), never its name; a node no longer in the menu is 'other'."""
    node = services().menu.nodes.get(name or "")
    return _titled(node.title) if node is not None else str(_l("其他菜单项"))


def menu_way(path: str | None) -> str:
    """The menus and choices a caller went through (the call's ivr_path), by title."""
    return way_through(path, services().menu.nodes, _english())


def way_through(path: str | None, nodes, english: bool) -> str:
    """menu_way without the request: for an export that runs after its request has ended."""
    names = [name for name in (path or "").split(">") if name in nodes and nodes[name].kind not in PASSING_KINDS]
    return " › ".join(nodes[name].title["en" if english else "zh"] for name in names)


def queue_title(name: str | None) -> str:
    """A queue's title from the menu's [queues]; Asterisk's name (hotline-general) is accepted too."""
    if not name:
        return ""
    titles = services().menu.queue_titles
    found = titles.get(name) or titles.get(name.removeprefix(services().settings.asterisk.queue_prefix))
    return _titled(found) if found else str(_l("其他队列"))


def hangup_cause(code: int | None) -> str:
    if code is None:
        return ""
    return str(HANGUP_CAUSES.get(code, _l("其他原因")))


def originate_reason(code: int | None) -> str:
    if code is None:
        return ""
    return str(ORIGINATE_REASONS.get(code, _l("其他")))


def step_key(key: str | None) -> str:
    """What the caller did at a step: 按 3, 未按键, 挂机."""
    if not key:
        return ""
    if key in STEP_EVENTS:
        return str(STEP_EVENTS[key])
    found = STATUS_FOUND.fullmatch(key)
    if found:
        count = int(found.group(1))
        return str(_l("查到 %(count)d 张工单", count=count) if count else _l("没有查到工单"))
    if len(key) > 1 and set(key) <= DTMF:  # a request number keyed in
        return str(_l("输入 %(digits)s", digits=key))
    # Any other key is shown as pressed (a bad one stored before the IVR refused them is
    # printed as the replacement glyph by the page), never hidden from a supervisor.
    return str(_l("按 %(key)s", key=key))


def prompt_text(prompt: str | None, language=None) -> str:
    """The words of a prompt a caller heard, in the language they heard it (Mandarin if
    unknown); a prompt no longer in the manifest shows nothing, never its name."""
    manifest = services().prompts
    if not prompt or prompt not in manifest:
        return ""
    texts = manifest.prompts[prompt].texts
    return texts.get(getattr(language, "value", language) or "cmn") or texts.get("cmn", "")


def dispatch_reasons(suggestion) -> str:
    """Why a provider is suggested, each reason in the reader's language."""
    separator = "；" if str(get_locale()).startswith("zh") else "; "
    return separator.join(str(DISPATCH_REASONS[kind]) % values for kind, values in suggestion.reason_parts)


def _per_render(function):
    """The filter as Jinja must call it: at every render. Jinja folds a filter over a constant
    ('operator'|label) into the compiled template, in whatever language the first reader
    used; a filter that takes the render's context is never folded."""
    @pass_context
    def filtered(_context, *args, **kwargs):
        return function(*args, **kwargs)
    return filtered


def register_filters(app: Flask) -> None:
    # Every one depends on the reader's language (or the configured time zone).
    for name, function in (("node_title", node_title), ("prompt_text", prompt_text), ("menu_way", menu_way), ("queue_title", queue_title),
                           ("hangup_cause", hangup_cause), ("originate_reason", originate_reason),
                           ("step_key", step_key), ("address", address),
                           ("label", label), ("localtime", local_time), ("named", named),
                           ("dispatch_reasons", dispatch_reasons)):
        app.add_template_filter(_per_render(function), name)
