"""Reference data every installation has: the ten service categories and the districts.

Codes are stable identifiers used by the IVR menu and the API; names may be edited.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import District, ServiceCategory

# The platform's ten categories, in the order of the platform announcement.
CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("household", "家庭服务", "Household services"),
    ("repair", "维修服务", "Repairs"),
    ("elderly_care", "养老服务", "Elderly care"),
    ("medical", "医疗服务", "Medical services and escort"),
    ("shopping_guide", "社区导购", "Community shopping guide"),
    ("housing", "房屋租售", "Housing rental and sale"),
    ("recruitment", "人才招聘", "Recruitment"),
    ("legal", "法律服务", "Legal services"),
    ("daily_life", "生活百事", "Everyday matters"),
    ("other", "其他服务", "Other services"),
)

DISTRICTS: tuple[tuple[str, str, str], ...] = (
    ("yuancheng", "源城区", "Yuancheng District"),
    ("dongyuan", "东源县", "Dongyuan County"),
    ("heping", "和平县", "Heping County"),
    ("longchuan", "龙川县", "Longchuan County"),
    ("zijin", "紫金县", "Zijin County"),
    ("lianping", "连平县", "Lianping County"),
    ("other", "其他地区", "Other"),
)

CATEGORY_CODES = frozenset(code for code, _, _ in CATEGORIES)


def ensure_reference_data(session: Session) -> None:
    """Insert missing categories and districts; leaves edited names alone."""
    _ensure(session, ServiceCategory, CATEGORIES)
    _ensure(session, District, DISTRICTS)


def _ensure(session: Session, model, rows) -> None:
    existing = set(session.scalars(select(model.code)))
    for order, (code, name_zh, name_en) in enumerate(rows, start=1):
        if code not in existing:
            session.add(model(code=code, name_zh=name_zh, name_en=name_en, sort_order=order))
    session.flush()
