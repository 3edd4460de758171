"""The console's forms: every field validated, every choice from the database."""
from __future__ import annotations

import datetime as dt

from flask import abort
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select as sql_select
from wtforms.fields.choices import SelectChoice
from wtforms import BooleanField, DateField, DateTimeLocalField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from agent_console.database import get_db, services
from agent_console.formatting import label, named
from db.base import utcnow
from db.models import District, Priority, ServiceCategory
from db.phones import InvalidPhone, normalise

TIME_FORMAT = "%Y-%m-%dT%H:%M"
# A service window may start a little in the past (logged late) and up to 90 days ahead.
WINDOW_PAST = dt.timedelta(days=1)
WINDOW_AHEAD = dt.timedelta(days=90)
WINDOW_LONGEST = dt.timedelta(days=14)


def category_choices(blank: bool = False):
    rows = get_db().scalars(sql_select(ServiceCategory).where(ServiceCategory.active).order_by(ServiceCategory.sort_order))
    return ([(0, "")] if blank else []) + [(c.id, named(c)) for c in rows]


def district_choices(blank: bool = False):
    rows = get_db().scalars(sql_select(District).order_by(District.sort_order))
    return ([(0, "")] if blank else []) + [(d.id, named(d)) for d in rows]


def select(pairs) -> list[SelectChoice]:
    """WTForms 3.3 wants SelectChoice objects, not (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


def validate_phone(_form, field) -> None:
    try:
        field.data = normalise(field.data or "", services().settings.phone.area_code).number
    except InvalidPhone:
        raise ValidationError(_l("请输入手机号（11位）或带区号的固定电话。"))


def _local(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=services().tz).astimezone(dt.timezone.utc) if value else None


class RequestForm(FlaskForm):
    phone = StringField(_l("来电号码"), validators=[DataRequired(), Length(max=30), validate_phone])
    caller_name = StringField(_l("称呼"), validators=[Optional(), Length(max=64)])
    category = SelectField(_l("服务类别"), coerce=int, validators=[DataRequired()])
    district = SelectField(_l("区县"), coerce=int, validators=[DataRequired()])
    address = StringField(_l("服务地址"), validators=[DataRequired(), Length(max=255)])
    description = TextAreaField(_l("需求描述"), validators=[Optional(), Length(max=2000)])
    priority = SelectField(_l("优先级"), default=Priority.NORMAL.value)
    window_start = DateTimeLocalField(_l("服务时间 从"), format=TIME_FORMAT, validators=[Optional()])
    window_end = DateTimeLocalField(_l("至"), format=TIME_FORMAT, validators=[Optional()])
    call = HiddenField(validators=[Optional(), Length(max=64)])
    confirm_duplicate = BooleanField(_l("确认不是重复工单"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Neither category nor district until one is chosen: a preselected first entry (家庭服务,
        # 源城区) was silently kept for a request whose caller was never asked, shown as if known.
        self.category.choices = select([(0, _l("请选择服务类别"))] + category_choices())
        # No district until one is chosen: a preselected first district (源城区) was silently
        # kept for a request whose caller was never asked, and shown as if it were known.
        self.district.choices = select([(0, _l("请选择区县"))] + district_choices())
        self.priority.choices = select((p.value, label(p.value)) for p in Priority)

    def validate_window_start(self, field) -> None:
        start = _local(field.data)
        if start is None:
            return
        now = utcnow()
        if start < now - WINDOW_PAST or start > now + WINDOW_AHEAD:
            raise ValidationError(_l("服务时间须在昨天到90天内。"))

    def validate_window_end(self, field) -> None:
        start, end = _local(self.window_start.data), _local(field.data)
        if end is None:
            return
        if start is None:
            raise ValidationError(_l("请同时填写开始时间。"))
        if end <= start:
            raise ValidationError(_l("结束时间须晚于开始时间。"))
        if end - start > WINDOW_LONGEST:
            raise ValidationError(_l("服务时段不能超过14天。"))

    @property
    def window(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        return _local(self.window_start.data), _local(self.window_end.data)


class StatusForm(FlaskForm):
    to_status = SelectField(_l("新状态"), validators=[DataRequired()])
    note = StringField(_l("备注"), validators=[Optional(), Length(max=500)])
    confirm = BooleanField(_l("确认取消此工单"))  # a cancellation is never one click


class NoteForm(FlaskForm):
    """A form that is only a button (with CSRF) and an optional note."""

    note = StringField(_l("备注"), validators=[Optional(), Length(max=500)])


def submitted(form_class: type[FlaskForm] = NoteForm) -> FlaskForm:
    """The posted form, validated; a post that does not fit ends the request with 400."""
    form = form_class()
    if not form.validate_on_submit():
        abort(400)
    return form


def _stripped(text):
    return text.strip() if isinstance(text, str) else text


class ComplaintForm(FlaskForm):
    # Stripped: Optional() lets a blank " " through, which is no phone number.
    phone = StringField(_l("投诉人电话"), validators=[Optional(), Length(max=30)], filters=[_stripped])
    request_number = StringField(_l("相关工单号"), validators=[Optional(), Length(max=20)])
    provider = SelectField(_l("被投诉企业"), coerce=int, validators=[Optional()])
    description = TextAreaField(_l("投诉内容"), validators=[DataRequired(), Length(max=4000)])

    def validate_phone(self, field) -> None:
        if field.data:
            validate_phone(self, field)


class ResolveForm(FlaskForm):
    resolution = TextAreaField(_l("处理结果"), validators=[DataRequired(), Length(max=4000)])
    # Only an upheld complaint counts against the provider's grade.
    upheld = SelectField(_l("核查结论"), choices=select([("", _l("未认定")), ("yes", _l("投诉属实")), ("no", _l("投诉不属实"))]),
                         validators=[Optional()])


class SuspendForm(FlaskForm):
    """Removal from the platform on the provider's page (the credit file's measure form does the same)."""

    reason = StringField(_l("暂停原因"), validators=[DataRequired(), Length(max=500)])
    confirm = BooleanField(_l("确认移出平台（停止向该企业派单，直至恢复）"))


class GradeOverrideForm(FlaskForm):
    grade = SelectField(_l("星级"), coerce=int, choices=select([(n, str(n)) for n in range(1, 6)]), validators=[DataRequired()])
    reason = StringField(_l("调整理由"), validators=[DataRequired(), Length(max=500)])


class ReasonForm(FlaskForm):
    """A supervisor's action that must say why (renewing an override, reinstating)."""

    reason = StringField(_l("理由"), validators=[DataRequired(), Length(max=500)])


class CreditMeasureForm(FlaskForm):
    kind = SelectField(_l("奖惩类别"), choices=select([("commendation", _l("守法诚信奖励")), ("warning", _l("警告")),
                                                   ("suspension", _l("暂停派单")), ("removal", _l("移出平台"))]),
                       validators=[DataRequired()])
    days = IntegerField(_l("暂停天数"), validators=[Optional(), NumberRange(min=1, max=365)])
    reason = StringField(_l("事由"), validators=[DataRequired(), Length(max=500)])
    # Removal stops every dispatch to the provider until reinstated: one click must not do it.
    confirm_removal = BooleanField(_l("确认移出平台（停止向该企业派单，直至恢复）"))


# --- disputes (纠纷处理) ---


class DisputeIntakeForm(FlaskForm):
    """An operator takes in a dispute: the caller, the request, the provider, what it is about."""

    phone = StringField(_l("来电人电话"), validators=[Optional(), Length(max=30)], filters=[_stripped])
    request_number = StringField(_l("相关工单号"), validators=[Optional(), Length(max=20)], filters=[_stripped])
    provider = SelectField(_l("涉及企业"), coerce=int, validators=[Optional()])
    summary = TextAreaField(_l("纠纷事由"), validators=[DataRequired(), Length(max=4000)])

    def validate_phone(self, field) -> None:
        if field.data:
            validate_phone(self, field)


class EscalateForm(FlaskForm):
    """Turn a complaint or a low rating into a dispute; the summary defaults to its source's."""

    summary = TextAreaField(_l("纠纷事由"), validators=[Optional(), Length(max=4000)])


class StatementForm(FlaskForm):
    side = SelectField(_l("陈述方"), choices=select([("caller", _l("消费者")), ("provider", _l("企业")),
                                                  ("center", _l("热线中心"))]), validators=[DataRequired()])
    author = StringField(_l("陈述人"), validators=[DataRequired(), Length(max=64)], filters=[_stripped])
    text = TextAreaField(_l("陈述内容"), validators=[DataRequired(), Length(max=4000)])


class StepForm(FlaskForm):
    on = DateField(_l("调解日期"), validators=[InputRequired()])  # 2026-02-30: "not a valid date", not "required"
    note = TextAreaField(_l("调解经过"), validators=[DataRequired(), Length(max=4000)])


class CloseDisputeForm(FlaskForm):
    outcome = SelectField(_l("调解结果"), choices=select([("upheld", _l("支持消费者诉求")),
                                                      ("partly_upheld", _l("部分支持消费者诉求")),
                                                      ("rejected", _l("不支持消费者诉求"))]),
                          validators=[DataRequired()])
    remedy = TextAreaField(_l("补救措施"), validators=[Optional(), Length(max=2000)])
    note = TextAreaField(_l("调解意见"), validators=[Optional(), Length(max=4000)])
