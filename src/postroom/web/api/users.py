"""Users of a tenant and their roles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from postroom.services import users
from postroom.services.access import Role, tenant_for
from postroom.web.deps import ActorDep, RuntimeDep

router = APIRouter(tags=["users"])


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str
    password: str
    display_name: str = ""
    role: str = "user"


@router.get("/tenants/{tenant}/users", summary="Users with a role in the tenant")
def list_users(tenant: str, actor: ActorDep, runtime: RuntimeDep) -> list[dict[str, Any]]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return [users.user_to_dict(session, u) for u in users.list_users(session, t)]


@router.post("/tenants/{tenant}/users", status_code=201, summary="Create a user with a role in the tenant")
def create_user(tenant: str, body: UserIn, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        role = users.parse_role(body.role)
        user = users.create_user(session, body.email, body.password, display_name=body.display_name)
        users.set_membership(session, user, t, role)
        session.refresh(user)
        return users.user_to_dict(session, user)
