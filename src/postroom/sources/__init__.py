"""Mail systems Postroom reads from, one module each, all behind the ``MailSource`` protocol."""
