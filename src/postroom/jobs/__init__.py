"""The task queue (huey) and what runs it: the scheduler loop and the workers.

``queue.py`` builds the queue from the settings (SQLite in the data directory, or Redis) and
defines its one task, a profile run, as a thin wrapper around ``services/scheduler.py``;
``background.py`` is what ``postroom serve`` and ``postroom worker`` start and stop.
"""
