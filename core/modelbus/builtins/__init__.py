"""Built-in plugins, registered like third-party ones (pytest-style): caches ``memory`` and
``none``, retry policies ``exponential`` and ``none``, token counter ``tiktoken``, observer
``log`` (the call log)."""
