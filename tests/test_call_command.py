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
