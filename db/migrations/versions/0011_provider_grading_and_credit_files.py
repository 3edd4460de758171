"""provider grading history, credit measures (commendations and sanctions), upheld complaints

Revision ID: 0011
Revises: 0010

Columns are added with a plain ALTER TABLE ADD COLUMN on both databases: on SQLite a
batch copy of `providers` would cascade-delete its categories and districts.

Providers suspended before this revision had no end date: each becomes a removal in its
credit file (with the reason it had), out of dispatch until a supervisor reinstates it.
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('providers', sa.Column('suspended_until', sa.DateTime(timezone=True), nullable=True))
    op.add_column('providers', sa.Column('grade_overridden', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.add_column('providers', sa.Column('override_renewed', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.add_column('providers', sa.Column('graded_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('complaints', sa.Column('upheld', sa.Boolean(), nullable=True))
    op.create_table(
        'provider_grade_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('source', sa.Enum('regrade', 'override', 'renewal', name='grade_source', native_enum=False,
                                    create_constraint=True, length=8), nullable=False),
        sa.Column('previous_grade', sa.Integer(), nullable=True),
        sa.Column('grade', sa.Integer(), nullable=True),
        sa.Column('rule_grade', sa.Integer(), nullable=True),
        sa.Column('score', sa.Numeric(precision=6, scale=2, asdecimal=False), nullable=True),
        sa.Column('reasons', sa.JSON(), nullable=True),
        sa.Column('inputs', sa.JSON(), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['provider_id'], ['providers.id'],
                                name=op.f('fk_provider_grade_changes_provider_id_providers'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_provider_grade_changes_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_provider_grade_changes')),
    )
    op.create_index('ix_provider_grade_changes_provider_at', 'provider_grade_changes', ['provider_id', 'at'], unique=False)
    measures = op.create_table(
        'credit_measures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum('commendation', 'warning', 'suspension', 'removal', name='credit_measure_kind',
                                  native_enum=False, create_constraint=True, length=12), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('lifted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lifted_by_id', sa.Integer(), nullable=True),
        sa.Column('lift_reason', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_credit_measures_created_by_id_users')),
        sa.ForeignKeyConstraint(['lifted_by_id'], ['users.id'], name=op.f('fk_credit_measures_lifted_by_id_users')),
        sa.ForeignKeyConstraint(['provider_id'], ['providers.id'],
                                name=op.f('fk_credit_measures_provider_id_providers'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_measures')),
    )
    op.create_index('ix_credit_measures_provider_starts', 'credit_measures', ['provider_id', 'starts_at'], unique=False)
    _suspended_providers_become_removals(measures)


def _suspended_providers_become_removals(measures: sa.Table) -> None:
    bind = op.get_bind()
    providers = sa.table('providers', sa.column('id', sa.Integer), sa.column('status', sa.String),
                         sa.column('suspended_reason', sa.Text), sa.column('created_at', sa.DateTime(timezone=True)))
    rows = bind.execute(sa.select(providers.c.id, providers.c.suspended_reason, providers.c.created_at)
                        .where(providers.c.status == 'suspended')).all()
    if rows:
        # When it was suspended was never recorded: the file says so, dated at registration.
        op.bulk_insert(measures, [{"provider_id": row.id, "kind": "removal", "starts_at": row.created_at,
                                   "reason": (row.suspended_reason or "") + "（升级前已暂停，日期未记录）"}
                                  for row in rows])


def downgrade() -> None:
    op.drop_index('ix_credit_measures_provider_starts', table_name='credit_measures')
    op.drop_table('credit_measures')
    op.drop_index('ix_provider_grade_changes_provider_at', table_name='provider_grade_changes')
    op.drop_table('provider_grade_changes')
    op.drop_column('complaints', 'upheld')
    for column in ('graded_at', 'override_renewed', 'grade_overridden', 'suspended_until'):
        op.drop_column('providers', column)
