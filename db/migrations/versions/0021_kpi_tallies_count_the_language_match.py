"""kpi tallies count the language match

Revision ID: 0021
Revises: 0020

The daily KPI tallies (kpi_daily_tallies) now count the answered calls whose operator
speaks the caller's language. Rows rolled up before lack those counts, and a month that
mixed them with new rows would understate the match rate: they are removed, so the KPI
page reads those days from the calls themselves until the nightly `hotline kpi rollup`
rebuilds them (or run it at once after upgrading).
"""
from alembic import op


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM kpi_daily_tallies")


def downgrade() -> None:
    # Rows rolled up since carry two more counts, which the older code ignores.
    pass
