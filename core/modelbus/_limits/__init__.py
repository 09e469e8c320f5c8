"""What bounds spending and pace: budget ledger and holds, rate limits."""
