"""Job seekers, providers' openings, matching and hires (招工).

A caller who presses 6 (人才招聘) in the IVR becomes a lead: their phone and language,
written with the call by the call-log writer. An operator completes the lead (name,
district, wanted trade) or registers a seeker from scratch, matches them to open
openings, and records a hire in one click: the hire makes the seeker a worker of the
provider, and counts toward the center's yearly jobs goal (每年提供就业岗位1200个).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db import audit
from db.errors import Refused
from db.models import (
    District,
    Hire,
    JobOpening,
    JobSeeker,
    JobSeekerSource,
    JobSeekerStatus,
    Language,
    OpeningStatus,
    Provider,
    ProviderStatus,
    ServiceCategory,
    Training,
    TrainingAttendee,
    User,
    Worker,
)

# The IVR's intent and category for its recruitment node (config/ivr_menu.toml, key 6).
JOBS_INTENT = "jobs"
JOBS_CATEGORY = "recruitment"
# Statuses in which a seeker is still looking: a second IVR call completes the same lead.
LOOKING = (JobSeekerStatus.LEAD, JobSeekerStatus.SEEKING)
# A hire may be recorded up to this long after it happened (recorded late), never ahead.
HIRE_PAST = dt.timedelta(days=366)


def register_ivr_lead(session: Session, phone: str, language: str | None, call_id: int | None,
                      at: dt.datetime) -> JobSeeker:
    """The lead for a caller who chose jobs in the IVR: the seeker still looking with that
    phone (its language completed), else a new lead. Called by the call-log writer."""
    seeker = session.scalar(select(JobSeeker).where(JobSeeker.phone == phone, JobSeeker.status.in_(LOOKING))
                            .order_by(JobSeeker.id.desc()).limit(1))
    if seeker is not None:
        if seeker.language is None and language:
            seeker.language = Language(language)
        return seeker
    seeker = JobSeeker(phone=phone, language=Language(language) if language else None, source=JobSeekerSource.IVR,
                       status=JobSeekerStatus.LEAD, call_id=call_id, created_at=at)
    session.add(seeker)
    return seeker


def looking_seeker(session: Session, phone: str) -> JobSeeker | None:
    """The newest seeker with this phone who is still looking (a lead to complete)."""
    return session.scalar(select(JobSeeker).where(JobSeeker.phone == phone, JobSeeker.status.in_(LOOKING))
                          .order_by(JobSeeker.id.desc()).limit(1))


def register_seeker(session: Session, user: User | None, *, name: str, phone: str, district: District | None,
                    category: ServiceCategory | None, language: Language | None = None, note: str | None = None,
                    call_id: int | None = None, seeker: JobSeeker | None = None) -> JobSeeker:
    """Register a job seeker; a lead or seeker still looking with the same phone is
    completed instead of written twice. `seeker`: the registration being completed or
    corrected from its page (its phone may be the one corrected). `phone` is normalised
    by the caller."""
    seeker = seeker or looking_seeker(session, phone)
    action = "update"
    if seeker is None:
        seeker = JobSeeker(phone=phone, source=JobSeekerSource.OPERATOR, created_by_id=user.id if user else None,
                           call_id=call_id)
        session.add(seeker)
        action = "create"
    seeker.name, seeker.phone, seeker.district, seeker.category = name, phone, district, category
    seeker.language = language or seeker.language
    seeker.note = note or seeker.note
    seeker.status = JobSeekerStatus.SEEKING
    session.flush()
    audit.record(session, user, action, seeker, {"district": district.code if district else None,
                                                 "trade": category.code if category else None})
    return seeker


def withdraw_seeker(session: Session, seeker: JobSeeker, user: User | None) -> None:
    if seeker.status not in LOOKING:
        raise Refused("seeker_not_looking", "the seeker is no longer looking")
    seeker.status = JobSeekerStatus.WITHDRAWN
    audit.record(session, user, "status", seeker, {"to": seeker.status.value})


def open_opening(session: Session, user: User | None, *, provider: Provider, category: ServiceCategory,
                 district: District | None, title: str, positions: int) -> JobOpening:
    """A provider's recruitment for `positions` workers of a trade, in a district (None: anywhere)."""
    if provider.status is not ProviderStatus.ACTIVE:
        raise Refused("provider_removed", "the provider is removed from the platform")
    if positions < 1:
        raise Refused("positions", "an opening needs at least one position")
    opening = JobOpening(provider=provider, category=category, district=district, title=title, positions=positions,
                         created_by_id=user.id if user else None)
    session.add(opening)
    session.flush()
    audit.record(session, user, "create", opening, {"provider": provider.id, "positions": positions})
    return opening


def close_opening(session: Session, opening: JobOpening, user: User | None) -> None:
    if opening.status is not OpeningStatus.OPEN:  # a second click, or a colleague's, or filled
        raise Refused("opening_closed", "the opening is closed already")
    opening.status = OpeningStatus.CLOSED
    audit.record(session, user, "status", opening, {"to": "closed"})


def filled(session: Session, opening_ids: list[int]) -> dict[int, int]:
    """Hires recorded against each opening."""
    if not opening_ids:
        return {}
    return dict(session.execute(select(Hire.opening_id, func.count()).where(Hire.opening_id.in_(opening_ids))
                                .group_by(Hire.opening_id)).all())


@dataclass(frozen=True)
class Match:
    """An open opening for a seeker, with why it ranks where it does."""

    opening: JobOpening
    score: int
    same_trade: bool
    same_district: bool  # or the opening takes people from anywhere
    left: int  # positions not filled yet


def matches_for(session: Session, seeker: JobSeeker, limit: int = 20) -> list[Match]:
    """Open openings of active providers for a seeker, best first: the wanted trade
    counts 2, the seeker's district (or an opening open to every district) 1; an opening
    matching neither is left out. Ties: more positions left, then the older opening."""
    openings = session.scalars(
        select(JobOpening).join(Provider, JobOpening.provider_id == Provider.id)
        .where(JobOpening.status == OpeningStatus.OPEN, Provider.status == ProviderStatus.ACTIVE)).all()
    taken = filled(session, [o.id for o in openings])
    found = []
    for opening in openings:
        trade = seeker.category_id is not None and opening.category_id == seeker.category_id
        district = opening.district_id is None or opening.district_id == seeker.district_id
        left = opening.positions - taken.get(opening.id, 0)
        score = 2 * trade + district
        if score and left > 0:
            found.append(Match(opening, score, trade, district, left))
    found.sort(key=lambda m: (-m.score, -m.left, m.opening.created_at, m.opening.id))
    return found[:limit]


def record_hire(session: Session, user: User | None, seeker: JobSeeker, opening: JobOpening, hired_on: dt.date,
                today: dt.date) -> Hire:
    """A seeker taken on through an opening: the hire, and the seeker as a worker of the
    provider (with the training sessions they attended). The opening closes when full."""
    if seeker.status not in LOOKING:
        raise Refused("seeker_not_looking", "the seeker is no longer looking")
    if not seeker.name:
        raise Refused("seeker_unnamed", "a lead must be completed (name) before a hire")
    if opening.status is not OpeningStatus.OPEN:
        raise Refused("opening_closed", "the opening is closed")
    if opening.provider.status is not ProviderStatus.ACTIVE:
        raise Refused("provider_removed", "the provider is removed from the platform")
    if hired_on > today or hired_on < today - HIRE_PAST:
        raise Refused("hire_date", "the hire date must be within the last year, not ahead")
    _claim(session, seeker, opening)
    worker = Worker(provider_id=opening.provider_id, name=seeker.name, phone=seeker.phone)
    session.add(worker)
    session.flush()
    for attended in session.scalars(select(TrainingAttendee).where(TrainingAttendee.seeker_id == seeker.id)):
        ts = attended.session
        session.add(Training(worker_id=worker.id, course=ts.course, completed_on=ts.held_on, hours=ts.hours,
                             session_id=ts.id))
    hire = Hire(seeker=seeker, provider_id=opening.provider_id, opening=opening, worker_id=worker.id,
                hired_on=hired_on, recorded_by_id=user.id if user else None)
    session.add(hire)
    seeker.status = JobSeekerStatus.HIRED
    session.flush()
    if filled(session, [opening.id]).get(opening.id, 0) >= opening.positions:
        opening.status = OpeningStatus.CLOSED
    audit.record(session, user, "create", hire, {"seeker": seeker.id, "provider": opening.provider_id,
                                                 "hired_on": hired_on.isoformat()})
    return hire


def _claim(session: Session, seeker: JobSeeker, opening: JobOpening) -> None:
    """Check again, in the database, what the checks above read from rows loaded earlier:
    a second click on 登记录用 (or a colleague's hire of the same seeker, or of the
    opening's last place) may have committed since. Each conditional UPDATE matches no row
    if so; it also holds the opening's row until commit, so hires into one opening queue."""
    taken = session.execute(update(JobSeeker).where(JobSeeker.id == seeker.id, JobSeeker.status.in_(LOOKING))
                            .values(status=JobSeekerStatus.HIRED).execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        raise Refused("seeker_not_looking", "the seeker was hired or withdrawn meanwhile")
    still_open = session.execute(update(JobOpening).where(JobOpening.id == opening.id,
                                                          JobOpening.status == OpeningStatus.OPEN)
                                 .values(status=OpeningStatus.OPEN).execution_options(synchronize_session=False))
    if still_open.rowcount != 1 or filled(session, [opening.id]).get(opening.id, 0) >= opening.positions:
        raise Refused("opening_closed", "the opening was closed or filled meanwhile")


# --- figures for the dashboard and the industry report --------------------------------------


def hires_in_period(session: Session, first_day: dt.date, last_day: dt.date) -> int:
    """Hires recorded through the platform with a hire date from `first_day` to `last_day`
    (both included): the jobs the center provided (就业岗位)."""
    return session.scalar(select(func.count()).select_from(Hire)
                          .where(Hire.hired_on >= first_day, Hire.hired_on <= last_day)) or 0


def hires_by_district(session: Session, first_day: dt.date, last_day: dt.date) -> dict[int | None, int]:
    """hires_in_period by the hiring provider's district (None: a provider without one)."""
    rows = session.execute(select(Provider.district_id, func.count()).select_from(Hire)
                           .join(Provider, Hire.provider_id == Provider.id)
                           .where(Hire.hired_on >= first_day, Hire.hired_on <= last_day)
                           .group_by(Provider.district_id)).all()
    return dict(rows)


def seekers_registered(session: Session, first_day: dt.date, last_day: dt.date, tz: ZoneInfo) -> dict[str, int]:
    """Job seekers registered from `first_day` to `last_day` (local days, both included),
    by source ("ivr": leads from the IVR's key 6, "operator"), and "total"."""
    start = dt.datetime.combine(first_day, dt.time(), tz)
    end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), tz)
    rows = dict(session.execute(select(JobSeeker.source, func.count())
                                .where(JobSeeker.created_at >= start, JobSeeker.created_at < end)
                                .group_by(JobSeeker.source)).all())
    counts = {source.value: rows.get(source, 0) for source in JobSeekerSource}
    counts["total"] = sum(counts.values())
    return counts


@dataclass(frozen=True)
class GoalProgress:
    """The yearly jobs goal against the hires recorded this year so far."""

    year: int
    goal: int
    hires: int

    @property
    def share(self) -> float:
        return self.hires / self.goal if self.goal else 0.0


def yearly_progress(session: Session, year: int, goal: int) -> GoalProgress:
    return GoalProgress(year, goal, hires_in_period(session, dt.date(year, 1, 1), dt.date(year, 12, 31)))
