"""Configuration: ``modelbus.toml``, settings classes, secrets, reference."""
