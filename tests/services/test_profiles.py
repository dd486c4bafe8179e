"""Profiles against the database: uniqueness, references, search, edit and the schedule guard."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from postroom.db.models import Tenant
from postroom.domain.naming import name_contains
from postroom.errors import InUse, InvalidInput, NameTaken, NotFound
from postroom.runtime import Runtime
from postroom.services import profiles, schedules, secrets
from postroom.services.access import Actor
from postroom.services.tenants import create_tenant


def imap(name: str = "Main IMAP", **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "type": "imap",
        "mode": "single",
        "server_name": "mail.example.com",
        "protocol": "IMAP-SSL",
        "secret_id": "mail login",
        "mailbox": "anna@example.com",
        **extra,
    }


@pytest.fixture
def basic_secret(runtime: Runtime, tenant: Tenant) -> str:
    with runtime.transaction() as s:
        secret = secrets.create_secret(
            s, runtime.secret_box, tenant.id, "Mail login", "basic", {"username": "anna", "password": "pw-1"}
        )
        return secret.id


def field_names(exc: pytest.ExceptionInfo[InvalidInput]) -> set[str]:
    return {e.field for e in exc.value.errors}


def test_create_resolves_secret_by_name_and_defaults_port(session: Session, tenant: Tenant, basic_secret: str) -> None:
    profile = profiles.create_profile(session, tenant.id, imap())
    data = profiles.profile_to_dict(session, profile)
    assert data["secret_id"] == basic_secret
    assert data["secret_name"] == "Mail login"
    assert data["port"] == 993
    assert data["deletable"] is True


def test_names_are_unique_case_insensitively_and_renamable(session: Session, tenant: Tenant, basic_secret: str) -> None:
    first = profiles.create_profile(session, tenant.id, imap("Main IMAP"))
    with pytest.raises(NameTaken, match="case-insensitive"):
        profiles.create_profile(session, tenant.id, imap("MAIN imap"))
    profiles.update_profile(session, tenant.id, first.id, {"name": "Renamed"})
    assert profiles.get_profile(session, tenant.id, "renamed").id == first.id
    profiles.create_profile(session, tenant.id, imap("Main IMAP"))  # the old name is free again


def test_unknown_secret_and_wrong_kind_name_the_field(runtime: Runtime, session: Session, tenant: Tenant) -> None:
    with pytest.raises(InvalidInput) as missing:
        profiles.create_profile(session, tenant.id, imap(secret_id="nope"))
    assert field_names(missing) == {"secret_id"}
    assert "no secret named" in str(missing.value)
    oauth = secrets.create_secret(session, runtime.secret_box, tenant.id, "Token", "oauth", {"access_token": "t0k"})
    m365 = {
        "name": "M365",
        "type": "microsoft365",
        "mode": "single",
        "mailbox": "anna@example.com",
        "secret_id": oauth.id,
        "application_id": "11111111-2222-3333-4444-555555555555",
        "directory_id": "66666666-7777-8888-9999-000000000000",
    }
    with pytest.raises(InvalidInput) as wrong_kind:
        profiles.create_profile(session, tenant.id, m365)
    assert field_names(wrong_kind) == {"secret_id"}
    assert "Certificate" in str(wrong_kind.value)


def test_type_cannot_change_on_edit(session: Session, tenant: Tenant, basic_secret: str) -> None:
    profile = profiles.create_profile(session, tenant.id, imap())
    with pytest.raises(InvalidInput) as exc:
        profiles.update_profile(session, tenant.id, profile.id, {"type": "exchange"})
    assert field_names(exc) == {"type"}
    profiles.update_profile(session, tenant.id, profile.id, {"type": "imap", "timeout": "120"})
    assert profiles.settings_of(profiles.get_profile(session, tenant.id, profile.id)).timeout == 120


def test_delete_is_refused_while_a_schedule_uses_the_profile(
    session: Session, tenant: Tenant, basic_secret: str
) -> None:
    profile = profiles.create_profile(session, tenant.id, imap())
    schedules.create_schedule(
        session,
        tenant.id,
        {"name": "Nightly", "profile_id": profile.name, "recurrence": {"kind": "daily", "at": "02:30"}},
    )
    with pytest.raises(InUse, match="Nightly"):
        profiles.delete_profile(session, tenant.id, profile.id)
    assert profiles.profile_to_dict(session, profile)["deletable"] is False
    schedules.delete_schedule(session, tenant.id, "nightly")
    profiles.delete_profile(session, tenant.id, profile.id)
    with pytest.raises(NotFound):
        profiles.get_profile(session, tenant.id, profile.id)


def test_secret_in_use_cannot_be_deleted(session: Session, tenant: Tenant, basic_secret: str) -> None:
    profiles.create_profile(session, tenant.id, imap())
    with pytest.raises(InUse, match="Main IMAP"):
        secrets.delete_secret(session, tenant.id, basic_secret)


def test_search_by_id_is_case_insensitive_equals(session: Session, tenant: Tenant, basic_secret: str) -> None:
    profile = profiles.create_profile(session, tenant.id, imap())
    profiles.create_profile(session, tenant.id, imap("Other"))
    assert [p.id for p in profiles.search_profiles(session, tenant.id, profile.id.upper())] == [profile.id]
    assert profiles.search_profiles(session, tenant.id, profile.id[:8]) == []  # ID is equals, not contains


def test_other_tenants_profiles_are_invisible(session: Session, tenant: Tenant, basic_secret: str) -> None:
    profile = profiles.create_profile(session, tenant.id, imap())
    other = create_tenant(session, Actor.local_admin(), "other")
    assert profiles.search_profiles(session, other.id, None) == []
    with pytest.raises(NotFound):
        profiles.get_profile(session, other.id, profile.id)
    with pytest.raises(InvalidInput):  # nor can another tenant refer to this tenant's secret
        profiles.create_profile(session, other.id, imap(secret_id=basic_secret))


names = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), max_codepoint=0x2FF),
    min_size=1,
    max_size=12,
).filter(lambda n: n.strip() == n and n)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stored=st.lists(names, min_size=1, max_size=6, unique_by=lambda n: n.casefold()),
    query=names | st.sampled_from(["%", "_", "\\", "a%b"]),
)
def test_database_search_agrees_with_the_rule(runtime: Runtime, stored: list[str], query: str) -> None:
    """Name search in SQL (LIKE on a case-folded key) gives exactly what the pure rule says."""
    with runtime.transaction() as s:
        t = create_tenant(s, Actor.local_admin(), f"h{abs(hash((tuple(stored), query))) % 10**12}")
        secret = secrets.create_secret(s, runtime.secret_box, t.id, "s", "basic", {"username": "u", "password": "p"})
        try:
            created = {profiles.create_profile(s, t.id, imap(n, secret_id=secret.id)).name for n in stored}
        except NameTaken:  # two names that differ only after NFC normalisation
            s.rollback()
            return
        found = {p.name for p in profiles.search_profiles(s, t.id, query)}
        assert found == {n for n in created if name_contains(query, n)}
        s.rollback()
