"""Filed-message formats: the original bytes as ``.eml``, Outlook ``.msg``, and file names."""
