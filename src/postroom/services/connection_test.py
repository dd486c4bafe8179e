"""Test Connection (seed 002): run a profile's connection test and keep it in the process log.

Each test is a ``connection-test`` process for the profile, with one message per step (the
failed step at severity error, with its raw error and hint). The test result is data, not an
error: a server that refuses the login gives a :class:`ConnectionTest` whose login step failed.
Errors are raised only for what keeps the test from running (no such profile, no mailbox chosen
for a multiple-mailbox profile, a profile type without a test yet).
"""

from __future__ import annotations

import dataclasses

from postroom.db.models import Process, Secret
from postroom.domain.connection_test import ConnectionTest, StepStatus
from postroom.domain.process import ProcessStatus, ProcessType, Severity
from postroom.domain.profile import Mode, ProfileSettings, parse_mailbox
from postroom.errors import FieldError, InvalidInput
from postroom.runtime import Runtime
from postroom.services import processes
from postroom.services.profiles import get_profile, settings_of
from postroom.services.secrets import reveal
from postroom.sources.registry import connection_checker


def mailbox_to_test(settings: ProfileSettings, chosen: str | None) -> str:
    """The mailbox a test logs in to: the profile's own (single mode) or the one chosen (multiple)."""
    if chosen is not None and not chosen.strip():
        chosen = None
    if settings.mode is Mode.MULTIPLE:
        if chosen is None:
            raise InvalidInput(
                FieldError(
                    "mailbox",
                    "this profile synchronizes multiple mailboxes: choose the mailbox to test "
                    "(its primary e-mail address)",
                )
            )
        return parse_mailbox(chosen)
    if settings.mailbox is None:
        raise InvalidInput(FieldError("mailbox", "the profile has no mailbox yet"))
    if chosen is not None and parse_mailbox(chosen).casefold() != settings.mailbox.casefold():
        raise InvalidInput(
            FieldError(
                "mailbox",
                f"a single-mailbox profile tests its own mailbox ({settings.mailbox}); leave the mailbox out",
            )
        )
    return settings.mailbox


def run_connection_test(
    runtime: Runtime, tenant_id: str, profile_key: str, *, mailbox: str | None = None
) -> ConnectionTest:
    """Test a profile's connection now, in this thread; the result carries the process's request ID."""
    with runtime.transaction() as session:
        profile = get_profile(session, tenant_id, profile_key)
        settings = settings_of(profile)
        checker = connection_checker(settings.type)
        target = mailbox_to_test(settings, mailbox)
        secret_row = session.get(Secret, settings.secret_id) if settings.secret_id else None
        secret = reveal(runtime.secret_box, secret_row) if secret_row else {}
        process = processes.start_process(session, tenant_id, ProcessType.CONNECTION_TEST, configuration_id=profile.id)
        processes.log(
            session, process, Severity.INFO, f"testing the connection of profile {profile.name!r} for mailbox {target}"
        )
        process_id, request_id, profile_name = process.id, process.request_id, profile.name
    try:
        result = checker(settings, secret, target)
    except Exception as exc:  # a bug, not a server's answer: keep it in the log, then let it surface
        with runtime.transaction() as session:
            failed = session.get(Process, process_id)
            assert failed is not None
            processes.log(session, failed, Severity.ERROR, f"internal error ({type(exc).__name__}): {exc}")
            processes.finish_process(session, failed, ProcessStatus.FAILED)
        raise
    with runtime.transaction() as session:
        done = session.get(Process, process_id)
        assert done is not None
        for step in result.steps:
            severity = Severity.ERROR if step.status is StepStatus.FAILED else Severity.INFO
            processes.log(session, done, severity, step.log_line())
        processes.finish_process(session, done)
    return dataclasses.replace(result, profile=profile_name, mailbox=target, request_id=request_id)
