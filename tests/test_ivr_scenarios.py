"""What a caller experiences, driven over real FastAGI connections in all three languages."""
import datetime as dt

import pytest
from sqlalchemy import select

from conftest import CLOSED_TIME
from db.models import CallbackReason, CallbackTask, Caller, CallOutcome, IvrOutcome, Language, RequestChannel, ServiceRequest
from db.session import make_session_factory

LANGUAGE_KEYS = {"cmn": "1", "yue": "2", "hak": "3"}
LANGUAGES = pytest.mark.parametrize("language", list(LANGUAGE_KEYS))

# Main menu → submenu → category, within two levels.
CATEGORY_KEYS = {
    "household": "1 1", "elderly_care": "1 2", "medical": "1 3", "repair": "1 4",
    "shopping_guide": "2 1", "housing": "2 2", "legal": "2 3", "daily_life": "2 4", "other": "2 5",
    "recruitment": "6",
}


def prompt_names(transcript):
    """zh_yue/main_menu, zh_cmn/digits/4 style names of what the caller heard."""
    names = []
    for path in transcript.heard:
        parts = path.split("/")
        folder = max(i for i, part in enumerate(parts) if part.startswith("zh_"))
        names.append("/".join(parts[folder:]))
    return names


def known_caller(ivr_db, phone: str, language: str) -> None:
    with make_session_factory(ivr_db).begin() as session:
        session.add(Caller(phone=phone, phone_kind="mobile", language=Language(language)))


# 1. greeting and language -------------------------------------------------------------------


def test_greeting_offers_each_language_in_its_own_language(dial):
    heard = prompt_names(dial("1 0"))
    assert heard[:7] == [
        "zh_cmn/welcome",
        "zh_cmn/language_option", "zh_cmn/digits/1",
        "zh_yue/language_option", "zh_yue/digits/2",
        "zh_hak/language_option", "zh_hak/digits/3",
    ]


@LANGUAGES
def test_choosing_a_language_runs_the_menu_in_it_and_remembers_it(dial, ivr_db, ivr_sessions, language):
    transcript = dial(f"{LANGUAGE_KEYS[language]} 0", caller="13711112222")
    assert prompt_names(transcript)[7:] == [f"zh_{language}/main_menu", f"zh_{language}/to_operator"]
    assert transcript.variables["HOTLINE_LANG"] == language
    assert transcript.variables["CHANNEL(language)"] == f"zh_{language}"
    with make_session_factory(ivr_db)() as session:
        assert session.scalar(select(Caller.language).where(Caller.phone == "13711112222")) is Language(language)


def test_no_key_asks_once_more_then_mandarin_without_remembering(dial, ivr_db, ivr_sessions):
    transcript = dial("- - 0", caller="13711113333")
    heard = prompt_names(transcript)
    assert heard.count("zh_cmn/welcome") == 2
    assert heard[14] == "zh_cmn/main_menu"
    assert transcript.variables["HOTLINE_LANG"] == "cmn"
    with make_session_factory(ivr_db)() as session:
        assert session.scalar(select(Caller.language).where(Caller.phone == "13711113333")) is None


@LANGUAGES
def test_returning_caller_is_greeted_in_their_language_and_may_press_9(dial, ivr_db, language):
    known_caller(ivr_db, "13722223333", language)
    heard = prompt_names(dial("9 1 0", caller="13722223333"))
    assert heard[:2] == [f"zh_{language}/welcome_back", f"zh_{language}/main_menu"]
    # The language menu again: greeting in the current language, options in their own.
    assert heard[2:5] == [f"zh_{language}/welcome", "zh_cmn/language_option", "zh_cmn/digits/1"]
    assert heard[-2:] == ["zh_cmn/main_menu", "zh_cmn/to_operator"]


# 2. the main menu reaches everything within two levels ------------------------------------------


@pytest.mark.parametrize(("category", "keys"), CATEGORY_KEYS.items())
def test_every_service_category_is_reachable(dial, category, keys):
    variables = dial(f"2 {keys}").variables
    assert variables["HOTLINE_CATEGORY"] == category
    assert variables["HOTLINE_QUEUE"] == "general"
    assert variables["HOTLINE_NEXT"] == "queue"
    assert variables["HOTLINE_LANG"] == "yue"


def test_complaint_emergency_and_jobs(dial):
    complaint = dial("3 4", caller="13000000001").variables
    assert (complaint["HOTLINE_INTENT"], complaint["HOTLINE_QUEUE"]) == ("complaint", "general")
    emergency = dial("3 5", caller="13000000002").variables
    assert (emergency["HOTLINE_PRIORITY"], emergency["HOTLINE_QUEUE"], emergency["HOTLINE_INTENT"]) == ("emergency", "priority", "emergency")
    jobs = dial("3 6", caller="13000000003").variables
    assert (jobs["HOTLINE_INTENT"], jobs["HOTLINE_CATEGORY"]) == ("jobs", "recruitment")


@LANGUAGES
def test_status_of_own_open_request_is_read_back(dial, language, ivr_db):
    """The demo caller 13800138000 has a dispatched request."""
    with make_session_factory(ivr_db)() as session:
        request = session.scalar(select(ServiceRequest).join(Caller).where(Caller.phone == "13800138000"))
        number, provider_id = request.number, request.dispatches[-1].provider_id
    with make_session_factory(ivr_db).begin() as session:
        session.scalar(select(Caller).where(Caller.phone == "13800138000")).language = Language(language)
    transcript = dial("3 0", caller="13800138000")
    heard = prompt_names(transcript)
    digits = [f"zh_{language}/digits/{d}" for d in number if d.isdigit()]
    start = heard.index(f"zh_{language}/status_number")
    assert heard[start + 1:start + 1 + len(digits)] == digits
    assert heard[start + 1 + len(digits):start + 5 + len(digits)] == [
        f"zh_{language}/status_is", f"zh_{language}/status_dispatched",
        f"zh_{language}/status_provider", f"zh_{language}/names/provider_{provider_id}",
    ]
    assert transcript.variables["HOTLINE_INTENT"] == "operator"


def test_status_by_keyed_number_when_the_caller_has_none(dial, ivr_db):
    with make_session_factory(ivr_db)() as session:
        number = session.scalar(select(ServiceRequest.number).join(Caller).where(Caller.phone == "15876230002"))
    keyed = "".join(d for d in number if d.isdigit())
    heard = prompt_names(dial(f"1 3 {keyed}# # 0", caller="13011112222"))
    assert heard[8:10] == ["zh_cmn/status_none", "zh_cmn/status_enter"]
    readback = heard.index("zh_cmn/status_new")
    # The '#' that ended the number did not skip the read-back; the next '#' went back.
    assert heard[readback + 1:] == ["zh_cmn/status_after", "zh_cmn/main_menu", "zh_cmn/to_operator"]


def test_entry_without_the_closing_hash_and_a_too_long_entry(dial, ivr_db):
    with make_session_factory(ivr_db)() as session:
        number = session.scalar(select(ServiceRequest.number).join(Caller).where(Caller.phone == "15876230002"))
    keyed = "".join(d for d in number if d.isdigit())
    assert "zh_cmn/status_new" in prompt_names(dial(f"1 3 {keyed} - 0", caller="13011112225"))
    too_long = prompt_names(dial(f"1 3 {keyed}7 0", caller="13011112226"))
    assert "zh_cmn/status_not_found" in too_long and "zh_cmn/status_new" not in too_long


def test_unknown_request_number_is_an_error_then_the_operator(dial):
    transcript = dial("1 3 209912310001# 209912310002# 209912310003#", caller="13011112223")
    heard = prompt_names(transcript)
    assert heard.count("zh_cmn/status_not_found") == 2
    assert transcript.variables["HOTLINE_INTENT"] == "operator"


@pytest.mark.parametrize("keys", ["1 0", "1 1 0", "1 2 0", "1 3 0", "1 3 0#", "1 3 1 0"])
def test_zero_reaches_the_operator_at_every_level(dial, keys):
    """Language menu, main, both submenus, request-number entry and the status menu."""
    variables = dial(keys, caller="13011112224").variables
    assert (variables["HOTLINE_INTENT"], variables["HOTLINE_QUEUE"]) == ("operator", "general")


def test_zero_at_the_language_menu(dial):
    assert dial("0").variables["HOTLINE_INTENT"] == "operator"


def test_star_repeats_and_hash_goes_back(dial):
    transcript = dial("1 1 * # 0")
    heard = prompt_names(transcript)
    assert heard[7:11] == ["zh_cmn/main_menu", "zh_cmn/family_menu", "zh_cmn/family_menu", "zh_cmn/main_menu"]
    assert transcript.variables["HOTLINE_INTENT"] == "operator"


def test_barge_in_during_a_prompt(dial):
    transcript = dial("2@300 1@200 3@100")
    assert transcript.variables["HOTLINE_CATEGORY"] == "medical"
    assert "zh_cmn/language_option" not in prompt_names(transcript)  # interrupted the greeting


# 3. invalid keys and timeouts --------------------------------------------------------------------


@LANGUAGES
def test_invalid_key_says_so_and_repeats_the_menu(dial, language):
    heard = prompt_names(dial(f"{LANGUAGE_KEYS[language]} 8 0"))
    assert heard[7:10] == [f"zh_{language}/main_menu", f"zh_{language}/invalid", f"zh_{language}/main_menu"]


@LANGUAGES
@pytest.mark.parametrize("mistakes", ["8 8 8", "- - -", "8 - 7", "1 8 -"])
def test_three_failures_in_total_reach_the_operator(dial, ivr_sessions, language, mistakes):
    transcript = dial(f"{LANGUAGE_KEYS[language]} {mistakes}")
    assert transcript.agi_status == "SUCCESS"  # nobody hung up on the caller
    assert transcript.variables["HOTLINE_NEXT"] == "queue"
    assert transcript.variables["HOTLINE_INTENT"] == "operator"
    assert prompt_names(transcript)[-1] == f"zh_{language}/to_operator"
    assert ivr_sessions()[-1].outcome is IvrOutcome.TO_OPERATOR


# 4. after hours ----------------------------------------------------------------------------------


@LANGUAGES
def test_after_hours_voicemail_becomes_a_request(dial, clock, ivr_db, ivr_sessions, language):
    clock.now = CLOSED_TIME
    transcript = dial(f"{LANGUAGE_KEYS[language]} 1 #@9000", caller="13733334444")
    heard = prompt_names(transcript)
    assert heard[7:9] == [f"zh_{language}/after_hours", f"zh_{language}/voicemail_intro"]
    assert heard[-1] == f"zh_{language}/voicemail_thanks"
    assert transcript.variables["HOTLINE_NEXT"] == "hangup"
    with make_session_factory(ivr_db)() as session:
        request = session.scalar(select(ServiceRequest).join(Caller).where(Caller.phone == "13733334444"))
        assert request.channel is RequestChannel.VOICEMAIL
        assert request.voicemail_file.endswith(".wav")
        assert request.category.code == "other"
    session_row = ivr_sessions()[-1]
    assert session_row.outcome is IvrOutcome.VOICEMAIL
    assert session_row.call.outcome is CallOutcome.VOICEMAIL


def test_after_hours_callback_is_booked_for_the_next_opening(dial, clock, ivr_db):
    clock.now = CLOSED_TIME  # Friday 22:30 local
    transcript = dial("2 2", caller="13733335555")
    assert prompt_names(transcript)[-1] == "zh_yue/callback_confirm"
    with make_session_factory(ivr_db)() as session:
        task = session.scalar(select(CallbackTask).where(CallbackTask.phone == "13733335555"))
    assert task.reason is CallbackReason.AFTER_HOURS
    assert task.language is Language.CANTONESE
    assert task.due_at == dt.datetime(2026, 11, 28, 0, 0, tzinfo=dt.timezone.utc)  # Saturday 08:00 local


def test_callback_survives_a_hangup_during_the_goodbye(dial, clock, ivr_db):
    clock.now = CLOSED_TIME
    transcript = dial("1 2 h", caller="13733336666")
    assert transcript.agi_status == "HANGUP"
    with make_session_factory(ivr_db)() as session:
        assert session.scalar(select(CallbackTask).where(CallbackTask.phone == "13733336666")) is not None


def test_a_voicemail_on_a_call_with_a_kilobyte_uniqueid_is_still_a_request(dial, clock, ivr_db, ivr_sessions):
    """The recording's name comes from agi_uniqueid: whole, it made a path longer than
    service_requests.voicemail_file (255), which PostgreSQL refuses."""
    clock.now = CLOSED_TIME
    uniqueid = "1764000000." + "7" * 3000
    transcript = dial("1 1 #@9000", caller="13733335555", extra_header={"agi_uniqueid": uniqueid})
    assert transcript.variables["HOTLINE_NEXT"] == "hangup"
    recorded = [detail for _, kind, detail in transcript.events if kind == "record"]
    assert recorded and recorded[0].endswith(f"voicemail-{uniqueid[:64]}.wav")
    with make_session_factory(ivr_db)() as session:
        request = session.scalar(select(ServiceRequest).join(Caller).where(Caller.phone == "13733335555"))
        assert request.voicemail_file == recorded[0] and len(request.voicemail_file) <= 255


def test_voicemail_beeps_with_our_own_tone_on_an_asterisk_without_core_sounds(dial, ivr_sessions):
    """Asterisk 22.10.1 with no core sounds answered RECORD FILE ... beep with "File beep does
    not exist" and `200 result=-1 (randomerror)`: the IVR took it for a hang-up, cut the caller
    off and kept no message. The IVR plays the beep from our prompts and asks for none."""
    transcript = dial("#@4000", caller="13799990011", script="ivr?start=voicemail&lang=cmn")
    assert prompt_names(transcript) == ["zh_cmn/voicemail_intro", "zh_cmn/beep", "zh_cmn/voicemail_thanks"]
    assert not [detail for _, kind, detail in transcript.events if kind == "warning"]
    assert [kind for _, kind, _ in transcript.events if kind == "record"] == ["record"]
    assert transcript.variables["HOTLINE_NEXT"] == "hangup"
    assert ivr_sessions()[-1].outcome is IvrOutcome.VOICEMAIL


def test_a_voicemail_that_cannot_be_recorded_sends_the_caller_to_an_operator(dial, ivr_sessions):
    """RECORD FILE fails with the caller still there (`200 result=-1 (writefile)`, no HANGUP
    line): not a hang-up. The caller goes to the operator queue, never a dead line."""
    transcript = dial("#@4000", caller="13799990012", script="ivr?start=voicemail&lang=yue", record_fails=True)
    assert transcript.agi_status != "HANGUP"
    assert (transcript.variables["HOTLINE_NEXT"], transcript.variables["HOTLINE_FALLBACK"]) == ("queue", "1")
    assert transcript.variables["HOTLINE_QUEUE"]
    assert ivr_sessions()[-1].outcome is not IvrOutcome.ABANDONED


def test_anonymous_caller_asking_for_a_callback_is_offered_voicemail(dial, clock):
    clock.now = CLOSED_TIME
    heard = prompt_names(dial("1 2 #@5000", caller="anonymous"))
    assert heard[-4:] == ["zh_cmn/callback_no_number", "zh_cmn/voicemail_intro", "zh_cmn/beep", "zh_cmn/voicemail_thanks"]


def test_after_hours_failures_go_to_voicemail_not_a_dead_queue(dial, clock):
    clock.now = CLOSED_TIME
    transcript = dial("1 - - #@4000")
    assert "zh_cmn/voicemail_intro" in prompt_names(transcript)


@pytest.mark.parametrize("keys", ["0", "7 7 7", "1 0"])
def test_after_hours_the_operator_key_and_failures_lead_to_voicemail(dial, clock, keys):
    """Even at the language menu, before the hours are checked: nobody staffs the queue."""
    clock.now = CLOSED_TIME
    transcript = dial(keys + " #@3000", caller="13733337777")
    assert "zh_cmn/voicemail_intro" in prompt_names(transcript)
    assert "HOTLINE_QUEUE" not in transcript.variables


def test_holiday_is_after_hours(dial, clock):
    clock.now = dt.datetime(2026, 10, 1, 3, 0, tzinfo=dt.timezone.utc)  # National Day, 11:00
    assert prompt_names(dial("1 0"))[7] == "zh_cmn/after_hours"


# 5. back to the dialplan, with every step stored -----------------------------------------------


def test_channel_variables_and_steps_are_stored(dial, ivr_sessions):
    transcript = dial("3 1 4", caller="13744445555")
    variables = transcript.variables
    assert {k: variables[k] for k in ("HOTLINE_LANG", "HOTLINE_CATEGORY", "HOTLINE_PRIORITY", "HOTLINE_QUEUE")} == {
        "HOTLINE_LANG": "hak", "HOTLINE_CATEGORY": "repair", "HOTLINE_PRIORITY": "normal", "HOTLINE_QUEUE": "general",
    }
    session_row = ivr_sessions()[-1]
    assert variables["HOTLINE_CALL_ID"] == session_row.call.uniqueid
    assert session_row.outcome is IvrOutcome.ROUTED
    assert session_row.end_node == "repair"
    assert [(s.node, s.prompt, s.key) for s in session_row.walk] == [
        ("welcome", "welcome", "3"), ("main", "main_menu", "1"), ("family_services", "family_menu", "4"),
    ]
    assert all(s.at.tzinfo is not None for s in session_row.walk)
    assert session_row.call.ivr_path == "welcome>open_check>main>family_services>repair"
    assert session_row.call.queue == "general"
    assert session_row.result["HOTLINE_CATEGORY"] == "repair"


# 6. hang-ups -------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["sighup", "eof"])
@pytest.mark.parametrize(("keys", "node"), [
    ("h", "welcome"), ("h@1500", "welcome"), ("2 h", "main"), ("2 1 h", "family_services"),
    ("2 3 h", "status_entry"), ("2 8 h", "main"),
])
def test_hangup_anywhere_is_saved_as_abandoned_at_that_node(dial, ivr_server, ivr_sessions, style, keys, node):
    transcript = dial(keys, caller="13755556666", hangup_style=style)
    assert transcript.agi_status == "HANGUP"
    session_row = ivr_sessions()[-1]
    assert session_row.outcome is IvrOutcome.ABANDONED
    assert session_row.end_node == node
    assert session_row.walk[-1].key == "hangup"
    assert session_row.call.outcome is CallOutcome.ABANDONED_IN_IVR
    assert ivr_server.live_calls == 0


def test_the_dialplan_can_start_the_ivr_at_voicemail_in_a_language(dial):
    """What a queue with nobody to answer does: `ivr?start=voicemail&lang=hak`."""
    transcript = dial("#@4000", caller="13799990000", script="ivr?start=voicemail&lang=hak")
    assert prompt_names(transcript) == ["zh_hak/voicemail_intro", "zh_hak/beep", "zh_hak/voicemail_thanks"]


def test_an_unknown_start_node_is_ignored(dial):
    assert prompt_names(dial("0", caller="13799990001", script="ivr?start=nowhere"))[0] == "zh_cmn/welcome"
