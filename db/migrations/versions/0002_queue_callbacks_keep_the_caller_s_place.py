"""queue callbacks keep the caller's place

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import db.base


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('callback_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queue', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('queue_position', sa.Integer(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('callback_tasks', schema=None) as batch_op:
        batch_op.drop_column('queue_position')
        batch_op.drop_column('queue')

