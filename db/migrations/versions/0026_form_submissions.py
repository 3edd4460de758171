"""each console form is sent once: form_submissions

Revision ID: 0026
Revises: 0025

The console's pages give every form a token; it is stored with what the form wrote, so
a form sent twice (a double click, two at once) writes once. Training sessions, openings,
dispute intakes and statements, job seekers were each created twice by a double submit.
"""
from alembic import op
import sqlalchemy as sa


revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'form_submissions',
        sa.Column('token', sa.String(length=36), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_form_submissions_user_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('token', name=op.f('pk_form_submissions')),
    )
    op.create_index('ix_form_submissions_at', 'form_submissions', ['at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_form_submissions_at', table_name='form_submissions')
    op.drop_table('form_submissions')
