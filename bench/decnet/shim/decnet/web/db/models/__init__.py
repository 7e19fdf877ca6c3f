"""Stand-in for DECNET's `decnet.web.db.models` (not in the seed): the three tables the
TTP mixin reads and its three response rows, with DECNET's table and column names and
types (SPEC §1). Only the columns SPEC lists are mapped: DECNET's tables have more, which
the mixin's queries never name (`select(TTPTag)` does name every column of `ttp_tag`,
and all of them are here). No index or constraint: the harness only reads."""

from datetime import datetime
from typing import Any, Optional

from pydantic import BaseModel
from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel


class TTPTag(SQLModel, table=True):
    """One row per (source event, rule, technique): DECNET's `ttp_tag`."""

    __tablename__ = "ttp_tag"

    uuid: str = Field(primary_key=True)
    source_kind: str
    source_id: str
    attacker_uuid: Optional[str] = Field(default=None, foreign_key="attackers.uuid")
    identity_uuid: Optional[str] = Field(default=None, foreign_key="attacker_identities.uuid")
    session_id: Optional[str] = None
    decky_id: Optional[str] = None
    tactic: str
    technique_id: str
    sub_technique_id: Optional[str] = None
    confidence: float
    rule_id: str
    rule_version: int
    # DECNET's native JSON column: TEXT on SQLite, JSON on MySQL, decoded on read.
    evidence: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    attack_release: str
    mitre_url: Optional[str] = None
    created_at: datetime


class Attacker(SQLModel, table=True):
    """Per-IP observation row: DECNET's `attackers`."""

    __tablename__ = "attackers"

    uuid: str = Field(primary_key=True)
    ip: str
    identity_id: Optional[str] = Field(default=None, foreign_key="attacker_identities.uuid")
    first_seen: datetime
    last_seen: datetime
    event_count: int = 0
    commands: str = Field(default="[]", sa_column=Column("commands", Text, nullable=False, default="[]"))


class AttackerIdentity(SQLModel, table=True):
    """Resolved actor identity: DECNET's `attacker_identities` (the campaign column is
    `campaign_id`)."""

    __tablename__ = "attacker_identities"

    uuid: str = Field(primary_key=True)
    campaign_id: Optional[str] = None
    first_seen_at: Optional[datetime] = None
    last_seen_at: Optional[datetime] = None
    confidence: Optional[float] = None
    observation_count: int = 0
    merged_into_uuid: Optional[str] = None


class TechniqueRollupRow(BaseModel):
    """One row of /api/v1/ttp/techniques (the fleet rollup)."""

    technique_id: str
    technique_name: Optional[str] = None
    sub_technique_id: Optional[str] = None
    sub_technique_name: Optional[str] = None
    tactic: str
    count: int
    last_seen: datetime
    mitre_url: Optional[str] = None


class IdentityTechniqueRow(BaseModel):
    """One row of the by-identity / by-attacker / by-session rollups."""

    technique_id: str
    technique_name: Optional[str] = None
    sub_technique_id: Optional[str] = None
    sub_technique_name: Optional[str] = None
    tactic: str
    count: int
    first_seen: datetime
    last_seen: datetime
    confidence_max: float
    mitre_url: Optional[str] = None


class CampaignTechniqueRow(BaseModel):
    """One row of /api/v1/ttp/by-campaign/{uuid}."""

    technique_id: str
    technique_name: Optional[str] = None
    sub_technique_id: Optional[str] = None
    sub_technique_name: Optional[str] = None
    tactic: str
    count: int
    identity_count: int
    last_seen: datetime
    mitre_url: Optional[str] = None
