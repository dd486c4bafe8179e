"""Where filed messages are written: local folders now, remote storage later."""
