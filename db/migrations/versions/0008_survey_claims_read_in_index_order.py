"""survey claims read in index order

Revision ID: 0008
Revises: 0007

A claim takes the earliest due surveys by (due_at, id). With `id` in the index the
claim reads them in order and stops at its limit; without it PostgreSQL sorted every
due survey on each claim (B4). Attempts get an index on their start: the calls-per-
second cap counts the attempts started in the last second on every claim.
"""
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.drop_index('ix_surveys_status_due')
        batch_op.create_index('ix_surveys_status_due', ['status', 'due_at', 'id'], unique=False)
    with op.batch_alter_table('survey_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_attempts_started_at'), ['started_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('survey_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_attempts_started_at'))
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.drop_index('ix_surveys_status_due')
        batch_op.create_index('ix_surveys_status_due', ['status', 'due_at'], unique=False)
