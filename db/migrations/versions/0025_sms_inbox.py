"""the SMS inbox: every message to the hotline's SMS number is kept

Revision ID: 0025
Revises: 0022

Providers answer offers by SMS. A reply the webhook could act on (accept, decline) was
recorded on the offer, but any other message ("明天下午才能去", an answer for an offer
withdrawn meanwhile) was answered with how to reply and then lost. Each message is now
a row, kept before it is acted on, and one that was not acted on waits for an operator.
"""
from alembic import op
import sqlalchemy as sa


revision = '0025'
down_revision = '0022'
branch_labels = None
depends_on = None

OUTCOMES = ('received', 'accepted', 'declined', 'not_understood', 'no_open_offer', 'already_answered')


def upgrade() -> None:
    op.create_table(
        'sms_inbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('message_sid', sa.String(length=64), nullable=True),
        sa.Column('from_number', sa.String(length=32), nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=True),
        sa.Column('request_id', sa.Integer(), nullable=True),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('outcome', sa.Enum(*OUTCOMES, name='sms_reply_outcome', native_enum=False, create_constraint=True,
                                     length=max(map(len, OUTCOMES))), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('handled_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_sms_inbox_provider_id_providers')),
        sa.ForeignKeyConstraint(['request_id'], ['service_requests.id'],
                                name=op.f('fk_sms_inbox_request_id_service_requests')),
        sa.ForeignKeyConstraint(['handled_by_id'], ['users.id'], name=op.f('fk_sms_inbox_handled_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_inbox')),
        sa.UniqueConstraint('message_sid', name=op.f('uq_sms_inbox_message_sid')),
    )
    for column in ('provider_id', 'request_id', 'handled_at'):
        op.create_index(f'ix_sms_inbox_{column}', 'sms_inbox', [column], unique=False)


def downgrade() -> None:
    for column in ('provider_id', 'request_id', 'handled_at'):
        op.drop_index(f'ix_sms_inbox_{column}', table_name='sms_inbox')
    op.drop_table('sms_inbox')
