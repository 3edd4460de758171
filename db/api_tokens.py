"""API tokens: keys for scripts, checked with one keyed hash instead of a password hash.

A token is shown once when made; the table keeps only HMAC-SHA256(secret key, token), so
checking one costs microseconds where a password costs a deliberately slow scrypt.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.audit import record
from db.base import utcnow
from db.models import ApiToken, User

PREFIX = "hl_"
# Last use is kept to the quarter-hour: a write on every read would cost what tokens save.
LAST_USED_GRAIN = dt.timedelta(minutes=15)


def token_hash(secret_key: str, token: str) -> str:
    return hmac.new(secret_key.encode(), token.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def create_token(session: Session, secret_key: str, user: User, name: str, created_by: User | None = None) -> tuple[ApiToken, str]:
    """A new token for `user`: (its row, the token itself, to be shown once)."""
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name.strip()[:64] or "api", token_hash=token_hash(secret_key, token))
    session.add(row)
    session.flush()
    record(session, created_by or user, "create", row, {"user_id": user.id, "name": row.name})
    return row, token


def user_for_token(session: Session, secret_key: str, token: str, now: dt.datetime | None = None) -> User | None:
    """The active account a live token belongs to, or None."""
    if not token.startswith(PREFIX) or len(token) > 128:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(secret_key, token),
                                                ApiToken.revoked_at.is_(None)))
    if row is None or not row.user.active:
        return None
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_GRAIN:
        row.last_used_at = now
    return row.user


def revoke_token(session: Session, row: ApiToken, by: User) -> None:
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record(session, by, "revoke", row, {"user_id": row.user_id, "name": row.name})
