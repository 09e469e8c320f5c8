"""From a model name to a provider and a request."""
