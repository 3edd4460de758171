"""One SQLAlchemy session per request, closed (and rolled back if uncommitted) at its end."""
from __future__ import annotations

from flask import current_app, g
from sqlalchemy.orm import Session


def get_db() -> Session:
    if "db" not in g:
        g.db = current_app.extensions["hotline"].sessions()
    return g.db


def close_db(_error=None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def services():
    return current_app.extensions["hotline"]


def get_or_404(model, key: int):
    """A row by primary key, or the 404 page."""
    from flask import abort

    found = get_db().get(model, key)
    if found is None:
        abort(404)
    return found
