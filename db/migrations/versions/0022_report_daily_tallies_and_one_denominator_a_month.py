"""the industry report's daily tallies; one 70% denominator per figure, district and month

Revision ID: 0022
Revises: 0021

The industry report and the 70% demand figure count a year of requests and surveys: the
requests (by creation day, category, district, status, matched, accepted and rated well)
and the completed surveys (by completion day, category, rating) are kept counted per
local day (db/request_tallies.py, `hotline kpi rollup`). A request, an offer or a survey
changed after its day was tallied leaves a change row, written by a trigger on its
table, so the day is read from the raw rows until the rollup rebuilds it: every write
counts, whatever code or tool makes it.

A double submit of a denominator could store two rows for one (figure, month, district),
the whole city's (NULL district) included: the older duplicates go, the last entered is
kept (the audit log keeps every entry), and a unique index on coalesce(district_id, 0)
keeps one. It replaces the plain index on the same columns.
"""
import re

from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

REQUEST_STATUSES = ('new', 'dispatched', 'in_service', 'completed', 'surveyed', 'closed', 'cancelled')
CHANGES = 'INSERT INTO report_tally_changes (at) '
# (name, table, event, columns an UPDATE must set, condition, statements). A statement's
# {changed:column} reads "NEW.column differs from OLD.column" in the database's spelling.
TRIGGERS = (
    ('report_tally_request_created', 'service_requests', 'INSERT', (), None,
     (CHANGES + 'VALUES (NEW.created_at)',)),
    ('report_tally_request_changed', 'service_requests', 'UPDATE', ('created_at', 'category_id', 'district_id', 'status'),
     '{changed:created_at} OR {changed:category_id} OR {changed:district_id} OR {changed:status}',
     (CHANGES + 'VALUES (OLD.created_at)',
      CHANGES + 'SELECT NEW.created_at WHERE {changed:created_at}',
      # Its survey is tallied under its category.
      CHANGES + 'SELECT completed_at FROM surveys WHERE request_id = NEW.id AND completed_at IS NOT NULL '
                'AND {changed:category_id}')),
    ('report_tally_request_deleted', 'service_requests', 'DELETE', (), None,
     (CHANGES + 'VALUES (OLD.created_at)',)),
    ('report_tally_offer_accepted', 'dispatches', 'INSERT', (), "NEW.status = 'accepted'",
     (CHANGES + 'SELECT created_at FROM service_requests WHERE id = NEW.request_id',)),
    ('report_tally_offer_changed', 'dispatches', 'UPDATE', ('status', 'request_id'),
     "(NEW.status = 'accepted' OR OLD.status = 'accepted') AND ({changed:status} OR {changed:request_id})",
     (CHANGES + 'SELECT created_at FROM service_requests WHERE id IN (OLD.request_id, NEW.request_id)',)),
    ('report_tally_offer_deleted', 'dispatches', 'DELETE', (), "OLD.status = 'accepted'",
     (CHANGES + 'SELECT created_at FROM service_requests WHERE id = OLD.request_id',)),
    ('report_tally_survey_completed', 'surveys', 'INSERT', (), "NEW.status = 'completed'",
     (CHANGES + 'SELECT NEW.completed_at WHERE NEW.completed_at IS NOT NULL',
      CHANGES + 'SELECT created_at FROM service_requests WHERE id = NEW.request_id')),
    ('report_tally_survey_changed', 'surveys', 'UPDATE', ('status', 'rating', 'completed_at', 'request_id'),
     "(NEW.status = 'completed' OR OLD.status = 'completed') AND ({changed:status} OR {changed:rating} "
     "OR {changed:completed_at} OR {changed:request_id})",
     (CHANGES + 'SELECT OLD.completed_at WHERE OLD.completed_at IS NOT NULL',
      CHANGES + 'SELECT NEW.completed_at WHERE NEW.completed_at IS NOT NULL AND {changed:completed_at}',
      CHANGES + 'SELECT created_at FROM service_requests WHERE id IN (OLD.request_id, NEW.request_id)')),
    ('report_tally_survey_deleted', 'surveys', 'DELETE', (), "OLD.status = 'completed'",
     (CHANGES + 'SELECT OLD.completed_at WHERE OLD.completed_at IS NOT NULL',
      CHANGES + 'SELECT created_at FROM service_requests WHERE id = OLD.request_id')),
)


def _spelled(sql: str, dialect: str) -> str:
    """{changed:column} in the dialect's null-safe "differs" (SQLite before 3.39 lacks IS DISTINCT FROM)."""
    differs = 'NEW.{0} IS NOT OLD.{0}' if dialect == 'sqlite' else 'NEW.{0} IS DISTINCT FROM OLD.{0}'
    return re.sub(r'\{changed:(\w+)\}', lambda match: differs.format(match.group(1)), sql)


def _create_triggers(dialect: str) -> None:
    for name, table, event, columns, condition, statements in TRIGGERS:
        when = f' WHEN ({_spelled(condition, dialect)})' if condition else ''
        of = f' OF {", ".join(columns)}' if columns else ''
        body = ''.join(f'{_spelled(statement, dialect)}; ' for statement in statements)
        if dialect == 'sqlite':
            op.execute(f'CREATE TRIGGER {name} AFTER {event}{of} ON {table} FOR EACH ROW{when} BEGIN {body}END')
        else:
            op.execute(f'CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body}RETURN NULL; END $$')
            op.execute(f'CREATE TRIGGER {name} AFTER {event}{of} ON {table} FOR EACH ROW{when} EXECUTE FUNCTION {name}()')


def _drop_triggers(dialect: str) -> None:
    for name, table, *_ in TRIGGERS:
        if dialect == 'sqlite':
            op.execute(f'DROP TRIGGER {name}')
        else:
            op.execute(f'DROP TRIGGER {name} ON {table}')
            op.execute(f'DROP FUNCTION {name}()')


def upgrade() -> None:
    op.create_table(
        'report_request_tallies',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('category_id', sa.Integer(), nullable=False),
        sa.Column('district_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.Enum(*REQUEST_STATUSES, name='request_status', native_enum=False, create_constraint=True,
                                    length=max(map(len, REQUEST_STATUSES))), nullable=False),
        sa.Column('matched', sa.Boolean(), nullable=False),
        sa.Column('accepted_rated_well', sa.Boolean(), nullable=False),
        sa.Column('requests', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_report_request_tallies')),
    )
    op.create_index('ix_report_request_tallies_day', 'report_request_tallies', ['day'])
    op.create_table(
        'report_survey_tallies',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('category_id', sa.Integer(), nullable=False),
        sa.Column('rating', sa.Integer(), nullable=True),
        sa.Column('surveys', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_report_survey_tallies')),
    )
    op.create_index('ix_report_survey_tallies_day', 'report_survey_tallies', ['day'])
    op.create_table(
        'report_tallied_days',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('zone', sa.String(length=64), nullable=False),
        sa.Column('built_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('day', name=op.f('pk_report_tallied_days')),
    )
    op.create_table(
        'report_tally_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_report_tally_changes')),
    )
    op.create_index('ix_report_tally_changes_at', 'report_tally_changes', ['at'])
    _create_triggers(op.get_bind().dialect.name)

    op.execute('DELETE FROM seventy_denominators WHERE id IN ('
               'SELECT older.id FROM seventy_denominators older JOIN seventy_denominators newer '
               'ON newer.measure = older.measure AND newer.month = older.month '
               'AND coalesce(newer.district_id, 0) = coalesce(older.district_id, 0) '
               'AND (newer.entered_at > older.entered_at OR (newer.entered_at = older.entered_at AND newer.id > older.id)))')
    op.drop_index('ix_seventy_denominators_measure_month', table_name='seventy_denominators')
    op.create_index('uq_seventy_denominators_measure_month_district', 'seventy_denominators',
                    ['measure', 'month', sa.text('coalesce(district_id, 0)')], unique=True)


def downgrade() -> None:
    op.drop_index('uq_seventy_denominators_measure_month_district', table_name='seventy_denominators')
    op.create_index('ix_seventy_denominators_measure_month', 'seventy_denominators',
                    ['measure', 'month', 'district_id'], unique=False)
    _drop_triggers(op.get_bind().dialect.name)
    op.drop_index('ix_report_tally_changes_at', table_name='report_tally_changes')
    op.drop_table('report_tally_changes')
    op.drop_table('report_tallied_days')
    op.drop_index('ix_report_survey_tallies_day', table_name='report_survey_tallies')
    op.drop_table('report_survey_tallies')
    op.drop_index('ix_report_request_tallies_day', table_name='report_request_tallies')
    op.drop_table('report_request_tallies')
