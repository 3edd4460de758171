"""operator states for supervisors

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import db.base


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('operator_state_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('logged_in', 'available', 'paused', 'on_call', 'wrap_up', 'logged_out', name='operator_state', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('reason', sa.Enum('break', 'meal', 'training', 'after_call_work', name='pause_reason', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_operator_state_changes_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_state_changes')),
    sa.UniqueConstraint('user_id', 'state', 'at', name=op.f('uq_operator_state_changes_user_id_state_at'))
    )
    with op.batch_alter_table('operator_state_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_operator_state_changes_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_operator_state_changes_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('operator_state_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_operator_state_changes_user_id'))
        batch_op.drop_index(batch_op.f('ix_operator_state_changes_at'))

    op.drop_table('operator_state_changes')
