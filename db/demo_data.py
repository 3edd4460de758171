"""Demo data: providers with workers and certificates, three accounts, a few callers,
and the past surveyed requests behind the providers' ratings.

Deterministic (seeded), so a demo and a bug report describe the same database.
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import (
    Call,
    CallbackReason,
    CallbackTask,
    CallDirection,
    Caller,
    Hire,
    JobOpening,
    JobSeeker,
    JobSeekerSource,
    JobSeekerStatus,
    SeventyDenominator,
    SeventyMeasure,
    TrainingAttendee,
    TrainingSession,
    CallerAddress,
    CallOutcome,
    Certificate,
    Complaint,
    ComplaintStatus,
    CreditMeasure,
    CreditMeasureKind,
    Dispatch,
    DispatchStatus,
    Dispute,
    DisputeOrigin,
    DisputeOutcome,
    DisputeSide,
    DisputeStatement,
    DisputeStatus,
    DisputeStep,
    District,
    Fluency,
    IvrOutcome,
    IvrSession,
    Language,
    OperatorLanguage,
    OperatorState,
    OperatorStateChange,
    PauseReason,
    PhoneKind,
    Priority,
    Provider,
    ProviderStatus,
    SmsReply,
    SmsReplyOutcome,
    RequestChannel,
    RequestStatus,
    RequestStatusChange,
    Role,
    ServiceCategory,
    ServiceRequest,
    Survey,
    SurveyStatus,
    TaskStatus,
    Training,
    User,
    Worker,
)
from db.numbering import request_numbers
from db.reference import ensure_reference_data
from db.service_requests import change_status, open_request
from db.users import create_user, verify_password


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: Role
    display_name: str
    sip_extension: str
    # What the operator speaks: the queues for each language are offered callers by it.
    # None recorded counts as fluent Mandarin only (db/languages.py), as for 1001.
    languages: tuple[tuple[Language, Fluency], ...] = ()


DEMO_ACCOUNTS = (
    DemoAccount("operator", "operator-demo-2026", Role.OPERATOR, "小陈", "1001"),
    DemoAccount("supervisor", "supervisor-demo-2026", Role.SUPERVISOR, "李姐", "1002",
                ((Language.MANDARIN, Fluency.FLUENT), (Language.HAKKA, Fluency.NATIVE))),
    DemoAccount("admin", "admin-demo-2026", Role.ADMIN, "王工", "1003",
                ((Language.MANDARIN, Fluency.FLUENT), (Language.CANTONESE, Fluency.NATIVE))),
)

PROVIDER_COUNT = 48

_NAME_HEADS = ("万绿", "客都", "东江", "新丰江", "槎城", "康禾", "桂山", "龙源", "恒信", "安心",
               "福满", "贴心", "乐家", "惠民", "好帮手", "金牌", "暖阳", "顺心", "和美", "佳宜")
_NAME_TAILS = {
    "household": "家政服务有限公司",
    "repair": "家电维修服务部",
    "elderly_care": "养老护理服务中心",
    "medical": "陪诊护理服务有限公司",
    "shopping_guide": "社区生活服务店",
    "housing": "房产经纪有限公司",
    "recruitment": "人力资源服务有限公司",
    "legal": "律师事务所",
    "daily_life": "便民服务社",
    "other": "综合服务有限公司",
}
# How common each category is among providers: most are housekeeping and care.
_CATEGORY_WEIGHTS = {
    "household": 10, "repair": 6, "elderly_care": 6, "medical": 3, "shopping_guide": 2,
    "housing": 2, "recruitment": 2, "legal": 2, "daily_life": 3, "other": 1,
}
# What a provider of each trade may serve besides its own category: a real-estate
# agency sells and lets houses, it does not clean them.
_RELATED_CATEGORIES = {
    "household": {"elderly_care", "daily_life"},
    "repair": {"daily_life"},
    "elderly_care": {"medical", "household"},
    "medical": {"elderly_care"},
    "shopping_guide": {"daily_life"},
    "housing": set(),
    "recruitment": set(),
    "legal": set(),
    "daily_life": {"shopping_guide", "repair"},
    "other": {"daily_life"},
}
_CERTIFICATES = {
    "household": ("家政服务员证", "健康证"),
    "repair": ("低压电工作业证", "家用电子产品维修工证"),
    "elderly_care": ("养老护理员证", "健康证"),
    "medical": ("医疗护理员证", "健康证"),
    "recruitment": ("人力资源管理师证",),
    "legal": ("律师执业证",),
}
_SURNAMES = "陈李张黄刘林何罗叶钟邱曾谢赖温廖古"
_GIVEN = ("秀英", "桂芳", "丽华", "建国", "志强", "美玲", "春梅", "伟明", "玉兰", "国栋", "淑珍", "海燕")
_COURSES = ("家政服务职业道德", "母婴护理", "老年人照护", "家居清洁规范", "安全用电", "急救常识")

_DEMO_CALLERS = (
    # phone, name, language, district code, address
    ("13800138000", "陈伯", Language.MANDARIN, "yuancheng", "源城区 新江路 18 号 3 栋 502"),
    ("13902620001", "黄姨", Language.CANTONESE, "dongyuan", "东源县 仙塘镇 蝴蝶岭 6 号"),
    ("07623660360", "古叔", Language.HAKKA, "heping", "和平县 阳明镇 东山路 21 号"),
    ("15876230002", "林小姐", None, "longchuan", "龙川县 老隆镇 滨江路 9 号"),
)


class DemoDataRefused(RuntimeError):
    pass


def load_demo_data(session: Session, tz: ZoneInfo, production: bool = False,
                   ivr_category_variable: str | None = None) -> dict[str, int]:
    """Fill an empty database; a second run changes nothing. Given the variable the IVR
    hands a caller's category back in (dialplans.contract.CATEGORY, which db/ may not
    import), five weeks of calls are added for the KPI reports (`hotline demo-data`; the
    tests' template has none)."""
    if production:
        raise DemoDataRefused("demo data and its known passwords are refused in production")
    ensure_reference_data(session)
    if session.scalar(select(func.count(Provider.id))):
        return {"providers": 0, "users": 0, "callers": 0}
    rng = random.Random(20261126)
    categories = {c.code: c for c in session.scalars(select(ServiceCategory))}
    districts = {d.code: d for d in session.scalars(select(District))}
    providers = [_provider(rng, i, categories, districts) for i in range(PROVIDER_COUNT)]
    session.add_all(providers)
    session.flush()
    # The suspended ones were removed by a supervisor: their credit files say so.
    session.add_all(CreditMeasure(provider_id=p.id, kind=CreditMeasureKind.REMOVAL, reason=p.suspended_reason,
                                  starts_at=utcnow() - dt.timedelta(days=20))
                    for p in providers if p.status is ProviderStatus.SUSPENDED)
    users = [
        create_user(session, a.username, a.password, a.role, a.display_name, a.sip_extension)
        for a in DEMO_ACCOUNTS
        if session.scalar(select(User.id).where(User.username == a.username)) is None
    ]
    spoken = {a.username: a.languages for a in DEMO_ACCOUNTS}
    for user in users:  # seeded, not anybody's change: no audit entry
        user.languages = [OperatorLanguage(language=language, fluency=fluency) for language, fluency in spoken[user.username]]
    callers = _callers(session, tz, categories, districts, providers, users[0] if users else None)
    _past_ratings(session, tz, providers)
    _disputes(session, tz, session.scalar(select(User).where(User.role == Role.SUPERVISOR).order_by(User.id)))
    _workforce(session, tz, providers, categories, districts, users)
    _report_examples(session, tz, providers)
    if ivr_category_variable:
        load_call_history(session, tz, ivr_category_variable)
    return {"providers": len(providers), "users": len(users), "callers": callers}


def demo_passwords_in_use(session: Session) -> list[str]:
    """Accounts that still accept a published demo password (refused in production)."""
    found = []
    for account in DEMO_ACCOUNTS:
        user = session.scalar(select(User).where(User.username == account.username))
        if user is not None and verify_password(user, account.password):
            found.append(account.username)
    return found


def _provider(rng: random.Random, index: int, categories, districts) -> Provider:
    codes = list(_CATEGORY_WEIGHTS)
    main = codes[index % len(codes)] if index < len(codes) else rng.choices(codes, weights=list(_CATEGORY_WEIGHTS.values()))[0]
    # Drawn from every category, kept where they fit the trade: the same draws as ever,
    # so the rest of the demo data (districts, grades, workers) stays as it was.
    served = {main} | (set(rng.sample(codes, rng.choice((0, 0, 1, 2)))) & _RELATED_CATEGORIES[main])
    district_codes = [code for code in districts if code != "other"]
    home = district_codes[index % len(district_codes)]
    covered = {home} | set(rng.sample(district_codes, rng.choice((0, 1, 2, 5))))
    branch = index >= len(_NAME_HEADS)  # a second firm of the same name: its district's branch
    if branch:
        # A branch named for its district serves that district only: ranked "服务该区县" for
        # another one, 紫金县分部 looked like the right firm for a 和平县 caller. The draw
        # above still happens, so the draws after it stay as they were.
        covered = {home}
    suspended = index in (7, 31)
    rated = rng.random() < 0.8
    provider = Provider(
        name=f"河源市{_NAME_HEADS[index % len(_NAME_HEADS)]}{_NAME_TAILS[main]}" + (f"({districts[home].name_zh}分部)" if branch else ""),
        licence_number="91441600" + "".join(rng.choices("0123456789ABCDEFGHJKLMNPQRTUWXY", k=10)),
        contact_name=rng.choice(_SURNAMES) + rng.choice(_GIVEN),
        phone=f"0762{rng.randint(2000000, 3999999)}" if rng.random() < 0.5 else f"13{rng.randint(100000000, 999999999)}",
        address=f"{districts[home].name_zh} {rng.choice(('建设大道', '河源大道', '文明路', '中山街', '永福路'))} {rng.randint(1, 300)} 号",
        district=districts[home],
        grade=rng.choice((None, 1, 2, 3, 3, 4, 4, 5)),
        rating_avg=round(rng.uniform(3.2, 5.0), 2) if rated else None,
        rating_count=rng.randint(3, 120) if rated else 0,
        capacity=rng.choice((3, 5, 8, 10, 15, 20)),
        status=ProviderStatus.SUSPENDED if suspended else ProviderStatus.ACTIVE,
        suspended_reason="服务质量投诉核查中" if suspended else None,
        categories=[categories[code] for code in sorted(served)],
        districts=[districts[code] for code in sorted(covered)],
    )
    for w in range(rng.randint(2, 5)):
        provider.workers.append(_worker(rng, main, w))
    return provider


def _worker(rng: random.Random, category: str, index: int) -> Worker:
    worker = Worker(
        name=rng.choice(_SURNAMES) + rng.choice(_GIVEN),
        phone=f"1{rng.choice('35789')}{rng.randint(100000000, 999999999)}",
        gender=rng.choice(("女", "女", "女", "男")),
        birth_year=rng.randint(1962, 2000),
    )
    today = dt.date(2026, 11, 1)
    for kind in _CERTIFICATES.get(category, ("健康证",)):
        issued = today - dt.timedelta(days=rng.randint(30, 1500))
        worker.certificates.append(Certificate(
            kind=kind,
            number=f"{rng.randint(10**11, 10**12 - 1)}",
            issued_on=issued,
            # Some certificates have lapsed: supervisors must see them.
            expires_on=issued + dt.timedelta(days=rng.choice((365, 730, 1095, 1825))),
        ))
    for course in rng.sample(_COURSES, rng.randint(0, 3)):
        worker.trainings.append(Training(course=course, completed_on=today - dt.timedelta(days=rng.randint(10, 900)), hours=rng.choice((8, 16, 24, 40))))
    return worker


def _callers(session: Session, tz: ZoneInfo, categories, districts, providers, operator: User | None) -> int:
    now = utcnow()
    active = [p for p in providers if p.status is ProviderStatus.ACTIVE]
    for index, (phone, name, language, district, address) in enumerate(_DEMO_CALLERS):
        caller = Caller(
            phone=phone,
            phone_kind=PhoneKind.LANDLINE if phone.startswith("0") else PhoneKind.MOBILE,
            name=name,
            language=language,
            first_call_at=now - dt.timedelta(days=60 - index),
            last_call_at=now - dt.timedelta(days=3 + index),
        )
        caller.addresses.append(CallerAddress(district=districts[district], address=address, label="家", is_default=True))
        session.add(caller)
        session.flush()
        category = categories[("household", "elderly_care", "repair", "medical")[index]]
        request = open_request(
            session, caller, category, RequestChannel.PHONE, tz,
            user=operator, now=now - dt.timedelta(days=2, hours=index),
            district=districts[district], address=address,
            description=("每周两次家居保洁", "老人日间照料", "空调不制冷,需上门检修", "陪同到市人民医院复诊")[index],
            priority=Priority.URGENT if index == 2 else Priority.NORMAL,
        )
        if index in (0, 1):
            provider = next(p for p in active if category in p.categories)
            session.add(Dispatch(request=request, provider=provider, status=DispatchStatus.ACCEPTED,
                                 offered_by_id=operator.id if operator else None,
                                 offered_at=now - dt.timedelta(days=2), responded_at=now - dt.timedelta(days=2)))
            change_status(session, request, RequestStatus.DISPATCHED, user=operator, now=now - dt.timedelta(days=2))
            session.flush()
            _sms_reply(session, request, provider, index, now - dt.timedelta(days=2) + dt.timedelta(minutes=5))
    session.flush()
    return len(_DEMO_CALLERS)


def _sms_reply(session: Session, request: ServiceRequest, provider: Provider, index: int, at: dt.datetime) -> None:
    """The providers' SMS: the first accepted its offer by SMS (recorded on it); the second
    asked for another day, which waits in the inbox for an operator."""
    if index == 0:
        session.add(SmsReply(from_number=provider.phone, provider=provider, request=request, body=f"接单 {request.number}",
                             outcome=SmsReplyOutcome.ACCEPTED, received_at=at, handled_at=at))
    else:
        session.add(SmsReply(from_number=provider.phone, provider=provider, request=request,
                             body=f"{request.number} 老人家属要求改到周六上午，请热线协调一下，谢谢。",
                             outcome=SmsReplyOutcome.NOT_UNDERSTOOD, received_at=at))


# Callers of past, surveyed requests: the people behind the providers' seeded ratings.
_PAST_CALLERS = 30
_PAST_PHONE_PREFIX = "1882762"


def _past_ratings(session: Session, tz: ZoneInfo, providers: list[Provider]) -> None:
    """Each rated provider's ratings as the surveys they came from (completed requests
    of the last 90 days), so the credit file's rollup (surveys/policy.py) counts them and
    the next survey adds to them instead of replacing them."""
    rng = random.Random(20261130)  # its own, so the providers drawn above stay as they were
    now = utcnow()
    callers = []
    for index in range(_PAST_CALLERS):
        caller = Caller(phone=f"{_PAST_PHONE_PREFIX}{index:04d}", phone_kind=PhoneKind.MOBILE,
                        name=rng.choice(_SURNAMES) + rng.choice(("先生", "女士", "伯", "姨")),
                        language=rng.choice((Language.MANDARIN, Language.MANDARIN, Language.CANTONESE, Language.HAKKA)),
                        first_call_at=now - dt.timedelta(days=200), last_call_at=now - dt.timedelta(days=rng.randint(5, 80)))
        callers.append(caller)
    session.add_all(callers)
    session.flush()
    surveys: list[Survey] = []
    for provider in providers:
        if not provider.rating_count:
            continue
        # The average drawn for the provider is what its callers' ratings scatter around.
        target = provider.rating_avg
        ratings = [min(5, max(1, round(rng.gauss(target, 0.7)))) for _ in range(rng.randint(3, 15))]
        surveys += [_survey(rng, provider, rng.choice(callers), rating, now) for rating in ratings]
        provider.rating_avg = round(sum(ratings) / len(ratings), 2)
        provider.rating_count = len(ratings)
    # Numbered a day at a time: one statement a day rather than one a request.
    by_day: dict[dt.date, list[ServiceRequest]] = {}
    for request in sorted((survey.request for survey in surveys), key=lambda r: r.created_at):
        by_day.setdefault(request.created_at.astimezone(tz).date(), []).append(request)
    for day, taken in by_day.items():
        for request, number in zip(taken, request_numbers(session, day, len(taken))):
            request.number = number
    session.add_all(surveys)  # with their requests, dispatches and histories
    session.flush()


def _survey(rng: random.Random, provider: Provider, caller: Caller, rating: int, now: dt.datetime) -> Survey:
    """A completed request of the provider's, and its survey: rated `rating` by its caller."""
    surveyed = now - dt.timedelta(days=rng.randint(3, 80), hours=rng.randint(0, 10))
    completed = surveyed - dt.timedelta(hours=rng.randint(2, 48))
    created = completed - dt.timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 12))
    category = rng.choice(provider.categories)
    lifecycle = [(None, RequestStatus.NEW, created), (RequestStatus.NEW, RequestStatus.DISPATCHED, created + dt.timedelta(hours=1)),
                 (RequestStatus.DISPATCHED, RequestStatus.IN_SERVICE, created + dt.timedelta(hours=20)),
                 (RequestStatus.IN_SERVICE, RequestStatus.COMPLETED, completed),
                 (RequestStatus.COMPLETED, RequestStatus.SURVEYED, surveyed)]
    request = ServiceRequest(
        caller=caller, category=category,
        channel=RequestChannel.PHONE, status=RequestStatus.SURVEYED, district=provider.district,
        description=f"{category.name_zh}（已回访）",
        created_at=created, updated_at=surveyed,
        history=[RequestStatusChange(from_status=before, to_status=after, at=at, note=f"{rating}★" if after is RequestStatus.SURVEYED else None)
                 for before, after, at in lifecycle],
    )
    request.dispatches.append(Dispatch(provider=provider, status=DispatchStatus.ACCEPTED,
                                       offered_at=created + dt.timedelta(hours=1), responded_at=created + dt.timedelta(hours=2)))
    # No attempt rows: the dialer paces itself and caps calls a day by the attempts it
    # finds, and these ratings need none.
    return Survey(request=request, caller=caller, provider=provider, language=caller.language or Language.MANDARIN,
                  due_at=completed + dt.timedelta(hours=2), status=SurveyStatus.COMPLETED, attempt_count=1,
                  rating=rating, completed_at=surveyed, created_at=completed)


def _disputes(session: Session, tz: ZoneInfo, supervisor: User | None) -> None:
    """Complaints and disputes (纠纷) in each state: a complaint still to escalate, one
    escalated and in mediation, a low rating overdue, one upheld (in the provider's credit
    file and its next grading), one withdrawn."""
    now = utcnow()
    by = supervisor.id if supervisor else None
    low = session.scalars(select(Survey).where(Survey.rating <= 2).order_by(Survey.id)).all()
    fair = session.scalars(select(Survey).where(Survey.rating == 3).order_by(Survey.id)).all()

    def dispute(about: Survey, origin: DisputeOrigin, summary: str, days_ago: int, **fields) -> Dispute:
        """A dispute over the request `about` was surveyed for (its caller, its provider)."""
        opened = now - dt.timedelta(days=days_ago, hours=3)
        # 15 working days are three weeks when no holiday falls in them: the demo's data
        # has no menu to read holidays from (the console's intake does).
        row = Dispute(caller_id=about.caller_id, provider_id=about.provider_id, request_id=about.request_id,
                      origin=origin, summary=summary, opened_at=opened, opened_by_id=by,
                      deadline=opened.astimezone(tz).date() + dt.timedelta(days=21), **fields)
        session.add(row)
        return row

    session.add(Complaint(caller_id=fair[0].caller_id, provider_id=fair[0].provider_id, request_id=fair[0].request_id,
                          description="保洁后木地板有多处划痕，联系企业两次无人回复", status=ComplaintStatus.OPEN,
                          created_at=now - dt.timedelta(days=1, hours=2)))
    escalated = Complaint(caller_id=fair[1].caller_id, provider_id=fair[1].provider_id, request_id=fair[1].request_id,
                          description="月嫂提前三天离岗，企业不肯退还剩余服务费", status=ComplaintStatus.ASSIGNED,
                          assigned_to_id=by, created_at=now - dt.timedelta(days=4))
    mediating = dispute(fair[1], DisputeOrigin.COMPLAINT, escalated.description, 3, complaint=escalated,
                        status=DisputeStatus.MEDIATING)
    mediating.statements += [
        DisputeStatement(side=DisputeSide.CALLER, author="陈女士", text="合同约定26天，实际只做了23天，要求退还3天费用。",
                         at=now - dt.timedelta(days=2, hours=5), recorded_by_id=by),
        DisputeStatement(side=DisputeSide.PROVIDER, author="企业负责人", text="月嫂家中有急事请假，已提出换人但客户拒绝。",
                         at=now - dt.timedelta(days=1, hours=6), recorded_by_id=by)]
    overdue = dispute(low[0], DisputeOrigin.LOW_RATING, f"回访评分{low[0].rating}星：家电维修后两天再次故障，企业要求另付上门费",
                      40, survey=low[0], status=DisputeStatus.MEDIATING)
    overdue.steps.append(DisputeStep(on=(now - dt.timedelta(days=35)).astimezone(tz).date(),
                                     note="电话联系企业，答应三个工作日内回复，至今未回复。", recorded_by_id=by))
    upheld = dispute(low[1], DisputeOrigin.OPERATOR, "护工照护期间老人摔倒，家属要求企业承担医药费", 30,
                     status=DisputeStatus.CLOSED, outcome=DisputeOutcome.UPHELD,
                     remedy="企业承担医药费860元，并更换护工", closing_note="经调解，企业承认护工当班时离开老人。",
                     closed_at=now - dt.timedelta(days=12), closed_by_id=by)
    upheld.steps.append(DisputeStep(on=(now - dt.timedelta(days=20)).astimezone(tz).date(),
                                    note="约双方到中心面谈，查看护理记录。", recorded_by_id=by))
    dispute(low[2], DisputeOrigin.OPERATOR, "开荒保洁少做一间房，要求补做或退款", 18, status=DisputeStatus.CLOSED,
            outcome=DisputeOutcome.WITHDRAWN, closing_note="企业已上门补做，消费者撤回。",
            closed_at=now - dt.timedelta(days=15), closed_by_id=by)
    session.flush()
# --- recruitment and training (招工培训), the 70% figures' denominators ----------------------

# (name or None for an IVR lead, phone, district, wanted trade, language)
_SEEKERS = (
    ("黄秀娟", "13576271001", "yuancheng", "household", Language.HAKKA),
    ("刘桂兰", "13576271002", "dongyuan", "elderly_care", Language.HAKKA),
    ("陈美英", "13576271003", "yuancheng", "elderly_care", Language.MANDARIN),
    ("钟伟强", "13576271004", "longchuan", "repair", Language.HAKKA),
    ("叶丽萍", "13576271005", "zijin", "medical", Language.CANTONESE),
    ("温春燕", "13576271006", "heping", "household", Language.HAKKA),
    (None, "13576271007", None, None, Language.HAKKA),
    (None, "13576271008", None, None, Language.MANDARIN),
)
# (trade, district, title, positions)
_OPENINGS = (
    ("household", "yuancheng", "住家保姆", 3),
    ("elderly_care", "dongyuan", "居家养老护理员", 2),
    ("elderly_care", None, "养老院护理员（不限区县）", 4),
    ("repair", "longchuan", "家电维修学徒", 1),
)


def _workforce(session: Session, tz: ZoneInfo, providers: list[Provider], categories, districts, users: list[User]) -> None:
    """Job seekers (two of them leads from the IVR's key 6), providers' openings, three
    hires, a training session with certificates, and a year of denominators for the 70%
    figures (the city's estimated demand, the commerce bureau's counts)."""
    now = utcnow()
    operator = next((u for u in users if u.role is Role.OPERATOR), None)
    supervisor = next((u for u in users if u.role is Role.SUPERVISOR), None)
    seekers = []
    for index, (name, phone, district, trade, language) in enumerate(_SEEKERS):
        seekers.append(JobSeeker(
            name=name, phone=phone, district=districts[district] if district else None,
            category=categories[trade] if trade else None, language=language,
            source=JobSeekerSource.OPERATOR if name else JobSeekerSource.IVR,
            status=JobSeekerStatus.SEEKING if name else JobSeekerStatus.LEAD,
            created_by_id=operator.id if operator and name else None,
            created_at=now - dt.timedelta(days=40 - index * 5, hours=index)))
    session.add_all(seekers)
    active = [p for p in providers if p.status is ProviderStatus.ACTIVE]
    openings = []
    for trade, district, title, positions in _OPENINGS:
        fitting = [p for p in active if categories[trade] in p.categories]
        provider = next((p for p in fitting if district is None or districts[district] in p.districts), fitting[0])
        openings.append(JobOpening(provider=provider, category=categories[trade], title=title, positions=positions,
                                   district=districts[district] if district else None,
                                   created_by_id=operator.id if operator else None,
                                   created_at=now - dt.timedelta(days=45)))
    session.add_all(openings)
    session.flush()
    today = now.astimezone(tz).date()
    # 黄秀娟 → 住家保姆, 刘桂兰 → 居家养老护理员, 陈美英 → 养老院护理员: each now a worker of the provider.
    for seeker, opening, days_ago in ((seekers[0], openings[0], 20), (seekers[1], openings[1], 12),
                                      (seekers[2], openings[2], 3)):
        worker = Worker(provider=opening.provider, name=seeker.name, phone=seeker.phone, gender="女",
                        created_at=now - dt.timedelta(days=days_ago))
        session.add(worker)
        session.flush()
        seeker.status = JobSeekerStatus.HIRED
        session.add(Hire(seeker=seeker, provider=opening.provider, opening=opening, worker_id=worker.id,
                         hired_on=today - dt.timedelta(days=days_ago), recorded_by_id=operator.id if operator else None,
                         recorded_at=now - dt.timedelta(days=days_ago)))
    session.flush()
    trainees = [w for w in openings[1].provider.workers if w.active][:3]
    course = TrainingSession(course="养老护理员岗前培训", held_on=today - dt.timedelta(days=10), trainer="何淑珍",
                             place="河源市家政服务网络中心培训室（源城区）", hours=16,
                             created_by_id=supervisor.id if supervisor else None)
    course.attendees = [TrainingAttendee(worker=w) for w in trainees] + [TrainingAttendee(seeker=seekers[4])]
    session.add(course)
    session.flush()
    for number, worker in enumerate(trainees):
        worker.trainings.append(Training(course=course.course, completed_on=course.held_on, hours=course.hours,
                                         session_id=course.id))
        if number < 2:  # the third missed the examination
            worker.certificates.append(Certificate(
                kind="养老护理员", number=f"HY{course.held_on:%Y%m}{number + 1:04d}", issued_on=course.held_on,
                expires_on=course.held_on.replace(year=course.held_on.year + 3), session_id=course.id))
    _denominators(session, today, districts, supervisor)
    session.flush()


# A month's denominators by district: the city's estimated demand for household services
# (requests a month), and the businesses and workers registered with the commerce bureau.
_DENOMINATORS = {
    SeventyMeasure.DEMAND: {"yuancheng": 50, "dongyuan": 25, "heping": 15, "longchuan": 20, "zijin": 18, "lianping": 12},
    SeventyMeasure.BUSINESSES: {"yuancheng": 12, "dongyuan": 10, "heping": 9, "longchuan": 10, "zijin": 10, "lianping": 8},
    SeventyMeasure.WORKERS: {"yuancheng": 40, "dongyuan": 30, "heping": 28, "longchuan": 30, "zijin": 30, "lianping": 25},
}


def _denominators(session: Session, today: dt.date, districts, supervisor: User | None) -> None:
    """Twelve months of them, the last one the current month, and the city's estimated
    demand as a whole; 连平县's demand for the current month is not in yet (the page says
    so instead of dividing)."""
    month = today.replace(day=1)
    entered_by = supervisor.id if supervisor else None
    for _ in range(12):
        for measure, by_district in _DENOMINATORS.items():
            session.add_all(SeventyDenominator(measure=measure, district=districts[code], month=month, value=value,
                                               entered_by_id=entered_by)
                            for code, value in by_district.items()
                            if not (measure is SeventyMeasure.DEMAND and code == "lianping" and month == today.replace(day=1)))
        session.add(SeventyDenominator(measure=SeventyMeasure.DEMAND, district=None, month=month, value=140,
                                       entered_by_id=entered_by))
        month = (month - dt.timedelta(days=1)).replace(day=1)
# What the industry report (reports/) has to show besides ratings: complaints, with their
# outcomes, and requests the platform did not match. Complaints name only the two removed
# providers (whose removal they explain) or none: a complaint against an active provider
# would move it down the dispatch suggestions the other demos and tests rely on.
_HOTLINE_COMPLAINTS = (
    ("上午打了三次热线都在排队，等了很久", ComplaintStatus.RESOLVED, True),
    ("接线员没有听懂客家话，转接了两次", ComplaintStatus.RESOLVED, False),
    ("回访电话打来时正在开会，希望换个时间", ComplaintStatus.CLOSED, False),
    ("派单短信没有收到", ComplaintStatus.OPEN, None),
)
_PROVIDER_COMPLAINTS = (
    ("阿姨迟到两个小时，也没有提前打电话", ComplaintStatus.RESOLVED, True),
    ("清洁不彻底，厨房油污没有处理", ComplaintStatus.RESOLVED, True),
    ("收费比电话里说的多了五十元", ComplaintStatus.ASSIGNED, None),
    ("服务人员态度不好", ComplaintStatus.CLOSED, False),
)
# Requests cancelled before any provider took them: the report's matching rate is not 100%.
_UNMATCHED = (("household", "客户改期，暂不需要"), ("elderly_care", "附近暂无可接单企业"), ("legal", "已自行联系律师"),
              ("repair", "配件缺货，客户取消"), ("medical", "家属已自行陪诊"), ("housing", "客户已自行找到房源"))


def _report_examples(session: Session, tz: ZoneInfo, providers: list[Provider]) -> None:
    rng = random.Random(20261201)  # its own: the draws above stay as they were
    now = utcnow()
    callers = list(session.scalars(select(Caller).where(Caller.phone.startswith(_PAST_PHONE_PREFIX)).order_by(Caller.id)))
    for index, (description, status, upheld) in enumerate(_HOTLINE_COMPLAINTS):
        created = now - dt.timedelta(days=8 + 17 * index, hours=rng.randint(0, 8))
        session.add(Complaint(caller=rng.choice(callers), description=description, status=status, upheld=upheld,
                              created_at=created, resolved_at=created + dt.timedelta(days=2) if upheld is not None else None,
                              resolution="已核实并回复来电人" if upheld is not None else None))
    removed = [p.id for p in providers if p.status is ProviderStatus.SUSPENDED]
    surveyed = list(session.scalars(select(Survey).where(Survey.provider_id.in_(removed))
                                    .order_by(Survey.rating, Survey.completed_at)))
    for survey, (description, status, upheld) in zip(surveyed, _PROVIDER_COMPLAINTS):
        created = survey.completed_at + dt.timedelta(hours=3)
        session.add(Complaint(caller_id=survey.caller_id, request_id=survey.request_id, provider_id=survey.provider_id,
                              description=description, status=status, upheld=upheld, created_at=created,
                              resolved_at=created + dt.timedelta(days=3) if upheld is not None else None,
                              resolution="已约谈企业并向来电人说明" if upheld is not None else None))
    categories = {c.code: c for c in session.scalars(select(ServiceCategory))}
    for index, (code, note) in enumerate(_UNMATCHED):
        created = now - dt.timedelta(days=6 + 13 * index, hours=rng.randint(0, 10))
        cancelled = created + dt.timedelta(hours=5)
        history = [RequestStatusChange(to_status=RequestStatus.NEW, at=created),
                   RequestStatusChange(from_status=RequestStatus.NEW, to_status=RequestStatus.CANCELLED, at=cancelled,
                                       note=note)]
        (number,) = request_numbers(session, created.astimezone(tz).date(), 1)
        session.add(ServiceRequest(number=number, caller=callers[index], category=categories[code],
                                   channel=RequestChannel.PHONE, status=RequestStatus.CANCELLED, description=note,
                                   created_at=created, updated_at=cancelled, history=history))
    session.flush()
# --- call history for the KPI reports (统计报表) ----------------------------------------

HISTORY_DAYS = 35
# Arrivals by local hour (relative weights): the morning and afternoon peaks of a 400 line.
_HOURLY = {8: 3, 9: 9, 10: 10, 11: 7, 12: 3, 13: 4, 14: 8, 15: 8, 16: 6, 17: 4, 18: 2, 19: 1}
# (IVR walk keys after the language choice, category, queue): what callers went for.
_ROUTES = (
    (("1", "1"), "household", "general", 24), (("1", "2"), "elderly_care", "general", 16),
    (("1", "3"), "medical", "general", 10), (("1", "4"), "repair", "general", 18),
    (("2", "2"), "housing", "general", 5), (("2", "4"), "daily_life", "general", 8),
    (("5",), None, "priority", 3),
)
_MENUS = {"1": "family_services", "2": "life_services"}
_LANGUAGE_KEYS = {Language.MANDARIN: "1", Language.CANTONESE: "2", Language.HAKKA: "3"}
WRAP_UP_SECONDS = 15
LUNCH = dt.timedelta(minutes=45)


@dataclass
class _Desk:
    user: User
    languages: tuple[Language, ...]
    free_at: dt.datetime = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    lunch: dt.datetime | None = None


def load_call_history(session: Session, tz: ZoneInfo, category_variable: str, now: dt.datetime | None = None) -> int:
    """Five weeks of inbound calls up to yesterday, with their IVR walks, the operators' states
    and the callbacks booked, so the KPI reports show real figures (`hotline demo-data`).

    Deterministic; only the "past" callers (1882762…) and unlisted numbers call, so the
    README's demo calls meet the callers they expect. Does nothing if calls exist.
    """
    if session.scalar(select(func.count(Call.id))):
        return 0
    now = now or utcnow()
    rng = random.Random(20261201)
    users = {u.username: u for u in session.scalars(select(User))}
    desks = [_Desk(users[name], languages) for name, languages in (
        ("operator", (Language.MANDARIN,)), ("supervisor", (Language.HAKKA, Language.MANDARIN)),
        ("admin", (Language.CANTONESE, Language.MANDARIN))) if name in users]
    callers = session.scalars(select(Caller).where(Caller.phone.like(f"{_PAST_PHONE_PREFIX}%"))).all()
    if not desks:
        return 0
    today = now.astimezone(tz).date()
    calls, walks, states, tasks = [], [], [], []
    serial = 0
    # Days before today only: today's operators' states are the live ones (the demo's own calls).
    for offset in range(HISTORY_DAYS, 0, -1):
        day = today - dt.timedelta(days=offset)
        opening = dt.datetime.combine(day, dt.time(8, 0), tz)
        closing = dt.datetime.combine(day, dt.time(20, 0), tz)
        for index, desk in enumerate(desks):
            desk.free_at = opening
            # Lunch in turns, so one of them is always there.
            desk.lunch = dt.datetime.combine(day, dt.time(11, 30), tz) + dt.timedelta(minutes=50 * index)
            states.append((desk.user.id, OperatorState.LOGGED_IN, opening, None, None))
        count = rng.randint(55, 75) if day.weekday() < 5 else rng.randint(25, 35)
        hours = rng.choices(list(_HOURLY), weights=list(_HOURLY.values()), k=count)
        starts = sorted(dt.datetime.combine(day, dt.time(h, rng.randrange(60), rng.randrange(60)), tz) for h in hours)
        for start in starts:
            serial += 1
            caller = rng.choice(callers) if callers and rng.random() < 0.35 else None
            language = (caller.language if caller and caller.language else
                        rng.choices(list(_LANGUAGE_KEYS), weights=(70, 20, 10))[0])
            keys, category, queue, _ = rng.choices(_ROUTES, weights=[r[3] for r in _ROUTES])[0]
            steps = [("welcome", "welcome", _LANGUAGE_KEYS[language])]
            if rng.random() < 0.08:  # a key the main menu does not know, refused and asked again
                steps += [("main", "main_menu", rng.choice("78#")), ("main", "invalid", keys[0])]
            else:
                steps.append(("main", "main_menu", keys[0]))
            if len(keys) > 1:
                steps.append((_MENUS[keys[0]], _MENUS[keys[0]].split("_")[0] + "_menu", keys[1]))
            call = dict(uniqueid=f"demo-{serial}", direction=CallDirection.INBOUND, did="4008300762",
                        caller_id=caller.id if caller else None,
                        caller_number=caller.phone if caller else f"139{rng.randrange(10**8):08d}",
                        started_at=start, ivr_language=language, agent_id=None, agent_extension=None, answered_at=None,
                        queue=None, queue_entered_at=None, queue_wait_seconds=None)
            at = start + dt.timedelta(seconds=4)
            walk = []
            for node, prompt, key in steps:
                at += dt.timedelta(seconds=rng.randint(3, 9))
                walk.append({"node": node, "prompt": prompt, "key": key, "at": at.astimezone(dt.timezone.utc).isoformat()})
            if rng.random() < 0.06:  # hung up in the menus
                walk = walk[:rng.randint(1, len(walk))]
                walk.append({"node": walk[-1]["node"], "prompt": None, "key": "hangup", "at": walk[-1]["at"]})
                call.update(outcome=CallOutcome.ABANDONED_IN_IVR, ivr_path=">".join(s["node"] for s in walk),
                            ended_at=at + dt.timedelta(seconds=rng.randint(1, 8)))
            else:
                call.update(_queued_call(rng, desks, queue, language, at + dt.timedelta(seconds=3), states))
                call["ivr_path"] = ">".join([s["node"] for s in walk])
                if call["outcome"] == CallOutcome.CALLBACK_REQUESTED:
                    done = call["ended_at"] + dt.timedelta(minutes=rng.randint(8, 90))
                    status = (TaskStatus.DONE if done < now and rng.random() < 0.85
                              else TaskStatus.FAILED if done < now else TaskStatus.PENDING)
                    tasks.append(dict(caller_id=call["caller_id"], phone=call["caller_number"], language=language,
                                      reason=CallbackReason.QUEUE_CALLBACK, queue=queue, due_at=call["ended_at"],
                                      status=status, attempts=0 if status == TaskStatus.PENDING else rng.randint(1, 3),
                                      created_at=call["ended_at"], done_at=done if status == TaskStatus.DONE else None,
                                      serial=serial))
            calls.append(call)
            walks.append((serial, language, start, walk, category, call["outcome"]))
        for desk in desks:
            states.append((desk.user.id, OperatorState.LOGGED_OUT, max(desk.free_at, closing), None, None))
    table = Call.__table__
    session.execute(table.insert(), calls)
    ids = dict(session.execute(select(Call.uniqueid, Call.id).where(Call.uniqueid.like("demo-%"))).all())
    session.execute(IvrSession.__table__.insert(), [
        dict(call_id=ids[f"demo-{serial}"], script="menu", language=language, started_at=start,
             ended_at=dt.datetime.fromisoformat(walk[-1]["at"]), steps=walk, result={category_variable: category or ""},
             outcome=IvrOutcome.ABANDONED if outcome == CallOutcome.ABANDONED_IN_IVR else IvrOutcome.ROUTED)
        for serial, language, start, walk, category, outcome in walks])
    seen = set()
    rows = []
    for user_id, state, at, ends_at, reason in sorted(states, key=lambda s: (s[0], s[2])):
        if (user_id, state, at) in seen:
            continue
        seen.add((user_id, state, at))
        rows.append(dict(user_id=user_id, state=state, at=at, ends_at=ends_at, reason=reason, source="ami"))
    session.execute(OperatorStateChange.__table__.insert(), rows)
    for task in tasks:
        task["call_id"] = ids[f"demo-{task.pop('serial')}"]
    session.execute(CallbackTask.__table__.insert(), tasks)
    session.flush()
    return len(calls)


def _queued_call(rng: random.Random, desks: list[_Desk], queue: str, language: Language, joined: dt.datetime,
                 states: list) -> dict:
    """A caller in a queue: the first free operator who speaks their language answers, unless
    the caller's patience runs out first (or they ask for a callback)."""
    speakers = [d for d in desks if language in d.languages] or desks
    for desk in speakers:  # the lunch break begins once the call in hand is done
        if desk.lunch is not None and max(desk.free_at, joined) >= desk.lunch:
            states.append((desk.user.id, OperatorState.PAUSED, max(desk.free_at, desk.lunch), None, PauseReason.MEAL))
            desk.free_at = max(desk.free_at, desk.lunch) + LUNCH
            states.append((desk.user.id, OperatorState.AVAILABLE, desk.free_at, None, None))
            desk.lunch = None
    desk = min(speakers, key=lambda d: d.free_at)
    ring = dt.timedelta(seconds=rng.randint(3, 9))
    answer = max(joined, desk.free_at) + ring
    wait = round((answer - joined).total_seconds())
    patience = rng.expovariate(1 / 90)
    base = dict(queue=queue, queue_entered_at=joined)
    if wait > patience:
        gave_up = joined + dt.timedelta(seconds=max(1, round(patience)))
        if wait > 60 and rng.random() < 0.3:
            return {**base, "outcome": CallOutcome.CALLBACK_REQUESTED, "ended_at": gave_up,
                    "queue_wait_seconds": round(patience)}
        return {**base, "outcome": CallOutcome.ABANDONED_IN_QUEUE, "ended_at": gave_up, "queue_wait_seconds": round(patience)}
    talk = dt.timedelta(seconds=round(rng.lognormvariate(5.2, 0.5)))  # about three minutes, a long tail
    ended = answer + talk
    wrap_end = ended + dt.timedelta(seconds=WRAP_UP_SECONDS)
    desk.free_at = wrap_end
    states.append((desk.user.id, OperatorState.ON_CALL, answer, None, None))
    states.append((desk.user.id, OperatorState.WRAP_UP, ended, wrap_end, None))
    return {**base, "outcome": CallOutcome.ANSWERED, "answered_at": answer, "ended_at": ended, "queue_wait_seconds": wait,
            "agent_id": desk.user.id, "agent_extension": desk.user.sip_extension}
