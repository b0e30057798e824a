"""events: the best sample's descriptor and quality, so its face can be enrolled

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("embedding", sa.LargeBinary))
        batch.add_column(sa.Column("quality", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("quality")
        batch.drop_column("embedding")
