"""A voicemail left in the IVR can be heard from its request and its call, by those who
may see them; the file is found from the stored record, never from the URL."""
from __future__ import annotations

import datetime as dt
import re
import struct
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from db.models import IvrOutcome, PhoneKind, ServiceRequest
from db.phones import Phone
from db.session import transaction
from ivr.call_log import IvrCallRecord, save_calls
from tests.conftest import console_services_for

AT = dt.datetime(2026, 11, 27, 13, 0, 0, tzinfo=dt.timezone.utc)


def _wav(seconds: float = 1.0) -> bytes:
    """8 kHz mono 16-bit silence, as Asterisk's Record() writes it."""
    frames = b"\x00\x00" * int(8000 * seconds)
    return (b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
            + b"data" + struct.pack("<I", len(frames)) + frames)


@pytest.fixture
def voicemail_dir(tmp_path):
    folder = tmp_path / "voicemail"
    folder.mkdir()
    return folder


@pytest.fixture
def console_services(ivr_db, tmp_path, voicemail_dir):
    """The conftest's console services, with the IVR's voicemail folder in tmp_path."""
    yield from console_services_for(ivr_db, tmp_path, **{"ivr.voicemail_dir": str(voicemail_dir)})


def _voicemail_call(console_services, uniqueid: str, file: str) -> str:
    """What the IVR writes for a caller who left a message: the call, and a request from it."""
    record = IvrCallRecord(
        uniqueid=uniqueid, linkedid=uniqueid, did="4008300762", caller_number="13911112222",
        phone=Phone("13911112222", PhoneKind.MOBILE), script="ivr", started_at=AT, language="cmn",
        business_open=False, ended_at=AT + dt.timedelta(seconds=50), outcome=IvrOutcome.VOICEMAIL,
        end_node="voicemail", path=["welcome_back", "open_check", "after_hours", "voicemail"], voicemail=file)
    with transaction(console_services.sessions) as session:
        save_calls(session, [record], ZoneInfo("Asia/Shanghai"))
    with console_services.sessions() as session:
        return session.scalar(select(ServiceRequest.number).where(ServiceRequest.voicemail_file == file))


def test_the_request_and_the_call_play_the_voicemail_with_ranges(client, auth, console_services, voicemail_dir):
    sound = _wav()
    (voicemail_dir / "voicemail-1764248400.7.wav").write_bytes(sound)
    number = _voicemail_call(console_services, "1764248400.7", str(voicemail_dir / "voicemail-1764248400.7.wav"))
    url = f"/requests/{number}/voicemail"
    assert client.get(url).status_code == 302  # signed out: to the sign-in page, no sound
    auth.login()
    page = client.get(f"/requests/{number}").get_data(as_text=True)
    assert re.search(rf'<audio[^>]*controls[^>]*src="{url}"', page)
    with client.get(url) as whole:  # closed: the response holds the file open
        assert whole.status_code == 200 and whole.mimetype == "audio/wav" and whole.data == sound
        assert whole.headers["Accept-Ranges"] == "bytes"
    with client.get(url, headers={"Range": "bytes=44-1043"}) as part:
        assert part.status_code == 206 and part.data == sound[44:1044]
        assert part.headers["Content-Range"] == f"bytes 44-1043/{len(sound)}"
    auth.logout()
    auth.login("supervisor")
    call_page = client.get("/calls/1764248400.7").get_data(as_text=True)
    assert re.search(rf'<audio[^>]*controls[^>]*src="{url}"', call_page)


def test_a_missing_file_is_said_in_words(client, auth, console_services, voicemail_dir):
    number = _voicemail_call(console_services, "1764248400.8", str(voicemail_dir / "voicemail-1764248400.8.wav"))
    auth.login()
    page = client.get(f"/requests/{number}").get_data(as_text=True)
    assert "<audio" not in page and "找不到留言录音文件" in page
    assert client.get(f"/requests/{number}/voicemail").status_code == 404


@pytest.mark.parametrize("stored", ["/etc/passwd", "{dir}/../../../etc/passwd", "{dir}/../secret.wav",
                                    "{dir}/voicemail-x.txt", "voicemail-../../x.wav"])
def test_a_stored_path_outside_the_voicemail_folder_is_never_served(client, auth, console_services, voicemail_dir,
                                                                    stored):
    (voicemail_dir.parent / "secret.wav").write_bytes(_wav(0.1))
    (voicemail_dir / "voicemail-x.txt").write_text("not a recording")
    number = _voicemail_call(console_services, "1764248400.9", stored.format(dir=voicemail_dir))
    auth.login()
    response = client.get(f"/requests/{number}/voicemail")
    assert response.status_code == 404 and b"root:" not in response.data and b"RIFF" not in response.data
    assert "<audio" not in client.get(f"/requests/{number}").get_data(as_text=True)


def test_a_request_without_a_voicemail_has_no_player(client, auth, console_services):
    auth.login()
    with console_services.sessions() as session:
        number = session.scalar(select(ServiceRequest.number).where(ServiceRequest.voicemail_file.is_(None)).limit(1))
    assert "<audio" not in client.get(f"/requests/{number}").get_data(as_text=True)
    assert client.get(f"/requests/{number}/voicemail").status_code == 404


def test_in_english_the_voicemail_is_a_recorded_message(client, auth, console_services, voicemail_dir):
    """Its label read "Comment recording" (the survey's comment) on the request and call pages."""
    number = _voicemail_call(console_services, "1764248400.9", str(voicemail_dir / "voicemail-1764248400.9.wav"))
    auth.login()
    auth.post("/language/en", {"next": "/"})
    page = client.get(f"/requests/{number}").get_data(as_text=True)
    assert "<dt>Recorded message</dt>" in page and "Comment" not in page


def _survey_with_comment(console_services, file: str) -> int:
    from db.models import Language, Survey, SurveyStatus

    with transaction(console_services.sessions) as session:
        request = session.scalar(select(ServiceRequest).where(ServiceRequest.caller_id.is_not(None)).limit(1))
        survey = Survey(request_id=request.id, caller_id=request.caller_id, language=Language.MANDARIN, due_at=AT,
                        status=SurveyStatus.COMPLETED, rating=2, comment_recording=file)
        session.add(survey)
        session.flush()
        return survey.id


def test_a_survey_comment_is_played_not_printed_as_a_path(client, auth, console_services, voicemail_dir):
    """The survey page printed the comment's file path; it plays it, like a voicemail."""
    sound = _wav()
    (voicemail_dir / "survey-5-1764248400.7.wav").write_bytes(sound)
    survey_id = _survey_with_comment(console_services, str(voicemail_dir / "survey-5-1764248400.7.wav"))
    url = f"/surveys/{survey_id}/comment"
    assert client.get(url).status_code == 302  # signed out: no sound
    auth.login()
    page = client.get(f"/surveys/{survey_id}").get_data(as_text=True)
    assert re.search(rf'<audio[^>]*controls[^>]*src="{url}"', page) and str(voicemail_dir) not in page
    with client.get(url) as whole:
        assert whole.status_code == 200 and whole.mimetype == "audio/wav" and whole.data == sound
    with client.get(url, headers={"Range": "bytes=44-1043"}) as part:
        assert part.status_code == 206 and part.data == sound[44:1044]


@pytest.mark.parametrize("stored", ["{dir}/survey-gone.wav", "/etc/passwd", "{dir}/../secret.wav"])
def test_a_missing_or_stray_survey_comment_is_said_in_words(client, auth, console_services, voicemail_dir, stored):
    (voicemail_dir.parent / "secret.wav").write_bytes(_wav(0.1))
    survey_id = _survey_with_comment(console_services, stored.format(dir=voicemail_dir))
    auth.login()
    page = client.get(f"/surveys/{survey_id}").get_data(as_text=True)
    assert "<audio" not in page and "找不到留言录音文件" in page
    response = client.get(f"/surveys/{survey_id}/comment")
    assert response.status_code == 404 and b"RIFF" not in response.data and b"root:" not in response.data
