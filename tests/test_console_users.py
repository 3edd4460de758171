"""Admins manage accounts; every change is audited and takes effect at once."""
from __future__ import annotations

from sqlalchemy import select

from db.models import AuditEntry, Role, User


def _user(console_services, username):
    with console_services.sessions() as session:
        return session.scalar(select(User).where(User.username == username))


def test_an_admin_creates_an_operator_who_can_then_sign_in(app, client, auth, console_services):
    auth.login("admin")
    response = auth.post("/users", {"username": "xiaoli", "display_name": "话务员 小李", "role": "operator",
                                    "sip_extension": "1004", "password": "xiaoli-2026-pw"}, page="/users")
    assert response.status_code == 302
    created = _user(console_services, "xiaoli")
    assert created.role == Role.OPERATOR and created.sip_extension == "1004"
    again = auth.post("/users", {"username": "xiaoli", "display_name": "x", "role": "operator", "password": "another-pw-1"},
                      page="/users")
    assert "已存在" in again.get_data(as_text=True)
    short = auth.post("/users", {"username": "xiaozhao", "display_name": "x", "role": "operator", "password": "short"},
                      page="/users")
    assert short.status_code == 200 and _user(console_services, "xiaozhao") is None
    auth.logout()
    assert auth.login("xiaoli", "xiaoli-2026-pw").status_code == 302


def test_role_extension_and_password_changes_are_audited_and_end_old_sessions(app, auth, console_services):
    operator_client = app.test_client()
    from tests.conftest import AuthActions
    operator = AuthActions(operator_client)
    operator.login("operator")
    assert operator_client.get("/").status_code == 200
    auth.login("admin")
    target = _user(console_services, "operator")
    conflict = auth.post(f"/users/{target.id}", {"role": "operator", "sip_extension": "1002"}, page="/users")
    assert _user(console_services, "operator").sip_extension == "1001"  # 1002 is the supervisor's
    auth.post(f"/users/{target.id}", {"role": "supervisor", "sip_extension": "1009", "password": "brand-new-pw-1"},
              page="/users")
    changed = _user(console_services, "operator")
    assert changed.role == Role.SUPERVISOR and changed.sip_extension == "1009"
    assert operator_client.get("/").status_code == 302  # the old password's session is over
    with console_services.sessions() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.entity_type == "users", AuditEntry.entity_id == target.id,
                                                        AuditEntry.action == "update"))
        assert entry.details["role"] == ["operator", "supervisor"] and entry.details["password"] == "reset"
    assert conflict.status_code == 302


def test_a_deactivated_account_is_signed_out_and_cannot_sign_in(app, auth, console_services):
    from tests.conftest import AuthActions

    operator_client = app.test_client()
    AuthActions(operator_client).login("operator")
    auth.login("admin")
    target = _user(console_services, "operator")
    auth.post(f"/users/{target.id}/active", page="/users")  # one click: refused
    assert _user(console_services, "operator").active is True
    assert operator_client.get("/").status_code == 200
    auth.post(f"/users/{target.id}/active", {"confirm": "y"}, page="/users")
    assert _user(console_services, "operator").active is False
    assert operator_client.get("/").status_code == 302
    assert "不正确" in AuthActions(app.test_client()).login("operator").get_data(as_text=True)
    me = _user(console_services, "admin")
    auth.post(f"/users/{me.id}/active", {"confirm": "y"}, page="/users")
    assert _user(console_services, "admin").active is True  # not oneself



def test_an_admin_cannot_take_away_their_own_role(client, auth, console_services):
    """As with deactivating oneself: an admin who made themselves an operator lost the
    accounts page at once, and with no other admin nobody could give it back in the console."""
    auth.login("admin")
    me = _user(console_services, "admin")
    response = auth.post(f"/users/{me.id}", {"role": "operator", "sip_extension": me.sip_extension or ""}, page="/users")
    assert "不能更改自己的角色" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert _user(console_services, "admin").role == Role.ADMIN
    kept = auth.post(f"/users/{me.id}", {"role": "admin", "sip_extension": "1099"}, page="/users")
    assert kept.status_code == 302 and _user(console_services, "admin").sip_extension == "1099"  # the rest may change


def test_an_admin_records_an_operators_languages_audited_and_the_desk_shows_them(app, client, auth, console_services):
    from db.models import Fluency, Language
    from tests.conftest import AuthActions

    auth.login("admin")
    target = _user(console_services, "operator")
    page = client.get("/users").get_data(as_text=True)
    assert 'name="lang_hak"' in page and "客家话" in page and "母语" in page
    auth.post(f"/users/{target.id}/languages", {"lang_cmn": "fluent", "lang_yue": "", "lang_hak": "native"}, page="/users")
    with console_services.sessions() as session:
        spoken = {row.language: row.fluency for row in session.get(User, target.id).languages}
        entry = session.scalar(select(AuditEntry).where(AuditEntry.entity_type == "users", AuditEntry.entity_id == target.id,
                                                        AuditEntry.action == "update"))
    assert spoken == {Language.MANDARIN: Fluency.FLUENT, Language.HAKKA: Fluency.NATIVE}
    assert entry.details["languages"] == [{}, {"cmn": "fluent", "hak": "native"}]
    # Changing one language keeps the other; an unknown fluency changes nothing.
    auth.post(f"/users/{target.id}/languages", {"lang_cmn": "native", "lang_hak": "native"}, page="/users")
    refused = auth.post(f"/users/{target.id}/languages", {"lang_cmn": "perfect", "lang_hak": ""}, page="/users")
    assert refused.status_code == 302
    with console_services.sessions() as session:
        spoken = {row.language: row.fluency for row in session.get(User, target.id).languages}
    assert spoken == {Language.MANDARIN: Fluency.NATIVE, Language.HAKKA: Fluency.NATIVE}
    auth.logout()
    operator_client = app.test_client()
    AuthActions(operator_client).login("operator")
    desk = operator_client.get("/desk").get_data(as_text=True)
    assert "普通话（母语）、客家话（母语）" in desk
    auth.login("supervisor")
    row = next(row for row in client.get("/operators").get_data(as_text=True).split("<tr>") if "1001" in row)
    assert "普通话（母语）、客家话（母语）" in row


def test_only_admins_record_languages(app, auth, console_services):
    auth.login("operator")
    target = _user(console_services, "operator")
    response = auth.post(f"/users/{target.id}/languages", {"lang_hak": "native"}, page="/desk")
    assert response.status_code == 403
    with console_services.sessions() as session:
        assert session.get(User, target.id).languages == []


def test_the_call_log_shows_whether_the_operator_spoke_the_callers_language(client, auth, console_services):
    from db.base import utcnow
    from db.languages import set_languages
    from db.models import Call, CallDirection, CallOutcome, Fluency, Language

    with console_services.sessions() as session:
        operator = session.scalar(select(User).where(User.username == "operator"))
        set_languages(session, operator, {Language.HAKKA: Fluency.NATIVE, Language.CANTONESE: Fluency.BASIC}, None)
        for n, language in enumerate((Language.HAKKA, Language.CANTONESE, Language.MANDARIN)):
            session.add(Call(uniqueid=f"lang.{n}", direction=CallDirection.INBOUND, ivr_language=language, agent=operator,
                             answered_at=utcnow(), outcome=CallOutcome.ANSWERED))
        session.add(Call(uniqueid="lang.x", direction=CallDirection.INBOUND, ivr_language=Language.HAKKA,
                         outcome=CallOutcome.ABANDONED_IN_QUEUE))  # never answered: not judged
        session.add(Call(uniqueid="lang.y", direction=CallDirection.INBOUND, ivr_language=Language.MANDARIN, agent=operator,
                         answered_at=utcnow(), outcome=CallOutcome.CALLBACK_REQUESTED))  # not an answered call to the KPIs either
        session.commit()
    auth.login("supervisor")
    page = client.get("/calls").get_data(as_text=True)
    # Hakka (native) matches; Cantonese (basic) and Mandarin (not recorded) do not.
    assert "语言匹配率" in page and "33%（1/3）" in page
    assert page.count("✓") == 1 and page.count("✗") == 2


def test_a_refused_change_is_explained_not_a_server_error(app, client, auth, console_services):
    """The change form's errors are translated lazily; they are flashed as text (a bad
    extension, a short password or an unknown role once gave a 500)."""
    import re

    auth.login("admin")
    target = _user(console_services, "operator")
    for change, explained in (({"role": "operator", "sip_extension": "12ab"}, "分机号为3到6位数字。"),
                              ({"role": "operator", "password": "short"}, "8 到 256"),
                              ({"role": "nobody", "sip_extension": "1001"}, "不是有效的选择")):
        response = auth.post(f"/users/{target.id}", change, page="/users")
        assert response.status_code == 302, (change, response.status_code)
        flashed = re.findall(r'<p class="flash error"[^>]*>([^<]*)</p>', client.get("/users").get_data(as_text=True))
        assert any(explained in message for message in flashed), (change, flashed)
    assert _user(console_services, "operator").sip_extension == "1001"
    assert _user(console_services, "operator").role == Role.OPERATOR


def test_an_account_with_no_languages_shows_as_fluent_mandarin_and_keeps_it_when_saved(client, auth, console_services):
    """Nothing recorded counts as fluent Mandarin, but the page showed 普通话 不会: an admin who
    then set only Cantonese saved the form as shown and took Mandarin callers from the operator."""
    import re

    from db.languages import skills
    from db.models import Fluency, Language

    auth.login("admin")
    operator = _user(console_services, "operator")
    assert not operator.languages
    page = client.get("/users").get_data(as_text=True)
    row = page[page.index(f'/users/{operator.id}/languages'):]
    row = row[:row.index("</td>")]
    mandarin = re.search(r'<select name="lang_cmn">(.*?)</select>', row, re.S).group(1)
    assert re.search(r'<option value="fluent"\s+selected>', mandarin)
    assert "未登记，按普通话流利接听" in row
    # The admin adds Cantonese and saves the form as shown.
    auth.post(f"/users/{operator.id}/languages", {"lang_cmn": "fluent", "lang_yue": "native", "lang_hak": ""},
              page="/users")
    with console_services.sessions() as session:
        saved = skills(session.get(User, operator.id))
    assert saved == {Language.MANDARIN: Fluency.FLUENT, Language.CANTONESE: Fluency.NATIVE}


def test_several_refusals_of_one_change_are_listed_in_the_readers_language(client, auth, console_services):
    """They were joined with a Chinese "；" in the English console too."""
    auth.login("admin")
    auth.post("/language/en", {"next": "/users"})
    operator = _user(console_services, "operator")
    auth.post(f"/users/{operator.id}", {"role": "operator", "sip_extension": "abc", "password": "short"}, page="/users")
    page = client.get("/users").get_data(as_text=True)
    flash = page[page.index('class="flash error"'):]
    flash = flash[:flash.index("</p>")]
    assert "; " in flash and "；" not in flash
