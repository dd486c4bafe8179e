"""Folder-synchronization profiles (seed 002)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from postroom.services import profiles
from postroom.services.access import Role, tenant_for
from postroom.services.connection_test import run_connection_test
from postroom.web.deps import ActorDep, RuntimeDep

router = APIRouter(tags=["profiles"])

Scalar = str | int | None


class DeletePolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    when: str = Field(description="never, immediately, archived-older-than or message-older-than")
    amount: Scalar = None
    unit: str | None = Field(default=None, description="days, weeks, months or years")


class ProfileFields(BaseModel):
    """Every field any profile type has; each type accepts only its own (the answer says which)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    type: str | None = Field(default=None, description="imap, exchange, microsoft365, google-workspace, outlook-com")
    mode: str | None = Field(default=None, description="single or multiple")
    delete_policy: DeletePolicyIn | None = None
    mailbox: str | None = None
    source_mailbox: str | None = None
    directory_service_id: str | None = None
    synchronize_users: bool | str | None = None
    server_name: str | None = None
    port: Scalar = None
    protocol: str | None = Field(default=None, description="IMAP-SSL or IMAP-TLS")
    secret_id: str | None = Field(default=None, description="ID or name of a secret")
    timeout: Scalar = Field(default=None, description="Seconds 0-2147483; empty for the default")
    tls_trusted_ca: str | None = Field(
        default=None,
        description="IMAP/Exchange: PEM text of CA certificate(s) to trust for this server besides the "
        "system store (or its self-signed certificate); never a private key",
    )
    tls_fingerprint: str | None = Field(
        default=None,
        description="IMAP/Exchange: SHA-256 fingerprint of the server's certificate (64 hex digits, "
        "colons and spaces allowed), which pins that certificate",
    )
    application_id: str | None = None
    directory_id: str | None = None

    def changes(self) -> dict[str, object]:
        return self.model_dump(exclude_unset=True)


@router.get("/tenants/{tenant}/profiles", summary="List or search: name contains q, or ID equals q")
def list_profiles(tenant: str, actor: ActorDep, runtime: RuntimeDep, q: str | None = None) -> list[dict[str, Any]]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return [profiles.profile_to_dict(session, p) for p in profiles.search_profiles(session, t.id, q)]


@router.post("/tenants/{tenant}/profiles", status_code=201, summary="Create a folder-synchronization profile")
def create_profile(tenant: str, body: ProfileFields, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return profiles.profile_to_dict(session, profiles.create_profile(session, t.id, body.changes()))


@router.get("/tenants/{tenant}/profiles/{key}", summary="One profile, by ID or name")
def get_profile(tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return profiles.profile_to_dict(session, profiles.get_profile(session, t.id, key))


@router.patch("/tenants/{tenant}/profiles/{key}", summary="Edit a profile (its type cannot change)")
def update_profile(tenant: str, key: str, body: ProfileFields, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return profiles.profile_to_dict(session, profiles.update_profile(session, t.id, key, body.changes()))


@router.delete("/tenants/{tenant}/profiles/{key}", status_code=204, summary="Delete a profile no schedule uses")
def delete_profile(tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep) -> None:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        profiles.delete_profile(session, t.id, key)


class ConnectionTestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mailbox: str | None = Field(
        default=None,
        description="Multiple-mailbox profiles: the mailbox to test (its primary e-mail address); required there",
    )


@router.post(
    "/tenants/{tenant}/profiles/{key}/test",
    summary="Test Connection: DNS, TCP, TLS, greeting, capabilities, login, folders, step by step",
    description="Answers 200 with every step whether or not the test passed (`ok`, `failed_step`); each failed "
    "step has the raw `error` and a `hint`. `text` is the plain-text copy for support. The test is also a "
    "`connection-test` process in the process log (`request_id`).",
)
def profile_connection_test(
    tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep, body: ConnectionTestIn | None = None
) -> dict[str, Any]:
    with runtime.transaction() as session:
        tenant_id = tenant_for(session, actor, tenant, need=Role.ADMIN).id
    result = run_connection_test(runtime, tenant_id, key, mailbox=body.mailbox if body else None)
    return {**result.to_dict(), "text": result.as_text()}
