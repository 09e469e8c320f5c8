"""Plugin discovery, the registry of registrations, plugin scaffolding."""
