"""Token counting and fitting a prompt into the context window."""
