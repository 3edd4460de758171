"""README's simulated calls, placed in order against a running demo, end as they say."""
from __future__ import annotations

import datetime as dt
import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from config import load_settings
from conftest import free_port, wait_until
from db.models import Call, CallbackTask, Caller, Dispatch, Provider, RequestChannel, ServiceRequest
from db.session import make_engine, make_session_factory
from hotline.cli import DEMO_CALLS, cli
from hotline.context import AppContext
from hotline.demo_stack import start_demo_stack

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLE = re.compile(r"^\.venv/bin/hotline call (?P<args>.+?)  # (?P<what>.+)$")
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def readme_calls() -> list[tuple[str, str]]:
    return [(m.group("args"), m.group("what")) for m in map(EXAMPLE.match, README.read_text("utf-8").splitlines()) if m]


# What each comment promises, as a check of the transcript and the database.
def _pop_for_operator_1001(output, session, caller):
    assert "to queue general (intent service, category household" in output
    assert "answered by PJSIP/1001" in output


def _medical_escort_in_cantonese(output, session, caller):
    assert "heard  [yue] 廣東話服務" in output
    assert "category medical, priority normal, language yue" in output


def _status_with_provider(output, session, caller):
    request = session.scalar(select(ServiceRequest).join(Caller).where(Caller.phone == caller))
    provider = session.scalar(select(Provider).join(Dispatch).where(Dispatch.request_id == request.id))
    assert "names/provider" not in output
    assert f"heard  [cmn] {provider.name}" in output
    # Heard, he asks for an operator: with '3' alone the menu after it timed out three times
    # and sent him to the operator queue, which README did not say.
    assert "key    0" in output and "没有收到您的按键" not in output
    assert "to queue general (intent operator" in output


def _emergency(output, session, caller):
    assert "heard  [hak]" in output
    assert "to queue priority (intent emergency" in output


def _hakka_speaker(output, session, caller):
    """The demo's operators: 1001 speaks Mandarin, 1002 Mandarin and Hakka, 1003 Mandarin and
    Cantonese (db/demo_data.py). Offered at once to the Hakka speaker: without one free, only
    after the Hakka wait (20 s), to whoever is free."""
    assert "heard  [hak]" in output and "language hak" in output
    offered = re.search(r"answered by PJSIP/1002 \(offered after (\d+) s\)", output)
    assert offered and int(offered.group(1)) <= 1


def _operator_after_timeouts(output, session, caller):
    assert "key " not in output
    assert "to queue general (intent operator" in output


def _voicemail(output, session, caller):
    assert "heard  [yue]" in output and "heard  [cmn]" not in output
    assert "the IVR finished the call" in output
    left = session.scalars(select(ServiceRequest).join(Caller).where(
        Caller.phone == caller, ServiceRequest.channel == RequestChannel.VOICEMAIL)).all()
    assert len(left) == 1 and left[0].voicemail_file


def _callback(output, session, caller):
    assert "the IVR finished the call" in output
    task = session.scalar(select(CallbackTask).where(CallbackTask.phone == caller))
    assert task.due_at.astimezone(SHANGHAI) == dt.datetime(2026, 12, 2, 8, 0, tzinfo=SHANGHAI)


PROMISES = {
    "a screen pop": _pop_for_operator_1001,
    "medical escort": _medical_escort_in_cantonese,
    "status of his open request": _status_with_provider,
    "emergency, priority queue": _emergency,
    "rings operator 1002": _hakka_speaker,
    "operator after three timeouts": _operator_after_timeouts,
    "leave a voicemail": _voicemail,
    "book a callback": _callback,
}


@pytest.fixture
def demo_settings(tmp_path, demo_database_template):
    database = tmp_path / "hotline.sqlite3"
    shutil.copy(demo_database_template, database)  # what `hotline db upgrade && hotline demo-data` leave
    return load_settings(environ={}, overrides={
        "database.url": f"sqlite:///{database}", "app.data_dir": str(tmp_path),
        "ivr.port": free_port(), "asterisk.ami_port": free_port(), "console.port": free_port(),
        "ivr.sounds_dir": str(tmp_path / "sounds"), "ivr.voicemail_dir": str(tmp_path / "voicemail"),
        "survey.delay_minutes": 10080,
    })


def test_readme_lists_the_calls_the_demo_banner_suggests():
    assert readme_calls() == list(DEMO_CALLS)


def test_readme_calls_end_where_readme_says_in_order_on_a_fresh_demo(demo_settings):
    calls = readme_calls()
    assert calls, "README lists no simulated calls"
    stack = start_demo_stack(AppContext(demo_settings))
    engine = make_engine(demo_settings.database.url)
    sessions = make_session_factory(engine)
    try:
        for args, what in calls:
            promised = [check for words, check in PROMISES.items() if words in what]
            assert len(promised) == 1, f"no single check for the README call {what!r}: add one to PROMISES"
            result = CliRunner().invoke(cli, ["call", *shlex.split(args)], obj=AppContext(demo_settings),
                                        catch_exceptions=False)
            assert result.exit_code == 0, result.output
            if "--at" in args:  # the demo's IVR went by the call's clock, not the real one
                assert re.search(r"HOTLINE_DEMO_AT=\S+", result.output), result.output
            uniqueid = re.search(r"HOTLINE_CALL_ID=(\S+)", result.output).group(1)

            def written() -> bool:
                with sessions() as session:
                    return session.scalar(select(Call.id).where(Call.uniqueid == uniqueid)) is not None

            # The next call may depend on this one (a remembered language): let it be written.
            assert wait_until(written, timeout=10), f"call {what!r} was never written"
            caller = shlex.split(args)[shlex.split(args).index("--from") + 1]
            with sessions() as session:
                try:
                    promised[0](result.output, session, caller)
                except AssertionError as exc:
                    raise AssertionError(f"README call {args!r} ({what}) did not do that:\n{result.output}") from exc
    finally:
        stack.stop()
        engine.dispose()
