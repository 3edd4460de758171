"""a wrap-up's scheduled end kept on its row

Revision ID: 0009
Revises: 0008

The AMI link recorded "available" in advance, at the call's end plus the queue's
wrap-up time, and that row outranked a pause taken during the wrap-up. The end now
rides on the wrap-up row. Downgrading writes the "available" rows back for the
wrap-ups that ran their course (no other change of that operator before their end).
"""
from alembic import op
import sqlalchemy as sa
import db.base


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('operator_state_changes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ends_at', db.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    changes = sa.table('operator_state_changes', sa.column('user_id', sa.Integer()), sa.column('state', sa.String()),
                       sa.column('at', db.base.UTCDateTime()), sa.column('ends_at', db.base.UTCDateTime()),
                       sa.column('source', sa.String()))
    wrap_up, other = changes.alias('wrap_up'), changes.alias('other')
    interrupted = sa.exists().where(other.c.user_id == wrap_up.c.user_id, other.c.at > wrap_up.c.at,
                                    other.c.at <= wrap_up.c.ends_at)
    ran_its_course = (sa.select(wrap_up.c.user_id, sa.literal('available'), wrap_up.c.ends_at, sa.literal('ami'))
                      .where(wrap_up.c.state == 'wrap_up', wrap_up.c.ends_at.is_not(None), ~interrupted))
    op.execute(changes.insert().from_select(['user_id', 'state', 'at', 'source'], ran_its_course))
    with op.batch_alter_table('operator_state_changes', schema=None) as batch_op:
        batch_op.drop_column('ends_at')
