"""The audit log: every change to a request, provider or user, and by whom."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from db.models import AuditEntry, User


def record(session: Session, user: User | None, action: str, entity: Any, details: dict[str, Any] | None = None) -> AuditEntry:
    entry = AuditEntry(
        user_id=user.id if user is not None else None,
        action=action,
        entity_type=entity.__tablename__,
        entity_id=entity.id,
        details=details,
    )
    session.add(entry)
    return entry


def record_read(session: Session, user: User | None, action: str, entity_type: str, details: dict[str, Any]) -> AuditEntry:
    """A read worth knowing about that changes nothing (an export): who, what, with which filter."""
    entry = AuditEntry(user_id=user.id if user is not None else None, action=action, entity_type=entity_type,
                       entity_id=None, details=details)
    session.add(entry)
    return entry
