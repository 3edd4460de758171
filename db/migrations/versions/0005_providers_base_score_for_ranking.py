"""providers base score for ranking from an index

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


EXPRESSION = ("COALESCE(grade, 0) * 6 + CASE WHEN rating_count >= 3 THEN (COALESCE(rating_avg, 3) - 3) * 10 "
              "ELSE 0 END")


def upgrade() -> None:
    # SQLite cannot ALTER TABLE ADD a stored generated column, and copying the table
    # instead would cascade-delete provider_categories and provider_districts: there
    # the column is virtual (computed on read, and its index stored). PostgreSQL stores it.
    stored = op.get_bind().dialect.name != "sqlite"
    op.add_column('providers', sa.Column('base_score', sa.Numeric(precision=6, scale=2, asdecimal=False),
                                         sa.Computed(EXPRESSION, persisted=stored), nullable=False))
    op.create_index('ix_providers_status_base_score', 'providers', ['status', 'base_score'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_providers_status_base_score', table_name='providers')
    # A plain ALTER TABLE DROP COLUMN: a batch copy would cascade-delete on SQLite.
    op.drop_column('providers', 'base_score')
