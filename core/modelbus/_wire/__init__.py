"""The wire: request and response types, conversion, SSE, HTTP errors."""
