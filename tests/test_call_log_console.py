"""The call log in the console: supervisors only, numbers masked for every role that may
not unmask them (pages, CSV, XLSX, API), exports audited, the recording served with
ranges from inside the recordings folder only, and lost callers booked in one click."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import wave

import openpyxl
import pytest
from sqlalchemy import select

from db.models import (
    AuditEntry, Call, CallbackTask, CallDirection, Caller, CallOutcome, IvrSession, Language, PhoneKind, TaskStatus, User,
)
from tests.conftest import console_services_for

AT = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.timezone.utc)  # 10:00 in Heyuan
NUMBER, MASKED = "13912348000", "139****8000"
RECENT = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=2)


def write_wav(path, seconds: float = 1.0) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as sound:
        sound.setnchannels(1), sound.setsampwidth(2), sound.setframerate(8000)
        sound.writeframes(b"\x00\x01" * int(8000 * seconds))
    return path.read_bytes()


@pytest.fixture
def recordings_dir(tmp_path):
    folder = tmp_path / "monitor"
    folder.mkdir()
    return folder


@pytest.fixture
def console_services(ivr_db, tmp_path, recordings_dir):
    """The conftest's console services, with MixMonitor's folder in tmp_path."""
    yield from console_services_for(ivr_db, tmp_path, **{"asterisk.recordings_dir": str(recordings_dir)})


def add_call(services, uniqueid: str, number: str = NUMBER, **fields) -> int:
    with services.sessions() as session:
        caller = session.scalar(select(Caller).where(Caller.phone == number))
        if caller is None:
            caller = Caller(phone=number, phone_kind=PhoneKind.MOBILE)
            session.add(caller)
            session.flush()
        call = Call(uniqueid=uniqueid, direction=CallDirection.INBOUND, caller_number=number, caller_id=caller.id,
                    started_at=fields.pop("started_at", AT), **{"outcome": CallOutcome.ANSWERED, **fields})
        session.add(call)
        session.flush()
        session.add(IvrSession(call_id=call.id, script="ivr", language=Language.MANDARIN, started_at=call.started_at,
                               steps=[{"node": "main", "prompt": "main_menu", "key": "1", "at": call.started_at.isoformat()}]))
        session.commit()
        return call.id


SUPERVISOR_PAGES = ("/calls", "/calls/export.csv", "/calls/export.xlsx", "/calls/c1", "/calls/c1/recording", "/lost-callers")


def test_operators_get_403_on_every_page_and_export(client, auth, console_services, recordings_dir):
    write_wav(recordings_dir / "20261127" / "c1.wav")
    call_id = add_call(console_services, "c1", recording_file=str(recordings_dir / "20261127" / "c1.wav"),
                       outcome=CallOutcome.ABANDONED_IN_QUEUE)
    auth.login("operator")
    for path in SUPERVISOR_PAGES:
        assert client.get(path).status_code == 403, path
    assert auth.post(f"/lost-callers/{call_id}/callback").status_code == 403
    assert client.get("/api/v1/calls", headers={}).status_code in (401, 403)
    with console_services.sessions() as session:
        assert session.scalar(select(CallbackTask).where(CallbackTask.call_id == call_id)) is None
    auth.logout()
    auth.login("supervisor")
    for path in SUPERVISOR_PAGES:
        with client.get(path) as response:  # closed: a recording's response holds its file open
            assert response.status_code == 200, path


def _everything_a_reader_gets(client) -> dict[str, str]:
    xlsx = openpyxl.load_workbook(io.BytesIO(client.get("/calls/export.xlsx?number=8000").data), read_only=True)
    return {
        "list": client.get("/calls?number=8000").get_data(as_text=True),
        "call": client.get("/calls/c2").get_data(as_text=True),
        "lost": client.get("/lost-callers").get_data(as_text=True),
        "csv": client.get("/calls/export.csv?number=8000").data.decode("utf-8-sig"),
        "xlsx": repr([list(row) for row in xlsx.active.iter_rows(values_only=True)]),
        "api": client.get("/api/v1/calls").get_data(as_text=True),
    }


def test_a_supervisor_never_sees_a_whole_number_and_an_admin_does(client, auth, console_services):
    # Within console.lost_callers_days of now, so the lost callers' page lists it too.
    add_call(console_services, "c2", outcome=CallOutcome.ABANDONED_IN_QUEUE, queue_wait_seconds=42, started_at=RECENT)
    auth.login("supervisor")
    for where, body in _everything_a_reader_gets(client).items():
        assert NUMBER not in body, f"{where} shows the whole number to a supervisor"
        assert MASKED in body, f"{where} does not show the masked number"
    auth.logout()
    auth.login("admin")
    for where, body in _everything_a_reader_gets(client).items():
        assert NUMBER in body, f"{where} hides the number from an admin"


def test_every_export_is_audited_with_its_filter(client, auth, console_services):
    add_call(console_services, "c3")
    add_call(console_services, "c4", number="13912341111")
    auth.login("supervisor")
    exported = client.get("/calls/export.csv?number=8000&date_from=2026-11-27&outcome=answered&sort=wait&order=asc")
    rows = list(csv.reader(io.StringIO(exported.data.decode("utf-8-sig"))))
    assert exported.headers["Content-Disposition"].startswith("attachment;")
    assert rows[0][:3] == ["开始时间", "来电号码", "语言"] and len(rows) == 2
    assert rows[1][0] == "2026-11-27 10:00:00" and rows[1][1] == MASKED and rows[1][8] == "已接听"
    with console_services.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "export")).one()
        supervisor = session.scalar(select(User).where(User.username == "supervisor"))
    assert entry.user_id == supervisor.id and entry.entity_type == "calls"
    assert entry.details["format"] == "csv" and entry.details["unmasked"] is False
    assert entry.details["filter"] == {"last4": "8000", "start": "2026-11-26T16:00:00+00:00", "outcome": "answered",
                                       "sort": "wait", "order": "asc"}


def test_the_list_filters_pages_and_says_which_values_it_ignored(client, auth, console_services):
    for i in range(55):
        add_call(console_services, f"p{i}", started_at=AT + dt.timedelta(seconds=i // 3))
    auth.login("supervisor")
    first = client.get("/calls?number=8000&outcome=nonsense").get_data(as_text=True)
    assert "“结果”的值无法识别，已忽略。" in first
    assert first.count("/calls/p") == 50
    after = re.search(r'id="next-page" rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(after).get_data(as_text=True)
    assert second.count("/calls/p") == 5 and 'id="next-page"' not in second
    shown = set(re.findall(r"/calls/(p\d+)", first)) | set(re.findall(r"/calls/(p\d+)", second))
    assert shown == {f"p{i}" for i in range(55)}


def test_the_recording_plays_with_ranges_and_only_from_the_recordings_folder(client, auth, console_services,
                                                                              recordings_dir, tmp_path):
    sound = write_wav(recordings_dir / "20261127" / "c5.wav")
    add_call(console_services, "c5", recording_file=str(recordings_dir / "20261127" / "c5.wav"))
    outside = write_wav(tmp_path / "elsewhere" / "secret.wav")
    assert outside
    add_call(console_services, "c6", recording_file=str(recordings_dir / ".." / "elsewhere" / "secret.wav"))
    add_call(console_services, "c7", recording_file=str(recordings_dir / "20261127" / "gone.wav"))
    add_call(console_services, "c8")
    assert client.get("/calls/c5/recording").status_code == 302  # signed out: to sign in, no sound
    auth.login("supervisor")
    page = client.get("/calls/c5").get_data(as_text=True)
    assert re.search(r'<audio[^>]*controls[^>]*src="/calls/c5/recording"', page)
    with client.get("/calls/c5/recording", headers={"Range": "bytes=44-1043"}) as part:
        assert part.status_code == 206 and part.data == sound[44:1044] and part.mimetype == "audio/wav"
        assert part.headers["Content-Range"] == f"bytes 44-1043/{len(sound)}"
        assert "private" in part.headers["Cache-Control"]
    assert client.get("/calls/c6/recording").status_code == 404  # '..' out of the folder
    for uniqueid in ("c6", "c7"):
        shown = client.get(f"/calls/{uniqueid}").get_data(as_text=True)
        assert "<audio" not in shown and "找不到通话录音文件" in shown
    assert "本次通话没有录音。" in client.get("/calls/c8").get_data(as_text=True)


def test_the_call_page_tells_the_whole_call(client, auth, console_services):
    with console_services.sessions() as session:
        operator = session.scalar(select(User).where(User.username == "operator"))
    add_call(console_services, "c9", queue="general", queue_wait_seconds=12, agent_id=operator.id,
             answered_at=AT + dt.timedelta(seconds=30), ended_at=AT + dt.timedelta(seconds=150), hangup_cause=16)
    auth.login("supervisor")
    page = re.sub(r"<[^>]+>", " ", client.get("/calls/c9").get_data(as_text=True))
    page = re.sub(r"\s+", " ", page)
    assert "12 秒" in page and "120 秒" in page and "正常挂断" in page and "小陈" in page
    assert "10:00:00 主菜单 按 1" in page and "播放：" in page and "main_menu" not in page


def test_a_lost_caller_is_booked_in_one_click_and_counted_on_the_dashboard(client, auth, console_services):
    lost = add_call(console_services, "c10", outcome=CallOutcome.ABANDONED_IN_QUEUE, queue="general", queue_wait_seconds=95,
                    started_at=RECENT)
    auth.login("supervisor")
    assert re.search(r'id="lost-callers-count"><b>1</b>', client.get("/").get_data(as_text=True))
    listing = client.get("/lost-callers").get_data(as_text=True)
    assert f'id="lost-{lost}"' in listing and "95 秒" in listing and MASKED in listing
    booked = auth.post(f"/lost-callers/{lost}/callback", page="/lost-callers")
    assert booked.status_code == 302
    again = auth.post(f"/lost-callers/{lost}/callback", page="/lost-callers")
    assert again.status_code == 302
    with console_services.sessions() as session:
        (task,) = session.scalars(select(CallbackTask).where(CallbackTask.call_id == lost)).all()
        assert task.status == TaskStatus.PENDING and task.phone == NUMBER
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "book", AuditEntry.entity_id == task.id))
    assert "已预约" in client.get("/lost-callers").get_data(as_text=True)
    with console_services.sessions() as session:
        session.get(CallbackTask, task.id).status = TaskStatus.DONE
        session.get(CallbackTask, task.id).done_at = RECENT + dt.timedelta(minutes=30)
        session.commit()
    assert f'id="lost-{lost}"' not in client.get("/lost-callers").get_data(as_text=True)
    assert re.search(r'id="lost-callers-count"><b>0</b>', client.get("/").get_data(as_text=True))


def test_two_clicks_at_once_book_one_callback(app, console_services, monkeypatch):
    """A double click sends two POSTs at once: both used to find no task booked and each
    booked one (two tasks, the caller rung twice). The second now waits for the first."""
    import threading

    from call_log import lost_callers
    from tests.conftest import post_twice_at_once

    lost = add_call(console_services, "c11", outcome=CallOutcome.ABANDONED_IN_QUEUE, queue="general", started_at=RECENT)
    both_checked = threading.Barrier(2, timeout=2)
    checked = lost_callers.is_lost

    def is_lost_then_wait(*args):
        found = checked(*args)
        try:
            both_checked.wait()  # each request has looked: neither has booked yet
        except threading.BrokenBarrierError:
            pass  # the other request is waiting for this one to finish: as it should
        return found
    monkeypatch.setattr(lost_callers, "is_lost", is_lost_then_wait)
    answers = post_twice_at_once(app, "supervisor", "/lost-callers", f"/lost-callers/{lost}/callback")
    assert answers == [302, 302]
    with console_services.sessions() as session:
        assert len(session.scalars(select(CallbackTask).where(CallbackTask.call_id == lost)).all()) == 1
