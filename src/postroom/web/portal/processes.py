"""The process log page: filters, the list with status and severity, paging; a process's details
with its messages and sub-processes, "Copy" as JSON, cancel, and a live refresh while it runs.

Everything comes from ``services.processes`` (the API's ``/processes`` routes use the same
functions, filter and rules); this module only turns the filter form into a ``ProcessFilter``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from postroom.domain.process import ProcessStatus, ProcessType, Severity
from postroom.errors import Conflict, FieldError, InvalidInput
from postroom.services import processes
from postroom.services.access import Role, tenant_for
from postroom.web.deps import RuntimeDep
from postroom.web.portal.auth import ViewerDep
from postroom.web.portal.rendering import render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
FILTERS = ("type", "request_id", "min_severity", "since", "until")
_TIME_RULE = "must be a date and time (UTC) as YYYY-MM-DD HH:MM, e.g. 2026-11-22 08:00"


def _instant(value: str, field: str, errors: list[FieldError]) -> datetime | None:
    """A filter time as the form sends it (``datetime-local``, read as UTC) or ISO 8601 with a zone."""
    text = value.strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        errors.append(FieldError(field, _TIME_RULE))
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_filter(values: Mapping[str, str], offset: int) -> processes.ProcessFilter:
    """The filter form's values as the service's filter; every broken rule at once."""
    errors: list[FieldError] = []
    type_: ProcessType | None = None
    severity: Severity | None = None
    if values.get("type"):
        try:
            type_ = ProcessType.parse(values["type"])
        except InvalidInput as exc:
            errors += exc.errors
    if values.get("min_severity"):
        try:
            severity = Severity.parse(values["min_severity"], "min_severity")
        except InvalidInput as exc:
            errors += exc.errors
    since = _instant(values.get("since", ""), "since", errors)
    until = _instant(values.get("until", ""), "until", errors)
    try:
        flt = processes.ProcessFilter(
            type=type_,
            request_id=values.get("request_id", "").strip() or None,
            min_severity=severity,
            since=since,
            until=until,
            limit=PAGE_SIZE + 1,  # one more than shown tells whether there is a next page
            offset=offset,
        )
    except InvalidInput as exc:
        errors += exc.errors
    if errors:
        raise InvalidInput(errors)
    return flt


def _field_errors(error: InvalidInput) -> dict[str, str]:
    messages: dict[str, str] = {}
    for e in error.errors:
        messages[e.field] = f"{messages[e.field]}; {e.message}" if e.field in messages else e.message
    return messages


def is_live(process: Mapping[str, Any]) -> bool:
    """Whether the page should keep refreshing: the process (or a sub-process) has not finished."""
    if not ProcessStatus(process["status"]).finished:
        return True
    return any(is_live(child) for child in process.get("subprocesses", ()))


@router.get("/tenants/{tenant}/processes")
def list_page(request: Request, tenant: str, viewer: ViewerDep, runtime: RuntimeDep, offset: int = 0) -> Response:
    values = {name: request.query_params.get(name, "") for name in FILTERS}
    errors: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        try:
            flt = parse_filter(values, offset)
        except InvalidInput as exc:
            errors = _field_errors(exc)
        else:
            rows = [processes.process_to_dict(session, p) for p in processes.list_processes(session, t.id, flt)]
    base = f"/tenants/{quote(t.name)}/processes"
    kept = {k: v for k, v in values.items() if v}

    def page_url(at: int) -> str:
        query = urlencode({**kept, **({"offset": str(at)} if at else {})})
        return f"{base}?{query}" if query else base

    context = {
        "viewer": viewer,
        "tenant": viewer.choice(t),
        "active": "processes",
        "values": values,
        "errors": errors,
        "processes": rows[:PAGE_SIZE],
        "types": [("", "any type")] + [(p.value, p.value) for p in ProcessType],
        "severities": [("", "any severity")] + [(s.label, s.label) for s in Severity],
        "list_url": base,
        "this_url": page_url(offset),
        "newer_url": page_url(max(0, offset - PAGE_SIZE)) if offset > 0 else None,
        "older_url": page_url(offset + PAGE_SIZE) if len(rows) > PAGE_SIZE else None,
        "first": offset + 1,
        "live": any(not ProcessStatus(r["status"]).finished for r in rows[:PAGE_SIZE]),
        "filtered": bool(kept),
    }
    return render(request, "processes/list.html", context, status_code=422 if errors else 200)


def _details(
    request: Request,
    tenant: str,
    key: str,
    viewer: ViewerDep,
    runtime: RuntimeDep,
    *,
    notice: str | None = None,
    problem: str | None = None,
) -> Response:
    with runtime.transaction() as session:
        t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
        process = processes.process_to_dict(session, processes.get_process(session, t.id, key), details=True)
    base = f"/tenants/{quote(t.name)}/processes"
    context = {
        "viewer": viewer,
        "tenant": viewer.choice(t),
        "active": "processes",
        "process": process,
        "as_json": json.dumps(process, indent=2, ensure_ascii=False),
        "live": is_live(process),
        "cancellable": not ProcessStatus(process["status"]).finished and not process["cancel_requested"],
        "list_url": base,
        "this_url": f"{base}/{quote(process['request_id'])}",
        "notice": notice,
        "problem": problem,
    }
    return render(request, "processes/details.html", context, status_code=409 if problem else 200)


@router.get("/tenants/{tenant}/processes/{key}")
def details_page(
    request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep, cancelled: bool = False
) -> Response:
    notice = "Cancellation requested: the process stops at its next checkpoint." if cancelled else None
    return _details(request, tenant, key, viewer, runtime, notice=notice)


@router.post("/tenants/{tenant}/processes/{key}/cancel")
def cancel(request: Request, tenant: str, key: str, viewer: ViewerDep, runtime: RuntimeDep) -> Response:
    try:
        with runtime.transaction() as session:
            t = tenant_for(session, viewer.actor, tenant, need=Role.ADMIN)
            process = processes.request_cancel(session, t.id, key)  # the API's cancel
            location = f"/tenants/{quote(t.name)}/processes/{quote(process.request_id)}?cancelled=true"
    except Conflict as exc:  # already finished: say so on the details page
        return _details(request, tenant, key, viewer, runtime, problem=str(exc))
    return RedirectResponse(location, status_code=303)
