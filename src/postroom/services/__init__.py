"""Application services: the operations the CLI, the REST API and the portal share.

Each function takes an open ``Session`` (the caller owns the transaction) and plain values, and
raises errors from ``postroom.errors``. Nothing here knows about HTTP or the terminal.
"""
