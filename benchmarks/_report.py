"""The table: printed as text after a run, or as Markdown from a results file (for
``docs/benchmarks.md``). Both read the JSON shape that ``run.py`` writes."""

from __future__ import annotations

from typing import Any

__all__ = ["fmt_value", "markdown", "text_table"]


def _scale(unit: str, values: list[float]) -> tuple[float, str]:
    """A display unit for the row, chosen from its smallest median."""
    if unit == "bytes":
        return 1 / (1024 * 1024), "MiB"
    m = min(values) if values else 1.0
    if m < 1e-3:
        return 1e6, "µs"
    if m < 1.0:
        return 1e3, "ms"
    return 1.0, "s"


def fmt_value(x: float, factor: float) -> str:
    v = x * factor
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _verdict(ok: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "n/a"}[ok]


def _row_scale(r: dict[str, Any]) -> tuple[float, str]:
    medians = [m["median"] for m in r["measures"] if "median" in m]
    return _scale(r["unit"], medians)


_ROLE = {"baseline": "baseline", "floor": "floor", "reference": "ref", "subject": ""}


def _load(r: dict[str, Any]) -> str:
    """`` load 1.2→1.5`` (1-minute load average when the row started and ended), or ``""``."""
    la = r.get("load_average") or {}
    start, end = la.get("start"), la.get("end")
    if not start or not end:
        return ""
    return f"  load {start[0]:.2f}→{end[0]:.2f}"


def text_table(results: dict[str, Any]) -> str:
    """The table as plain text: per row its contenders' median, p95, min, max (in the row's
    unit), sample count and ratio to the row's baseline, then each target's verdict."""
    head = f"{'':46} {'median':>9} {'p95':>9} {'min':>9} {'max':>9} {'n':>5} {'ratio':>7}"
    lines = [head, "-" * len(head)]
    for r in results["rows"]:
        if r.get("error"):
            lines.append(f"{r['title']}\n  !! row failed: {r['error']}")
            continue
        factor, unit = _row_scale(r)
        lines.append(f"{r['title']}  [{unit} {r['per']}]{_load(r)}")
        for m in r["measures"]:
            label = m["name"] + (f" ({_ROLE[m['role']]})" if _ROLE[m["role"]] else "")
            if "absent" in m:
                lines.append(f"  {label:44} absent: {m['absent']}")
                continue
            cells = " ".join(
                f"{fmt_value(m[k], factor):>9}" for k in ("median", "p95", "min", "max")
            )
            ratio = "" if m.get("ratio") is None else f"{m['ratio']:.2f}x"
            lines.append(f"  {label:44} {cells} {m['n']:>5} {ratio:>7}")
        for c in r["checks"]:
            lines.append(f"  -> target {c['target']}: {c['measured']}  {_verdict(c['ok'])}")
        for n in r["notes"]:
            lines.append(f"     ({n})")
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    """Two Markdown tables: the targets (one line per check) and every contender's figures."""
    out = [
        "| row | target | measured | verdict |",
        "|---|---|---|---|",
    ]
    for r in results["rows"]:
        for c in r["checks"]:
            out.append(f"| {r['title']} | {c['target']} | {c['measured']} | {_verdict(c['ok'])} |")
    out += [
        "",
        "| row | contender | median | p95 | min | max | n | ratio to baseline |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["rows"]:
        factor, unit = _row_scale(r)
        for i, m in enumerate(r["measures"]):
            role = f" ({m['role']})" if m["role"] != "subject" else ""
            name = f"{m['name']}{role}" if m["role"] != "subject" else f"**{m['name']}**"
            title = r["title"] + _load(r) if i == 0 else ""
            if "absent" in m:
                out.append(f"| {title} | {name} | absent: {m['absent']} | | | | | |")
                continue
            vals = " | ".join(
                f"{fmt_value(m[k], factor)} {unit}" for k in ("median", "p95", "min", "max")
            )
            ratio = "" if m.get("ratio") is None else f"{m['ratio']:.2f}x"
            out.append(f"| {title} | {name} | {vals} | {m['n']} | {ratio} |")
    return "\n".join(out)
