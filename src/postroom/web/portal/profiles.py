"""The folder-synchronization profiles page (seed 002): list, search, create, edit, delete.

Which fields the form shows comes from ``domain.profile.fields_for`` and every value is checked by
``services.profiles`` (the API's rules); this module only maps form fields to the service's input
and its errors back to the fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from postroom.db.models import Tenant
from postroom.domain.delete_policy import DeleteWhen, SpanUnit
from postroom.domain.profile import (
    DEFAULT_TIMEOUT_SECONDS,
    ImapProtocol,
    Mode,
    ProfileType,
    allowed_secret_kinds,
    fields_for,
    required_fields,
)
from postroom.domain.secret import SecretKind
from postroom.errors import InvalidInput, NameTaken, PostroomError
from postroom.runtime import Runtime
from postroom.services import profiles, secrets
from postroom.services.access import Role, tenant_for
from postroom.services.connection_test import run_connection_test
from postroom.services.scheduler import start_run
from postroom.web.deps import RuntimeDep
from postroom.web.portal.auth import FormDep, Viewer, ViewerDep
from postroom.web.portal.rendering import render

router = APIRouter(include_in_schema=False)
MAX_CHOICES = 5000  # mailboxes offered to pick from in Test Connection


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str  # text, email, number, select, checkbox, textarea, secret
    help: str = ""


# The type- and mode-specific fields, in the order the form shows them (seed 002's words).
FIELDS = (
    Field("mailbox", "Mailbox", "email", "The mailbox on the mail server, usually its primary e-mail address."),
    Field(
        "directory_service_id",
        "Directory service",
        "text",
        "Name or ID of the directory service whose mailboxes are synchronized.",
    ),
    Field(
        "synchronize_users",
        "Synchronize users",
        "checkbox",
        "Run the directory service before each run of this profile (its own process in the process log).",
    ),
    Field("server_name", "Server name", "text", "Host name or address only, without protocol and port."),
    Field("protocol", "Protocol", "select"),
    Field("port", "Port", "number", "0-65535; empty for the protocol's default (993 IMAP-SSL, 143 IMAP-TLS)."),
    Field("secret_id", "Credentials", "secret", "The secret to connect with."),
    Field(
        "source_mailbox",
        "Source mailbox",
        "email",
        "Only when the mailbox differs from the credentials' user name, or for impersonation.",
    ),
    Field("timeout", "Timeout (seconds)", "number", f"0-2147483; empty for the default ({DEFAULT_TIMEOUT_SECONDS})."),
    Field("application_id", "Application ID", "text", "From the tenant's Microsoft Entra ID page."),
    Field("directory_id", "Directory ID", "text", "From the tenant's Microsoft Entra ID page."),
    Field(
        "tls_trusted_ca",
        "Trusted CA certificates (PEM)",
        "textarea",
        "Only for a server whose certificate the system does not trust; never a private key.",
    ),
    Field("tls_fingerprint", "Certificate fingerprint (SHA-256)", "text", "Pins the server's certificate."),
)
_SPAN_POLICIES = (DeleteWhen.ARCHIVED_OLDER_THAN, DeleteWhen.MESSAGE_OLDER_THAN)
DELETE_CHOICES = (
    (DeleteWhen.NEVER, "Never delete"),
    (DeleteWhen.IMMEDIATELY, "Immediately after folder synchronization"),
    (DeleteWhen.ARCHIVED_OLDER_THAN, "If archived longer than …"),
    (DeleteWhen.MESSAGE_OLDER_THAN, "If the message is older than …"),
)


def _parse_type(value: str | None) -> ProfileType | None:
    try:
        return ProfileType(value) if value else None
    except ValueError:
        return None


def _parse_mode(value: str | None) -> Mode | None:
    try:
        return Mode(value) if value else None
    except ValueError:
        return None


def shown_fields(type_: ProfileType | None, mode: Mode | None) -> list[Field]:
    """The specific fields of this type and mode, as the domain rules define them."""
    if type_ is None:
        return []
    names = fields_for(type_, mode or Mode.SINGLE)
    return [f for f in FIELDS if f.name in names]


def service_input(form: Mapping[str, str], *, creating: bool) -> dict[str, object]:
    """The form's values in the shape the service (and the API) takes; empty clears a field."""
    type_ = _parse_type(form.get("type"))
    mode = _parse_mode(form.get("mode"))
    raw: dict[str, object] = {"name": form.get("name", ""), "mode": form.get("mode", "")}
    if creating:
        raw["type"] = form.get("type", "")
    when = form.get("delete_when") or DeleteWhen.NEVER.value
    span = when in {w.value for w in _SPAN_POLICIES}
    raw["delete_policy"] = {
        "when": when,
        "amount": form.get("delete_amount") if span else None,
        "unit": form.get("delete_unit") if span else None,
    }
    for field in shown_fields(type_, mode):
        if field.kind == "checkbox":
            raw[field.name] = form.get(field.name) == "true"
        else:
            raw[field.name] = form.get(field.name, "")
    return raw


def form_values(data: Mapping[str, Any]) -> dict[str, str]:
    """A stored profile (``profile_to_dict``) as the form's text values."""
    values = {f.name: "" if data.get(f.name) is None else str(data[f.name]) for f in FIELDS}
    values.update(name=data["name"], type=data["type"], mode=data["mode"])
    values["synchronize_users"] = "true" if data.get("synchronize_users") else ""
    policy = data.get("delete_policy") or {}
    values["delete_when"] = str(policy.get("when") or DeleteWhen.NEVER.value)
    values["delete_amount"] = "" if policy.get("amount") is None else str(policy["amount"])
    values["delete_unit"] = str(policy.get("unit") or "")
    return values


def field_errors(error: InvalidInput) -> dict[str, str]:
    messages: dict[str, str] = {}
    for e in error.errors:
        messages[e.field] = f"{messages[e.field]}; {e.message}" if e.field in messages else e.message
    return messages


def _secret_choices(session: Session, tenant: Tenant, type_: ProfileType | None) -> list[tuple[str, str]]:
    kinds = allowed_secret_kinds(type_) if type_ else frozenset(SecretKind)
    return [
        (s.id, f"{s.name} ({SecretKind(s.kind).label})")
        for s in secrets.list_secrets(session, tenant.id)
        if SecretKind(s.kind) in kinds
    ]


_LABELS = {f.name: f.label for f in FIELDS} | {
    "name": "Name",
    "type": "Type",
    "mode": "Mode",
    "delete_policy": "Delete in source mailbox",
    "delete_policy.when": "Delete in source mailbox",
    "delete_policy.amount": "Amount",
    "delete_policy.unit": "Unit",
}


def _anchor(field: str) -> str:
    """The ID of the input a field error belongs to."""
    if field.startswith("delete_policy"):
        return "f-delete_" + (field.partition(".")[2] or "when")
    return f"f-{field}"


def _label(field: str) -> str:
    return _LABELS.get(field, field)


def _render_form(
    request: Request,
    session: Session,
    viewer: Viewer,
    tenant: Tenant,
    values: Mapping[str, str],
    *,
    profile: Mapping[str, Any] | None,
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    type_ = _parse_type(values.get("type"))
    mode = _parse_mode(values.get("mode"))
    base = f"/tenants/{quote(tenant.name)}/profiles"
    action = f"{base}/{profile['id']}" if profile else f"{base}/new"
    context = {
        "viewer": viewer,
        "tenant": viewer.choice(tenant),
        "active": "profiles",
        "profile": profile,
        "values": values,
        "errors": dict(errors or {}),
        "fields": shown_fields(type_, mode),
        "required": required_fields(type_, mode) if type_ else frozenset({"name", "type", "mode"}),
        "types": [(t.value, t.label) for t in ProfileType],
        "type_label": type_.label if type_ else "",
        "single_only": type_ is ProfileType.OUTLOOK_COM,
        "protocols": [("", "—")] + [(p.value, p.value) for p in ImapProtocol],
        "delete_choices": [(w.value, label) for w, label in DELETE_CHOICES],
        "units": [u.value for u in SpanUnit],
        "secrets": [("", "— choose —"), *_secret_choices(session, tenant, type_)],
        "error_summary": [(_anchor(name), _label(name), message) for name, message in (errors or {}).items()],
        "action": action,
        "list_url": base,
    }
    return render(request, "profiles/form.html", context, status_code=status_code)


def _swap_values(request: Request) -> dict[str, str] | None:
    """The values sent by the form itself when the type or mode changed (htmx, or the no-script button)."""
    if request.query_params.get("_swap") is None:
        return None
    return {k: v for k, v in request.query_params.items() if k != "_swap"}


@router.get("/tenants/{tenant}/profiles")
def list_page(
    request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, q: str = "", saved: str = ""
) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        rows = [profiles.profile_to_dict(session, p) for p in profiles.search_profiles(session, t.id, q)]
        saved_name = next((r["name"] for r in rows if r["id"] == saved), None)
        context = {
            "viewer": viewer,
            "tenant": viewer.choice(t),
            "active": "profiles",
            "profiles": rows,
            "q": q,
            "saved_name": saved_name,
            "list_url": f"/tenants/{quote(t.name)}/profiles",
            "schedules_url": f"/tenants/{quote(t.name)}/schedules",
        }
    return render(request, "profiles/list.html", context)


@router.get("/tenants/{tenant}/profiles/new")
def new_page(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    defaults = {
        "type": ProfileType.IMAP.value,
        "mode": Mode.SINGLE.value,
        "protocol": ImapProtocol.SSL.value,  # also when IMAP is chosen after another type
        "delete_when": DeleteWhen.NEVER.value,
    }
    swapped = _swap_values(request)
    values = defaults if swapped is None else {**defaults, **{k: v for k, v in swapped.items() if v}}
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        return _render_form(request, session, viewer, t, values, profile=None)


@router.post("/tenants/{tenant}/profiles/new")
def create(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormDep) -> Response:
    if not form.get("_swap"):  # the no-script "show the fields" button saves nothing
        try:
            with runtime.transaction() as session:  # rolled back on a rule broken
                t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
                profile = profiles.create_profile(session, t.id, service_input(form, creating=True))
                location = f"/tenants/{quote(t.name)}/profiles?saved={profile.id}"
            return RedirectResponse(location, status_code=303)
        except (InvalidInput, NameTaken) as exc:
            errors = _errors_of(exc)
    else:
        errors = {}
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        return _render_form(
            request, session, viewer, t, form, profile=None, errors=errors, status_code=422 if errors else 200
        )


def _errors_of(exc: InvalidInput | NameTaken) -> dict[str, str]:
    return field_errors(exc) if isinstance(exc, InvalidInput) else {"name": str(exc)}


@router.get("/tenants/{tenant}/profiles/{key}")
def edit_page(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = profiles.profile_to_dict(session, profiles.get_profile(session, t.id, key))
        values = _swap_values(request)
        values = form_values(data) if values is None else {**values, "type": data["type"]}
        return _render_form(request, session, viewer, t, values, profile=data)


@router.post("/tenants/{tenant}/profiles/{key}")
def save(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormDep) -> Response:
    errors: dict[str, str] = {}
    if not form.get("_swap"):
        try:
            with runtime.transaction() as session:  # rolled back on a rule broken
                t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
                profile = profiles.get_profile(session, t.id, key)
                values = {**form, "type": profile.type}  # the type is fixed: never taken from the form
                profiles.update_profile(session, t.id, profile.id, service_input(values, creating=False))
                location = f"/tenants/{quote(t.name)}/profiles?saved={profile.id}"
            return RedirectResponse(location, status_code=303)
        except (InvalidInput, NameTaken) as exc:
            errors = _errors_of(exc)
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = profiles.profile_to_dict(session, profiles.get_profile(session, t.id, key))
        values = {**form, "type": data["type"]}
        return _render_form(
            request, session, viewer, t, values, profile=data, errors=errors, status_code=422 if errors else 200
        )


@router.get("/tenants/{tenant}/profiles/{key}/delete")
def delete_page(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = profiles.profile_to_dict(session, profiles.get_profile(session, t.id, key))
        context = {
            "viewer": viewer,
            "tenant": viewer.choice(t),
            "active": "profiles",
            "profile": data,
            "list_url": f"/tenants/{quote(t.name)}/profiles",
        }
    return render(request, "profiles/delete.html", context)


@router.post("/tenants/{tenant}/profiles/{key}/delete")
def delete(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        profiles.delete_profile(session, t.id, key)  # refused (409 page) while a schedule uses it
        location = f"/tenants/{quote(t.name)}/profiles"
    return RedirectResponse(location, status_code=303)


# --- Test Connection (seed 002) ------------------------------------------------------------------


def _test_context(viewer: Viewer, tenant: Tenant, data: Mapping[str, Any]) -> dict[str, Any]:
    base = f"/tenants/{quote(tenant.name)}/profiles"
    return {
        "viewer": viewer,
        "tenant": viewer.choice(tenant),
        "active": "profiles",
        "profile": data,
        "multiple": data["mode"] == Mode.MULTIPLE.value,
        "mailbox": "",
        "errors": {},
        "result": None,
        "choices": [],
        "choices_error": None,
        "action": f"{base}/{data['id']}/test",
        "list_url": base,
        "process_url": f"/tenants/{quote(tenant.name)}/processes",
    }


@router.get("/tenants/{tenant}/profiles/{key}/test")
def test_page(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    """Single mailbox: a button that runs the test; multiple mailboxes: first the mailbox to test,
    offered from the profile's directory service when it can be read now."""
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = profiles.profile_to_dict(session, profiles.get_profile(session, t.id, key))
        context = _test_context(viewer, t, data)
    if context["multiple"] and data.get("directory_service_id"):
        context["choices"], context["choices_error"] = _directory_mailboxes(runtime, t.id, data["directory_service_id"])
    return render(request, "profiles/test.html", context)


def _directory_mailboxes(runtime: Runtime, tenant_id: str, directory_id: str) -> tuple[list[str], str | None]:
    """The directory's mailboxes to choose from, or why they cannot be listed now."""
    from postroom.services import directories  # ldap3 is loaded only for this

    try:
        listing = directories.list_mailboxes(runtime, tenant_id, directory_id)
    except PostroomError as exc:
        return [], str(exc)
    return [entry.address for entry in listing.mailboxes[:MAX_CHOICES]], None


@router.post("/tenants/{tenant}/profiles/{key}/test")
def test(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep, form: FormDep) -> Response:
    """Run the profile's connection test now (the API's ``POST …/test``): every step, its raw error."""
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        data = profiles.profile_to_dict(session, profiles.get_profile(session, t.id, key))
        context = _test_context(viewer, t, data)
    context["mailbox"] = form.get("mailbox", "")
    try:
        context["result"] = run_connection_test(runtime, t.id, data["id"], mailbox=form.get("mailbox") or None)
    except InvalidInput as exc:
        context["errors"] = field_errors(exc)
        return render(request, "profiles/test.html", context, status_code=422)
    template = "profiles/test_result.html" if request.headers.get("HX-Request") else "profiles/test.html"
    return render(request, template, context)


@router.post("/tenants/{tenant}/profiles/{key}/run")
def run_now(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    """Synchronize now (the API's ``POST …/run``), then follow the run in the process log."""
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        profile_id = profiles.get_profile(session, t.id, key).id
    prepared = start_run(runtime, t.id, profile_id)
    return RedirectResponse(f"/tenants/{quote(t.name)}/processes/{prepared.request_id}", status_code=303)
