from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from db.demo_data import DEMO_ACCOUNTS, DemoDataRefused, demo_passwords_in_use, load_demo_data
from db.models import Certificate, Provider, ProviderStatus, ServiceRequest, User, Worker

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_demo_data_covers_categories_districts_and_grades(session):
    counts = load_demo_data(session, SHANGHAI)
    assert counts["providers"] >= 40
    providers = session.scalars(select(Provider)).all()
    assert {c.code for p in providers for c in p.categories} == {
        "household", "repair", "elderly_care", "medical", "shopping_guide",
        "housing", "recruitment", "legal", "daily_life", "other",
    }
    assert {d.code for p in providers for d in p.districts} >= {"yuancheng", "dongyuan", "heping", "longchuan", "zijin", "lianping"}
    assert {p.grade for p in providers} >= {None, 1, 2, 3, 4, 5}
    assert any(p.status is ProviderStatus.SUSPENDED for p in providers)
    assert session.scalar(select(func.count(Worker.id))) >= 2 * len(providers)
    assert session.scalar(select(func.count(Certificate.id))) > 0
    assert session.scalar(select(func.count(ServiceRequest.id))) >= 4
    assert sorted(u.role.value for u in session.scalars(select(User))) == ["admin", "operator", "supervisor"]


def test_demo_data_is_idempotent(session):
    load_demo_data(session, SHANGHAI)
    assert load_demo_data(session, SHANGHAI) == {"providers": 0, "users": 0, "callers": 0}
    assert session.scalar(select(func.count(Provider.id))) == 48


def test_demo_data_is_refused_in_production(session):
    with pytest.raises(DemoDataRefused):
        load_demo_data(session, SHANGHAI, production=True)


def test_demo_passwords_are_detected_until_changed(session):
    from werkzeug.security import generate_password_hash

    load_demo_data(session, SHANGHAI)
    assert demo_passwords_in_use(session) == [a.username for a in DEMO_ACCOUNTS]
    for user in session.scalars(select(User)):
        user.password_hash = generate_password_hash("a-real-password-of-our-own")
    assert demo_passwords_in_use(session) == []
