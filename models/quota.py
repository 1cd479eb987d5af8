"""Incidents-per-month quota: payloads of the per-organisation, per-month quota workflow."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class QuotaPeriod(BaseModel):
    """One organisation's month, in its plan's time zone."""

    model_config = ConfigDict(frozen=True)

    organisation: str
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    limit: int = Field(ge=0)
    ends_at: datetime = Field(description="End of the month in the plan's zone, as UTC")


class ReserveSlot(BaseModel):
    case_number: int = Field(gt=0)


class SlotReserved(BaseModel):
    case_number: int
    used: int
    limit: int


def quota_workflow_id(organisation: str, month: str) -> str:
    return f"quota-{organisation}-{month}"
