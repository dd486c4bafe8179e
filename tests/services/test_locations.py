"""Locations against the database: names and folders unique per tenant, search, edit, delete."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from postroom.db.models import Tenant
from postroom.errors import Conflict, InvalidInput, NameTaken, NotFound
from postroom.services import locations
from postroom.services.access import Actor
from postroom.services.tenants import create_tenant

SURREY = {"name": "Surrey Court", "sync_path": r"\\FileServer\Projects\Surrey Court\email"}


def test_create_stores_the_path_as_registered_and_its_normalised_form(session: Session, tenant: Tenant) -> None:
    location = locations.create_location(session, tenant.id, SURREY)
    data = locations.location_to_dict(location)
    assert data["sync_path"] == r"\\FileServer\Projects\Surrey Court\email"
    assert data["sync_path_kind"] == "unc"
    assert data["sync_path_normalised"] == "//fileserver/projects/Surrey Court/email"
    assert (data["format"], data["naming_template"], data["enabled"]) == ("msg", "{date} {subject}", True)
    assert location.sync_path_key == "//fileserver/projects/surrey court/email"


def test_names_are_unique_case_insensitively_and_renamable(session: Session, tenant: Tenant) -> None:
    first = locations.create_location(session, tenant.id, SURREY)
    with pytest.raises(NameTaken, match="case-insensitive"):
        locations.create_location(session, tenant.id, {"name": "SURREY court", "sync_path": "/srv/other"})
    locations.update_location(session, tenant.id, first.id, {"name": "Renamed"})
    assert locations.get_location(session, tenant.id, "renamed").id == first.id
    locations.create_location(session, tenant.id, {"name": "Surrey Court", "sync_path": "/srv/other"})


@pytest.mark.parametrize(
    "same_folder",
    [
        r"\\fileserver\projects\Surrey Court\email\\",
        "//FILESERVER/Projects/surrey court/./Email",
    ],
)
def test_one_folder_is_one_location(session: Session, tenant: Tenant, same_folder: str) -> None:
    locations.create_location(session, tenant.id, SURREY)
    with pytest.raises(Conflict, match="folder of location 'Surrey Court'"):
        locations.create_location(session, tenant.id, {"name": "Twice", "sync_path": same_folder})


def test_posix_paths_differing_in_case_are_different_folders(session: Session, tenant: Tenant) -> None:
    locations.create_location(session, tenant.id, {"name": "a", "sync_path": "/srv/Projects"})
    locations.create_location(session, tenant.id, {"name": "b", "sync_path": "/srv/projects"})


def test_moving_onto_another_locations_folder_is_refused_but_own_folder_is_fine(
    session: Session, tenant: Tenant
) -> None:
    locations.create_location(session, tenant.id, SURREY)
    other = locations.create_location(session, tenant.id, {"name": "Other", "sync_path": "/srv/other"})
    with pytest.raises(Conflict, match="Surrey Court"):
        locations.update_location(session, tenant.id, "other", {"sync_path": SURREY["sync_path"]})
    locations.update_location(session, tenant.id, other.id, {"sync_path": "/srv/other/"})  # same folder, itself


def test_other_tenants_are_separate(session: Session, tenant: Tenant) -> None:
    other = create_tenant(session, Actor.local_admin(), "other")
    mine = locations.create_location(session, tenant.id, SURREY)
    locations.create_location(session, other.id, SURREY)  # same name and folder in another tenant
    with pytest.raises(NotFound):
        locations.get_location(session, other.id, mine.id)
    with pytest.raises(NotFound):
        locations.delete_location(session, other.id, mine.id)


def test_edit_is_partial_and_validated(session: Session, tenant: Tenant) -> None:
    location = locations.create_location(session, tenant.id, {**SURREY, "format": "eml"})
    locations.update_location(session, tenant.id, "surrey court", {"enabled": False})
    assert (location.format, location.enabled, location.sync_path) == ("eml", False, SURREY["sync_path"])
    with pytest.raises(InvalidInput) as caught:
        locations.update_location(session, tenant.id, location.id, {"sync_path": "relative", "format": "pdf"})
    assert [e.field for e in caught.value.errors] == ["sync_path", "format"]
    assert location.format == "eml"


def test_search_by_name_contains_or_id_equals(session: Session, tenant: Tenant) -> None:
    surrey = locations.create_location(session, tenant.id, SURREY)
    locations.create_location(session, tenant.id, {"name": "Harbour 100%", "sync_path": "/srv/harbour"})

    def names(query: str | None) -> list[str]:
        return [x.name for x in locations.search_locations(session, tenant.id, query)]

    assert names(None) == ["Harbour 100%", "Surrey Court"]
    assert names("COURT") == ["Surrey Court"]
    assert names("%") == ["Harbour 100%"]
    assert names(surrey.id.upper()) == ["Surrey Court"]
    assert names("nothing") == []
    assert names("a\x00") == []


def test_a_very_long_path_is_stored_and_kept_unique(session: Session, tenant: Tenant) -> None:
    """4096 characters of UTF-8 are far past what a PostgreSQL B-tree entry holds."""
    long_path = "/" + "/".join(["Ä" * 200] * 20)
    assert len(long_path) <= 4096
    locations.create_location(session, tenant.id, {"name": "deep", "sync_path": long_path})
    with pytest.raises(Conflict):
        locations.create_location(session, tenant.id, {"name": "deeper", "sync_path": long_path + "/"})


def test_delete(session: Session, tenant: Tenant) -> None:
    locations.create_location(session, tenant.id, SURREY)
    locations.delete_location(session, tenant.id, "SURREY COURT")
    assert locations.search_locations(session, tenant.id) == []
    with pytest.raises(NotFound):
        locations.delete_location(session, tenant.id, "Surrey Court")
