"""Pure types and rules. Imports nothing from I/O, web or database."""
