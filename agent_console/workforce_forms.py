"""Forms of the recruitment, training and 70% pages (agent_console/workforce.py)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select as sql_select
from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
# InputRequired for dates: DataRequired answered a date that does not exist (2026-02-30) with
# "please fill in the date", as if nothing had been typed.
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from agent_console.database import get_db
from agent_console.formatting import named
from agent_console.forms import category_choices, district_choices, select, validate_phone
from db.models import District, Language, Provider, ProviderStatus, SeventyMeasure
from workforce.figures import DENOMINATOR_MAX, OUTSIDE

LANGUAGE_NAMES = {"cmn": _l("普通话"), "yue": _l("粤语"), "hak": _l("客家话")}
MEASURE_NAMES = {
    SeventyMeasure.DEMAND: _l("家庭服务需求经平台对接并获好评"),
    SeventyMeasure.BUSINESSES: _l("家政经营者进驻平台并认定等级"),
    SeventyMeasure.WORKERS: _l("家政从业人员经培训取得资质并进驻平台"),
}
DENOMINATOR_NAMES = {
    SeventyMeasure.DEMAND: _l("全市家庭服务需求估计（件）"),
    SeventyMeasure.BUSINESSES: _l("商务局登记的家政经营者（家）"),
    SeventyMeasure.WORKERS: _l("商务局登记的家政从业人员（人）"),
}


def _stripped(text):
    return text.strip() if isinstance(text, str) else text


class SeekerForm(FlaskForm):
    name = StringField(_l("姓名"), validators=[DataRequired(), Length(max=64)], filters=[_stripped])
    phone = StringField(_l("联系电话"), validators=[DataRequired(), Length(max=30), validate_phone])
    district = SelectField(_l("区县"), coerce=int, validators=[DataRequired(message=_l("请选择区县"))])
    category = SelectField(_l("求职工种"), coerce=int, validators=[DataRequired(message=_l("请选择求职工种"))])
    language = SelectField(_l("语言"), validators=[Optional()])
    note = TextAreaField(_l("备注"), validators=[Optional(), Length(max=1000)])
    call = HiddenField(validators=[Optional(), Length(max=64)])
    lead = HiddenField(validators=[Optional(), Length(max=10)])  # the registration being completed or corrected

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.district.choices = select([(0, _l("请选择区县"))] + district_choices())
        self.category.choices = select([(0, _l("请选择求职工种"))] + category_choices())
        self.language.choices = select([("", "")] + [(lang.value, LANGUAGE_NAMES[lang.value]) for lang in Language])


def provider_choices():
    rows = get_db().scalars(sql_select(Provider).where(Provider.status == ProviderStatus.ACTIVE).order_by(Provider.name))
    return [(p.id, p.name) for p in rows]


class OpeningForm(FlaskForm):
    provider = SelectField(_l("招工企业"), coerce=int, validators=[DataRequired(message=_l("请选择企业"))])
    title = StringField(_l("岗位名称"), validators=[DataRequired(), Length(max=128)], filters=[_stripped])
    category = SelectField(_l("工种"), coerce=int, validators=[DataRequired(message=_l("请选择工种"))])
    district = SelectField(_l("工作区县"), coerce=int, validators=[Optional()])
    positions = IntegerField(_l("招聘人数"), default=1, validators=[DataRequired(), NumberRange(min=1, max=500)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.provider.choices = select([(0, _l("请选择企业"))] + provider_choices())
        self.category.choices = select([(0, _l("请选择工种"))] + category_choices())
        self.district.choices = select([(0, _l("不限区县"))] + district_choices())


class HireForm(FlaskForm):
    opening = HiddenField(validators=[Optional()])  # checked by the view: an open opening's id
    hired_on = DateField(_l("录用日期"), validators=[InputRequired(message=_l("请填写录用日期"))])


class SessionForm(FlaskForm):
    course = StringField(_l("课程"), validators=[DataRequired(), Length(max=128)], filters=[_stripped])
    held_on = DateField(_l("培训日期"), validators=[InputRequired(message=_l("请填写培训日期"))])
    trainer = StringField(_l("讲师"), validators=[DataRequired(), Length(max=64)], filters=[_stripped])
    place = StringField(_l("地点"), validators=[Optional(), Length(max=255)])
    hours = IntegerField(_l("学时"), validators=[Optional(), NumberRange(min=1, max=500)])


class AttendeeForm(FlaskForm):
    phone = StringField(_l("学员电话（从业人员或求职者）"), validators=[DataRequired(), Length(max=30), validate_phone])


class CertificateForm(FlaskForm):
    attendee = HiddenField(validators=[Optional()])  # checked by the view: an attendee's id
    kind = StringField(_l("证书名称"), validators=[DataRequired(), Length(max=64)], filters=[_stripped])
    number = StringField(_l("证书编号"), validators=[DataRequired(), Length(max=64)], filters=[_stripped])
    expires_on = DateField(_l("有效期至"), validators=[Optional()])


class DenominatorForm(FlaskForm):
    measure = SelectField(_l("指标"), validators=[DataRequired()])
    district = SelectField(_l("区县"), coerce=int, validators=[Optional()])
    month = StringField(_l("月份"), validators=[DataRequired(), Length(max=7)])
    value = IntegerField(_l("分母数值"), validators=[DataRequired(message=_l("请填写1以上的整数")),
                                                 NumberRange(min=1, max=DENOMINATOR_MAX)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.measure.choices = select([(m.value, DENOMINATOR_NAMES[m]) for m in SeventyMeasure])
        districts = get_db().scalars(sql_select(District).where(District.code != OUTSIDE).order_by(District.sort_order))
        self.district.choices = select([(0, _l("全市"))] + [(d.id, named(d)) for d in districts])
