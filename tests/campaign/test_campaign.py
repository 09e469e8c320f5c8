"""The fault campaign at ``--scale small``: ``python -m modelbus.testing.campaign``, one
scenario per test (a fault server in its own process, private redis-servers), plus its
own logic: the seeded plan, and a violated assertion making the run exit 1."""

from __future__ import annotations

import subprocess
import sys

import pytest

from modelbus.testing.campaign import SCENARIOS, FaultPlan, Report, Scale, _cli, main

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_campaign_holds_at_small_scale(scenario: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "modelbus.testing.campaign", "--scale", "small", "--only", scenario],
        capture_output=True,
        text=True,
        timeout=280,
    )
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert f"== {scenario}" in proc.stdout and "all held" in proc.stdout


def test_the_plan_depends_only_on_seed_id_and_attempt() -> None:
    plan = FaultPlan(seed=7, rate=0.2)
    draws = [plan.draw(f"r{i}", a) for i in range(2000) for a in range(3)]
    assert draws == [
        FaultPlan(seed=7, rate=0.2).draw(f"r{i}", a) for i in range(2000) for a in range(3)
    ]
    faulted = sum(d is not None for d in draws) / len(draws)
    assert 0.18 < faulted < 0.22
    assert {d for d in draws if d} == {"500", "429", "reset", "stall"}
    for i in range(200):
        n, fails = plan.sends(f"r{i}", 3)
        kinds = [plan.draw(f"r{i}", a) for a in range(n)]
        assert fails == all(kinds) and (fails or kinds[-1] is None) and all(kinds[:-1])
    other = FaultPlan(seed=8, rate=0.2)
    assert draws != [other.draw(f"r{i}", a) for i in range(2000) for a in range(3)]
    with pytest.raises(ValueError, match="weights"):
        FaultPlan(weights={"teapot": 1.0})


def test_a_violated_assertion_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def scenario(srv: object, scale: Scale, report: Report, seed: int) -> None:
        report.check(True, "holds")
        report.check(False, "demo: 3 failures observed, 2 expected")

    monkeypatch.setitem(_cli.SCENARIOS, "demo", scenario)
    assert main(["--only", "demo"]) == 1
    out = capsys.readouterr().out
    assert "2 checks, 1 FAILED" in out and "FAILED: demo: 3 failures observed" in out
    monkeypatch.setitem(_cli.SCENARIOS, "demo", lambda *a: a[2].check(True, "holds"))
    assert main(["--only", "demo"]) == 0
