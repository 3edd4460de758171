"""surveys: a queued survey writes less

Revision ID: 0020
Revises: 0019

Queuing a survey (one INSERT … SELECT for a whole backlog) paid for a foreign-key check
of its provider and for two index entries it did not need (bench B4):
- the provider's key goes: `provider_id` is copied from the request's accepted offer in
  `dispatches`, whose own key holds it to `providers`, and providers are never deleted;
- the provider's index and the industry report's index of answered surveys now hold
  answered surveys only (completed_at set), which is all that any query of them reads.

On SQLite `surveys` is rebuilt; db/migrations/env.py turns foreign keys off while
migrating, so dropping the old table deletes no survey attempts.
"""
import sqlalchemy as sa
from alembic import op


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

ANSWERED = sa.text("completed_at IS NOT NULL")


def upgrade() -> None:
    op.drop_index('ix_surveys_completed_status', table_name='surveys')
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.drop_index('ix_surveys_provider_id')
        batch_op.drop_constraint('fk_surveys_provider_id_providers', type_='foreignkey')
    op.create_index('ix_surveys_completed_status', 'surveys', ['completed_at', 'status', 'request_id', 'rating'],
                    postgresql_where=ANSWERED, sqlite_where=ANSWERED)
    op.create_index('ix_surveys_provider_completed', 'surveys', ['provider_id', 'completed_at'],
                    postgresql_where=ANSWERED, sqlite_where=ANSWERED)


def downgrade() -> None:
    op.drop_index('ix_surveys_provider_completed', table_name='surveys')
    op.drop_index('ix_surveys_completed_status', table_name='surveys')
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_surveys_provider_id_providers', 'providers', ['provider_id'], ['id'])
        batch_op.create_index('ix_surveys_provider_id', ['provider_id'], unique=False)
    op.create_index('ix_surveys_completed_status', 'surveys', ['completed_at', 'status', 'request_id', 'rating'])
