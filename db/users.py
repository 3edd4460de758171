"""Console accounts: creation and password checks."""
from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from db.audit import record
from db.errors import Refused
from db.models import Role, User

MIN_PASSWORD_LENGTH = 8


class UserError(Refused):
    pass


def create_user(
    session: Session,
    username: str,
    password: str,
    role: Role,
    display_name: str | None = None,
    sip_extension: str | None = None,
    created_by: User | None = None,
) -> User:
    username = username.strip()
    if not username or len(username) > 64 or not username.isprintable() or " " in username:
        raise UserError("bad_username", "a username is 1 to 64 printable characters without spaces")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError("short_password", f"a password needs at least {MIN_PASSWORD_LENGTH} characters",
                        length=MIN_PASSWORD_LENGTH)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError("user_exists", f"user {username} already exists", username=username)
    if sip_extension and session.scalar(select(User.id).where(User.sip_extension == sip_extension)):
        raise UserError("extension_taken", f"SIP extension {sip_extension} belongs to another user",
                        extension=sip_extension)
    user = User(
        username=username,
        display_name=display_name or username,
        role=Role(role),
        password_hash=generate_password_hash(password),
        sip_extension=sip_extension or None,
    )
    session.add(user)
    session.flush()
    record(session, created_by, "create", user, {"username": username, "role": user.role.value})
    return user


# Checked against when there is no account (or it is inactive), so that a wrong guess
# costs the same time whether or not the username exists: timing must not tell.
_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))


def verify_password(user: User | None, password: str) -> bool:
    """True if `user` is an active account and `password` is its password. Takes the same
    time for an unknown or inactive account as for a known one with a wrong password."""
    matches = check_password_hash(user.password_hash if user is not None else _DUMMY_HASH, password)
    return matches and user is not None and user.active
