"""surveys: the request and its caller in one foreign key

Revision ID: 0014
Revises: 0013

A survey's request and caller were two foreign keys, each checked (and its parent row
locked) for every survey queued: on PostgreSQL the keys were half of a 100,000-survey
enqueue's cost (bench B4). Now one composite key (request_id, caller_id) refers to
service_requests (id, caller_id) — the survey calls its request's caller, and the
request's own key holds that caller to `callers` — through a unique index on those two
columns. A request whose caller is corrected carries its survey along (ON UPDATE CASCADE).

Surveys of a request whose caller was corrected before this revision are first given
that request's caller, so the new key holds for every row.

On SQLite `surveys` is rebuilt; db/migrations/env.py turns foreign keys off while
migrating, so dropping the old table deletes no survey attempts.
"""
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_service_requests_id_caller_id', 'service_requests', ['id', 'caller_id'], unique=True)
    op.execute(
        "UPDATE surveys SET caller_id = (SELECT caller_id FROM service_requests WHERE service_requests.id = surveys.request_id) "
        "WHERE EXISTS (SELECT 1 FROM service_requests WHERE service_requests.id = surveys.request_id "
        "AND service_requests.caller_id IS NOT NULL AND service_requests.caller_id <> surveys.caller_id)")
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.drop_constraint('fk_surveys_caller_id_callers', type_='foreignkey')
        batch_op.drop_constraint('fk_surveys_request_id_service_requests', type_='foreignkey')
        batch_op.create_foreign_key('fk_surveys_request_id_service_requests', 'service_requests',
                                    ['request_id', 'caller_id'], ['id', 'caller_id'], onupdate='CASCADE')


def downgrade() -> None:
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.drop_constraint('fk_surveys_request_id_service_requests', type_='foreignkey')
        batch_op.create_foreign_key('fk_surveys_request_id_service_requests', 'service_requests',
                                    ['request_id'], ['id'])
        batch_op.create_foreign_key('fk_surveys_caller_id_callers', 'callers', ['caller_id'], ['id'])
    op.drop_index('ix_service_requests_id_caller_id', table_name='service_requests')
