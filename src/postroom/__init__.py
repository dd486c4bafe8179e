"""Postroom: a self-hosted, multi-tenant email archive, folder-sync and filing system."""

__version__ = "0.1.0"
