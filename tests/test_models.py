"""The models on SQLite and PostgreSQL: numbering, lifecycle, constraints, times."""
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, StatementError

from db.models import (
    Caller,
    Dispatch,
    DispatchStatus,
    Language,
    PhoneKind,
    Provider,
    RequestChannel,
    RequestStatus,
    ServiceCategory,
    Survey,
)
from db.numbering import next_request_number, parse_request_number
from db.service_requests import TransitionError, change_status, open_request

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _caller(session, phone="13800138000", **fields):
    caller = Caller(phone=phone, phone_kind=PhoneKind.MOBILE, **fields)
    session.add(caller)
    session.flush()
    return caller


def _category(session, code="household"):
    return session.scalar(select(ServiceCategory).where(ServiceCategory.code == code))


def _provider(session, category):
    provider = Provider(name="测试家政", licence_number="91441600TEST00002X", phone="13800000001", categories=[category])
    session.add(provider)
    session.flush()
    return provider


def test_reference_data_has_the_ten_categories_and_six_districts(session):
    from db.models import District

    names = [c.name_zh for c in session.scalars(select(ServiceCategory).order_by(ServiceCategory.sort_order))]
    assert names == ["家庭服务", "维修服务", "养老服务", "医疗服务", "社区导购", "房屋租售", "人才招聘", "法律服务", "生活百事", "其他服务"]
    districts = {d.name_zh for d in session.scalars(select(District))}
    assert {"源城区", "东源县", "和平县", "龙川县", "紫金县", "连平县"} < districts


def test_request_numbers_count_per_local_day(session):
    # 23:30 UTC on the 26th is already the 27th in Heyuan.
    late = dt.datetime(2026, 11, 26, 23, 30, tzinfo=dt.timezone.utc).astimezone(SHANGHAI)
    first = next_request_number(session, late)
    second = next_request_number(session, late)
    other_day = next_request_number(session, late + dt.timedelta(days=1))
    assert (first, second, other_day) == ("HY20261127-0001", "HY20261127-0002", "HY20261128-0001")


def test_parse_request_number_accepts_keypad_and_typed_forms():
    assert parse_request_number("202611270042") == "HY20261127-0042"
    assert parse_request_number("hy20261127-42") == "HY20261127-0042"
    assert parse_request_number("2026") is None
    assert parse_request_number("HY2026112A-0001") is None


def test_request_lifecycle_is_recorded(session):
    caller = _caller(session)
    request = open_request(session, caller, _category(session), RequestChannel.PHONE, SHANGHAI, address="源城区 新江路 1 号")
    change_status(session, request, RequestStatus.DISPATCHED, note="to dispatched")
    with pytest.raises(TransitionError, match="no accepted offer"):  # in service needs the provider's yes
        change_status(session, request, RequestStatus.IN_SERVICE)
    request.dispatches.append(Dispatch(provider=_provider(session, request.category), status=DispatchStatus.ACCEPTED))
    for status in (RequestStatus.IN_SERVICE, RequestStatus.COMPLETED, RequestStatus.SURVEYED, RequestStatus.CLOSED):
        change_status(session, request, status, note=f"to {status.value}")
    session.expire_all()
    stored = session.get(type(request), request.id)
    assert [(c.from_status, c.to_status) for c in stored.history] == [
        (None, RequestStatus.NEW),
        (RequestStatus.NEW, RequestStatus.DISPATCHED),
        (RequestStatus.DISPATCHED, RequestStatus.IN_SERVICE),
        (RequestStatus.IN_SERVICE, RequestStatus.COMPLETED),
        (RequestStatus.COMPLETED, RequestStatus.SURVEYED),
        (RequestStatus.SURVEYED, RequestStatus.CLOSED),
    ]
    assert stored.status is RequestStatus.CLOSED


def test_illegal_transition_is_refused(session):
    request = open_request(session, _caller(session), _category(session), RequestChannel.PHONE, SHANGHAI)
    with pytest.raises(TransitionError, match="cannot go from new to completed"):
        change_status(session, request, RequestStatus.COMPLETED)
    change_status(session, request, RequestStatus.CANCELLED)
    with pytest.raises(TransitionError):
        change_status(session, request, RequestStatus.NEW)


def test_times_come_back_aware_in_utc(session):
    local = dt.datetime(2026, 11, 27, 9, 15, tzinfo=SHANGHAI)
    caller = _caller(session, first_call_at=local)
    session.expire_all()
    stored = session.get(Caller, caller.id)
    assert stored.first_call_at == local
    assert stored.first_call_at.tzinfo is not None
    assert stored.first_call_at.utcoffset() == dt.timedelta(0)


def test_naive_times_are_refused(session):
    session.add(Caller(phone="13800138001", phone_kind=PhoneKind.MOBILE, first_call_at=dt.datetime(2026, 1, 1)))
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()


def test_phone_is_unique(session):
    _caller(session)
    with pytest.raises(IntegrityError):
        _caller(session)


def test_enum_values_are_checked_by_the_database(session):
    from sqlalchemy import text

    caller = _caller(session, language=Language.HAKKA)
    assert session.scalar(text("SELECT language FROM callers WHERE id = :id"), {"id": caller.id}) == "hak"
    with pytest.raises(IntegrityError):
        session.execute(text("UPDATE callers SET language = 'kli' WHERE id = :id"), {"id": caller.id})


def test_rating_and_grade_ranges_are_checked(session):
    provider = Provider(name="测试家政", licence_number="91441600TEST00001X", phone="13800000000", grade=6)
    session.add(provider)
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    caller = _caller(session)
    request = open_request(session, caller, _category(session), RequestChannel.PHONE, SHANGHAI)
    session.add(Survey(request_id=request.id, caller_id=caller.id, language=Language.MANDARIN,
                       due_at=dt.datetime.now(dt.timezone.utc), rating=0))
    with pytest.raises(IntegrityError):
        session.flush()


def test_service_window_must_end_after_it_starts(session):
    start = dt.datetime(2026, 11, 28, 9, tzinfo=SHANGHAI)
    with pytest.raises(IntegrityError):
        open_request(session, _caller(session), _category(session), RequestChannel.PHONE, SHANGHAI,
                     window_start=start, window_end=start - dt.timedelta(hours=1))
