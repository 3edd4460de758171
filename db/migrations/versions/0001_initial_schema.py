"""initial schema

Revision ID: 0001
Revises: 
"""
from alembic import op
import sqlalchemy as sa
import db.base


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('callers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('phone_kind', sa.Enum('mobile', 'landline', 'other', name='phone_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=True),
    sa.Column('language', sa.Enum('cmn', 'yue', 'hak', name='language', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('do_not_call', sa.Boolean(), nullable=False),
    sa.Column('first_call_at', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_call_at', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('created_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callers')),
    sa.UniqueConstraint('phone', name=op.f('uq_callers_phone'))
    )
    op.create_table('daily_counters',
    sa.Column('name', sa.String(length=16), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name', 'day', name=op.f('pk_daily_counters'))
    )
    op.create_table('districts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name_zh', sa.String(length=32), nullable=False),
    sa.Column('name_en', sa.String(length=64), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_districts')),
    sa.UniqueConstraint('code', name=op.f('uq_districts_code'))
    )
    op.create_table('service_categories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name_zh', sa.String(length=32), nullable=False),
    sa.Column('name_en', sa.String(length=64), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_categories')),
    sa.UniqueConstraint('code', name=op.f('uq_service_categories_code'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.Enum('operator', 'supervisor', 'admin', name='role', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('sip_extension', sa.String(length=32), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('sip_extension', name=op.f('uq_users_sip_extension')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('entity_type', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audit_log_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)
        batch_op.create_index('ix_audit_log_entity', ['entity_type', 'entity_id'], unique=False)

    op.create_table('caller_addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('caller_id', sa.Integer(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=True),
    sa.Column('address', sa.String(length=255), nullable=False),
    sa.Column('label', sa.String(length=32), nullable=True),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['caller_id'], ['callers.id'], name=op.f('fk_caller_addresses_caller_id_callers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_caller_addresses_district_id_districts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_caller_addresses'))
    )
    with op.batch_alter_table('caller_addresses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_caller_addresses_caller_id'), ['caller_id'], unique=False)

    op.create_table('calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uniqueid', sa.String(length=64), nullable=False),
    sa.Column('linkedid', sa.String(length=64), nullable=True),
    sa.Column('direction', sa.Enum('inbound', 'outbound', name='call_direction', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('did', sa.String(length=32), nullable=True),
    sa.Column('caller_id', sa.Integer(), nullable=True),
    sa.Column('caller_number', sa.String(length=40), nullable=True),
    sa.Column('started_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answered_at', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ivr_language', sa.Enum('cmn', 'yue', 'hak', name='language', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('ivr_path', sa.String(length=255), nullable=True),
    sa.Column('queue', sa.String(length=64), nullable=True),
    sa.Column('queue_entered_at', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('queue_wait_seconds', sa.Integer(), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('agent_extension', sa.String(length=32), nullable=True),
    sa.Column('outcome', sa.Enum('in_progress', 'answered', 'abandoned_in_ivr', 'abandoned_in_queue', 'callback_requested', 'voicemail', 'after_hours', 'failed', name='call_outcome', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('hangup_cause', sa.Integer(), nullable=True),
    sa.Column('recording_file', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['users.id'], name=op.f('fk_calls_agent_id_users')),
    sa.ForeignKeyConstraint(['caller_id'], ['callers.id'], name=op.f('fk_calls_caller_id_callers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calls')),
    sa.UniqueConstraint('uniqueid', name=op.f('uq_calls_uniqueid'))
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_caller_started', ['caller_id', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_linkedid'), ['linkedid'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_started_at'), ['started_at'], unique=False)

    op.create_table('providers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('licence_number', sa.String(length=32), nullable=False),
    sa.Column('contact_name', sa.String(length=64), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=True),
    sa.Column('district_id', sa.Integer(), nullable=True),
    sa.Column('grade', sa.Integer(), nullable=True),
    sa.Column('rating_avg', sa.Numeric(precision=3, scale=2, asdecimal=False), nullable=True),
    sa.Column('rating_count', sa.Integer(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('active', 'suspended', name='provider_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('suspended_reason', sa.Text(), nullable=True),
    sa.Column('created_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('capacity >= 0', name=op.f('ck_providers_capacity_non_negative')),
    sa.CheckConstraint('grade IS NULL OR grade BETWEEN 1 AND 5', name=op.f('ck_providers_grade_range')),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_providers_district_id_districts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_providers')),
    sa.UniqueConstraint('licence_number', name=op.f('uq_providers_licence_number'))
    )
    op.create_table('ivr_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('script', sa.String(length=32), nullable=False),
    sa.Column('language', sa.Enum('cmn', 'yue', 'hak', name='language', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('started_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('end_node', sa.String(length=64), nullable=True),
    sa.Column('outcome', sa.Enum('in_progress', 'routed', 'to_operator', 'voicemail', 'callback', 'completed', 'abandoned', 'error', name='ivr_outcome', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_ivr_sessions_call_id_calls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ivr_sessions'))
    )
    with op.batch_alter_table('ivr_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ivr_sessions_call_id'), ['call_id'], unique=False)

    op.create_table('provider_categories',
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['service_categories.id'], name=op.f('fk_provider_categories_category_id_service_categories')),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_provider_categories_provider_id_providers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('provider_id', 'category_id', name=op.f('pk_provider_categories'))
    )
    op.create_table('provider_districts',
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_provider_districts_district_id_districts')),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_provider_districts_provider_id_providers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('provider_id', 'district_id', name=op.f('pk_provider_districts'))
    )
    op.create_table('service_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('caller_id', sa.Integer(), nullable=True),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=True),
    sa.Column('address', sa.String(length=255), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('window_start', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('window_end', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('priority', sa.Enum('normal', 'urgent', 'emergency', name='priority', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('channel', sa.Enum('phone', 'callback', 'voicemail', 'web', name='request_channel', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('status', sa.Enum('new', 'dispatched', 'in_service', 'completed', 'surveyed', 'closed', 'cancelled', name='request_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=True),
    sa.Column('voicemail_file', sa.String(length=255), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('window_end IS NULL OR window_start IS NULL OR window_end > window_start', name=op.f('ck_service_requests_window_order')),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_service_requests_call_id_calls')),
    sa.ForeignKeyConstraint(['caller_id'], ['callers.id'], name=op.f('fk_service_requests_caller_id_callers')),
    sa.ForeignKeyConstraint(['category_id'], ['service_categories.id'], name=op.f('fk_service_requests_category_id_service_categories')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_service_requests_created_by_id_users')),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_service_requests_district_id_districts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_requests')),
    sa.UniqueConstraint('number', name=op.f('uq_service_requests_number'))
    )
    with op.batch_alter_table('service_requests', schema=None) as batch_op:
        batch_op.create_index('ix_service_requests_caller_status', ['caller_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_requests_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_requests_status'), ['status'], unique=False)

    op.create_table('workers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('gender', sa.String(length=8), nullable=True),
    sa.Column('birth_year', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_workers_provider_id_providers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workers'))
    )
    with op.batch_alter_table('workers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workers_provider_id'), ['provider_id'], unique=False)

    op.create_table('certificates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], name=op.f('fk_certificates_worker_id_workers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificates'))
    )
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certificates_expires_on'), ['expires_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_certificates_worker_id'), ['worker_id'], unique=False)

    op.create_table('complaints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('caller_id', sa.Integer(), nullable=True),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('provider_id', sa.Integer(), nullable=True),
    sa.Column('call_id', sa.Integer(), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('open', 'assigned', 'resolved', 'closed', name='complaint_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('assigned_to_id', sa.Integer(), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.Column('created_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['assigned_to_id'], ['users.id'], name=op.f('fk_complaints_assigned_to_id_users')),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_complaints_call_id_calls')),
    sa.ForeignKeyConstraint(['caller_id'], ['callers.id'], name=op.f('fk_complaints_caller_id_callers')),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_complaints_provider_id_providers')),
    sa.ForeignKeyConstraint(['request_id'], ['service_requests.id'], name=op.f('fk_complaints_request_id_service_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaints'))
    )
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_complaints_caller_id'), ['caller_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaints_provider_id'), ['provider_id'], unique=False)

    op.create_table('dispatches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('offered', 'accepted', 'declined', 'timed_out', 'cancelled', name='dispatch_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('offered_by_id', sa.Integer(), nullable=True),
    sa.Column('offered_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('responded_at', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rank_reason', sa.Text(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['offered_by_id'], ['users.id'], name=op.f('fk_dispatches_offered_by_id_users')),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_dispatches_provider_id_providers')),
    sa.ForeignKeyConstraint(['request_id'], ['service_requests.id'], name=op.f('fk_dispatches_request_id_service_requests')),
    sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], name=op.f('fk_dispatches_worker_id_workers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispatches'))
    )
    with op.batch_alter_table('dispatches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispatches_provider_id'), ['provider_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dispatches_request_id'), ['request_id'], unique=False)

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

    op.create_table('request_status_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.Enum('new', 'dispatched', 'in_service', 'completed', 'surveyed', 'closed', 'cancelled', name='from_status', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('to_status', sa.Enum('new', 'dispatched', 'in_service', 'completed', 'surveyed', 'closed', 'cancelled', name='to_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['service_requests.id'], name=op.f('fk_request_status_changes_request_id_service_requests'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_request_status_changes_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_status_changes'))
    )
    with op.batch_alter_table('request_status_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_request_status_changes_request_id'), ['request_id'], unique=False)

    op.create_table('sms_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('to_number', sa.String(length=20), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('queued', 'sending', 'sent', 'failed', name='sms_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('provider_sid', sa.String(length=64), nullable=True),
    sa.Column('created_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['service_requests.id'], name=op.f('fk_sms_outbox_request_id_service_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_outbox'))
    )
    with op.batch_alter_table('sms_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_sms_outbox_status_next', ['status', 'next_attempt_at'], unique=False)

    op.create_table('surveys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('caller_id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=True),
    sa.Column('language', sa.Enum('cmn', 'yue', 'hak', name='language', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('due_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('scheduled', 'dialling', 'completed', 'failed', 'cancelled', name='survey_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('attempt_count', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('claimed_at', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('comment_recording', sa.String(length=255), nullable=True),
    sa.Column('completed_at', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('rating IS NULL OR rating BETWEEN 1 AND 5', name=op.f('ck_surveys_rating_range')),
    sa.ForeignKeyConstraint(['caller_id'], ['callers.id'], name=op.f('fk_surveys_caller_id_callers')),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_surveys_provider_id_providers')),
    sa.ForeignKeyConstraint(['request_id'], ['service_requests.id'], name=op.f('fk_surveys_request_id_service_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_surveys')),
    sa.UniqueConstraint('request_id', name=op.f('uq_surveys_request_id'))
    )
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_surveys_caller_id'), ['caller_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_surveys_provider_id'), ['provider_id'], unique=False)
        batch_op.create_index('ix_surveys_status_due', ['status', 'due_at'], unique=False)

    op.create_table('trainings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=False),
    sa.Column('course', sa.String(length=128), nullable=False),
    sa.Column('completed_on', sa.Date(), nullable=False),
    sa.Column('hours', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], name=op.f('fk_trainings_worker_id_workers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trainings'))
    )
    with op.batch_alter_table('trainings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trainings_worker_id'), ['worker_id'], unique=False)

    op.create_table('callback_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('caller_id', sa.Integer(), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('language', sa.Enum('cmn', 'yue', 'hak', name='language', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('reason', sa.Enum('queue_callback', 'after_hours', 'voicemail', 'survey_follow_up', 'other', name='callback_reason', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=True),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('survey_id', sa.Integer(), nullable=True),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('due_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('pending', 'in_progress', 'done', 'failed', 'cancelled', name='task_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('assigned_to_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('done_at', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['assigned_to_id'], ['users.id'], name=op.f('fk_callback_tasks_assigned_to_id_users')),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_callback_tasks_call_id_calls')),
    sa.ForeignKeyConstraint(['caller_id'], ['callers.id'], name=op.f('fk_callback_tasks_caller_id_callers')),
    sa.ForeignKeyConstraint(['category_id'], ['service_categories.id'], name=op.f('fk_callback_tasks_category_id_service_categories')),
    sa.ForeignKeyConstraint(['request_id'], ['service_requests.id'], name=op.f('fk_callback_tasks_request_id_service_requests')),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_callback_tasks_survey_id_surveys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callback_tasks'))
    )
    with op.batch_alter_table('callback_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_callback_tasks_status_due', ['status', 'due_at'], unique=False)

    op.create_table('survey_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('started_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.Enum('answered', 'no_answer', 'busy', 'congestion', 'failed', 'no_input', name='attempt_outcome', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('originate_reason', sa.Integer(), nullable=True),
    sa.Column('action_id', sa.String(length=64), nullable=True),
    sa.Column('call_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_survey_attempts_call_id_calls')),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_survey_attempts_survey_id_surveys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_attempts')),
    sa.UniqueConstraint('action_id', name=op.f('uq_survey_attempts_action_id'))
    )
    with op.batch_alter_table('survey_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_attempts_survey_id'), ['survey_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('survey_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_attempts_survey_id'))

    op.drop_table('survey_attempts')
    with op.batch_alter_table('callback_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_callback_tasks_status_due')

    op.drop_table('callback_tasks')
    with op.batch_alter_table('trainings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trainings_worker_id'))

    op.drop_table('trainings')
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.drop_index('ix_surveys_status_due')
        batch_op.drop_index(batch_op.f('ix_surveys_provider_id'))
        batch_op.drop_index(batch_op.f('ix_surveys_caller_id'))

    op.drop_table('surveys')
    with op.batch_alter_table('sms_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_sms_outbox_status_next')

    op.drop_table('sms_outbox')
    with op.batch_alter_table('request_status_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_request_status_changes_request_id'))

    op.drop_table('request_status_changes')
    with op.batch_alter_table('ivr_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ivr_steps_session_id'))

    op.drop_table('ivr_steps')
    with op.batch_alter_table('dispatches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dispatches_request_id'))
        batch_op.drop_index(batch_op.f('ix_dispatches_provider_id'))

    op.drop_table('dispatches')
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_complaints_provider_id'))
        batch_op.drop_index(batch_op.f('ix_complaints_caller_id'))

    op.drop_table('complaints')
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certificates_worker_id'))
        batch_op.drop_index(batch_op.f('ix_certificates_expires_on'))

    op.drop_table('certificates')
    with op.batch_alter_table('workers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workers_provider_id'))

    op.drop_table('workers')
    with op.batch_alter_table('service_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_requests_status'))
        batch_op.drop_index(batch_op.f('ix_service_requests_created_at'))
        batch_op.drop_index('ix_service_requests_caller_status')

    op.drop_table('service_requests')
    op.drop_table('provider_districts')
    op.drop_table('provider_categories')
    with op.batch_alter_table('ivr_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ivr_sessions_call_id'))

    op.drop_table('ivr_sessions')
    op.drop_table('providers')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calls_started_at'))
        batch_op.drop_index(batch_op.f('ix_calls_linkedid'))
        batch_op.drop_index('ix_calls_caller_started')

    op.drop_table('calls')
    with op.batch_alter_table('caller_addresses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_caller_addresses_caller_id'))

    op.drop_table('caller_addresses')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_entity')
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
    op.drop_table('users')
    op.drop_table('service_categories')
    op.drop_table('districts')
    op.drop_table('daily_counters')
    op.drop_table('callers')
