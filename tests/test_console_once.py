"""Each console form is sent once (agent_console/once.py): a form sent twice, even two
at once, saves once; a form refused keeps its token for the corrected one."""
from __future__ import annotations

import threading
import uuid

from sqlalchemy import func, select

from db.models import FormSubmission, TrainingSession
from tests.test_console_security import console_on_each_database  # noqa: F401 (a fixture)

COURSE = {"held_on": "2026-11-20", "trainer": "罗医生", "place": "东源县", "hours": "8"}


def _sessions_of(app, course: str) -> int:
    with app.extensions["hotline"].sessions() as session:
        return session.scalar(select(func.count()).where(TrainingSession.course == course))


def _signed_in(app, account):
    client = app.test_client()
    assert client.post("/login", data={"username": account[0], "password": account[1]}).status_code == 302
    return client


def test_a_form_sent_twice_saves_once(console_on_each_database):
    app, account = console_on_each_database
    client = _signed_in(app, account)
    token = str(uuid.uuid4())
    form = {**COURSE, "course": "急救常识", "once": token}
    first = client.post("/training", data=form)
    assert first.status_code == 302 and "/training/" in first.location
    again = client.post("/training", data=form, headers={"Referer": "http://localhost/training"})
    assert again.status_code == 302 and again.location.endswith("/training")
    assert "已经提交过" in client.get("/training").get_data(as_text=True)
    assert _sessions_of(app, "急救常识") == 1
    # Another form (another token) is another session, as asked.
    assert client.post("/training", data={**form, "once": str(uuid.uuid4())}).status_code == 302
    assert _sessions_of(app, "急救常识") == 2
    with app.extensions["hotline"].sessions() as session:
        spent = session.get(FormSubmission, token)
        assert spent is not None and spent.user_id is not None


def test_a_refused_form_keeps_its_token_for_the_corrected_one(console_on_each_database):
    app, account = console_on_each_database
    client = _signed_in(app, account)
    token = str(uuid.uuid4())
    refused = client.post("/training", data={**COURSE, "course": "护理入门", "held_on": "not a date", "once": token})
    assert refused.status_code == 200 and _sessions_of(app, "护理入门") == 0
    assert client.post("/training", data={**COURSE, "course": "护理入门", "once": token}).status_code == 302
    assert _sessions_of(app, "护理入门") == 1


def test_two_sends_at_once_save_once(console_on_each_database):
    app, account = console_on_each_database
    clients = [_signed_in(app, account) for _ in range(2)]
    form = {**COURSE, "course": "家政礼仪", "once": str(uuid.uuid4())}
    start, answers = threading.Barrier(2, timeout=5), []

    def send(client):
        start.wait()
        answers.append(client.post("/training", data=form).status_code)

    threads = [threading.Thread(target=send, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(answers) == [302, 302]  # the second is sent back with a word, not an error
    assert _sessions_of(app, "家政礼仪") == 1


def test_a_token_that_is_no_token_is_refused_and_posts_without_one_go_on(console_on_each_database):
    app, account = console_on_each_database
    client = _signed_in(app, account)
    for bad in ("1", "x" * 36, "../../etc/passwd", "DROP TABLE form_submissions"):
        assert client.post("/training", data={**COURSE, "course": "坏令牌", "once": bad}).status_code == 400
    assert _sessions_of(app, "坏令牌") == 0
    # The API, Twilio and scripts post without one: nothing changes for them.
    assert client.post("/training", data={**COURSE, "course": "无令牌"}).status_code == 302
    assert client.post("/training", data={**COURSE, "course": "无令牌"}).status_code == 302
    assert _sessions_of(app, "无令牌") == 2


def test_a_form_sent_again_goes_back_only_to_a_page_of_this_site(console_on_each_database):
    app, account = console_on_each_database
    client = _signed_in(app, account)
    form = {**COURSE, "course": "消防安全", "once": str(uuid.uuid4())}
    assert client.post("/training", data=form).status_code == 302
    for referer, back in (("http://localhost//evil.example/x", "/"), ("http://localhost/\\evil.example", "/"),
                          ("http://evil.example/training", "/training")):  # its path, on this site
        again = client.post("/training", data=form, headers={"Referer": referer})
        assert again.status_code == 302 and again.location == back, referer
    assert _sessions_of(app, "消防安全") == 1
