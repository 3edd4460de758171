"""Asterisk's configuration, rendered from our settings: linted, and consistent with the IVR."""
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from dialplans import contract, render
from emulator.ami_server import EVENT_CLASSES, LIST_EVENTS
from telephony import ami_service
from telephony.call_events import CHANNEL_VARIABLES, CallTracker
from telephony.callback_placer import CallbackPlacer
from telephony.screen_pop import ScreenPopPublisher
from telephony.wallboard import WallboardNotifier
from hotline.cli import cli
from hotline.context import AppContext
from ivr.handlers import handler_table
from ivr.menu import load_menu
from ivr.prompts import load_manifest
from tests.conftest import settings_in


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, cli_demo_template):
    """Rendered once for the module: every test reads the same files and changes none."""
    tmp_path = tmp_path_factory.mktemp("asterisk-config")
    runner = CliRunner()
    shutil.copy(cli_demo_template, tmp_path / "hotline.sqlite3")  # what db upgrade and demo-data leave
    app = AppContext(settings_in(tmp_path))
    result = runner.invoke(cli, ["asterisk-config", "--out", str(tmp_path / "asterisk"), "--show-sip-passwords"],
                           obj=app, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "asterisk"
    return {path.name: path.read_text(encoding="utf-8") for path in folder.iterdir()}, result.output


def context_of(text: str, name: str) -> str:
    match = re.search(rf"^\[{re.escape(name)}\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    assert match, f"no context [{name}]"
    return match.group(1)


def test_all_files_are_written(rendered):
    files, output = rendered
    assert set(files) == set(render.FILES)
    assert ("3 softphone(s); queues: hotline-general-cmn, hotline-general-yue, hotline-general-hak, hotline-priority"
            in output)
    assert re.search(r"1001\s+小陈\s+password [0-9a-f]{24}", output)


@pytest.mark.skipif(shutil.which("asterisklint") is None and not shutil.which(".venv/bin/asterisklint"),
                    reason="asterisklint-jjs is not installed (it is in the dev extras)")
def test_asterisklint_finds_nothing(rendered, tmp_path):
    files, _ = rendered
    path = tmp_path / "extensions.conf"
    path.write_text(files["extensions.conf"], encoding="utf-8")
    linter = shutil.which("asterisklint") or ".venv/bin/asterisklint"
    result = subprocess.run([linter, "dialplan-check", "--asterisk-version", "22", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_asterisklint_would_catch_a_broken_goto(rendered, tmp_path):
    """The lint step itself can fail: a Goto to a context that does not exist."""
    files, _ = rendered
    path = tmp_path / "extensions.conf"
    path.write_text(files["extensions.conf"].replace("Goto(hotline-queue,general,1)", "Goto(hotline-queu,general,1)"), encoding="utf-8")
    linter = shutil.which("asterisklint") or ".venv/bin/asterisklint"
    result = subprocess.run([linter, "dialplan-check", "--asterisk-version", "22", str(path)], capture_output=True, text=True)
    assert result.returncode == 1


def queues_the_dialplan_names(text: str, context: str) -> set[str]:
    """Every Asterisk queue a context's Queue() can name, ${HOTLINE_QUEUE_LANG} expanded
    to each language [hotline-queue-language] sets."""
    languages = re.findall(r"Set\(HOTLINE_QUEUE_LANG=(\w+)\)", context_of(text, "hotline-queue-language"))
    named = set()
    for queue in re.findall(r"Queue\(([^,]+),", context_of(text, context)):
        named |= {queue.replace("${HOTLINE_QUEUE_LANG}", language) for language in languages} if "${" in queue else {queue}
    return named


def test_every_menu_queue_exists_in_queues_conf_and_the_dialplan(rendered):
    files, _ = rendered
    menu = load_menu()
    queues = {node.queue for node in menu.nodes.values() if node.kind == "route"}
    defined = set(re.findall(r"^\[([\w-]+)\]", files["queues.conf"], re.M)) - {"general"}
    queue_context = context_of(files["extensions.conf"], "hotline-queue")
    for queue in queues:
        assert f"exten => {queue},1," in queue_context
        assert f"exten => {queue},1," in context_of(files["extensions.conf"], "hotline-callback-hold")
    # Normal queues are split by the caller's language; the emergency queue is not.
    assert queues_the_dialplan_names(files["extensions.conf"], "hotline-queue") == defined == {
        "hotline-general-cmn", "hotline-general-yue", "hotline-general-hak", "hotline-priority"}
    assert queues_the_dialplan_names(files["extensions.conf"], "hotline-callback-hold") == defined
    assert "QUEUE_PRIO=10" in context_of(files["extensions.conf"], "hotline-queue").split("exten => priority")[1]


def test_queue_rules_raise_the_penalty_after_each_languages_wait(rendered):
    """Hakka and Cantonese callers wait 20 s (defaults.toml) for a speaker, then anyone may
    answer; Mandarin callers may go to anyone at once. Every rule the dialplan names exists."""
    files, _ = rendered
    rules = {name: body for name, body in re.findall(r"^\[([\w-]+)\]\n(.*?)(?=^\[|\Z)", files["queuerules.conf"], re.M | re.S)}
    assert {name: re.findall(r"^penaltychange => (.*)$", body, re.M) for name, body in rules.items()} == {
        "hotline-lang-yue": ["20,3"], "hotline-lang-hak": ["20,3"]}
    languages = context_of(files["extensions.conf"], "hotline-queue-language")
    named = {rule for rule in re.findall(r"Set\(HOTLINE_QUEUE_RULE=([\w-]*)\)", languages) if rule}
    assert named == set(rules)
    assert re.findall(r"Set\(QUEUE_MAX_PENALTY=(\d+)\)", languages) == ["3", "1", "1"]  # cmn, yue, hak
    # Queue()'s 8th argument is the rule.
    for arguments in re.findall(r"Queue\((hotline-general[^)]*)\)", files["extensions.conf"]):
        assert arguments.split(",")[7] == "${HOTLINE_QUEUE_RULE}"


def test_no_caller_is_held_behind_an_announcement_and_emergencies_ring_everyone(rendered):
    files, _ = rendered
    sections = dict(re.findall(r"^\[([\w-]+)\]\n(.*?)(?=^\[|\Z)", files["queues.conf"], re.M | re.S))
    settings = {name: dict(re.findall(r"^([\w-]+) = (.*)$", body, re.M)) for name, body in sections.items()}
    assert settings["general"]["autofill"] == "yes"
    for name in ("hotline-general-cmn", "hotline-general-yue", "hotline-general-hak", "hotline-priority"):
        assert settings[name]["announce-frequency"] == "0" and settings[name]["announce-holdtime"] == "no"
        assert int(settings[name]["retry"]) <= 1
    for name in ("hotline-general-cmn", "hotline-general-yue", "hotline-general-hak"):
        assert settings[name]["periodic-announce"] == "queue_callback_offer"
        assert settings[name]["periodic-announce-frequency"] == "60"  # asterisk.callback_offer_after
        assert settings[name]["announce-to-first-user"] == "yes"
    emergency = settings["hotline-priority"]
    assert emergency["strategy"] == "ringall" and "periodic-announce" not in emergency
    assert emergency["announce-to-first-user"] == "no"


def test_every_agi_script_of_the_dialplan_has_a_handler(rendered, ivr_services):
    files, _ = rendered
    scripts = set(re.findall(r"AGI\(\$\{HOTLINE_FASTAGI\}/([a-z_]+)", files["extensions.conf"]))
    assert scripts == {"ivr", "queue_callback", "survey"}
    assert scripts <= set(handler_table(ivr_services))
    for start in re.findall(r"ivr\?start=([a-z_]+)", files["extensions.conf"]):
        assert start in load_menu().nodes


def test_the_contract_names_what_the_dialplan_and_the_code_share(rendered):
    """Every HOTLINE_ variable the rendered files spell is named in dialplans/contract.py,
    and every name there is spelled by the rendered files (or is one the dialplan only
    carries, for the call's record); its contexts and scripts exist."""
    files, _ = rendered
    text = "\n".join(files.values())
    spelled = set(re.findall(r"\b(HOTLINE_[A-Z_]+)\b", text))
    named = {value for name, value in vars(contract).items()
             if name.isupper() and isinstance(value, str) and value.startswith("HOTLINE_") and value != contract.IVR_PREFIX}
    carried_only = {contract.DEMO_AT}  # set by the IVR for people: kept with its session, shown by `hotline call`
    assert spelled <= named
    assert named - carried_only <= spelled
    defined = set(re.findall(r"^\[([\w-]+)\]", files["extensions.conf"], re.M))
    contexts = {value for name, value in vars(contract).items() if name.endswith("_CONTEXT")}
    assert contexts <= defined
    scripts = set(re.findall(r"AGI\(\$\{HOTLINE_FASTAGI\}/([a-z_]+)", files["extensions.conf"]))
    assert scripts == {contract.IVR_SCRIPT, contract.QUEUE_CALLBACK_SCRIPT, contract.SURVEY_SCRIPT}


def test_every_context_named_anywhere_exists(rendered):
    files, _ = rendered
    defined = set(re.findall(r"^\[([\w-]+)\]", files["extensions.conf"], re.M))
    referenced = set(re.findall(r"Goto(?:If)?\([^)]*?\b(hotline-[\w-]+),", files["extensions.conf"]))
    referenced |= set(re.findall(r"^context = ([\w-]+)", files["queues.conf"], re.M))
    referenced |= set(re.findall(r"^context = ([\w-]+)", files["pjsip.conf"], re.M))
    assert referenced and referenced <= defined


def test_every_variable_the_dialplan_reads_is_set_somewhere(rendered, dial):
    files, _ = rendered
    dialplan = files["extensions.conf"]
    read = set(re.findall(r"\$\{(HOTLINE_\w+)\}", dialplan))
    set_in_dialplan = set(re.findall(r"Set\(_{0,2}(HOTLINE_\w+)=", dialplan))
    globals_ = set(re.findall(r"^(HOTLINE_\w+)=", context_of(dialplan, "globals"), re.M))
    by_ivr = set(dial("2 1 3", caller="13755550000").variables) | set(dial("0", caller="13755550001").variables)
    by_queue_callback = {"HOTLINE_CALLBACK_BOOKED", "HOTLINE_CALLBACK_ID"}
    unset = read - set_in_dialplan - globals_ - by_ivr - by_queue_callback - set(contract.ORIGINATE_VARIABLES)
    assert unset == set()
    channelvars = re.search(r"^channelvars = (.*)$", files["manager.conf"], re.M).group(1).split(",")
    assert set(channelvars) <= by_ivr | set_in_dialplan | by_queue_callback | set(contract.ORIGINATE_VARIABLES)


def test_a_voicemail_that_kept_nothing_is_followed_by_the_operator_queue_once(rendered):
    """Nobody in the queue: voicemail. If it could not record (the IVR then leaves
    HOTLINE_NEXT=queue) or the IVR is down, the caller tries the operators once more
    instead of a hang-up; a second time ends the call (no loop when nobody is logged in)."""
    files, _ = rendered
    queue_context = context_of(files["extensions.conf"], "hotline-queue")
    after_voicemail = [line for line in queue_context.split("ivr?start=", 1)[1].splitlines() if not line.lstrip().startswith(";")]
    assert re.search(r'GotoIf\(.*"\$\{AGISTATUS\}" = "HANGUP".*"\$\{HOTLINE_NEXT\}" = "hangup".*'
                     r'"\$\{HOTLINE_OPERATOR_RETRY\}" = "1".*\?done\)', after_voicemail[1])
    assert "Set(HOTLINE_OPERATOR_RETRY=1)" in after_voicemail[2]
    assert re.search(r"Goto\(hotline-queue,\w+,1\)", after_voicemail[3])
    assert "Set(HOTLINE_NEXT=)" in queue_context.split("ivr?start=", 1)[0].splitlines()[-2]  # a stale "queue" is no signal


def test_sounds_asterisk_plays_exist_in_every_language(rendered):
    """app_queue's announcements and say.c's Chinese numbers come from our prompts."""
    files, _ = rendered
    manifest = load_manifest()
    needed = set(re.findall(r"^periodic-announce = (\S+)", files["queues.conf"], re.M))
    needed |= {"queue-thereare", "queue-callswaiting", "queue-youarenext", "queue-holdtime", "queue-minutes",
               "queue-seconds", "queue-thankyou", "queue-less-than"}
    needed |= {f"digits/{n}" for n in [*range(10), *range(10, 100, 10)]} | {"digits/hundred", "digits/thousand", "digits/wan", "digits/yi"}
    assert needed <= set(manifest.prompts)


def test_ami_account_has_least_privilege(rendered):
    files, _ = rendered
    read = re.search(r"^read = (.*)$", files["manager.conf"], re.M).group(1).split(",")
    assert "agi" not in read and "all" not in read
    assert "bindaddr = 127.0.0.1" in files["manager.conf"]


def test_every_event_the_ami_link_relies_on_reaches_its_account(rendered):
    """Asterisk sends an account only the events whose class is in its read classes and in
    the mask it logged in with; variables come only as channelvars (no VarSet without
    the dialplan class). Whatever the call tracker or its listeners act on must come."""
    files, _ = rendered
    manager = files["manager.conf"]
    read = set(re.search(r"^read = (.*)$", manager, re.M).group(1).split(","))
    delivered = read & set(ami_service.EVENT_CLASSES)
    classes = {name.lower(): event_class for name, event_class in EVENT_CLASSES.items()}
    answers = {name.lower() for name in LIST_EVENTS}  # to the link's own actions
    relied_on = {name.removeprefix("_on_") for name in dir(CallTracker) if name.startswith("_on_")}
    relied_on |= {name.lower() for listener in (CallbackPlacer, ScreenPopPublisher, WallboardNotifier)
                 for name in listener.EVENTS}
    assert relied_on - set(classes) - answers == set(), "name their Asterisk class in emulator/ami_server.py"
    assert {name: classes[name] for name in relied_on - answers if classes[name] not in delivered} == {}
    channelvars = set(re.search(r"^channelvars = (.*)$", manager, re.M).group(1).split(","))
    assert set(CHANNEL_VARIABLES) | set(contract.SCREEN_POP_VARIABLES) <= channelvars


def test_calls_out_through_the_trunk_present_the_hotline_number(rendered, settings):
    """On Asterisk 22.10.1 a call-back's dialling half takes the caller ID of the operator
    who answered the placeholder (NewCallerid 1001), and a console call starts on the
    operator's phone: Dial would present an extension, or the callee's own number, to the
    caller. Every Dial through the carrier's trunk presents the 400 number instead."""
    files, _ = rendered
    dials = [line for line in files["extensions.conf"].splitlines() if "Dial(PJSIP/" in line and "@hotline-trunk" in line]
    assert len(dials) == 3  # the call-back, and the console's calls to mobiles and to landlines
    for line in dials:
        assert re.search(r"Dial\(PJSIP/[^,]+@hotline-trunk,\d+,f\(" + settings.phone.hotline_number + r"\)\)", line), line


def test_trunk_and_softphones(rendered):
    files, _ = rendered
    pjsip = files["pjsip.conf"]
    assert "server_uri = sip:sip.carrier.example" in pjsip
    for extension in ("1001", "1002", "1003"):
        assert f"[{extension}](operator-phone)" in pjsip
    assert "context = hotline-agents" in pjsip
