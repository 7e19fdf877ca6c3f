"""Stand-in for DECNET's `decnet.web.db.models.canary` (not in the seed): the one table
the TTP mixin reads from it, `canary_triggers`, with the columns SPEC §1 lists."""

from datetime import datetime
from typing import Optional

from sqlmodel import Field, SQLModel


class CanaryTrigger(SQLModel, table=True):
    """One hit on a canary token."""

    __tablename__ = "canary_triggers"

    uuid: str = Field(primary_key=True)
    token_uuid: Optional[str] = None
    occurred_at: datetime
    src_ip: Optional[str] = None
    user_agent: Optional[str] = None
    request_path: Optional[str] = None
    attacker_id: Optional[str] = None
