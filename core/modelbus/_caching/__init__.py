"""Cache keys and the async side of sync caches."""
