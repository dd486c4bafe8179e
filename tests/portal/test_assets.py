"""scripts/fetch-assets: pinned npm tarballs, refused when their SHA-512 does not match the pin.

A local HTTP server stands in for the npm registry (POSTROOM_NPM_REGISTRY), so no internet is needed.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.machinery
import importlib.util
import io
import tarfile
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("fetch_assets", str(ROOT / "scripts" / "fetch-assets"))
    spec = importlib.util.spec_from_loader("fetch_assets", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def tarball() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"/* htmx */"
        info = tarfile.TarInfo("package/dist/htmx.min.js")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[bytes]:
    body = tarball()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("POSTROOM_NPM_REGISTRY", f"http://127.0.0.1:{server.server_address[1]}")
    yield body
    server.shutdown()
    server.server_close()


def package(integrity: str) -> dict[str, object]:
    return {
        "name": "htmx.org",
        "version": "2.0.0",
        "tarball": "https://registry.npmjs.org/htmx.org/-/htmx.org-2.0.0.tgz",
        "integrity": integrity,
        "files": {"package/dist/htmx.min.js": "htmx.min.js"},
    }


def test_a_tarball_matching_its_pin_gives_its_files(registry: bytes) -> None:
    script = load_script()
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(registry).digest()).decode()
    assert script.fetch(package(integrity)) == {"htmx.min.js": b"/* htmx */"}


def test_a_tarball_not_matching_its_pin_is_refused(registry: bytes) -> None:
    script = load_script()
    wrong = "sha512-" + base64.b64encode(hashlib.sha512(b"something else").digest()).decode()
    with pytest.raises(script.Mismatch, match="refusing to use it"):
        script.fetch(package(wrong))
    with pytest.raises(script.Mismatch, match="sha512"):
        script.fetch(package("sha1-abc"))


def test_the_pins_name_the_npm_registry_and_a_sha512() -> None:
    pins = tomllib.loads((ROOT / "src/postroom/web/portal/vendor-assets.toml").read_text())["package"]
    assert pins
    for pin in pins:
        assert pin["tarball"].startswith("https://registry.npmjs.org/")
        assert pin["integrity"].startswith("sha512-")
        assert pin["version"] in pin["tarball"]


def test_the_fetched_files_are_the_pinned_ones() -> None:
    """static/vendor/ holds what the pins say (written by the build, never committed)."""
    vendor = ROOT / "src/postroom/web/portal/static/vendor"
    pins = tomllib.loads((ROOT / "src/postroom/web/portal/vendor-assets.toml").read_text())["package"]
    stamp = (vendor / ".fetched.json").read_text()
    for pin in pins:
        assert pin["integrity"] in stamp
        for target in pin["files"].values():
            assert (vendor / target).is_file()
