"""The menu file is validated at load and the errors name the node at fault."""
import copy
import datetime as dt
import tomllib
from zoneinfo import ZoneInfo

import pytest

from ivr.engine import CallStart, Engine, Finish, Key, Listen, Played, Timeout
from ivr.menu import MENU_FILE, MenuError, build_menu, load_menu
from ivr.prompts import ManifestError, load_manifest

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def manifest():
    return load_manifest()


@pytest.fixture
def document():
    return tomllib.loads(MENU_FILE.read_text(encoding="utf-8"))


def test_shipped_menu_loads(manifest):
    menu = load_menu(manifest=manifest)
    assert menu.node("main").kind == "menu"
    assert {n.category for n in menu.nodes.values() if n.kind == "route"} >= {
        "household", "repair", "elderly_care", "medical", "shopping_guide", "housing",
        "recruitment", "legal", "daily_life", "other",
    }


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["nodes"]["family_services"]["keys"].update({"3": "medicall"}),
     "node 'family_services': key '3' goes to unknown node 'medicall'"),
    (lambda d: d["nodes"]["main"].update(prompts=["main_menu", "no_such_prompt"]),
     "node 'main': prompt 'no_such_prompt' is not in the prompt manifest"),
    (lambda d: d["nodes"].update(orphan={"kind": "route", "queue": "general", "title": {"zh": "孤儿", "en": "Orphan"}}),
     "node 'orphan' is unreachable"),
    (lambda d: d["nodes"]["household"].update(category="gardening"),
     "node 'household': unknown service category 'gardening'"),
    (lambda d: d["nodes"]["emergency"].update(priority="asap"),
     "node 'emergency': priority must be normal, urgent or emergency"),
    (lambda d: d["nodes"]["main"].update(kind="carousel"),
     "node 'main': unknown kind 'carousel'"),
    (lambda d: d["nodes"]["main"].pop("keys"),
     "node 'main': a menu node needs keys"),
    (lambda d: d["nodes"]["main"].update(colour="red"),
     "node 'main': a menu node has no field colour"),
    (lambda d: d["nodes"]["main"]["keys"].update({"0": "jobs"}),
     "node 'main': key '0' is the operator key everywhere"),
    (lambda d: d["nodes"]["main"]["keys"].update({"*": "jobs"}),
     "node 'main': key '*' must be one digit"),
    (lambda d: d["nodes"]["welcome"]["options"].update({"4": "tlh"}),
     "node 'welcome': option '4' names unknown language 'tlh'"),
    (lambda d: d["menu"].update(start="nowhere"),
     "[menu]: start names unknown node 'nowhere'"),
    (lambda d: d["menu"].update(key_timeout_ms=10),
     "[menu]: 'key_timeout_ms' must be a whole number from 1000 to 60000"),
    (lambda d: d["hours"].update(open="21:00"),
     "[hours]: open must be before close"),
    (lambda d: d["hours"].update(holidays=["2026-13-01"]),
     "[hours]: needs weekdays"),
    (lambda d: d["nodes"]["emergency"].update(queue="Priority Queue"),
     "node 'emergency': queue 'Priority Queue' must be a short lower-case name"),
    # The console shows titles, never node or queue names: each must have one, in both languages.
    (lambda d: d["nodes"]["medical"].pop("title"),
     "node 'medical': a route node needs title"),
    (lambda d: d["nodes"]["medical"].update(title="医疗"),
     "node 'medical': 'title' must be a table with zh and en texts"),
    (lambda d: d["nodes"]["medical"]["title"].update(en=""),
     "node 'medical': 'title' must be a table with zh and en texts"),
    (lambda d: d["nodes"]["emergency"].update(queue="urgent"),
     "node 'emergency': queue 'urgent' has no title in [queues]"),
    (lambda d: d["queues"].update(general={"zh": "综合"}),
     "[queues]: 'general' must be a table with zh and en texts"),
])
def test_errors_name_the_node(document, manifest, edit, message):
    edit(document)
    with pytest.raises(MenuError) as error:
        build_menu(document, manifest)
    assert message in str(error.value)


def test_every_node_and_queue_has_a_title_in_both_languages(manifest):
    menu = load_menu(manifest=manifest)
    assert menu.node("medical").title == {"zh": "医疗服务", "en": "Medical services and escort"}
    assert menu.queue_titles["general"] == {"zh": "综合服务队列", "en": "General queue"}
    assert all(node.title.get("zh") and node.title.get("en") for node in menu.nodes.values())


def test_menus_deeper_than_two_levels_are_refused(document, manifest):
    document["nodes"]["family_services"]["keys"]["5"] = "deeper"
    title = {"zh": "更深", "en": "Deeper"}
    document["nodes"]["deeper"] = {"kind": "menu", "prompts": ["family_menu"], "keys": {"1": "deepest"}, "title": title}
    document["nodes"]["deepest"] = {"kind": "menu", "prompts": ["family_menu"], "keys": {"1": "household"}, "title": title}
    with pytest.raises(MenuError, match="node 'deepest' is 3 menus below 'main'; max_depth is 2"):
        build_menu(document, manifest)


@pytest.mark.parametrize(("removed", "message"), [
    ('yue = "你好,歡迎致電河源市家政服務熱線。"\n', "prompt welcome: no yue text"),
    ('hak_reading = "làng"\n', "prompt digits/0: no hak_reading"),  # Hakka needs it for the synthesiser
])
def test_a_prompt_missing_in_one_language_is_refused(tmp_path, removed, message):
    text = (MENU_FILE.parent / "prompts.toml").read_text(encoding="utf-8")
    broken = tmp_path / "prompts.toml"
    broken.write_text(text.replace(removed, ""), encoding="utf-8")
    with pytest.raises(ManifestError, match=message):
        load_manifest(broken)


def test_editing_the_menu_needs_no_code(document, manifest):
    """Swap two keys and rename a queue: the engine follows the data."""
    document["nodes"]["family_services"]["keys"].update({"1": "repair", "4": "household"})
    document["nodes"]["repair"]["queue"] = "repairs"
    document["queues"]["repairs"] = {"zh": "维修队列", "en": "Repairs queue"}
    engine = Engine(build_menu(document, manifest))
    state, action = engine.start(CallStart("cmn", True, True))
    for event in (Played(), Key("1"), Key("1")):
        state, action = engine.step(state, event)
    assert isinstance(action, Finish)
    assert (action.route.category, action.route.queue) == ("repair", "repairs")


def test_broken_menu_file(tmp_path):
    path = tmp_path / "menu.toml"
    path.write_text("[menu\n", encoding="utf-8")
    with pytest.raises(MenuError, match="not valid TOML"):
        load_menu(path)
    with pytest.raises(MenuError, match="cannot read menu file"):
        load_menu(tmp_path / "absent.toml")


# business hours -----------------------------------------------------------------------


@pytest.mark.parametrize(("local", "is_open"), [
    (dt.datetime(2026, 11, 27, 7, 59), False),
    (dt.datetime(2026, 11, 27, 8, 0), True),
    (dt.datetime(2026, 11, 27, 19, 59), True),
    (dt.datetime(2026, 11, 27, 20, 0), False),
    (dt.datetime(2026, 10, 1, 10, 0), False),  # holiday
    (dt.datetime(2026, 11, 29, 10, 0), True),  # Sunday: open every day
])
def test_business_hours(local, is_open):
    assert load_menu().hours.is_open(local.replace(tzinfo=SHANGHAI)) is is_open


def test_next_opening_skips_holidays():
    hours = load_menu().hours
    evening = dt.datetime(2026, 9, 30, 21, 0, tzinfo=SHANGHAI)
    assert hours.next_opening(evening) == dt.datetime(2026, 10, 4, 8, 0, tzinfo=SHANGHAI)
    early = dt.datetime(2026, 11, 27, 6, 0, tzinfo=SHANGHAI)
    assert hours.next_opening(early) == dt.datetime(2026, 11, 27, 8, 0, tzinfo=SHANGHAI)


def test_weekday_rules_and_makeup_workdays(document, manifest):
    document["hours"].update(weekdays=[1, 2, 3, 4, 5], workdays=["2026-11-28"])
    hours = build_menu(document, manifest).hours
    assert hours.is_open(dt.datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI))  # make-up Saturday
    assert not hours.is_open(dt.datetime(2026, 11, 29, 10, 0, tzinfo=SHANGHAI))  # Sunday


# the engine is pure: same inputs, same decisions ---------------------------------------------


def test_engine_is_deterministic_and_side_effect_free(manifest):
    engine = Engine(load_menu(manifest=manifest))
    start = CallStart(None, True, True)
    runs = []
    for _ in range(2):
        state, action = engine.start(start)
        trail = [action]
        for event in (Key("2"), Timeout(), Key("8"), Key("1"), Key("#"), Key("5")):
            state, action = engine.step(state, event)
            trail.append(action)
        runs.append(trail)
    assert runs[0] == runs[1]
    assert isinstance(runs[0][-1], Finish) and runs[0][-1].route.priority == "emergency"
    assert isinstance(runs[0][1], Listen)


def test_decisions_are_cached_and_the_same_as_uncached(manifest):
    """The engine's cache must change nothing but the cost: every event kind hashes, and
    a cached walk decides exactly what a fresh computation decides."""
    from ivr.engine import Digits, Recorded, RequestInfo, StatusResult

    assert all(hash(event) is not None for event in (Digits("1#"), Recorded(None), Recorded("/x.wav"), Played()))

    engine = Engine(load_menu(manifest=manifest))
    events = [Key("2"), Timeout(), Key("3"), StatusResult((RequestInfo("HY20261127001", "dispatched", 7),)),
              Played(), Key("*"), Key("0")]
    for walk in range(2):
        state, action = engine.start(CallStart(None, True, True))
        assert (state, action) == engine._start(CallStart(None, True, True))
        for event in events:
            if isinstance(action, Finish):
                break
            expected = engine._step(state, event)
            state, action = engine.step(state, event)
            assert (state, action) == expected
        assert isinstance(action, Finish)
    assert engine.step.cache_info().hits >= 4  # the second walk came from the cache


def test_failures_count_across_nodes(manifest):
    engine = Engine(load_menu(manifest=manifest))
    state, _ = engine.start(CallStart(None, True, True))
    state, _ = engine.step(state, Key("7"))  # invalid at the language menu
    state, _ = engine.step(state, Key("1"))
    state, _ = engine.step(state, Key("1"))  # family services
    state, _ = engine.step(state, Timeout())
    assert state.failures == 2
    state, action = engine.step(state, Key("9"))
    assert isinstance(action, Finish) and action.route.intent == "operator"


def test_document_is_not_mutated_by_loading(document, manifest):
    before = copy.deepcopy(document)
    build_menu(document, manifest)
    assert document == before
