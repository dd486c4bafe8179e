"""Directory services: where the mailboxes of multiple-mailbox profiles come from (issue 7)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from postroom.runtime import Runtime
from postroom.services import directories
from postroom.services.access import Actor, Role, tenant_for
from postroom.web.deps import ActorDep, RuntimeDep

router = APIRouter(tags=["directory services"])
BASE = "/tenants/{tenant}/directory-services"


class StaticEntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str
    display_name: str | None = None


class DirectoryFields(BaseModel):
    """A new directory service's fields, or the fields that change; ``null`` keeps the default or current value."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    type: str | None = Field(default=None, description="ldap (LDAP / Active Directory) or static; fixed after creation")
    secret_id: str | None = Field(
        default=None, description="LDAP: name or ID of a basic secret; its username is the bind DN. Empty: anonymous"
    )
    server_name: str | None = Field(default=None, description="LDAP: host name or address, without ldap:// or port")
    port: int | None = Field(default=None, description="LDAP: 1-65535 (default 389, or 636 for ldaps)")
    security: str | None = Field(default=None, description="LDAP: none, starttls (default) or ldaps")
    tls_trusted_ca: str | None = Field(
        default=None, description="LDAP: PEM of CA certificates to trust besides the system's (always verified)"
    )
    timeout: int | None = Field(default=None, description="LDAP: seconds, 0 = no limit (default 30)")
    base_dn: str | None = Field(default=None, description="LDAP: the DN to search below, e.g. dc=example,dc=com")
    filter: str | None = Field(
        default=None, description="LDAP: search filter (default (&(objectClass=person)(mail=*)))"
    )
    mail_attribute: str | None = Field(default=None, description="LDAP: attribute with the address (default mail)")
    display_name_attribute: str | None = Field(default=None, description="LDAP: default displayName (then cn)")
    page_size: int | None = Field(default=None, description="LDAP: entries per page of the paged search (default 500)")
    entries: str | list[StaticEntryIn | str] | None = Field(
        default=None,
        description="Static: CSV text (address,display name per line; header optional) or a list; replaces the list",
    )

    def changes(self) -> dict[str, object]:
        data = self.model_dump(exclude_unset=True)
        if isinstance(self.entries, list):
            data["entries"] = [e if isinstance(e, str) else e.model_dump() for e in self.entries]
        return data


@router.get(BASE, summary="List or search: name contains q, or ID equals q")
def list_directories(tenant: str, actor: ActorDep, runtime: RuntimeDep, q: str | None = None) -> list[dict[str, Any]]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return [directories.directory_to_dict(session, d) for d in directories.search_directories(session, t.id, q)]


@router.post(BASE, status_code=201, summary="Create a directory service")
def create_directory(tenant: str, body: DirectoryFields, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return directories.directory_to_dict(session, directories.create_directory(session, t.id, body.changes()))


@router.get(BASE + "/{key}", summary="One directory service, by ID or name")
def get_directory(tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return directories.directory_to_dict(session, directories.get_directory(session, t.id, key))


@router.patch(BASE + "/{key}", summary="Edit a directory service (its type cannot change)")
def update_directory(
    tenant: str, key: str, body: DirectoryFields, actor: ActorDep, runtime: RuntimeDep
) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        return directories.directory_to_dict(session, directories.update_directory(session, t.id, key, body.changes()))


@router.delete(BASE + "/{key}", status_code=204, summary="Delete a directory service no profile or schedule uses")
def delete_directory(tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep) -> None:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        directories.delete_directory(session, t.id, key)


def _tenant_id(runtime: Runtime, actor: Actor, tenant: str) -> str:
    with runtime.transaction() as session:
        return tenant_for(session, actor, tenant, need=Role.ADMIN).id


@router.get(
    BASE + "/{key}/mailboxes",
    summary="Read the directory now: its mailboxes, normalised and without duplicates",
    description="`mailboxes` is sorted by address; `invalid` says which entries were left out and why. "
    "A directory that cannot be reached or read answers 502 with the step and the server's words.",
    responses={502: {"description": "The directory could not be reached or read: the step and the server's words"}},
)
def directory_mailboxes(tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    return directories.list_mailboxes(runtime, _tenant_id(runtime, actor, tenant), key).to_dict()


@router.post(
    BASE + "/{key}/test",
    summary="Test the directory: connection, TLS, bind and search, step by step",
    description="Answers 200 with every step whether or not the test passed (`ok`, `failed_step`); a failed "
    "step has the server's raw `error` and a `hint`. `text` is the plain-text copy for support. The test is a "
    "`connection-test` process in the process log (`request_id`).",
)
def directory_test(tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    result = directories.check_directory(runtime, _tenant_id(runtime, actor, tenant), key)
    return {**result.to_dict(), "text": result.as_text()}


@router.post(
    BASE + "/{key}/sync",
    status_code=202,
    summary="Synchronize users now: a directory-sync process; answers at once with its request ID",
)
def directory_sync(tenant: str, key: str, actor: ActorDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.transaction() as session:
        t = tenant_for(session, actor, tenant, need=Role.ADMIN)
        tenant_id, tenant_name = t.id, t.name
    prepared = directories.start_directory_sync(runtime, tenant_id, key)
    return {
        "request_id": prepared.request_id,
        "status": "running",
        "process": f"/api/v1/tenants/{tenant_name}/processes/{prepared.request_id}",
    }
