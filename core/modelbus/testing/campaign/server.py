"""The campaign's fault server, in its own process.

``python -m modelbus.testing.campaign.server [--port N]`` runs a
:class:`~modelbus.testing.server.WireServer` with the campaign's routes
(:mod:`modelbus.testing.campaign._wire`) and prints its base URL once listening;
:class:`FaultServer` starts it from the campaign and talks to its control routes. Its
own process keeps the server's CPU off the client's interpreter, as a real provider's is.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from attrs import frozen

from ..server import WireServer
from ._plan import FaultPlan
from ._wire import CampaignRoutes

__all__ = ["FaultServer", "Sent", "main"]


@frozen
class Sent:
    """One request the server received: its id, attempt (0-based), what it drew
    (``"ok"`` or a fault kind) and its arrival (Unix seconds)."""

    rid: str
    attempt: int
    kind: str
    at: float


class FaultServer:
    """The fault server process; ``with FaultServer() as srv: srv.base_url``.

    Raises:
        RuntimeError: the process did not print its URL (its stderr is in the message).
    """

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""

    def start(self) -> FaultServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "modelbus.testing.campaign.server"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the campaign's fault server did not start: {line!r}")
        self.base_url = line
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()
            self.proc = None

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        origin = self.base_url.removesuffix("/v1")
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            origin + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def setup(
        self, plan: FaultPlan | None = None, *, stall_s: float = 30.0, latency_s: float = 0.0
    ) -> None:
        """Set the fault plan, the stall (seconds) and the latency of every answer
        (seconds), and forget the log."""
        body = {**(plan or FaultPlan()).to_json(), "stall_s": stall_s, "latency_s": latency_s}
        self._call("POST", "/campaign/setup", body)

    def log(self) -> list[Sent]:
        """Every chat request received since the last ``setup``, in arrival order."""
        return [Sent(*row) for row in self._call("GET", "/campaign/log")["requests"]]


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m modelbus.testing.campaign.server [--port N]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    port = int(args[args.index("--port") + 1]) if "--port" in args else 0
    server = WireServer(port=port, record=False)
    CampaignRoutes().install(server)
    server.serve_forever(lambda url: print(url, flush=True))


if __name__ == "__main__":
    main()
