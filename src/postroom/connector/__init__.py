"""The sync connector: the agent that runs near the file shares and writes filed messages there.

``docs/decisions/0004-connector-protocol.md`` is the protocol; the modules, in the order a run
uses them::

    errors.py    what can go wrong on the connector's side (server unreachable, state folder in use)
    protocol.py  the JSON of every request and answer, parsed into typed values (pure)
    client.py    the HTTP client: one method per route, server errors mapped to errors.py/postroom.errors
    state.py     the state folder: one process at a time (file lock), instance ID, results journal
    writer.py    one delivery: resolve the folder, name, convert to .msg, write, classify the outcome
    agent.py     the loop: lease, claim, fetch (a few threads ahead), write, journal, report, heartbeat
    doctor.py    ``postroom connector doctor``: why files are not syncing, one check per line
"""
