"""Fixtures of the directory tests: the real slapd."""

from __future__ import annotations

from tests.directory.servers import slapd

__all__ = ["slapd"]
