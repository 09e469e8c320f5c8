"""A worker process for the shared pool-state test: ``python pool_worker.py CONFIG``.

Builds a real client from CONFIG (a JSON config with a pool ``gpt-4o`` and ``[modelbus]
pool_state = "redis"``), fixes the pool's draw at 0.0 (its first healthy deployment
first), builds every deployment's provider, prints ``ready``, then for each line ``N`` on stdin makes N chat calls and prints
``RESULT [deployment, ...]``; ``hold`` starts one call in a thread (kept in flight by a
slow server) and prints ``RESULT held`` once it is sent; ``state`` prints the pool's
calls in flight per deployment as the shared store reports them (``RESULT [n, ...]``);
``quit`` ends it.
"""

from __future__ import annotations

import json
import sys
import threading

import modelbus

RESULT = "RESULT "


def main(argv: list[str]) -> None:
    client = modelbus.Client(json.loads(argv[0]))
    pool = client.provider("pool:gpt-4o").inner
    pool.random = lambda: 0.0
    for d in pool.deployments:  # built (and their SDKs imported) before any timing
        client.provider(d.provider)
    print("ready", flush=True)
    held: list[threading.Thread] = []
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "quit":
            break
        if cmd == "state":
            states = pool.state.read(pool.pool, pool._names, 0.0)
            print(RESULT + json.dumps([s.in_flight for s in states]), flush=True)
            continue
        if cmd == "hold":
            t = threading.Thread(target=client.chat, args=("held",), kwargs={"model": "gpt-4o"})
            t.start()
            held.append(t)
            print(RESULT + json.dumps("held"), flush=True)
            continue
        out = []
        for i in range(int(cmd)):
            try:
                out.append(client.chat(f"q{i}", model="gpt-4o").extra["deployment"])
            except Exception as exc:  # reported, for the test to show
                out.append(f"{type(exc).__name__}: {exc}")
        print(RESULT + json.dumps(out), flush=True)
    for t in held:
        t.join()
    client.close()


if __name__ == "__main__":
    main(sys.argv[1:])
