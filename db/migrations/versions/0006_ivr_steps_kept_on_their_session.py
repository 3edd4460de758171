"""ivr steps kept on their session row, as JSON

Revision ID: 0006
Revises: 0005

A call's steps are only ever read with their session; a row a step made the call-log
writer insert three rows a call more than it needed. Existing steps move into the
session's `steps` list and back again on downgrade.
"""
import datetime as dt

from alembic import op
import sqlalchemy as sa
import db.base


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

CHUNK = 5000

sessions = sa.table('ivr_sessions', sa.column('id', sa.Integer()), sa.column('steps', sa.JSON()))
steps = sa.table('ivr_steps', sa.column('session_id', sa.Integer()), sa.column('seq', sa.Integer()),
                 sa.column('node', sa.String()), sa.column('prompt', sa.String()), sa.column('key', sa.String()),
                 sa.column('at', db.base.UTCDateTime()))


def upgrade() -> None:
    op.add_column('ivr_sessions', sa.Column('steps', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
    connection = op.get_bind()
    walks: dict[int, list[dict]] = {}
    rows = connection.execute(sa.select(steps).order_by(steps.c.session_id, steps.c.seq))
    for row in rows:
        walks.setdefault(row.session_id, []).append(
            {"node": row.node, "prompt": row.prompt, "key": row.key, "at": row.at.isoformat()})
    update = sa.update(sessions).where(sessions.c.id == sa.bindparam('session')).values(steps=sa.bindparam('walk'))
    items = [{"session": session, "walk": walk} for session, walk in walks.items()]
    for start in range(0, len(items), CHUNK):
        connection.execute(update, items[start:start + CHUNK])
    with op.batch_alter_table('ivr_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ivr_steps_session_id'))
    op.drop_table('ivr_steps')


def downgrade() -> None:
    op.create_table('ivr_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('node', sa.String(length=64), nullable=False),
    sa.Column('prompt', sa.String(length=64), nullable=True),
    sa.Column('key', sa.String(length=16), nullable=True),
    sa.Column('at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['ivr_sessions.id'], name=op.f('fk_ivr_steps_session_id_ivr_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ivr_steps')),
    sa.UniqueConstraint('session_id', 'seq', name=op.f('uq_ivr_steps_session_id_seq'))
    )
    with op.batch_alter_table('ivr_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ivr_steps_session_id'), ['session_id'], unique=False)
    connection = op.get_bind()
    rows = [{"session_id": session, "seq": seq, "node": step["node"], "prompt": step.get("prompt"),
             "key": step.get("key"), "at": dt.datetime.fromisoformat(step["at"])}
            for session, walk in connection.execute(sa.select(sessions.c.id, sessions.c.steps))
            for seq, step in enumerate(walk or ())]
    for start in range(0, len(rows), CHUNK):
        connection.execute(sa.insert(steps), rows[start:start + CHUNK])
    op.drop_column('ivr_sessions', 'steps')
