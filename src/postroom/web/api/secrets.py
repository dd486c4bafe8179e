"""Secrets: created and replaced here, but their values never leave the server."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from postroom.services import secrets
from postroom.services.access import Role, tenant_for
from postroom.web.deps import ActorDep, RuntimeDep

router = APIRouter(tags=["secrets"])


class SecretIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    kind: str = Field(description="basic, certificate, oauth or google-service-account")
    values: dict[str, Any] = Field(
        description="basic: username, password · certificate: pem or pfx (base64), password · "
        "oauth: access_token, refresh_token, expires_at, scope, account · "
        "google-service-account: json (the key file)"
    )


class SecretPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    values: dict[str, Any] | None = Field(default=None, description="All values of the secret's kind, again.")


@router.get("/tenants/{tenant}/secrets", summary="Secrets (names, kinds and summaries only)")
def list_secrets(tenant: str, actor: ActorDep, runtime: RuntimeDep, q: str | None = None) -> list[dict[str, object]]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return [secrets.secret_to_dict(s) for s in secrets.list_secrets(session, t.id, q)]


@router.post("/tenants/{tenant}/secrets", status_code=201, summary="Store a secret, encrypted")
def create_secret(tenant: str, body: SecretIn, actor: ActorDep, runtime: RuntimeDep) -> dict[str, object]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        secret = secrets.create_secret(session, runtime.secret_box, t.id, body.name, body.kind, body.values)
        return secrets.secret_to_dict(secret)


@router.get("/tenants/{tenant}/secrets/{key}", summary="One secret's summary, by ID or name")
def get_secret(tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep) -> dict[str, object]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return secrets.secret_to_dict(secrets.get_secret(session, t.id, key))


@router.patch("/tenants/{tenant}/secrets/{key}", summary="Rename a secret or replace its values")
def update_secret(tenant: str, key: str, body: SecretPatch, actor: ActorDep, runtime: RuntimeDep) -> dict[str, object]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        secret = secrets.update_secret(session, runtime.secret_box, t.id, key, name=body.name, values=body.values)
        return secrets.secret_to_dict(secret)


@router.delete("/tenants/{tenant}/secrets/{key}", status_code=204, summary="Delete a secret no profile uses")
def delete_secret(tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep) -> None:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        secrets.delete_secret(session, t.id, key)
