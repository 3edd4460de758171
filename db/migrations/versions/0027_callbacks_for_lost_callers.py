"""a callback booked for a lost caller says so: callback_reason 'lost_call'

Revision ID: 0027
Revises: 0026

A caller who hung up in the IVR or the queue and is called back from 未接来电 had a
callback task of reason "other" (其他), the reason written only in its note. The reason
is a VARCHAR with a CHECK constraint (db.base.str_enum): the constraint takes the new
value; the old tasks stay as they were (their notes say what they were for).
"""
from alembic import op
import sqlalchemy as sa


revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None

BEFORE = ('queue_callback', 'after_hours', 'voicemail', 'survey_follow_up', 'other')
AFTER = BEFORE + ('lost_call',)


def _reasons(values):
    return sa.Enum(*values, name='callback_reason', native_enum=False, create_constraint=True,
                   length=max(map(len, AFTER)))


def _allow(values) -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite cannot change a constraint in place: the table is copied with the new one.
        with op.batch_alter_table('callback_tasks', recreate='always') as batch_op:
            batch_op.alter_column('reason', existing_type=_reasons(BEFORE if values == AFTER else AFTER),
                                  type_=_reasons(values), existing_nullable=False)
    else:
        op.drop_constraint(op.f('ck_callback_tasks_callback_reason'), 'callback_tasks', type_='check')
        op.create_check_constraint('callback_reason', 'callback_tasks', sa.column('reason').in_(values))


def upgrade() -> None:
    _allow(AFTER)


def downgrade() -> None:
    op.execute("UPDATE callback_tasks SET reason = 'other' WHERE reason = 'lost_call'")
    _allow(BEFORE)
