"""`<catalog>:<plan>`: how a plan is named across catalogs ('eu-software-001:gold')."""

from __future__ import annotations

from dataclasses import dataclass

# What the API accepts where a body field is a plan reference; PlanRef.parse reads it.
PLAN_REF_PATTERN = r"^[a-z0-9-]+:[a-z0-9-]+$"


@dataclass(frozen=True, slots=True)
class PlanRef:
    """A plan of a catalog, written `<catalog>:<plan>`."""

    catalog: str
    plan: str

    @classmethod
    def parse(cls, text: str) -> PlanRef:
        """Read `<catalog>:<plan>`; ValueError naming the text when it is not one."""
        catalog, colon, plan = text.partition(":")
        if not (colon and catalog and plan) or ":" in plan:
            raise ValueError(f"expected <catalog>:<plan>, got {text!r}")
        return cls(catalog=catalog, plan=plan)

    def __str__(self) -> str:
        return f"{self.catalog}:{self.plan}"
