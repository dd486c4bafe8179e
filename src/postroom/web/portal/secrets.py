"""The secrets page (issue 6, seed 002's "Credentials"): list, search, create per kind, edit, delete.

Values are checked by ``domain.secret.parse_secret`` through ``services.secrets`` (the API's
rules). A secret's value is never written into a page: password, token, key and certificate
fields are empty on every form, also after an error. On edit, an empty secret field keeps the
stored value (the service takes all values again, so the stored ones fill the gaps here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from postroom.db.models import Secret, Tenant
from postroom.domain.secret import SecretKind
from postroom.errors import InUse, InvalidInput, NameTaken
from postroom.runtime import Runtime
from postroom.services import secrets
from postroom.services.access import Role, tenant_for
from postroom.web.deps import RuntimeDep
from postroom.web.portal.auth import FormDep, Viewer, ViewerDep
from postroom.web.portal.rendering import render

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str  # text, email, password, textarea
    secret: bool  # never shown again; empty on edit keeps the stored value
    help: str = ""


KIND_FIELDS: dict[SecretKind, tuple[Field, ...]] = {
    SecretKind.BASIC: (
        Field("username", "Username", "text", False, "The account name to sign in with."),
        Field("password", "Password", "password", True),
    ),
    SecretKind.CERTIFICATE: (
        Field("pem", "Certificate and private key (PEM)", "textarea", True, "The certificate with its private key."),
        Field("pfx", "Or: .pfx/.p12 file as base64", "textarea", True, "e.g. the output of `base64 -w0 cert.pfx`."),
        Field("password", "Private key password", "password", True, "Only when the key or .pfx is protected."),
    ),
    SecretKind.OAUTH: (
        Field("access_token", "Access token", "password", True),
        Field("refresh_token", "Refresh token", "password", True, "An access token, a refresh token or both."),
        Field("token_type", "Token type", "text", False, "Empty for Bearer."),
        Field("expires_at", "Expires at", "text", False, "ISO 8601 with a time zone, e.g. 2030-01-31T12:00:00Z."),
        Field("scope", "Scope", "text", False, "Space-separated scopes."),
        Field("client_id", "Client ID", "text", False),
        Field("account", "Account", "email", False, "The e-mail address of the account that consented."),
    ),
    SecretKind.GOOGLE_SERVICE_ACCOUNT: (
        Field("json", "JSON key file", "textarea", True, "The service account's key file, pasted unchanged."),
    ),
}
# Fields that belong together: one given means the others are new too (a new certificate and its password).
GROUPS: dict[SecretKind, tuple[str, ...]] = {SecretKind.CERTIFICATE: ("pem", "pfx", "password")}


def _parse_kind(value: str | None) -> SecretKind | None:
    try:
        return SecretKind(value) if value else None
    except ValueError:
        return None


def given_values(kind: SecretKind, form: Mapping[str, str]) -> dict[str, str]:
    """The kind's fields as typed (``KIND.FIELD`` in the form), without empty ones."""
    values = {f.name: form.get(f"{kind.value}.{f.name}", "") for f in KIND_FIELDS[kind]}
    return {name: value for name, value in values.items() if value != ""}


def merged_values(kind: SecretKind, form: Mapping[str, str], stored: Mapping[str, Any]) -> dict[str, Any] | None:
    """The values to save on edit: what was typed, and the stored value of each empty secret
    field. ``None`` when nothing changed (the secret is only renamed)."""
    fields = KIND_FIELDS[kind]
    current = {f.name: stored.get(f.name) for f in fields if stored.get(f.name) not in (None, "")}
    given = given_values(kind, form)
    group = GROUPS.get(kind, ())
    merged: dict[str, Any] = {}
    for f in fields:
        if not f.secret:
            if f.name in given:
                merged[f.name] = given[f.name]
        elif f.name in group:
            if any(name in given for name in group):
                if f.name in given:
                    merged[f.name] = given[f.name]
            elif f.name in current:
                merged[f.name] = current[f.name]
        elif f.name in given:
            merged[f.name] = given[f.name]
        elif f.name in current:
            merged[f.name] = current[f.name]
    return None if merged == current else merged


def shown_values(kind: SecretKind, form: Mapping[str, str]) -> dict[str, str]:
    """What the form shows again: the name, the kind and the fields that are not secret."""
    values = {"name": form.get("name", ""), "kind": kind.value}
    for f in KIND_FIELDS[kind]:
        if not f.secret:
            values[f"{kind.value}.{f.name}"] = form.get(f"{kind.value}.{f.name}", "")
    return values


def field_errors(error: InvalidInput | NameTaken, kind: SecretKind | None) -> dict[str, str]:
    """The service's errors keyed by the form field (``KIND.FIELD``) they belong to."""
    if isinstance(error, NameTaken):
        return {"name": str(error)}
    own = {f.name for f in KIND_FIELDS[kind]} if kind else set()
    messages: dict[str, str] = {}
    for e in error.errors:
        name = f"{kind.value}.{e.field}" if kind and e.field in own else e.field
        messages[name] = f"{messages[name]}; {e.message}" if name in messages else e.message
    return messages


def _anchor(name: str) -> str:
    return "f-" + name.replace(".", "-")


def _label(name: str) -> str:
    kind, _, field = name.partition(".")
    parsed = _parse_kind(kind)
    if parsed is not None:
        return next((f.label for f in KIND_FIELDS[parsed] if f.name == field), field)
    return {"name": "Name", "kind": "Kind"}.get(name, name)


def _render_form(
    request: Request,
    viewer: Viewer,
    tenant: Tenant,
    values: Mapping[str, str],
    *,
    secret: Mapping[str, Any] | None,
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    base = f"/tenants/{quote(tenant.name)}/secrets"
    errors = dict(errors or {})
    kinds = [SecretKind(secret["kind"])] if secret else list(SecretKind)
    context = {
        "viewer": viewer,
        "tenant": viewer.choice(tenant),
        "active": "secrets",
        "secret": secret,
        "values": values,
        "errors": errors,
        "error_summary": [(_anchor(name), _label(name), message) for name, message in errors.items()],
        "kinds": [(k.value, k.label, KIND_FIELDS[k]) for k in kinds],
        "action": f"{base}/{secret['id']}" if secret else f"{base}/new",
        "list_url": base,
    }
    return render(request, "secrets/form.html", context, status_code=422 if errors else status_code)


@router.get("/tenants/{tenant}/secrets")
def list_page(
    request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, q: str = "", saved: str = ""
) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        rows = [secrets.secret_to_dict(s) for s in secrets.list_secrets(session, t.id, q)]
        context = {
            "viewer": viewer,
            "tenant": viewer.choice(t),
            "active": "secrets",
            "secrets": rows,
            "q": q,
            "saved_name": next((r["name"] for r in rows if r["id"] == saved), None),
            "list_url": f"/tenants/{quote(t.name)}/secrets",
        }
    return render(request, "secrets/list.html", context)


@router.get("/tenants/{tenant}/secrets/new")
def new_page(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
    return _render_form(request, viewer, t, {"kind": SecretKind.BASIC.value}, secret=None)


@router.post("/tenants/{tenant}/secrets/new")
def create(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormDep) -> Response:
    kind = _parse_kind(form.get("kind"))
    try:
        with runtime.transaction() as session:  # rolled back on a rule broken
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
            values = given_values(kind, form) if kind else {}
            secret = secrets.create_secret(
                session, runtime.secret_box, t.id, form.get("name", ""), form.get("kind", ""), values
            )
            location = f"/tenants/{quote(t.name)}/secrets?saved={secret.id}"
        return RedirectResponse(location, status_code=303)
    except (InvalidInput, NameTaken) as exc:
        errors = field_errors(exc, kind)
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
    shown = shown_values(kind, form) if kind else {"name": form.get("name", ""), "kind": ""}
    return _render_form(request, viewer, t, shown, secret=None, errors=errors)


def _edit_values(data: Mapping[str, Any]) -> dict[str, str]:
    """A stored secret as the form's values: its name, and the summary's fields that are not secret."""
    kind = SecretKind(data["kind"])
    values = {"name": str(data["name"]), "kind": kind.value}
    summary = data["summary"]
    for f in KIND_FIELDS[kind]:
        if not f.secret:
            value = summary.get(f.name)
            values[f"{kind.value}.{f.name}"] = "" if value is None else str(value)
    return values


@router.get("/tenants/{tenant}/secrets/{key}")
def edit_page(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = secrets.secret_to_dict(secrets.get_secret(session, t.id, key))
    return _render_form(request, viewer, t, _edit_values(data), secret=data)


def _update(runtime: Runtime, secret: Secret, tenant: Tenant, form: Mapping[str, str]) -> None:
    kind = SecretKind(secret.kind)
    stored = secrets.reveal(runtime.secret_box, secret)  # only to keep what was left empty; never shown
    values = merged_values(kind, form, stored)
    with runtime.transaction() as session:
        secrets.update_secret(
            session, runtime.secret_box, tenant.id, secret.id, name=form.get("name", ""), values=values
        )


@router.post("/tenants/{tenant}/secrets/{key}")
def save(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        secret = secrets.get_secret(session, t.id, key)
    try:
        _update(runtime, secret, t, form)
    except (InvalidInput, NameTaken) as exc:
        errors = field_errors(exc, SecretKind(secret.kind))
        with runtime.transaction() as session:
            data = secrets.secret_to_dict(secrets.get_secret(session, t.id, secret.id))
        values = shown_values(SecretKind(secret.kind), form)
        return _render_form(request, viewer, t, values, secret=data, errors=errors)
    return RedirectResponse(f"/tenants/{quote(t.name)}/secrets?saved={secret.id}", status_code=303)


def _delete_page(
    request: Request, viewer: Viewer, tenant: Tenant, data: Mapping[str, Any], problem: str | None = None
) -> Response:
    context = {
        "viewer": viewer,
        "tenant": viewer.choice(tenant),
        "active": "secrets",
        "secret": data,
        "problem": problem,
        "list_url": f"/tenants/{quote(tenant.name)}/secrets",
    }
    return render(request, "secrets/delete.html", context, status_code=409 if problem else 200)


@router.get("/tenants/{tenant}/secrets/{key}/delete")
def delete_page(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = secrets.secret_to_dict(secrets.get_secret(session, t.id, key))
    return _delete_page(request, viewer, t, data)


@router.post("/tenants/{tenant}/secrets/{key}/delete")
def delete(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    try:
        with runtime.transaction() as session:
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
            secrets.delete_secret(session, t.id, key)
            location = f"/tenants/{quote(t.name)}/secrets"
    except InUse as exc:  # a profile or directory service uses it: say which, keep the secret
        with runtime.transaction() as session:
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
            data = secrets.secret_to_dict(secrets.get_secret(session, t.id, key))
        return _delete_page(request, viewer, t, data, problem=str(exc))
    return RedirectResponse(location, status_code=303)
