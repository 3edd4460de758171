"""call log search by a number's last four digits

Revision ID: 0012
Revises: 0011

The call log finds calls by the caller's last four digits within days: a generated
column (virtual on SQLite, which cannot ADD a stored one and whose batch copy of `calls`
would cascade-delete its IVR sessions; stored on PostgreSQL) and its index. The lost
callers and the call page look calls up by outcome, requests by call, and callbacks by
caller: each gets the index that makes it a lookup.
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


CALLER_LAST4 = "substr(caller_number, length(caller_number) - 3)"


def upgrade() -> None:
    stored = op.get_bind().dialect.name != "sqlite"
    op.add_column('calls', sa.Column('caller_last4', sa.String(length=4), sa.Computed(CALLER_LAST4, persisted=stored),
                                     nullable=True))
    op.create_index('ix_calls_caller_last4_started', 'calls', ['caller_last4', 'started_at', 'id'], unique=False)
    op.create_index('ix_calls_outcome_started', 'calls', ['outcome', 'started_at'], unique=False)
    op.create_index('ix_service_requests_call_number', 'service_requests', ['call_id', 'number'], unique=False)
    op.create_index(op.f('ix_callback_tasks_caller_id'), 'callback_tasks', ['caller_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_callback_tasks_caller_id'), table_name='callback_tasks')
    op.drop_index('ix_service_requests_call_number', table_name='service_requests')
    op.drop_index('ix_calls_outcome_started', table_name='calls')
    op.drop_index('ix_calls_caller_last4_started', table_name='calls')
    # A plain ALTER TABLE DROP COLUMN: a batch copy would cascade-delete on SQLite.
    op.drop_column('calls', 'caller_last4')
