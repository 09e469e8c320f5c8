"""Retries: the policy runner, the retry quota and ``Retry-After`` parsing."""
