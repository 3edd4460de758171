"""The providers list and page say in words what is not there: no ratings, no grade."""
from __future__ import annotations

import re

from sqlalchemy import select

from db.models import Provider


def test_a_provider_without_ratings_or_grade_says_so(client, auth, console_services):
    """It read "（0）" for no ratings and a blank for no grade."""
    with console_services.sessions() as session, session.begin():
        provider = session.scalar(select(Provider).order_by(Provider.id).limit(1))
        provider.rating_avg, provider.rating_count, provider.grade = None, 0, None
        provider_id, name = provider.id, provider.name
    auth.login()
    listing = client.get("/providers", query_string={"q": name}).get_data(as_text=True)
    row = re.search(rf'<tr><td><a href="/providers/{provider_id}">.*?</tr>', listing, re.S).group(0)
    assert "（0）" not in row and "暂无评价" in row and "未定级" in row
    page = client.get(f"/providers/{provider_id}").get_data(as_text=True)
    assert "（0）" not in page and "暂无评价" in page and "未定级" in page


def test_register_a_complaint_is_a_button_below_the_heading(client, auth):
    """It sat inside the heading, at heading size."""
    auth.login()
    page = client.get("/complaints").get_data(as_text=True)
    heading = re.search(r"<h1>(.*?)</h1>", page, re.S).group(1)
    assert "登记投诉" not in heading and re.search(r'<a class="button" href="/complaints/new">登记投诉</a>', page)


def test_removal_from_the_providers_page_needs_its_confirmation_and_keeps_the_reason(client, auth, console_services):
    """移出平台 on the provider's page was one click after a reason (labelled 暂停原因, for a
    removal); now, as in the credit file, unconfirmed it is refused with the reason kept."""
    from db.models import ProviderStatus

    with console_services.sessions() as session:
        provider_id = session.scalar(select(Provider.id).where(Provider.status == ProviderStatus.ACTIVE)
                                     .order_by(Provider.id).limit(1))
    auth.login("supervisor")
    page = f"/providers/{provider_id}"
    html = auth.post(f"{page}/suspend", {"reason": "营业执照已过期"}, page=page).get_data(as_text=True)
    assert "移出平台前请勾选确认" in html and 'value="营业执照已过期"' in html
    with console_services.sessions() as session:
        assert session.get(Provider, provider_id).status == ProviderStatus.ACTIVE
    auth.post(f"{page}/suspend", {"reason": "营业执照已过期", "confirm": "y"}, page=page)
    with console_services.sessions() as session:
        assert session.get(Provider, provider_id).status == ProviderStatus.SUSPENDED
