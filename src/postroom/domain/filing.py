"""Filing vocabulary (PRODUCT.md §8-9): who filed a message, and where its delivery stands.

A filing is a message filed to a location; it is also the delivery the connector claims. It
starts ``pending``; the connector ends it ``written`` (the file is now in the folder),
``present`` (the same bytes were already there), ``skipped`` (the folder could not be written,
retried later) or ``failed``.
"""

from __future__ import annotations

from postroom.domain._parsing import _LenientEnum
from postroom.errors import FieldError, InvalidInput


class FilingSource(_LenientEnum):
    API = "api"
    CLI = "cli"
    PORTAL = "portal"
    RULE = "rule"


class FilingStatus(_LenientEnum):
    PENDING = "pending"
    WRITTEN = "written"
    PRESENT = "present"
    SKIPPED = "skipped"
    FAILED = "failed"

    @classmethod
    def parse(cls, value: object, field: str = "status") -> FilingStatus:
        if isinstance(value, str):
            try:
                return cls(value)
            except ValueError:
                pass
        raise InvalidInput(FieldError(field, f"must be one of {', '.join(s.value for s in cls)}"))
