"""Routing by language on the emulator: operators sign in through the desk (penalties by
language), callers go through the IVR and the dialplan's queue choice (caller_route),
and the emulated app_queue offers them by penalty, rule and ringall."""
import pytest
from sqlalchemy import select

from db.languages import split_queue
from db.languages import set_languages
from db.models import Fluency, Language, User
from db.session import make_session_factory
from emulator.agi_channel import CallSpec, parse_keys
from emulator.ami_server import AmiServer
from emulator.switch import Switch
from dialplans import contract
from dialplans.render import asterisk_queues, caller_route
from telephony.ami import AmiLink
from ivr.menu import load_menu
from telephony.operator_desk import OperatorDesk

HAKKA_HOUSEHOLD, MANDARIN_HOUSEHOLD, MANDARIN_EMERGENCY = "3 1 1", "1 1 1", "1 5"
SPEAKS = {
    "1001": {Language.HAKKA: Fluency.NATIVE, Language.MANDARIN: Fluency.FLUENT},
    "1002": {Language.MANDARIN: Fluency.NATIVE},
    "1003": {Language.CANTONESE: Fluency.NATIVE, Language.MANDARIN: Fluency.FLUENT},
}


def hotline(settings, ivr_db, ivr_server, clock, log_in=("1002", "1001", "1003")):
    """An emulated Asterisk whose queues follow `settings`, the operators in `log_in`
    signed in through the desk (in that order: the first is app_queue's first choice
    between equals)."""
    menu = load_menu()
    server = AmiServer().start()
    link = AmiLink("127.0.0.1", server.port, "hotline", "development-ami-secret", event_mask="off").start()
    assert link.wait_connected(3)
    sessions = make_session_factory(ivr_db)
    desk = OperatorDesk(link, sessions, [(q.asterisk_name, q.language) for q in asterisk_queues(menu, settings.asterisk)])
    with sessions() as session:
        for extension in log_in:
            user = session.scalar(select(User).where(User.sip_extension == extension))
            set_languages(session, user, dict(SPEAKS[extension]), None)
            session.commit()
            desk.login(user)
    switch = Switch(server, clock=lambda: clock.now.timestamp(),
                    routes=lambda queue, language: caller_route(menu, settings.asterisk, queue, language))
    host, port = ivr_server.address

    def call(keys: str, caller: str):
        return switch.call(CallSpec(caller=caller, host=host, port=port, events=parse_keys(keys)))

    return server, link, call


@pytest.fixture
def emulated(settings, ivr_db, ivr_server, clock):
    opened = []

    def start(**kwargs):
        server, link, call = hotline(settings, ivr_db, ivr_server, clock, **kwargs)
        opened.append((server, link))
        return server, call

    yield start
    for server, link in opened:
        link.stop()
        server.stop()


def test_a_hakka_caller_is_offered_to_the_hakka_speaker_not_to_a_mandarin_only_one_also_free(emulated):
    server, call = emulated()
    hakka = call(HAKKA_HOUSEHOLD, "13700000101")
    assert hakka.transcript.variables[contract.LANG] == "hak"
    assert hakka.asterisk_queue == "hotline-general-hak"
    # 1002 (Mandarin only) signed in first and is free, as is 1003: only 1001 is offered it.
    assert hakka.rung == ["PJSIP/1001"] and hakka.agent == "PJSIP/1001"
    assert hakka.offered_after == 0


def test_with_no_hakka_speaker_free_the_caller_reaches_anyone_after_the_configured_wait(emulated):
    server, call = emulated()
    first = call(HAKKA_HOUSEHOLD, "13700000102")
    assert first.agent == "PJSIP/1001"  # the only Hakka speaker is now busy (95 s talk)
    second = call(HAKKA_HOUSEHOLD, "13700000103")
    # language_wait_hak = 20 (defaults.toml): then anyone, within the queue's 1 s recheck.
    assert second.agent in ("PJSIP/1002", "PJSIP/1003")
    assert 20 <= second.offered_after <= 21


def test_the_wait_is_the_configured_one(settings, ivr_db, ivr_server, clock):
    from config import load_settings

    shorter = load_settings(environ={}, overrides={**{key: settings.get(key) for key in (
        "database.url", "app.data_dir", "ivr.port")}, "asterisk.language_wait_hak": 8})
    server, link, call = hotline(shorter, ivr_db, ivr_server, clock, log_in=("1002",))
    try:
        waited = call(HAKKA_HOUSEHOLD, "13700000104")
        assert waited.agent == "PJSIP/1002" and 8 <= waited.offered_after <= 9
    finally:
        link.stop()
        server.stop()


def test_a_mandarin_caller_goes_to_anyone_at_once_natives_first(emulated):
    server, call = emulated(log_in=("1001", "1002"))
    native = call(MANDARIN_HOUSEHOLD, "13700000105")
    # Both free: the native Mandarin speaker, though 1001 signed in first (kept for Hakka callers).
    assert native.asterisk_queue == "hotline-general-cmn"
    assert native.rung == ["PJSIP/1002"] and native.offered_after == 0
    anyone = call(MANDARIN_HOUSEHOLD, "13700000106")
    assert anyone.rung == ["PJSIP/1001"] and anyone.offered_after == 0  # no wait for a Mandarin caller


def test_an_emergency_caller_rings_every_free_operator_at_once(emulated):
    server, call = emulated()
    busy = call(HAKKA_HOUSEHOLD, "13700000107")
    assert busy.agent == "PJSIP/1001"
    emergency = call(MANDARIN_EMERGENCY, "13700000108")
    assert emergency.asterisk_queue == "hotline-priority"
    assert sorted(emergency.rung) == ["PJSIP/1002", "PJSIP/1003"]  # every free one, whatever their languages
    assert emergency.offered_after == 0 and emergency.agent in emergency.rung


def test_with_language_routing_off_a_hakka_caller_goes_to_whoever_is_first_free(settings, ivr_db, ivr_server, clock):
    from config import load_settings

    plain = load_settings(environ={}, overrides={**{key: settings.get(key) for key in (
        "database.url", "app.data_dir", "ivr.port")}, "asterisk.language_routing": False})
    server, link, call = hotline(plain, ivr_db, ivr_server, clock)
    try:
        hakka = call(HAKKA_HOUSEHOLD, "13700000109")
        assert hakka.asterisk_queue == "hotline-general" and hakka.rung == ["PJSIP/1002"]
    finally:
        link.stop()
        server.stop()


def test_language_queue_names_lead_back_to_the_menus_queue():
    assert split_queue("hotline-general-hak", "hotline-") == ("general", Language.HAKKA)
    assert split_queue("hotline-priority", "hotline-") == ("priority", None)
    assert split_queue("hotline-after-hours", "hotline-") == ("after-hours", None)
