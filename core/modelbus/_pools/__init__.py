"""Deployment pools: the pure router, the pool provider, shared pool state."""
