"""industry report indexes

Revision ID: 0019
Revises: 0017

The industry report (reports/) counts a year of requests by category, district, status
and whether a provider accepted them, and a year of surveys by category and rating:
these indexes let each be read from an index alone (benchmark B8).
"""
from alembic import op


revision = '0019'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_service_requests_created_facts', 'service_requests',
                    ['created_at', 'category_id', 'district_id', 'status', 'id'])
    op.create_index('ix_dispatches_request_status', 'dispatches', ['request_id', 'status'])
    op.create_index('ix_surveys_completed_status', 'surveys', ['completed_at', 'status', 'request_id', 'rating'])


def downgrade() -> None:
    op.drop_index('ix_surveys_completed_status', table_name='surveys')
    op.drop_index('ix_dispatches_request_status', table_name='dispatches')
    op.drop_index('ix_service_requests_created_facts', table_name='service_requests')
