"""Locations through the REST API of a real running server."""

from __future__ import annotations

import httpx

from postroom.runtime import Runtime
from postroom.services.access import Role
from tests.api.conftest import Caller, make_caller

BASE = "/api/v1/tenants/alpha/locations"
SURREY = {"name": "Surrey Court", "sync_path": r"\\FileServer\Projects\Surrey Court\email"}


def test_location_lifecycle(alice: Caller) -> None:
    created = alice.post(BASE, json=SURREY)
    assert created.status_code == 201, created.text
    surrey = created.json()
    assert surrey["sync_path"] == SURREY["sync_path"]
    assert (surrey["sync_path_kind"], surrey["sync_path_normalised"]) == (
        "unc",
        "//fileserver/projects/Surrey Court/email",
    )
    assert (surrey["format"], surrey["naming_template"], surrey["enabled"]) == ("msg", "{date} {subject}", True)
    harbour = alice.post(
        BASE, json={"name": "Harbour", "sync_path": "s3://projects/harbour", "format": "EML", "enabled": False}
    ).json()
    assert (harbour["format"], harbour["enabled"]) == ("eml", False)

    assert [x["name"] for x in alice.get(BASE).json()] == ["Harbour", "Surrey Court"]
    assert [x["id"] for x in alice.get(BASE, params={"q": "court"}).json()] == [surrey["id"]]
    assert [x["id"] for x in alice.get(BASE, params={"q": harbour["id"].upper()}).json()] == [harbour["id"]]
    assert alice.get(f"{BASE}/surrey%20COURT").json()["id"] == surrey["id"]

    patched = alice.patch(f"{BASE}/{harbour['id']}", json={"naming_template": "{year}/{date} {subject}"})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["naming_template"], patched.json()["format"]) == ("{year}/{date} {subject}", "eml")

    assert alice.delete(f"{BASE}/Harbour").status_code == 204
    assert alice.get(f"{BASE}/Harbour").status_code == 404


def test_invalid_fields_answer_422_naming_each_field(alice: Caller) -> None:
    bad = alice.post(
        BASE,
        json={"name": " ", "sync_path": r"C:\Projects\a|b", "format": "pdf", "naming_template": "{date"},
    )
    assert bad.status_code == 422
    detail = {d["field"]: d["msg"] for d in bad.json()["detail"]}
    assert set(detail) == {"name", "sync_path", "format", "naming_template"}
    assert "Windows does not allow it" in detail["sync_path"]
    missing = alice.post(BASE, json={"name": "No path"})
    assert missing.status_code == 422 and missing.json()["detail"][0]["field"] == "sync_path"
    unknown = alice.post(BASE, json={**SURREY, "colour": "red"})
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["field"] == "colour"
    relative = alice.post(BASE, json={"name": "rel", "sync_path": "projects/x"})
    assert "must be absolute" in relative.json()["message"]


def test_names_and_folders_are_unique_per_tenant(alice: Caller, bob: Caller) -> None:
    assert alice.post(BASE, json=SURREY).status_code == 201
    taken = alice.post(BASE, json={"name": "SURREY court", "sync_path": "/srv/elsewhere"})
    assert taken.status_code == 409 and "case-insensitive" in taken.json()["message"]
    twice = alice.post(BASE, json={"name": "Twice", "sync_path": "//fileserver/projects/surrey court/email/"})
    assert twice.status_code == 409
    assert "folder of location 'Surrey Court'" in twice.json()["message"]
    other = alice.post(BASE, json={"name": "Other", "sync_path": "/srv/other"}).json()
    moved = alice.patch(f"{BASE}/{other['id']}", json={"sync_path": SURREY["sync_path"]})
    assert moved.status_code == 409
    # another tenant may use the same name and folder
    assert bob.post("/api/v1/tenants/beta/locations", json=SURREY).status_code == 201


def test_another_tenants_location_is_404(alice: Caller, bob: Caller) -> None:
    location_id = alice.post(BASE, json=SURREY).json()["id"]
    assert bob.get(BASE).status_code == 404
    for verb, kwargs in (("get", {}), ("patch", {"json": {"name": "x"}}), ("delete", {})):
        assert getattr(bob, verb)(f"{BASE}/{location_id}", **kwargs).status_code == 404, verb
    assert bob.get(f"/api/v1/tenants/beta/locations/{location_id}").status_code == 404
    assert bob.patch(f"/api/v1/tenants/beta/locations/{location_id}", json={"name": "x"}).status_code == 404
    assert alice.get(f"{BASE}/{location_id}").json()["name"] == "Surrey Court"


def test_locations_need_the_admin_role(runtime: Runtime, http: httpx.Client, two_tenants: None) -> None:
    staff = make_caller(runtime, http, "staff@example.com", "alpha", Role.USER)
    assert staff.get(BASE).status_code == 403
    assert staff.post(BASE, json=SURREY).status_code == 403
