"""The demo's emulated Asterisk leaves real recordings where Asterisk would: a voicemail
taken by RECORD FILE, a call's MixMonitor file. Before, it wrote none, and every voicemail
request said its recording could not be found."""
from __future__ import annotations

import datetime as dt
import re
import shutil
import urllib.parse
import urllib.request
import wave
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from config import load_settings
from conftest import free_port, wait_until
from db.models import Call, Caller, RequestChannel, ServiceRequest
from db.session import make_engine, make_session_factory
from hotline.cli import cli
from hotline.context import AppContext
from hotline.demo_stack import start_demo_stack

AFTER_HOURS = dt.datetime(2026, 12, 1, 21, 30)
OPEN = dt.datetime(2026, 12, 1, 10, 0)


@pytest.fixture
def demo_settings(tmp_path, demo_database_template, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the demo's relative folders (var/...) are its own
    database = tmp_path / "hotline.sqlite3"
    shutil.copy(demo_database_template, database)
    return load_settings(environ={}, overrides={
        "database.url": f"sqlite:///{database}", "app.data_dir": str(tmp_path / "var"),
        "ivr.port": free_port(), "asterisk.ami_port": free_port(), "console.port": free_port(),
        "ivr.sounds_dir": str(tmp_path / "sounds"),
    })


def _signed_in(url: str) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    page = opener.open(url + "/login").read().decode()
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": "operator", "password": "operator-demo-2026", "csrf_token": token})
    opener.open(url + "/login", data=form.encode())
    return opener


def _is_wav(path: Path) -> bool:
    with wave.open(str(path)) as sound:
        return (sound.getframerate(), sound.getnchannels(), sound.getsampwidth()) == (8000, 1, 2) and sound.getnframes() > 0


def test_a_voicemail_through_the_demo_is_playable_and_the_call_is_recorded(demo_settings, tmp_path):
    stack = start_demo_stack(AppContext(demo_settings))
    engine = make_engine(demo_settings.database.url)
    sessions = make_session_factory(engine)
    try:
        switched = stack.asterisk.call("13912345678", "1 #@9000", at=AFTER_HOURS)  # a message, then '#'

        def left() -> str | None:
            with sessions() as session:
                return session.scalar(select(ServiceRequest.number).join(Caller).where(
                    Caller.phone == "13912345678", ServiceRequest.channel == RequestChannel.VOICEMAIL))

        assert wait_until(lambda: left() is not None, timeout=10)
        number = left()
        with sessions() as session:
            message = Path(session.scalar(select(ServiceRequest.voicemail_file).where(ServiceRequest.number == number)))
        assert _is_wav(message)
        opener = _signed_in(stack.console.url)
        page = opener.open(f"{stack.console.url}/requests/{number}").read().decode()
        assert "找不到留言录音文件" not in page and "<audio" in page
        with opener.open(f"{stack.console.url}/requests/{number}/voicemail") as sound:
            assert sound.status == 200 and sound.headers.get_content_type() == "audio/wav"
            assert len(sound.read()) > 44  # more than a WAV header

        # MixMonitor's file, in the demo's own folder, where the call's row says: named only
        # for a call an operator answered (the voicemail caller's was never bridged).
        answered = stack.asterisk.call("13800138000", "1 1", at=OPEN)
        assert answered.agent

        def recorded(uniqueid) -> str | None:
            with sessions() as session:
                return session.scalar(select(Call.recording_file).where(Call.uniqueid == uniqueid, Call.ended_at.is_not(None)))

        assert wait_until(lambda: recorded(answered.uniqueid) is not None, timeout=10)
        recording = Path(recorded(answered.uniqueid))
        assert recording.is_relative_to((tmp_path / "var" / "recordings").resolve()) and _is_wav(recording)
        assert recorded(switched.uniqueid) is None
    finally:
        stack.stop()
        engine.dispose()


def test_a_voicemail_by_hotline_call_leaves_its_file(demo_settings, tmp_path):
    stack = start_demo_stack(AppContext(demo_settings))
    try:
        result = CliRunner().invoke(cli, ["call", "--at", "2026-12-01 21:30", "--from", "13912345678",
                                          "--keys", "1 #@9000"], obj=AppContext(demo_settings), catch_exceptions=False)
        file = re.search(r"record (\S+\.wav)", result.output).group(1)
        assert _is_wav(Path(file))
    finally:
        stack.stop()
