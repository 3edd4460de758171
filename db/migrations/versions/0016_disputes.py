"""disputes (纠纷处理): a dispute, its statements and its mediation steps

Revision ID: 0016
Revises: 0013

A dispute between a caller and a provider, opened from a complaint, a low survey rating
or by an operator, mediated to an outcome by a deadline counted in working days.
"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=max(map(len, values)))


def upgrade() -> None:
    op.create_table(
        'disputes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('caller_id', sa.Integer(), nullable=True),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=True),
        sa.Column('origin', _enum('dispute_origin', 'complaint', 'low_rating', 'operator'), nullable=False),
        sa.Column('complaint_id', sa.Integer(), nullable=True),
        sa.Column('survey_id', sa.Integer(), nullable=True),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('status', _enum('dispute_status', 'open', 'mediating', 'closed'), nullable=False),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('opened_by_id', sa.Integer(), nullable=True),
        sa.Column('deadline', sa.Date(), nullable=False),
        sa.Column('outcome', _enum('dispute_outcome', 'upheld', 'partly_upheld', 'rejected', 'withdrawn'), nullable=True),
        sa.Column('remedy', sa.Text(), nullable=True),
        sa.Column('closing_note', sa.Text(), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['caller_id'], ['callers.id'], name=op.f('fk_disputes_caller_id_callers')),
        sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_disputes_provider_id_providers')),
        sa.ForeignKeyConstraint(['request_id'], ['service_requests.id'],
                                name=op.f('fk_disputes_request_id_service_requests')),
        sa.ForeignKeyConstraint(['complaint_id'], ['complaints.id'], name=op.f('fk_disputes_complaint_id_complaints')),
        sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_disputes_survey_id_surveys')),
        sa.ForeignKeyConstraint(['opened_by_id'], ['users.id'], name=op.f('fk_disputes_opened_by_id_users')),
        sa.ForeignKeyConstraint(['closed_by_id'], ['users.id'], name=op.f('fk_disputes_closed_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_disputes')),
        sa.UniqueConstraint('complaint_id', name=op.f('uq_disputes_complaint_id')),
        sa.UniqueConstraint('survey_id', name=op.f('uq_disputes_survey_id')),
    )
    op.create_index('ix_disputes_caller_id', 'disputes', ['caller_id'], unique=False)
    op.create_index('ix_disputes_status_deadline', 'disputes', ['status', 'deadline'], unique=False)
    op.create_index('ix_disputes_provider_closed', 'disputes', ['provider_id', 'closed_at'], unique=False)
    op.create_table(
        'dispute_statements',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dispute_id', sa.Integer(), nullable=False),
        sa.Column('side', _enum('dispute_side', 'caller', 'provider', 'center'), nullable=False),
        sa.Column('author', sa.String(length=64), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['dispute_id'], ['disputes.id'], name=op.f('fk_dispute_statements_dispute_id_disputes'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_dispute_statements_recorded_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_dispute_statements')),
    )
    op.create_index('ix_dispute_statements_dispute_id', 'dispute_statements', ['dispute_id'], unique=False)
    op.create_table(
        'dispute_steps',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dispute_id', sa.Integer(), nullable=False),
        sa.Column('on', sa.Date(), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['dispute_id'], ['disputes.id'], name=op.f('fk_dispute_steps_dispute_id_disputes'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_dispute_steps_recorded_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_dispute_steps')),
    )
    op.create_index('ix_dispute_steps_dispute_id', 'dispute_steps', ['dispute_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_dispute_steps_dispute_id', table_name='dispute_steps')
    op.drop_table('dispute_steps')
    op.drop_index('ix_dispute_statements_dispute_id', table_name='dispute_statements')
    op.drop_table('dispute_statements')
    for index in ('ix_disputes_provider_closed', 'ix_disputes_status_deadline', 'ix_disputes_caller_id'):
        op.drop_index(index, table_name='disputes')
    op.drop_table('disputes')
