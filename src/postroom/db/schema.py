"""The whole schema in one ``MetaData``: importing this module registers every table."""

from __future__ import annotations

import postroom.db.archive  # noqa: F401  (registers the archive tables)
from postroom.db.models import Base

metadata = Base.metadata
