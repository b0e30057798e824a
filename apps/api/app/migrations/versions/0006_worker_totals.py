"""workers: last heartbeat and offline time apart from last seen; job counts are totals

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("last_heartbeat", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("offline_since", sa.DateTime(timezone=True)))
    # Until now last_seen was written when a worker connected or left: the best guess we have.
    op.execute("UPDATE workers SET offline_since = last_seen")


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("offline_since")
        batch.drop_column("last_heartbeat")
