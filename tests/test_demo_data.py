from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from db.demo_data import DEMO_ACCOUNTS, DemoDataRefused, demo_passwords_in_use, load_demo_data
from db.models import Certificate, District, Provider, ProviderStatus, Role, ServiceRequest, User, Worker

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def demo_loaded(request):
    """The demo data loaded once a database for the module's tests: (the connection whose
    transaction holds it, what the load added). The transaction is rolled back at the end."""
    from sqlalchemy.orm import Session

    from tests.conftest import begin_for_real

    engine = request.getfixturevalue(f"_migrated_{'postgres' if request.param == 'postgresql' else 'sqlite'}")
    connection = engine.connect()
    outer = connection.begin()
    begin_for_real(connection)
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        added = load_demo_data(session, SHANGHAI)
        session.commit()
    yield connection, added
    outer.rollback()
    connection.close()


@pytest.fixture
def demo_session(demo_loaded):
    """A session on the loaded demo data; what the test writes, commits included, is rolled
    back after it, so the next test finds the demo data as loaded."""
    from sqlalchemy.orm import Session

    connection, _ = demo_loaded
    savepoint = connection.begin_nested()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield session
    session.close()
    savepoint.rollback()


def test_demo_data_covers_categories_districts_and_grades(demo_loaded, demo_session):
    _, counts = demo_loaded  # what loading it on an empty database added
    assert counts["providers"] >= 40
    providers = demo_session.scalars(select(Provider)).all()
    assert {c.code for p in providers for c in p.categories} == {
        "household", "repair", "elderly_care", "medical", "shopping_guide",
        "housing", "recruitment", "legal", "daily_life", "other",
    }
    assert {d.code for p in providers for d in p.districts} >= {"yuancheng", "dongyuan", "heping", "longchuan", "zijin", "lianping"}
    assert {p.grade for p in providers} >= {None, 1, 2, 3, 4, 5}
    assert any(p.status is ProviderStatus.SUSPENDED for p in providers)
    assert demo_session.scalar(select(func.count(Worker.id))) >= 2 * len(providers)
    assert demo_session.scalar(select(func.count(Certificate.id))) > 0
    assert demo_session.scalar(select(func.count(ServiceRequest.id))) >= 4
    assert sorted(u.role.value for u in demo_session.scalars(select(User))) == ["admin", "operator", "supervisor"]


def test_demo_data_is_idempotent(demo_session):
    assert load_demo_data(demo_session, SHANGHAI) == {"providers": 0, "users": 0, "callers": 0}
    assert demo_session.scalar(select(func.count(Provider.id))) == 48


def test_demo_data_is_refused_in_production(session):
    with pytest.raises(DemoDataRefused):
        load_demo_data(session, SHANGHAI, production=True)


def test_demo_passwords_are_detected_until_changed(demo_session):
    from werkzeug.security import generate_password_hash

    assert demo_passwords_in_use(demo_session) == [a.username for a in DEMO_ACCOUNTS]
    for user in demo_session.scalars(select(User)):
        user.password_hash = generate_password_hash("a-real-password-of-our-own")
    assert demo_passwords_in_use(demo_session) == []


# What a provider's name says it does, and the categories such a business may serve.
TRADES = {
    "家政服务": {"household", "elderly_care", "daily_life"},
    "家电维修": {"repair", "daily_life"},
    "养老护理": {"elderly_care", "medical", "household"},
    "陪诊护理": {"medical", "elderly_care"},
    "社区生活服务店": {"shopping_guide", "daily_life"},
    "房产经纪": {"housing"},
    "人力资源": {"recruitment"},
    "律师事务所": {"legal"},
    "便民服务社": {"daily_life", "shopping_guide", "repair"},
    "综合服务": {"other", "daily_life"},
}
# The category a trade is registered for: it must serve at least that.
OWN_CATEGORY = {"家政服务": "household", "家电维修": "repair", "养老护理": "elderly_care", "陪诊护理": "medical",
                "社区生活服务店": "shopping_guide", "房产经纪": "housing", "人力资源": "recruitment",
                "律师事务所": "legal", "便民服务社": "daily_life", "综合服务": "other"}


def test_every_demo_provider_serves_only_categories_that_fit_its_trade(demo_session):
    providers = demo_session.scalars(select(Provider)).all()
    assert len(providers) == 48
    misfits = []
    for provider in providers:
        trades = [trade for trade in TRADES if trade in provider.name]
        assert len(trades) == 1, f"{provider.name}: its trade is not one of {list(TRADES)}"
        served = {c.code for c in provider.categories}
        if OWN_CATEGORY[trades[0]] not in served or not served <= TRADES[trades[0]]:
            misfits.append(f"{provider.name}: {sorted(served)}")
    assert not misfits, "providers serving what their trade does not:\n" + "\n".join(misfits)


def test_seeded_ratings_are_the_surveys_the_credit_file_counts(demo_session):
    from surveys.policy import rollup_provider

    rated = demo_session.scalars(select(Provider).where(Provider.rating_count > 0)).all()
    assert len(rated) >= 30
    seeded = {p.id: (p.rating_avg, p.rating_count) for p in rated}
    for provider in rated:
        rollup_provider(demo_session, provider.id)
    demo_session.expire_all()
    assert {p.id: (p.rating_avg, p.rating_count) for p in rated} == seeded
    unrated = demo_session.scalars(select(Provider).where(Provider.rating_count == 0)).all()
    assert unrated and all(p.rating_avg is None for p in unrated)


def test_a_first_survey_rating_adds_to_the_seeded_ones(demo_session):
    import datetime as dt

    from db.base import utcnow
    from db.models import Caller, RequestChannel, RequestStatus, Survey
    from db.dispatching import assign, respond
    from db.service_requests import change_status, open_request
    from surveys.policy import record_rating

    provider = demo_session.scalars(select(Provider).where(Provider.rating_count >= 3).order_by(Provider.id)).first()
    count, average = provider.rating_count, provider.rating_avg
    seeded_sum = demo_session.scalar(select(func.sum(Survey.rating)).where(Survey.provider_id == provider.id))
    assert round(seeded_sum / count, 2) == average
    # A demo caller's request served by it, completed and surveyed today: its first survey.
    now = utcnow()
    caller = demo_session.scalar(select(Caller).where(Caller.phone == "13800138000"))
    request = open_request(demo_session, caller, provider.categories[0], RequestChannel.PHONE, SHANGHAI, now=now)
    respond(demo_session, assign(demo_session, request, provider, None, now=now), True, None, now=now)  # dispatched, accepted
    for status in (RequestStatus.IN_SERVICE, RequestStatus.COMPLETED):
        change_status(demo_session, request, status, now=now)
    survey = Survey(request=request, caller=caller, provider=provider, language=caller.language,
                    due_at=now - dt.timedelta(minutes=5))
    demo_session.add(survey)
    demo_session.flush()
    record_rating(demo_session, survey, 1, None, now)
    demo_session.expire_all()
    assert provider.rating_count == count + 1
    assert provider.rating_avg == round((seeded_sum + 1) / (count + 1), 2) < average


def test_demo_providers_out_of_dispatch_have_the_removal_in_their_credit_file(demo_session):
    from db.demo_data import load_demo_data
    from db.models import CreditMeasure, CreditMeasureKind
    from zoneinfo import ZoneInfo

    removed = {p.id for p in demo_session.scalars(select(Provider)) if p.status is ProviderStatus.SUSPENDED}
    measures = demo_session.scalars(select(CreditMeasure)).all()
    assert removed and {m.provider_id for m in measures} == removed
    assert all(m.kind is CreditMeasureKind.REMOVAL and m.reason for m in measures)


def test_a_provider_named_for_a_district_serves_that_district(demo_session):
    """A branch named …(紫金县分部) was ranked "服务该区县" for a 和平县 request: the districts
    in a provider's name are the ones it is based in and serves, no others."""
    districts = demo_session.scalars(select(District).where(District.code != "other")).all()
    named_any = 0
    for provider in demo_session.scalars(select(Provider)).all():
        named = {d.name_zh for d in districts if d.name_zh in provider.name}
        if named:
            named_any += 1
            assert {d.name_zh for d in provider.districts} == named, provider.name
            assert provider.district.name_zh in named, provider.name
    assert named_any >= 20  # the branches


def test_demo_display_names_do_not_repeat_the_role():
    """The header read "话务员 小陈（话务员 · 分机 1001）": the role is shown beside the name."""
    roles = {Role.OPERATOR: ("话务员",), Role.SUPERVISOR: ("班长", "主管"), Role.ADMIN: ("管理员",)}
    for account in DEMO_ACCOUNTS:
        assert not any(word in account.display_name for word in roles[account.role]), account.display_name
