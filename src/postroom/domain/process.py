"""Process log vocabulary (PRODUCT.md §5): what a run is called, how it ended, how bad it got."""

from __future__ import annotations

from enum import IntEnum, StrEnum

from postroom.errors import FieldError, InvalidInput


class Severity(IntEnum):
    """Ordered so that "minimum severity" filters are a plain ``>=``; values leave room between."""

    DEBUG = 10
    INFO = 20
    WARNING = 30
    ERROR = 40

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: object, field: str = "severity") -> Severity:
        if isinstance(value, Severity):
            return value
        if isinstance(value, str) and value.strip().upper() in cls.__members__:
            return cls[value.strip().upper()]
        names = ", ".join(s.label for s in cls)
        raise InvalidInput(FieldError(field, f"must be one of {names}"))


class ProcessStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    @property
    def finished(self) -> bool:
        return self not in (ProcessStatus.QUEUED, ProcessStatus.RUNNING)


class ProcessType(StrEnum):
    FOLDER_SYNC = "folder-sync"
    MAILBOX_SYNC = "mailbox-sync"
    DIRECTORY_SYNC = "directory-sync"
    CONNECTION_TEST = "connection-test"
    FILING = "filing"
    MAINTENANCE = "maintenance"

    @classmethod
    def parse(cls, value: object, field: str = "type") -> ProcessType:
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            names = ", ".join(t.value for t in cls)
            raise InvalidInput(FieldError(field, f"must be one of {names}")) from None
