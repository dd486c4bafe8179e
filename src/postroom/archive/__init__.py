"""The archive: content-addressed message blobs, their metadata and search."""
