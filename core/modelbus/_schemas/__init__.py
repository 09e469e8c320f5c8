"""JSON Schema from Python types, record types, and response formats."""
