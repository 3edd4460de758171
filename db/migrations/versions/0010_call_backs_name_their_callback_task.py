"""call-backs name their callback task

Revision ID: 0010
Revises: 0009

A call-back's row (the placeholder that rang a caller back) links to the task it was
placed for. A plain ALTER TABLE ADD COLUMN on both databases: on SQLite a batch copy
of `calls` would cascade-delete its IVR sessions.
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


FOREIGN_KEY = 'fk_calls_callback_task_id_callback_tasks'


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite takes a foreign key only inline, in the column's own ADD COLUMN.
        op.execute(f"ALTER TABLE calls ADD COLUMN callback_task_id INTEGER "
                   f"CONSTRAINT {FOREIGN_KEY} REFERENCES callback_tasks (id)")
        return
    op.add_column('calls', sa.Column('callback_task_id', sa.Integer(), nullable=True))
    op.create_foreign_key(op.f(FOREIGN_KEY), 'calls', 'callback_tasks', ['callback_task_id'], ['id'])


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f(FOREIGN_KEY), 'calls', type_='foreignkey')
    op.drop_column('calls', 'callback_task_id')
