"""operators' languages

Revision ID: 0013
Revises: 0012

The languages each console account's operator speaks and how well: the queues offer a
caller first to operators who speak the caller's language (db/languages.py).
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'operator_languages',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('language', sa.Enum('cmn', 'yue', 'hak', name='language', native_enum=False, create_constraint=True),
                  nullable=False),
        sa.Column('fluency', sa.Enum('native', 'fluent', 'basic', name='fluency', native_enum=False,
                                     create_constraint=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_operator_languages_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'language', name=op.f('pk_operator_languages')),
    )


def downgrade() -> None:
    op.drop_table('operator_languages')
