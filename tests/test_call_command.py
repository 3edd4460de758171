"""`hotline call`: a simulated call through the running IVR, printed as a transcript."""
from click.testing import CliRunner

from conftest import free_port
from hotline.cli import cli
from hotline.context import AppContext


def call(settings, port, *args):
    return CliRunner().invoke(cli, ["call", "--port", str(port), *args], obj=AppContext(settings), catch_exceptions=False)


def test_transcript_shows_prompts_keys_and_where_the_call_ended(settings, ivr_server):
    result = call(settings, ivr_server.address[1], "--from", "13912345678", "--keys", "2 1 3")
    assert result.exit_code == 0, result.output
    output = result.output
    assert "heard  [cmn] 您好,欢迎致电河源市家政服务热线。" in output
    assert "heard  [yue] 廣東話服務,請按" in output
    assert "heard  [hak] 客家話服務,請按" in output
    assert "key    2" in output
    assert "heard  [yue] 家庭服務請按一" in output
    assert "ended: to queue general (intent service, category medical, priority normal, language yue)" in output
    assert "HOTLINE_CALL_ID=" in output


def test_hangup_is_reported(settings, ivr_server):
    output = call(settings, ivr_server.address[1], "--keys", "1 h", "--from", "13912345670").output
    assert "hangup by the caller" in output
    assert "ended: the caller hung up in the IVR; AGISTATUS=HANGUP" in output


def test_no_server_is_a_clear_error(settings):
    result = call(settings, free_port(), "--keys", "1")
    assert result.exit_code == 1
    assert "no FastAGI server at 127.0.0.1:" in result.output and "AGISTATUS=FAILURE" in result.output


def test_bad_key_script_is_a_usage_error(settings):
    result = call(settings, free_port(), "--keys", "1 x 2")
    assert result.exit_code == 2
    assert "bad key script token 'x'" in result.output


def _dispatched_provider(settings, phone):
    from sqlalchemy import select

    from db.models import Caller, Dispatch, Provider, ServiceRequest

    with AppContext(settings).sessions() as session:
        return session.scalar(select(Provider.name).join(Dispatch).join(ServiceRequest).join(Caller)
                              .where(Caller.phone == phone))


def test_status_check_transcript_says_the_providers_name_not_its_prompt_file(settings, ivr_server):
    # The demo's returning caller has a dispatched request: its provider is read back.
    output = call(settings, ivr_server.address[1], "--from", "13800138000", "--keys", "3").output
    name = _dispatched_provider(settings, "13800138000")
    assert name and f"heard  [cmn] {name}" in output
    assert "names/provider" not in output


def test_at_sets_the_business_hours_clock_when_the_ivr_allows_it(settings, ivr_server, ivr_services, ivr_db):
    import datetime as dt

    from sqlalchemy import select

    from db.models import CallbackTask
    from db.session import make_session_factory

    ivr_services.demo_clock = True  # as `hotline demo` starts it; its clock says Friday 10:00
    output = call(settings, ivr_server.address[1], "--from", "13912345670", "--at", "2026-11-27 22:30",
                  "--keys", "1 2").output
    assert "clock: 2026-11-27 22:30 (--at)" in output
    assert "heard  [cmn] 您好,现在是非工作时间" in output
    assert "HOTLINE_DEMO_AT=2026-11-27T22:30" in output and "ignored --at" not in output
    ivr_services.call_log.flush()
    with make_session_factory(ivr_db)() as session:
        task = session.scalar(select(CallbackTask).where(CallbackTask.phone == "13912345670"))
    # Booked from the demo's Friday 22:30: Saturday's opening.
    assert task.due_at.astimezone(ivr_services.tz) == dt.datetime(2026, 11, 28, 8, 0, tzinfo=ivr_services.tz)


def test_at_is_ignored_and_said_so_without_demo_clock(settings, ivr_server, ivr_services):
    assert not ivr_services.demo_clock  # the shipped setting
    output = call(settings, ivr_server.address[1], "--from", "13912345670", "--at", "2026-11-27 22:30",
                  "--keys", "1 1 1").output
    assert "category household" in output and "现在是下班时间" not in output
    assert "note: the IVR ignored --at" in output


def test_at_must_be_a_local_time(settings):
    result = call(settings, free_port(), "--at", "22:30", "--keys", "1")
    assert result.exit_code == 2 and "'22:30' does not match the format '%Y-%m-%d %H:%M'" in result.output
