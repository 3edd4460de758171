"""Simplified Chinese by default; English on request, from a complete catalog."""
from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

import agent_console
from agent_console.translations import catalogs


def _msgids() -> set[str]:
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
    root = Path(agent_console.__file__).parent
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    return {msg for _, _, msg, _, _ in extract_from_dir(str(root), method_map=method_map, keywords=keywords)}


def test_every_console_text_has_an_english_translation_with_the_same_placeholders():
    (english,) = [path for path in catalogs() if "/en/" in str(path)]
    with english.open("rb") as handle:
        catalog = read_po(handle)
    translated = {m.id: m.string for m in catalog if m.id}
    missing = sorted(_msgids() - {k for k, v in translated.items() if v})
    assert missing == []
    for msgid, text in translated.items():
        assert re.findall(r"%\(\w+\)[ds]", msgid) == re.findall(r"%\(\w+\)[ds]", text), msgid


def test_the_console_switches_language_and_back(client, auth):
    auth.login()
    assert "工作台" in client.get("/").get_data(as_text=True)
    auth.post("/language/en", {"next": "/requests"})
    page = client.get("/requests").get_data(as_text=True)
    assert "Requests" in page and "Dashboard" in page and "工作台" not in page
    auth.post("/language/zh", {"next": "/"})
    assert "工作台" in client.get("/").get_data(as_text=True)


def test_a_label_written_into_a_template_follows_each_readers_language(app, client, auth):
    """Jinja folds a filter over a constant ('operator'|label, the accounts page's role list)
    into the compiled template: the first reader's language then stayed for everyone."""
    auth.login("admin")
    roles_on_page = re.compile(r'<select name="role" aria-label="[^"]*">(.*?)</select>', re.S)
    assert "话务员" in roles_on_page.search(client.get("/users").get_data(as_text=True)).group(1)
    auth.post("/language/en", {"next": "/"})
    english = roles_on_page.search(client.get("/users").get_data(as_text=True)).group(1)
    assert "Operator" in english and "Supervisor" in english and "话务员" not in english


def test_one_request_is_a_request_in_english(client, auth, console_services):
    """The menu's 工单 is "Requests"; a request's own page was headed "Requests HY…" too."""
    from sqlalchemy import select

    from db.models import ServiceRequest

    with console_services.sessions() as session:
        number = session.scalar(select(ServiceRequest.number).limit(1))
    auth.login()
    auth.post("/language/en", {"next": "/"})
    page = client.get(f"/requests/{number}").get_data(as_text=True)
    heading = re.sub(r"<[^>]+>", "", re.search(r"<h1>(.*?)</h1>", page, re.S).group(1))
    assert heading.startswith(f"Request {number}"), heading
    assert ">Requests</a>" in page  # the menu keeps its plural
    auth.post("/language/zh", {"next": "/"})
    heading = re.sub(r"<[^>]+>", "", re.search(r"<h1>(.*?)</h1>", client.get(f"/requests/{number}").get_data(as_text=True), re.S).group(1))
    assert heading.startswith(f"工单 {number}"), heading
