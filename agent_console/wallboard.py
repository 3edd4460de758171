"""The supervisors' live wallboard (实时监控): callers waiting per queue, operators by state,
today's service level, abandonment and calls handled.

Thin: the board is telephony/wallboard.py's (read from the database, so a restarted
console shows the truth at once), today's figures are kpi/formulas.py's. The page fetches
the board again whenever the pop stream says it changed (wallboard.js); `?full=1` is the
wall monitor's full-screen mode, in large type without the console's menus.
"""
from __future__ import annotations

import datetime as dt
import logging

from flask import Blueprint, render_template, request

from agent_console.auth import SUPERVISORS, roles
from agent_console.database import get_db, services
from db.base import utcnow
from telephony.wallboard import BOARD_STATES, Board, wallboard

bp = Blueprint("wallboard", __name__)
log = logging.getLogger(__name__)
# Seconds between the page's own fetches of the board, whatever the stream says: a lost
# hint, or a wrap-up running out (no event says so), costs at most this.
REFRESH_SECONDS = 30


@bp.route("/wallboard")
@roles(*SUPERVISORS)
def page():
    full = request.args.get("full") == "1"
    return render_template("wallboard/full.html" if full else "wallboard/page.html", full=full,
                           refresh=REFRESH_SECONDS, **_board_context())


@bp.route("/wallboard/board")
@roles(*SUPERVISORS)
def board():
    """The board alone (HTML), fetched by the page when the stream says it changed."""
    return render_template("wallboard/_board.html", **_board_context()), 200, {"Cache-Control": "no-store"}


def _board_context() -> dict:
    db = get_db()
    now = utcnow()
    settings = services().settings.wallboard
    current: Board = wallboard(db, now, list(services().menu.queue_titles), settings.red_after_by_queue,
                               settings.red_after_seconds)
    return {"board": current, "now": now, "states": BOARD_STATES, "today": todays_figures(db, now),
            "clock": clock, "percent": percent}


def todays_figures(db, now: dt.datetime):
    """Today's (app.timezone) service level, abandonment and calls handled so far: the KPI
    module's headline, the one place these are computed (kpi/formulas.py). None if they
    cannot be computed now: the wall keeps showing the queues and the operators."""
    from kpi.formulas import headline

    tz = services().tz
    start = dt.datetime.combine(now.astimezone(tz).date(), dt.time(), tz)
    try:
        with db.begin_nested():  # a failed query must not spoil the session for the board
            return headline(db, start, now, services().settings)
    except Exception:
        log.exception("today's figures for the wallboard failed")
        return None


def percent(share: float | None) -> str:
    """A share as the board shows it: 87%, or a dash before there is anything to share."""
    return "—" if share is None else f"{share * 100:.0f}%"


def clock(seconds: float | None) -> str:
    """A wait or a time in a state as the board shows it: 0:42, 12:05, 1:02:09."""
    if seconds is None:
        return ""
    minutes, second = divmod(max(0, int(seconds)), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}" if hours else f"{minute}:{second:02d}"
