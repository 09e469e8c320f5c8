"""A separate worker process for the cross-process tests.

``python worker.py CONFIG_JSON [--fake] [--barrier] PROMPT...``: builds a real
``modelbus.Client`` from the config (``--fake``: with a FakeProvider through
``modelbus.testing.make_client``, else the installed plugins, e.g. the ``openai``
provider), asks each prompt with ``client.chat`` and prints one line per answer:
``RESULT {"prompt", "content", "cached", "provider_calls"}`` (the prefix tells results
from any log line). With ``--barrier`` it prints ``ready`` once built and waits for a line on stdin before asking, so a test can start
many workers and release them at the same moment.
"""

from __future__ import annotations

import json
import sys

RESULT = "RESULT "


def main(argv: list[str]) -> None:
    config = json.loads(argv[0])
    fake = "--fake" in argv
    barrier = "--barrier" in argv
    prompts = [a for a in argv[1:] if not a.startswith("--")]
    provider = None
    if fake:
        from modelbus.testing import FakeProvider, make_client

        provider = FakeProvider()
        client = make_client(provider, config)
    else:
        import modelbus

        client = modelbus.Client(config)
    if barrier:
        print("ready", flush=True)
        sys.stdin.readline()
    with client:
        for prompt in prompts:
            resp = client.chat(prompt)
            print(
                RESULT
                + json.dumps(
                    {
                        "prompt": prompt,
                        "content": resp.content,
                        "cached": resp.cached,
                        "provider_calls": provider.calls if provider is not None else None,
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1:])
