"""Regression tests: each pyst2 0.5.1 defect (../shared/library-notes.md) stays contained."""
import socket
import threading
import time

import pytest
from asterisk import agi as pyst2_agi

from emulator.agi_channel import split_args
from ivr.agi import AGIProtocolError, CallerGone, HeaderError, HotlineAGI, RecordFailed, SocketLines, read_header


@pytest.fixture
def wire():
    """(agi, peer): our adapter on one end of a socket pair, Asterisk's side on the other."""
    ours, peer = socket.socketpair()
    agi = HotlineAGI(SocketLines(ours, timeout=2.0), {"agi_channel": "PJSIP/test-1"})
    peer.settimeout(2.0)
    yield agi, peer
    ours.close()
    peer.close()


def sent(peer) -> list[str]:
    peer.setblocking(False)
    try:
        data = peer.recv(65536)
    except BlockingIOError:
        data = b""
    peer.setblocking(True)
    return data.decode().splitlines()


def test_pyst2_itself_still_fails_in_a_thread():
    """The defect we contain: pyst2's own constructor installs a signal handler."""
    errors = []

    def construct():
        try:
            pyst2_agi.AGI(stdin=None, stdout=None, stderr=None)
        except ValueError as exc:
            errors.append(exc)
        except Exception:  # it gets past the signal handler only in the main thread
            pass

    thread = threading.Thread(target=construct)
    thread.start()
    thread.join()
    assert errors and "main thread" in str(errors[0])


def test_adapter_works_in_a_worker_thread(wire):
    agi, peer = wire
    peer.sendall(b"200 result=1\n")
    results = []
    thread = threading.Thread(target=lambda: results.append(agi.set_variable("X", "1")))
    thread.start()
    thread.join()
    assert results == [None]
    assert sent(peer) == ['SET VARIABLE "X" "1"']


def test_hangup_line_before_a_reply_means_caller_gone(wire):
    """pyst2 reads 'HANGUP' as a reply and dies with ValueError: invalid literal for int()."""
    agi, peer = wire
    peer.sendall(b"HANGUP\n200 result=1\n")
    with pytest.raises(CallerGone):
        agi.set_variable("HOTLINE_LANG", "yue")
    assert agi.hung_up
    with pytest.raises(CallerGone):
        agi.wait_for_digit(5000)  # nothing more is sent to a gone caller
    assert sent(peer) == ['SET VARIABLE "HOTLINE_LANG" "yue"']


def test_minus_one_from_a_wait_means_caller_gone(wire):
    """pyst2 raises AGIAppError, which callers mistake for an application error."""
    agi, peer = wire
    peer.sendall(b"200 result=-1\n")
    with pytest.raises(CallerGone):
        agi.wait_for_digit(5000)


def test_minus_one_from_stream_file_probes_before_deciding(wire):
    """-1 from STREAM FILE is also what a missing file gives: the call must go on."""
    agi, peer = wire
    peer.sendall(b"200 result=-1 endpos=0\n200 result=0\n")
    assert agi.stream_file("/sounds/zh_cmn/missing", "123") == ""
    assert sent(peer) == ['STREAM FILE "/sounds/zh_cmn/missing" "123" 0', "NOOP"]
    peer.sendall(b"200 result=-1 endpos=160\nHANGUP\n200 result=0\n")
    with pytest.raises(CallerGone):
        agi.stream_file("/sounds/zh_cmn/welcome", "123")


def test_dead_channel_511_means_caller_gone(wire):
    """pyst2 raises AGIUnknownError for 511."""
    agi, peer = wire
    peer.sendall(b"511 Command Not Permitted on a dead channel or intercept routine\n")
    with pytest.raises(CallerGone):
        agi.stream_file("/sounds/zh_cmn/welcome", "")


def test_end_of_stream_means_caller_gone(wire):
    """pyst2 parses '' as a reply: ValueError from int('')."""
    agi, peer = wire
    peer.shutdown(socket.SHUT_WR)
    with pytest.raises(CallerGone):
        agi.wait_for_digit(1000)


def test_eof_inside_a_520_reply_does_not_loop_forever(wire):
    """pyst2's 520 loop reads '' forever once the connection closes."""
    agi, peer = wire
    peer.sendall(b"520-Invalid command syntax.  Proper usage follows:\nUsage: WAIT FOR DIGIT <timeout>\n")
    peer.shutdown(socket.SHUT_WR)
    started = time.monotonic()
    with pytest.raises(CallerGone):
        agi.execute("WAIT FOR DIGIT")
    assert time.monotonic() - started < 1


def test_520_usage_is_collected_whole(wire):
    agi, peer = wire
    peer.sendall(b"520-Invalid command syntax.  Proper usage follows:\nUsage: WAIT FOR DIGIT <timeout>\n520 End of proper usage.\n200 result=0\n")
    with pytest.raises(pyst2_agi.AGIUsageError, match="Usage: WAIT FOR DIGIT"):
        agi.execute("WAIT FOR DIGIT")
    assert agi.wait_for_digit(100) == ""  # the connection is still in step


def test_values_with_spaces_quotes_and_newlines_arrive_whole(wire):
    """pyst2's _quote leaves embedded quotes alone; Asterisk would cut the value short."""
    agi, peer = wire
    peer.sendall(b"200 result=1\n200 result=0 endpos=0\n")
    value = 'say "hi" \\ now\nSTREAM FILE evil ""'
    agi.set_variable("HOTLINE_NOTE", value)
    agi.stream_file("/var/lib/asterisk/sounds/my prompts/zh_yue/welcome", "#")
    set_line, stream_line = sent(peer)
    assert split_args(set_line) == ["SET", "VARIABLE", "HOTLINE_NOTE", 'say "hi" \\ now STREAM FILE evil ""']
    assert split_args(stream_line)[2] == "/var/lib/asterisk/sounds/my prompts/zh_yue/welcome"


def test_nothing_is_echoed_to_stderr(wire, capfd):
    """pyst2 echoes every command and reply to stderr (Asterisk's console, or our log)."""
    agi, peer = wire
    peer.sendall(b"200 result=50\n")
    assert agi.wait_for_digit(5000) == "2"
    assert capfd.readouterr().err == ""


def test_text_over_the_socket_is_utf8_and_survives_bad_bytes(wire):
    """pyst2 needs text files; a socket gives bytes. Chinese must cross intact."""
    agi, peer = wire
    peer.sendall("200 result=1 (陈伯)\n".encode() + b"200 result=1 (\xff\xfe)\n")
    assert agi.get_variable("CALLERID(name)") == "陈伯"
    assert agi.get_variable("CALLERID(name)") == "\ufffd\ufffd"
    agi_sent = sent(peer)
    assert agi_sent[0] == 'GET VARIABLE "CALLERID(name)"'


def test_garbage_reply_is_a_protocol_error(wire):
    agi, peer = wire
    peer.sendall(b"hello there\n")
    with pytest.raises(AGIProtocolError):
        agi.wait_for_digit(100)


def test_endless_line_is_a_protocol_error(wire):
    agi, peer = wire
    peer.sendall(b"2" * 20000)
    with pytest.raises(AGIProtocolError):
        agi.wait_for_digit(100)


def test_record_file_returns_samples_and_detects_hangup(wire):
    agi, peer = wire
    peer.sendall(b"200 result=35 (dtmf) endpos=64000\n200 result=-1 (hangup) endpos=0\n")
    assert agi.record_file("/var/voicemail/x", "wav", "#", 120000, 0, "beep", silence=5) == 64000
    assert split_args(sent(peer)[0]) == ["RECORD", "FILE", "/var/voicemail/x", "wav", "#", "120000", "0", "beep", "s=5"]
    with pytest.raises(CallerGone):
        agi.record_file("/var/voicemail/y")


def test_a_record_file_that_fails_with_the_caller_on_the_line_is_not_a_hangup(wire):
    """Asterisk 22.10.1 without its core sounds, RECORD FILE ... beep: "File beep does not
    exist in any format", then `200 result=-1 (randomerror) endpos=0` with the caller still
    there (no HANGUP line). Not CallerGone: the caller must be sent to an operator."""
    agi, peer = wire
    peer.sendall(b"200 result=-1 (randomerror) endpos=0\n200 result=-1 (writefile)\n")
    with pytest.raises(RecordFailed, match="randomerror"):
        agi.record_file("/var/voicemail/x", "wav", "#", 120000, 0, "beep", silence=5)
    assert not agi.hung_up
    with pytest.raises(RecordFailed, match="writefile"):
        agi.record_file("/var/voicemail/y", beep="")
    assert split_args(sent(peer)[1]) == ["RECORD", "FILE", "/var/voicemail/y", "wav", "#", "20000", "0"]  # no beep asked
    assert not agi.hung_up


def test_a_record_file_that_fails_after_a_hangup_line_is_the_caller_gone(wire):
    agi, peer = wire
    peer.sendall(b"HANGUP\n200 result=-1 (randomerror) endpos=0\n")
    with pytest.raises(CallerGone):
        agi.record_file("/var/voicemail/x", beep="")


# the header -------------------------------------------------------------------------------


def header_over(data: bytes, timeout=1.0, close=True):
    ours, peer = socket.socketpair()
    try:
        peer.sendall(data)
        if close:
            peer.shutdown(socket.SHUT_WR)
        return read_header(SocketLines(ours, timeout=5), timeout)
    finally:
        ours.close()
        peer.close()


def test_header_is_read_up_to_the_blank_line_and_keeps_what_follows():
    ours, peer = socket.socketpair()
    peer.sendall(b"agi_network: yes\nagi_network_script: ivr?mode=basic\nagi_callerid: 13800138000\n\nHANGUP\n")
    lines = SocketLines(ours, timeout=5)
    env = read_header(lines, 1.0)
    assert env["agi_network_script"] == "ivr?mode=basic"
    assert lines.readline() == "HANGUP\n"  # an early hangup is not lost with the header
    ours.close()
    peer.close()


@pytest.mark.parametrize("data", [
    b"agi_network: yes\n",  # truncated: no blank line
    b"\n",  # blank straight away
    b"GET / HTTP/1.1\nHost: x\n\n",  # a web browser
    b"agi_network: yes\nagi_callerid: 1\n\n",  # no script
    b"agi_x: y\n" * 200 + b"\n",  # too long
])
def test_bad_headers_are_refused(data):
    with pytest.raises(HeaderError):
        header_over(data)


def test_slow_header_is_cut_at_the_deadline():
    ours, peer = socket.socketpair()
    started = time.monotonic()
    with pytest.raises(socket.timeout):
        read_header(SocketLines(ours, timeout=5), 0.3)
    assert time.monotonic() - started < 1
    ours.close()
    peer.close()


# The fast paths must read every reply as pyst2's own parse would -----------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

from ivr.agi_wire import quoted as _quoted, reply_fields as _reply_fields  # noqa: E402

_REPLY_WORDS = st.one_of(
    st.sampled_from(["result=0", "result=-1", "result=49", "endpos=12345", "result=1", "result=", "=5", "x_y=1",
                     "(timeout)", "(dtmf)", "result=1 (hangup)", "endpos=0", "  ", "\t"]),
    st.text(alphabet="abcXYZ019=_-() \t", max_size=12),
)


def _pyst2_fields(text: str) -> dict:
    fields = {"result": ("", "")}
    for key, value, data in pyst2_agi.re_kv.findall(text):
        fields[key] = (value, data)
    return fields


@settings(max_examples=500, deadline=None)
@given(st.lists(_REPLY_WORDS, max_size=5).map(" ".join))
def test_the_fast_reply_parse_agrees_with_pyst2(text):
    fast = _reply_fields(text)
    assert fast is None or fast == _pyst2_fields(text)


def test_the_fast_reply_parse_takes_the_usual_replies():
    assert _reply_fields("result=49") == {"result": ("49", "")}
    assert _reply_fields("result=0 endpos=8000") == {"result": ("0", ""), "endpos": ("8000", "")}
    assert _reply_fields("result=1 (timeout)") is None  # data in parentheses: pyst2's parse


@given(st.text(max_size=40))
def test_quoting_keeps_every_argument_one_quoted_word(text):
    quoted = _quoted(text)
    assert quoted.startswith('"') and quoted.endswith('"')
    inner = quoted[1:-1]
    assert "\n" not in inner and "\r" not in inner
    # every quote and backslash inside is escaped: the word ends only at the last quote
    assert split_args(f"STREAM FILE {quoted} \"#\"")[2:] == [text.replace("\r", " ").replace("\n", " "), "#"]


def test_command_lines_keep_each_argument_as_written():
    """Command lines are cached; 1, 1.0 and True are equal keys but different words."""
    from ivr.agi_wire import command_line as _command_line

    assert _command_line("WAIT FOR DIGIT", 1) == "WAIT FOR DIGIT 1\n"
    assert _command_line("WAIT FOR DIGIT", True) == "WAIT FOR DIGIT True\n"
    assert _command_line("WAIT FOR DIGIT", 1.0) == "WAIT FOR DIGIT 1.0\n"
    assert _command_line(" NOOP ") == "NOOP\n"


def test_a_command_with_an_unhashable_argument_is_still_sent(wire):
    agi, peer = wire
    peer.sendall(b"200 result=0\n")
    agi.execute("VERBOSE", ["a", "list"], 1)
    assert sent(peer) == ["VERBOSE ['a', 'list'] 1"]


def test_a_reply_handed_out_is_the_callers_own(wire):
    """Parsed replies are cached: what one caller changes must not reach the next."""
    agi, peer = wire
    peer.sendall(b"200 result=0\n200 result=0\n")
    first = agi.execute("NOOP")
    first["result"] = ("changed", "")
    assert agi.execute("NOOP") == {"result": ("0", "")}


def test_a_minus_one_reply_still_means_hangup_on_the_fast_path(wire):
    agi, peer = wire
    peer.sendall(b"200 result=-1\n")
    with pytest.raises(CallerGone):
        agi.wait_for_digit(1000)
    assert agi.hung_up


@given(st.text(max_size=30), st.text(alphabet="0123456789*#", max_size=12), st.integers(0, 10**6))
def test_the_ready_made_lines_are_the_general_ones(filename, escape, offset):
    from ivr.agi_wire import command_line as _command_line
    from ivr.agi_wire import set_variable_line as _set_variable_line
    from ivr.agi_wire import stream_file_line as _stream_file_line

    assert _stream_file_line(filename, escape, offset) == _command_line(
        "STREAM FILE", _quoted(filename), _quoted(escape), offset)
    assert _set_variable_line(filename, escape) == _command_line("SET VARIABLE", _quoted(filename), _quoted(escape))


def test_the_key_table_reads_results_as_the_general_rule_does():
    from ivr.agi_wire import KEYS as _KEYS

    for result in ["", *map(str, range(256))]:
        if result in _KEYS:
            assert _KEYS[result] == HotlineAGI._key_by_code(result), result


# Bad input from an adversary on the FastAGI port ----------------------------------------------


@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_only_dtmf_keys_are_keys_whatever_number_comes_back(number):
    """`200 result=55296` once gave a lone surrogate as a key, which poisoned the call's
    record; any number that is not a DTMF key's code is no key."""
    ours, peer = socket.socketpair()
    try:
        agi = HotlineAGI(SocketLines(ours, timeout=2.0), {})
        peer.sendall(f"200 result={number}\n200 result={number} endpos=80\n".encode())
        key = agi.wait_for_digit(100) if number != -1 else ""
        played = agi.stream_file("x", "0123456789*#") if number != -1 else ""
        for got in (key, played):
            assert got == "" or (len(got) == 1 and got in "0123456789*#ABCD")
            assert got == (chr(number) if 0 < number < 0x110000 and chr(number) in "0123456789*#ABCD" else "")
    finally:
        ours.close()
        peer.close()


def test_a_lone_surrogate_code_is_no_key(wire):
    agi, peer = wire
    peer.sendall(b"200 result=55296\n")
    assert agi.wait_for_digit(100) == ""


def test_header_values_lose_their_control_characters():
    env = header_over(b"agi_network_script: ivr\nagi_callerid: 1380\x00013\x1b[2J8000\x7f\nagi_dnid: \xff4008\xc2\x85300762\n\n")
    assert env["agi_callerid"] == "1380013[2J8000"
    assert env["agi_dnid"] == "\ufffd4008300762"  # not UTF-8: replaced, and the C1 control removed


def test_a_header_line_of_control_characters_alone_is_refused():
    with pytest.raises(HeaderError):
        header_over(b"agi_network_script: ivr\n\x00\x01\nagi_callerid: 1\n\n")
