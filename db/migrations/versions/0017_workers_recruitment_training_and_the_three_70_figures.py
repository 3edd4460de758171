"""workers, recruitment and training (招工培训); the three 70% figures' denominators

Revision ID: 0017
Revises: 0013

Job seekers (from the IVR's key 6 or an operator), providers' job openings and the hires
recorded through the platform; training sessions with their attendees, which existing
trainings and certificates may now name (a nullable column: every row stays valid); and
the denominators supervisors enter for the three 70% figures (workforce/figures.py).
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=max(map(len, values)))


def _user_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ['users.id'], name=op.f(f'fk_{table}_{column}_users'))


def upgrade() -> None:
    op.create_table(
        'training_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('course', sa.String(length=128), nullable=False),
        sa.Column('held_on', sa.Date(), nullable=False),
        sa.Column('trainer', sa.String(length=64), nullable=False),
        sa.Column('place', sa.String(length=255), nullable=True),
        sa.Column('hours', sa.Integer(), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        _user_fk('training_sessions', 'created_by_id'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_training_sessions')),
    )
    op.create_index(op.f('ix_training_sessions_held_on'), 'training_sessions', ['held_on'], unique=False)
    op.create_table(
        'job_seekers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=True),
        sa.Column('phone', sa.String(length=20), nullable=False),
        sa.Column('district_id', sa.Integer(), nullable=True),
        sa.Column('category_id', sa.Integer(), nullable=True),
        sa.Column('language', _enum('language', 'cmn', 'yue', 'hak'), nullable=True),
        sa.Column('source', _enum('job_seeker_source', 'ivr', 'operator'), nullable=False),
        sa.Column('status', _enum('job_seeker_status', 'lead', 'seeking', 'hired', 'withdrawn'), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('call_id', sa.Integer(), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_job_seekers_call_id_calls')),
        sa.ForeignKeyConstraint(['category_id'], ['service_categories.id'],
                                name=op.f('fk_job_seekers_category_id_service_categories')),
        sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_job_seekers_district_id_districts')),
        _user_fk('job_seekers', 'created_by_id'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_job_seekers')),
    )
    op.create_index(op.f('ix_job_seekers_phone'), 'job_seekers', ['phone'], unique=False)
    op.create_index('ix_job_seekers_status_created', 'job_seekers', ['status', 'created_at'], unique=False)
    op.create_table(
        'job_openings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('category_id', sa.Integer(), nullable=False),
        sa.Column('district_id', sa.Integer(), nullable=True),
        sa.Column('title', sa.String(length=128), nullable=False),
        sa.Column('positions', sa.Integer(), nullable=False),
        sa.Column('status', _enum('opening_status', 'open', 'closed'), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('positions >= 1', name=op.f('ck_job_openings_positions_positive')),
        sa.ForeignKeyConstraint(['category_id'], ['service_categories.id'],
                                name=op.f('fk_job_openings_category_id_service_categories')),
        sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_job_openings_district_id_districts')),
        sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_job_openings_provider_id_providers'),
                                ondelete='CASCADE'),
        _user_fk('job_openings', 'created_by_id'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_job_openings')),
    )
    op.create_index(op.f('ix_job_openings_provider_id'), 'job_openings', ['provider_id'], unique=False)
    op.create_index(op.f('ix_job_openings_status'), 'job_openings', ['status'], unique=False)
    op.create_table(
        'hires',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('seeker_id', sa.Integer(), nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('opening_id', sa.Integer(), nullable=True),
        sa.Column('worker_id', sa.Integer(), nullable=True),
        sa.Column('hired_on', sa.Date(), nullable=False),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['opening_id'], ['job_openings.id'], name=op.f('fk_hires_opening_id_job_openings')),
        sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_hires_provider_id_providers')),
        sa.ForeignKeyConstraint(['seeker_id'], ['job_seekers.id'], name=op.f('fk_hires_seeker_id_job_seekers')),
        sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], name=op.f('fk_hires_worker_id_workers')),
        _user_fk('hires', 'recorded_by_id'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_hires')),
    )
    op.create_index(op.f('ix_hires_hired_on'), 'hires', ['hired_on'], unique=False)
    op.create_index(op.f('ix_hires_provider_id'), 'hires', ['provider_id'], unique=False)
    op.create_index(op.f('ix_hires_seeker_id'), 'hires', ['seeker_id'], unique=False)
    op.create_table(
        'training_attendees',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('worker_id', sa.Integer(), nullable=True),
        sa.Column('seeker_id', sa.Integer(), nullable=True),
        sa.CheckConstraint('(worker_id IS NULL) <> (seeker_id IS NULL)',
                           name=op.f('ck_training_attendees_worker_or_seeker')),
        sa.ForeignKeyConstraint(['seeker_id'], ['job_seekers.id'],
                                name=op.f('fk_training_attendees_seeker_id_job_seekers')),
        sa.ForeignKeyConstraint(['session_id'], ['training_sessions.id'],
                                name=op.f('fk_training_attendees_session_id_training_sessions'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], name=op.f('fk_training_attendees_worker_id_workers')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_training_attendees')),
        sa.UniqueConstraint('session_id', 'seeker_id', name=op.f('uq_training_attendees_session_id_seeker_id')),
        sa.UniqueConstraint('session_id', 'worker_id', name=op.f('uq_training_attendees_session_id_worker_id')),
    )
    op.create_index(op.f('ix_training_attendees_session_id'), 'training_attendees', ['session_id'], unique=False)
    op.create_table(
        'seventy_denominators',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('measure', _enum('seventy_measure', 'demand', 'businesses', 'workers'), nullable=False),
        sa.Column('district_id', sa.Integer(), nullable=True),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('value', sa.Integer(), nullable=False),
        sa.Column('entered_by_id', sa.Integer(), nullable=True),
        sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('value >= 1', name=op.f('ck_seventy_denominators_value_positive')),
        sa.ForeignKeyConstraint(['district_id'], ['districts.id'],
                                name=op.f('fk_seventy_denominators_district_id_districts')),
        _user_fk('seventy_denominators', 'entered_by_id'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_seventy_denominators')),
    )
    op.create_index('ix_seventy_denominators_measure_month', 'seventy_denominators',
                    ['measure', 'month', 'district_id'], unique=False)
    # A batch (a table copy on SQLite, which cannot add a foreign key otherwise): no table
    # refers to these two, so the copy cascades nothing (unlike providers, see 0011).
    for table in ('trainings', 'certificates'):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column('session_id', sa.Integer(), nullable=True))
            batch_op.create_index(batch_op.f(f'ix_{table}_session_id'), ['session_id'], unique=False)
            batch_op.create_foreign_key(batch_op.f(f'fk_{table}_session_id_training_sessions'), 'training_sessions',
                                        ['session_id'], ['id'])


def downgrade() -> None:
    for table in ('certificates', 'trainings'):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_session_id_training_sessions'), type_='foreignkey')
            batch_op.drop_index(batch_op.f(f'ix_{table}_session_id'))
            batch_op.drop_column('session_id')
    op.drop_index('ix_seventy_denominators_measure_month', table_name='seventy_denominators')
    op.drop_table('seventy_denominators')
    op.drop_index(op.f('ix_training_attendees_session_id'), table_name='training_attendees')
    op.drop_table('training_attendees')
    for index in ('ix_hires_seeker_id', 'ix_hires_provider_id', 'ix_hires_hired_on'):
        op.drop_index(op.f(index), table_name='hires')
    op.drop_table('hires')
    op.drop_index(op.f('ix_job_openings_status'), table_name='job_openings')
    op.drop_index(op.f('ix_job_openings_provider_id'), table_name='job_openings')
    op.drop_table('job_openings')
    op.drop_index('ix_job_seekers_status_created', table_name='job_seekers')
    op.drop_index(op.f('ix_job_seekers_phone'), table_name='job_seekers')
    op.drop_table('job_seekers')
    op.drop_index(op.f('ix_training_sessions_held_on'), table_name='training_sessions')
    op.drop_table('training_sessions')
