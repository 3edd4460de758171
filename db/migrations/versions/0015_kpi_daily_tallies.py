"""KPI daily tallies

Revision ID: 0015
Revises: 0013

The supervisors' KPI reports keep each local day's tally (counts and per-second
histograms) per breakdown, so a month's page adds up thirty days instead of reading
every call (kpi/rollup.py, `hotline kpi rollup`); operators' changes by (user, time)
give the state each was in when a day began.
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'kpi_daily_tallies',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('dimension', sa.String(length=16), nullable=False),
        sa.Column('member', sa.String(length=64), nullable=False),
        sa.Column('tally', sa.JSON(), nullable=False),
        sa.Column('built_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('day', 'dimension', 'member', name=op.f('pk_kpi_daily_tallies')),
    )
    op.create_index('ix_operator_state_changes_user_at', 'operator_state_changes', ['user_id', 'at'])


def downgrade() -> None:
    op.drop_index('ix_operator_state_changes_user_at', table_name='operator_state_changes')
    op.drop_table('kpi_daily_tallies')
