"""Filing rules: file matching archived mail to a location (issue 5)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from postroom.services import filing_rules
from postroom.services.access import Role, tenant_for
from postroom.web.deps import ActorDep, RuntimeDep

router = APIRouter(tags=["filing rules"])


class RuleConditions(BaseModel):
    """Every condition given must match; ``null`` or ``""`` removes one when editing."""

    model_config = ConfigDict(extra="forbid")
    folder: str | None = Field(default=None, description="Archive folder path (ignoring case); /* for its subtree")
    sender: str | None = Field(default=None, description="From address, or @domain")
    recipient: str | None = Field(default=None, description="A To or Cc address, or @domain")
    subject: str | None = Field(default=None, description="A regular expression found in the subject")
    project_code: str | None = Field(
        default=None, description=r"A regular expression with one group found in the subject: \b(P-\d{3,5})\b"
    )


class RuleFields(BaseModel):
    """A new rule's fields, or the fields that change; ``null`` keeps the default or current value."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    location: str | None = Field(default=None, description="The location it files to, by name or ID")
    enabled: bool | None = Field(default=None, description="Default true")
    conditions: RuleConditions | None = None

    def changes(self) -> dict[str, object]:
        return self.model_dump(exclude_unset=True)


class ApplyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule: str | None = Field(default=None, description="One rule by name or ID; default every enabled rule")


@router.get("/tenants/{tenant}/filing-rules", summary="List filing rules")
def list_rules(tenant: str, actor: ActorDep, runtime: RuntimeDep) -> list[dict[str, Any]]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return [filing_rules.rule_to_dict(session, r) for r in filing_rules.list_rules(session, t.id)]


@router.post("/tenants/{tenant}/filing-rules", status_code=201, summary="Create a filing rule")
def create_rule(tenant: str, body: RuleFields, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return filing_rules.rule_to_dict(session, filing_rules.create_rule(session, t.id, body.changes()))


@router.post(
    "/tenants/{tenant}/filing-rules/apply",
    summary="Apply filing rules to all archived mail; messages already filed stay as they are",
)
def apply_rules(tenant: str, body: ApplyRequest, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return filing_rules.apply_rules(session, t.id, rule_key=body.rule).to_dict()


@router.get("/tenants/{tenant}/filing-rules/{key}", summary="One filing rule, by ID or name")
def get_rule(tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return filing_rules.rule_to_dict(session, filing_rules.get_rule(session, t.id, key))


@router.patch("/tenants/{tenant}/filing-rules/{key}", summary="Edit a filing rule")
def update_rule(tenant: str, key: str, body: RuleFields, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return filing_rules.rule_to_dict(session, filing_rules.update_rule(session, t.id, key, body.changes()))


@router.delete("/tenants/{tenant}/filing-rules/{key}", status_code=204, summary="Delete a filing rule")
def delete_rule(tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep) -> None:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        filing_rules.delete_rule(session, t.id, key)
