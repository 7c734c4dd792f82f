"""Reports a person reads: summary.md for a CI job summary, index.html to open in a browser.

    python -m harness.report REPORT_DIR

re-renders both from results.json and the kept histories, so a kept report
can be rendered again later, by a newer renderer too.

The module is in two halves. Pure functions first turn a history into plain
data (member state spans, leader spans, operation buckets, marks) that unit
tests check on hand-made histories; thin functions then turn that data into
Markdown, SVG and HTML strings. Everything taken from a history or a log is
escaped, and only excerpts of logs are embedded, so a page for a full matrix
stays small enough to open and to keep as a CI artifact.
"""

from __future__ import annotations

import argparse
import html
import itertools
import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from clusters.events import Event
from clusters.observe import Snapshot
from harness import results
from harness.checkers.availability import worst_outage
from harness.checkers.logs import ALARMS, Panic, find_panics
from harness.history import FaultWindow, History, Operation

# --- data: what a history says, as spans, marks and buckets ------------------------------


@dataclass(frozen=True)
class Span:
    """A stretch of time in one state; ``detail`` (an error message) goes into its tooltip."""

    start: float
    end: float
    state: str
    detail: str = ""


@dataclass(frozen=True)
class Mark:
    """Something that happened at one instant; ``kind`` picks the glyph, ``label`` is its tooltip."""

    time: float
    kind: str
    label: str


@dataclass(frozen=True)
class Bucket:
    """How many client calls completed in [start, end), by outcome."""

    start: float
    end: float
    ok: int
    fail: int
    unknown: int


# The pod state an event leaves its pod in. A pod appears with its first event.
_STATE_AFTER = {
    "pod-created": "pending",
    "pod-scheduled": "pending",
    "pod-running": "running",
    "container-started": "running",
    "pod-ready": "ready",
    "pod-not-ready": "running",
    "pod-deleting": "terminating",
    "container-exited": "exited",
    "back-off": "back-off",
    "pod-gone": "gone",
    "pod-failed": "gone",
}


def member_states(events: Iterable[Event], end: float) -> dict[str, list[Span]]:
    """Each pod's lifecycle as consecutive spans, from the first event naming it until ``end``.

    A terminating pod stays terminating until it is gone: on its way out it
    also reports not-ready and its container's exit, but it will not restart.
    Not-ready only demotes a ready pod (it also precedes every container exit).
    Once a pod is re-created under its name, late events of the old uid are
    ignored, so a replacement's row is not disturbed by its predecessor.
    """
    spans: dict[str, list[Span]] = {}
    current: dict[str, tuple[float, str]] = {}
    uids: dict[str, Any] = {}
    for event in sorted(events, key=lambda e: e.time):
        state = _STATE_AFTER.get(event.kind)
        if state is None or event.pod is None:
            continue
        pod, uid = event.pod, event.detail.get("uid")
        if event.kind == "pod-created":
            uids[pod] = uid
        elif uid is not None and uids.setdefault(pod, uid) != uid:
            continue
        since, previous = current.get(pod, (event.time, ""))
        if previous == state or (previous == "terminating" and state != "gone"):
            continue
        if event.kind == "pod-not-ready" and previous != "ready":
            continue
        if previous and event.time > since:
            spans.setdefault(pod, []).append(Span(since, event.time, previous))
        current[pod] = (event.time, state)
    for pod, (since, state) in current.items():
        if end > since:
            spans.setdefault(pod, []).append(Span(since, end, state))
    return spans


# Container exits the checks do not count as crashes (checkers.logs.find_crash_loops): asked for.
_ASKED_FOR_EXITS = ("fault", "deleted")
_MARK_KIND = {
    "fault-step": "fault",
    "fault-skipped": "fault",
    "eviction-blocked": "fault",
    "scaled": "fault",
    "rollout-restart": "fault",
    "rolling-update": "fault",
    "probe-kill": "probe",
    "volume-wiped": "wipe",
    "pre-stop": "prestop",
    "dns-hold": "dns",
    "dns-cached": "dns",
    "dns-cache-expired": "dns",
    "pod-failed": "crash",
}
_QUIET_DETAIL = ("uid", "log", "records")
LABEL_CHARS = 200


def _mark_kind(event: Event) -> str | None:
    if event.kind == "container-exited":
        return "exit" if event.detail.get("cause") in _ASKED_FOR_EXITS else "crash"
    if event.kind == "container-started":
        return "restart" if event.detail.get("restart_count") else None
    return _MARK_KIND.get(event.kind)


def describe(event: Event) -> str:
    """One line for a tooltip: the kind and the detail that matters (no uids, log paths or DNS tables)."""
    detail = ", ".join(f"{k}={v}" for k, v in event.detail.items() if k not in _QUIET_DETAIL)
    text = f"{event.kind} {event.pod or ''}".rstrip() + (f": {detail}" if detail else "")
    return text[:LABEL_CHARS]


def marks(events: Iterable[Event]) -> dict[str | None, list[Mark]]:
    """Instants worth a glyph, by pod; key None holds cluster-wide ones (fault steps on nodes, scaling).

    Exits are split the way the crash-loop check splits them: a crash is an
    exit nobody asked for, so the picture and the verdict agree. A fault step
    on several pods at once names them "etcd-0,etcd-1": each gets the mark.
    """
    found: dict[str | None, list[Mark]] = {}
    for event in sorted(events, key=lambda e: e.time):
        kind = _mark_kind(event)
        if kind:
            mark = Mark(event.time, kind, describe(event))
            for pod in event.pod.split(",") if event.pod else [None]:
                found.setdefault(pod, []).append(mark)
    return found


def sampled_spans(samples: Iterable[tuple[float, str, str]], end: float, max_gap: float) -> list[Span]:
    """Spans from point observations ``(time, state, detail)``, merged while nothing changes.

    Each observation holds until the next one but for at most ``max_gap``
    seconds: snapshots are taken only around faults, and one taken before a
    long fault hold must not claim to know the whole hold. State "" means
    "not observed": it ends the span before it and draws nothing.
    """
    ordered = sorted(samples, key=lambda s: s[0])
    spans: list[Span] = []
    for (t, state, detail), following in itertools.zip_longest(ordered, ordered[1:]):
        until = min(following[0] if following else end, t + max_gap)
        if not state or until <= t:
            continue
        last = spans[-1] if spans else None
        if last and (last.state, last.detail) == (state, detail) and last.end >= t:
            spans[-1] = Span(last.start, until, state, detail)
        else:
            spans.append(Span(t, until, state, detail))
    return spans


SNAPSHOT_GAP = 2.0


def leaders(snapshot: Snapshot) -> str:
    """Who says it leads: "none", a pod, or "etcd-0+etcd-2" when two claim it at once.

    A member's own claim is what it knows for sure; followers may still name
    a leader that is gone, so they are not asked.
    """
    claims = sorted(
        v.pod for v in snapshot.views if not v.error and v.leader not in ("", "0") and v.leader == v.member_id
    )
    return "+".join(claims) or "none"


def leader_spans(snapshots: Iterable[Snapshot], end: float, max_gap: float = SNAPSHOT_GAP) -> list[Span]:
    """Who led when, as far as snapshots saw it."""
    return sampled_spans(((s.time, leaders(s), "") for s in snapshots), end, max_gap)


def view_spans(snapshots: Iterable[Snapshot], end: float, max_gap: float = SNAPSHOT_GAP) -> dict[str, list[Span]]:
    """What each pod's etcd answered over time: "member", "learner" or "error" (with the error).

    A snapshot without the pod (it did not exist) ends its span.
    """
    taken = list(snapshots)
    pods = sorted({v.pod for s in taken for v in s.views}, key=pod_order)
    samples: dict[str, list[tuple[float, str, str]]] = {pod: [] for pod in pods}
    for snapshot in taken:
        seen = {v.pod: v for v in snapshot.views}
        for pod in pods:
            v = seen.get(pod)
            state = "" if v is None else "error" if v.error else "learner" if v.is_learner else "member"
            samples[pod].append((snapshot.time, state, v.error if v else ""))
    return {pod: sampled_spans(samples[pod], end, max_gap) for pod in pods}


OUTCOMES = ("ok", "fail", "unknown")
MAX_BUCKETS = 160
BUCKET_SECONDS = 0.5  # four clients call every 50 ms each: dozens of calls a bucket, so no comb of columns


def bucket_count(duration: float) -> int:
    """Half-second buckets, but never more than a picture can show: a long run gets wider buckets."""
    return max(1, min(MAX_BUCKETS, math.ceil(duration / BUCKET_SECONDS)))


def bucket_operations(operations: Iterable[Operation], start: float, end: float, count: int) -> list[Bucket]:
    """Count calls into ``count`` equal buckets by completion time, so 10k calls draw as ``count`` columns.

    A call that never completed counts as unknown at its invocation.
    """
    width = max(end - start, 1e-9) / count
    counts = [[0, 0, 0] for _ in range(count)]
    for op in operations:
        t = op.complete if op.complete is not None else op.invoke
        index = min(count - 1, max(0, int((t - start) / width)))
        counts[index][OUTCOMES.index(op.outcome or "unknown")] += 1
    return [Bucket(start + i * width, start + (i + 1) * width, *c) for i, c in enumerate(counts)]


def longest_write_gap(history: History) -> Span:
    """Where the quorum-lost check measured: the time without a commit most charged to the strategy."""
    worst = worst_outage(history)
    excused = f", {worst.excused_s:.1f} s of it a majority deleted and not yet re-created" if worst.excused_s > 0 else ""
    return Span(worst.start, worst.end, "outage", f"nothing committed for {worst.end - worst.start:.1f} s{excused}")


STORY_KINDS = ("fault-step", "evicted", "pod-deleting", "container-exited", "pod-gone", "pod-created",
               "container-started", "pod-ready", "pod-not-ready", "back-off")
STORY_EVENTS = 14


def outage_story(history: History) -> str:
    """What happened to the pods and who led during the quorum-lost stretch, in one line.

    It goes into the test's failure message, so a run whose report is gone
    (a CI machine's) still says whether Kubernetes or etcd took the time.
    """
    worst = worst_outage(history)
    started = history.started
    events = [e for e in sorted(history.events, key=lambda e: e.time)
              if e.kind in STORY_KINDS and worst.start - 1 <= e.time <= worst.end]
    told = [f"{e.time - started:.1f} {e.pod or ''} {e.kind.removeprefix('pod-').removeprefix('container-')}"
            + (f" ({e.detail['cause']})" if e.detail.get("cause") else "") for e in events[:STORY_EVENTS]]
    if len(events) > STORY_EVENTS:
        told.append(f"... {len(events) - STORY_EVENTS} more")
    led = [f"{span.state} {span.start - started:.1f}-{span.end - started:.1f}"
           for span in leader_spans(history.snapshots, history.ended) if span.end >= worst.start and span.start <= worst.end]
    return "; ".join(told) + (f"; leader: {', '.join(led)}" if led else "")


def log_tail(runs: list[str], lines: int = 8, width: int = 300) -> str:
    """The last lines of a pod's last container run that logged anything: why it stopped, usually."""
    text = next((run for run in reversed(runs) if run.strip()), "")
    return "\n".join(line[:width] for line in text.rstrip().splitlines()[-lines:])


def pod_order(pod: str) -> tuple[str, int]:
    """etcd-2 before etcd-10."""
    name, _, number = pod.rpartition("-")
    return (name, int(number)) if number.isdigit() else (pod, -1)


@dataclass(frozen=True)
class Timeline:
    """Everything one scenario's picture shows, in history time (seconds since the epoch)."""

    start: float
    end: float
    faults: list[FaultWindow]
    cluster_marks: list[Mark]
    buckets: list[Bucket]
    troubled: list[Operation]
    outage: Span
    leaders: list[Span]
    members: list[str]
    states: dict[str, list[Span]]
    views: dict[str, list[Span]]
    marks: dict[str, list[Mark]]


MAX_TROUBLED = 150


def timeline(history: History) -> Timeline:
    """Gather the picture's data; calls that failed or timed out are kept one by one when there are few."""
    end = history.ended
    states = member_states(history.events, end)
    views = view_spans(history.snapshots, end)
    found = marks(history.events)
    troubled = [op for op in history.operations if op.outcome != "ok"]
    return Timeline(
        start=history.started,
        end=end,
        faults=history.faults,
        cluster_marks=found.pop(None, []),
        buckets=bucket_operations(history.operations, history.started, end, bucket_count(end - history.started)),
        troubled=troubled if len(troubled) <= MAX_TROUBLED else [],
        outage=longest_write_gap(history),
        leaders=leader_spans(history.snapshots, end),
        members=sorted({*states, *views, *(p for p in found if p)}, key=pod_order),
        states=states,
        views=views,
        marks={p: m for p, m in found.items() if p},
    )


def group_panics(panics: Iterable[Panic]) -> list[tuple[Panic, int]]:
    """Panics by (member, message), first occurrence and count: a crash loop panics the same way each run."""
    groups: dict[tuple[str, str], list[Panic]] = {}
    for panic in panics:
        groups.setdefault((panic.pod, panic.message), []).append(panic)
    return [(found[0], len(found)) for found in groups.values()]


def group_alarms(alarms: Iterable[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """A record's alarms by (member, label), first run and how many runs: a crash loop repeats its alarm each run."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for alarm in alarms:
        groups.setdefault((alarm["member"], alarm["label"]), []).append(alarm)
    return [(found[0], len(found)) for found in groups.values()]


def alarm_excerpt(runs: list[str], run: int, label: str, before: int = 3, after: int = 1, width: int = 300) -> str:
    """The lines around an alarm's first line in one container run, as ``find_alarms`` finds it; "" if absent."""
    pattern = ALARMS.get(label)
    lines = runs[run].splitlines() if pattern and 0 <= run < len(runs) else []
    hit = next((i for i, line in enumerate(lines) if pattern and pattern.search(line)), None)
    if hit is None:
        return ""
    return "\n".join(line[:width] for line in lines[max(0, hit - before) : hit + after + 1])


def scenario_dir(report_dir: Path, record: dict[str, Any]) -> Path | None:
    """Where a record's history lives now: under ``report_dir`` by name, so a moved report still renders."""
    if not record.get("report"):
        return None
    moved = report_dir / "scenarios" / Path(record["report"]).name
    for candidate in (moved, Path(record["report"])):
        if (candidate / "history.json").is_file():
            return candidate
    return None


def failing_cells(records: list[dict[str, Any]]) -> list[results.Cell]:
    """Cells a reader must look at: unexpected ones first, then declared failures; each in matrix order."""
    cells = results.grid(records).cells()
    return [c for c in cells if c.status == "unexpected"] + [c for c in cells if c.status == "declared"]


# --- Markdown --------------------------------------------------------------------------------

MAX_BLOCKS = 40
MAX_ITEMS = 3
LINE_CHARS = 300
_STATUS_TEXT = {"unexpected": "unexpected", "declared": "declared failure", "pass": "pass", "empty": "not run"}


def _clip(text: str, limit: int = LINE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _some(items: list[str], limit: int = MAX_ITEMS) -> str:
    """The first few items and how many more, so one noisy cell cannot flood a summary."""
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")


_MD_SPECIAL = str.maketrans({"\\": "\\\\", "<": "\\<", "&": "\\&", "|": "\\|", "`": "'", "*": "\\*"})


def _md_escape(text: str) -> str:
    """Make log text inert in Markdown without HTML entities, which only some renderers decode.

    A backslash before ``<`` and ``&`` keeps tags and entities from forming
    (CommonMark escapes any ASCII punctuation), so "->" stays "->" in a
    terminal as on GitHub; ``|`` would break a table row, ``*`` start
    emphasis (``_`` does not inside words, so names keep it), and a
    backtick a code span.
    """
    return text.translate(_MD_SPECIAL)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


# The data checks' findings in a record, in the verdict's order: (record key, heading on the page, name in
# the summary). Each is a list of descriptions; lost writes are counted apart, since only a few are kept.
DATA_FINDINGS = (
    ("lost_write_examples", "acknowledged writes lost", "lost writes"),
    ("undecided_write_examples", "acknowledged writes undecided", "writes undecided"),
    ("not_linearizable", "not linearizable", "not linearizable"),
    ("linearizability_unknown", "linearizability undecided", "linearizability undecided"),
    ("one_cluster", "two clusters / one cluster", "one cluster"),
    ("revision_regressions", "revisions went back", "revisions went back"),
    ("lagging_write_examples", "acknowledged writes a lagging member lacks", "lagging writes"),
)
_COUNTED = {"lost_write_examples": "lost_writes", "undecided_write_examples": "undecided_writes",
            "lagging_write_examples": "lagging_writes"}
"""Findings counted apart from the examples kept: only a few of them are written to results.json."""


def finding_count(record: dict[str, Any], key: str) -> int:
    """How many findings of one kind a record has; records from before a check simply have none."""
    if key in _COUNTED:
        return record.get(_COUNTED[key]) or 0
    return len(record.get(key) or [])


def declaration(record: dict[str, Any]) -> str:
    """What the strategy declares for this run, in words; records from before the reason was kept say less."""
    declared = record.get("declared")
    if record["expected"] == "pass":
        return "no declaration (expected to pass)"
    how = "declared to fail sometimes" if record["expected"] == "sometimes" else "declared to fail"
    return f"{how} for {declared['reason']}" if declared else how


def headline(record: dict[str, Any]) -> str:
    """The sentence that explains a run's failure (kept in results.json since it was written; "" before)."""
    return record.get("headline") or ""


def _crash_loop(loop: dict[str, Any]) -> str:
    """Like "etcd-2 (3 crashes: the member has been removed)": the cause is the pod's last panic or alarm."""
    cause = loop.get("cause")
    return f"{loop['member']} ({loop['crashes']} crashes" + (f": {cause})" if cause else ")")


def _alarm(alarm: dict[str, Any]) -> str:
    return f"{alarm['member']} ({alarm['label']}): {alarm['line']}"


def failure_block(cell: results.Cell, report_dir: Path) -> list[str]:
    """A few lines on one failing or unexpected cell, over all its runs: the explaining sentence first."""
    runs = cell.records
    failed = [r for r in runs if r["verdict"] != "pass"]
    declared = declaration(runs[0])
    word = "FAIL" if any(r["verdict"] == "fail" for r in failed) else "UNDECIDED"
    reasons = ", ".join(_unique(reason for r in failed for reason in r["reasons"]))
    outcome = f"{word}({reasons}) in {len(failed)} of {len(runs)} runs" if failed else f"passed all {len(runs)} runs"
    lines = [f"### {cell.label}: {_STATUS_TEXT[cell.status]}", ""]
    lines += [f"- **{_clip(_md_escape(h))}**" for h in _unique(headline(r) for r in failed) if h][:MAX_ITEMS]
    lines.append(f"- {outcome}; {declared}")
    if cell.flaky:
        lines.append(f"- flaky: {_md_escape(cell.differences)}")
    items = {
        "panics": _unique(_panic_text(p) for r in failed for p in r["panics"]),
        "crash loops": _unique(_crash_loop(c) for r in failed for c in r["crash_loops"]),
        "alarms": _unique(_alarm(a) for r in failed for a in r.get("alarms", [])),
        "could not decide": _unique(u for r in failed for u in r.get("undecided", [])),
        "at the end": _unique(p for r in failed for p in r["problems_at_end"]),
        "fault errors": _unique(e for r in failed for e in r["fault_errors"]),
        "hazards": _unique(h for r in failed for h in r.get("hazards_at_end", [])),
    }
    lines += [f"- {name}: {_clip(_md_escape(_some(values)))}" for name, values in items.items() if values]
    for key, _, name in DATA_FINDINGS:
        count = sum(finding_count(r, key) for r in failed)
        first = next((text.splitlines()[0] for r in failed for text in r.get(key) or [] if text.strip()), "")
        if count:
            lines.append(f"- {name}: {_clip(_md_escape(f'{count}, e.g. {first}' if first else str(count)))}")
    paths = [d for d in (scenario_dir(report_dir, r) for r in failed or runs) if d]
    if paths:
        shown = ", ".join(f"`{os.path.relpath(d / 'history.json', report_dir)}`" for d in paths[:MAX_ITEMS])
        lines.append(f"- history: {shown}" + (f" and {len(paths) - MAX_ITEMS} more" if len(paths) > MAX_ITEMS else ""))
    return [*lines, ""]


def tally(records: list[dict[str, Any]]) -> str:
    """The one line over a whole report: how many passed, failed, could not be decided, differ, are flaky."""
    count = {v: sum(r["verdict"] == v for r in records) for v in ("pass", "fail", "undecided")}
    surprises = sum(not results.as_declared(r) for r in records)
    flaky = sum(c.flaky for c in results.grid(records).cells())
    return (
        f"{len(records)} scenarios: {count['pass']} passed, {count['fail']} failed, {count['undecided']} undecided, "
        f"{surprises} differ from what their strategy declares (marked !); {flaky} flaky cells (marked ~)"
    )


def markdown(records: list[dict[str, Any]], report_dir: Path) -> str:
    """The matrix (the same rows as the terminal's), then one short block per cell worth a look."""
    rows = [[_md_escape(value) for value in row] for row in results.table(records)]
    lines = [
        "## etcd-chaos matrix",
        "",
        tally(records) + ".",
        "",
        "| " + " | ".join(rows[0]) + " |",
        "|" + "---|" * len(rows[0]),
        *("| " + " | ".join(row) + " |" for row in rows[1:]),
        "",
    ]
    cells = failing_cells(records)
    if cells:
        lines += ["## Failures", ""]
        for cell in cells[:MAX_BLOCKS]:
            lines += failure_block(cell, report_dir)
        if len(cells) > MAX_BLOCKS:
            lines += [f"… and {len(cells) - MAX_BLOCKS} more cells: see index.html.", ""]
    return "\n".join(lines)


def write_markdown(records: list[dict[str, Any]], path: Path) -> Path:
    """Write the summary; history paths in it are relative to the file's directory (the report dir)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace(path, markdown(records, path.parent))
    return path


def _replace(path: Path, text: str) -> None:
    """Write whole or not at all: the plugin may re-render while someone has the file open."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# --- SVG: one timeline per scenario ---------------------------------------------------------

_e = html.escape
WIDTH, LEFT, RIGHT = 960, 110, 950
ROW_FAULTS, ROW_OPERATIONS, ROW_LEADER, ROW_MEMBER, AXIS = 16, 40, 14, 16, 16
OUTAGE_SHOWN = 1.0
_MEMBER_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
# One table of colours feeds both the SVG classes and the legend swatches.
COLOURS = {
    "st-pending": "#d9d9d9",
    "st-running": "#9ecae1",
    "st-ready": "#74c476",
    "st-terminating": "#fdae6b",
    "st-exited": "#de2d26",
    "st-back-off": "#fcae91",
    "st-gone": "#bdbdbd",
    "v-member": "#4a5a6a",
    "v-learner": "#9467bd",
    "v-error": "#de2d26",
    "l-none": "#fcbba1",
    "l-split": "#67000d",
    "op-ok": "#41ab5d",
    "op-fail": "#de2d26",
    "op-unknown": "#fd8d3c",
    "m-fault": "#222222",
    "m-crash": "#de2d26",
    "m-exit": "#636363",
    "m-restart": "#238b45",
    "m-wipe": "#9467bd",
    "m-prestop": "#3182bd",
    "m-dns": "#17becf",
    "m-probe": "#fd8d3c",
}
LEGEND = {
    "pod": ["st-pending", "st-running", "st-ready", "st-terminating", "st-exited", "st-back-off", "st-gone"],
    "etcd answered": ["v-member", "v-learner", "v-error"],
    "operations": ["op-ok", "op-fail", "op-unknown"],
    "leader": ["l-none", "l-split"],
    "marks": ["m-fault", "m-crash", "m-exit", "m-restart", "m-wipe", "m-prestop", "m-dns", "m-probe"],
}


def _n(value: float) -> str:
    """Coordinates with one decimal: enough for a screen, half the bytes of full floats."""
    return f"{value:.1f}".removesuffix(".0")


@dataclass(frozen=True)
class _Scale:
    start: float
    end: float

    def x(self, t: float) -> float:
        fraction = (t - self.start) / max(self.end - self.start, 1e-9)
        return LEFT + min(1.0, max(0.0, fraction)) * (RIGHT - LEFT)

    def seconds(self, t: float) -> str:
        return f"{t - self.start:.1f} s"


def _rect(x0: float, x1: float, y: float, h: float, cls: str, title: str = "", fill: str = "") -> str:
    """A bar at least one pixel wide, so a short state still shows."""
    attrs = f'x="{_n(x0)}" y="{_n(y)}" width="{_n(max(x1 - x0, 1.0))}" height="{_n(h)}" class="{cls}"'
    if fill:
        attrs += f' fill="{fill}"'
    return f"<rect {attrs}><title>{_e(title)}</title></rect>" if title else f"<rect {attrs}/>"


def _span_rect(scale: _Scale, span: Span, y: float, h: float, cls: str, fill: str = "") -> str:
    title = f"{span.state} {scale.seconds(span.start)} – {scale.seconds(span.end)}" + (
        f": {span.detail}" if span.detail else ""
    )
    return _rect(scale.x(span.start), scale.x(span.end), y, h, cls, title[:LABEL_CHARS], fill)


def _cross(x: float, y: float) -> str:
    return f"M{_n(x - 3)},{_n(y - 3)}l6,6m0,-6l-6,6"


def _dot(x: float, y: float) -> str:
    return f"M{_n(x - 2.5)},{_n(y)}a2.5,2.5 0 1,0 5,0a2.5,2.5 0 1,0 -5,0z"


# Exits are crosses (a crash red, an asked-for exit grey, by CSS); kinds without a shape are dots.
_GLYPHS: dict[str, Callable[[float, float], str]] = {
    "fault": lambda x, y: f"M{_n(x - 3.5)},{_n(y - 4)}h7l-3.5,6z",
    "crash": _cross,
    "exit": _cross,
    "restart": lambda x, y: f"M{_n(x - 3)},{_n(y + 3)}h6l-3,-6z",
    "wipe": lambda x, y: f"M{_n(x)},{_n(y - 4)}l3.5,4l-3.5,4l-3.5,-4z",
}


def _glyph(scale: _Scale, mark: Mark, y: float) -> str:
    x = scale.x(mark.time)
    shape = _GLYPHS.get(mark.kind, _dot)
    title = f"{scale.seconds(mark.time)} {mark.label}"
    return f'<path d="{shape(x, y)}" class="m-{mark.kind}"><title>{_e(title)}</title></path>'


def _columns(
    scale: _Scale, buckets: list[Bucket], counts: Callable[[Bucket], int], base: float, room: float, peak: int
) -> str:
    """One path of bucket columns growing from ``base`` (up when ``room`` < 0); two pixels at least."""
    parts = []
    for b in buckets:
        count = counts(b)
        if count:
            h = max(2.0, abs(room) * count / peak) * (1 if room > 0 else -1)
            parts.append(
                f"M{_n(scale.x(b.start))},{_n(base)}v{_n(h)}h{_n(scale.x(b.end) - scale.x(b.start))}v{_n(-h)}z"
            )
    return "".join(parts)


def _operations_row(t: Timeline, scale: _Scale, y: float) -> list[str]:
    """Calls that succeeded (puts, compare-and-sets, gets) as columns above the line, failed and timed-out ones
    below, one by one when few; a dashed box where nothing was committed longest (``longest_write_gap``)."""
    mid = y + ROW_OPERATIONS / 2
    peak = max((b.ok + b.fail + b.unknown for b in t.buckets), default=0) or 1
    room = ROW_OPERATIONS / 2 - 1
    out = [f'<path d="{_columns(scale, t.buckets, lambda b: b.ok, mid, -room, peak)}" class="op-ok"/>']
    if t.troubled:
        for i, op in enumerate(t.troubled):
            lane = mid + 2 + (i % 3) * 5
            call = f"{op.client} {op.kind} {op.key} on {op.member or op.endpoint}"
            title = f"{scale.seconds(op.invoke)} {call} → {op.outcome}: {op.error or ''}"
            out.append(
                _rect(
                    scale.x(op.invoke),
                    scale.x(op.complete or t.end),
                    lane,
                    4,
                    f"op-{op.outcome or 'unknown'}",
                    title[:LABEL_CHARS],
                )
            )
    else:
        out.append(
            f'<path d="{_columns(scale, t.buckets, lambda b: b.fail + b.unknown, mid, room, peak)}" class="op-fail"/>'
        )
        out.append(f'<path d="{_columns(scale, t.buckets, lambda b: b.unknown, mid, room, peak)}" class="op-unknown"/>')
    out.append(f'<line x1="{LEFT}" x2="{RIGHT}" y1="{_n(mid)}" y2="{_n(mid)}" class="base"/>')
    if t.outage.end - t.outage.start >= OUTAGE_SHOWN:
        out.append(_span_rect(scale, t.outage, y, ROW_OPERATIONS, "outage"))
    return out


def _fault_shading(t: Timeline, scale: _Scale, top: float, bottom: float) -> list[str]:
    """Each fault as a band over every row (darker while held), labelled in the faults row."""
    out = []
    for w in t.faults:
        label = f"{w.fault} → {', '.join(w.targets) or 'nothing'}"
        if w.skipped:
            x = scale.x(w.start)
            out.append(
                f'<line x1="{_n(x)}" x2="{_n(x)}" y1="{_n(top)}" y2="{_n(bottom)}" class="skipped">'
                f"<title>{_e(f'{w.fault} skipped: {w.skipped}')}</title></line>"
            )
            continue
        title = f"{label}: {scale.seconds(w.start)} – {scale.seconds(w.end)}" + (
            f"; error: {w.error}" if w.error else ""
        )
        cls = "fault error" if w.error else "fault"
        out.append(_rect(scale.x(w.start), scale.x(w.end), top, bottom - top, cls, title[:LABEL_CHARS]))
        if w.injected:
            out.append(_rect(scale.x(w.injected), scale.x(w.end), top, bottom - top, "held"))
        out.append(f'<text x="{_n(scale.x(w.start) + 2)}" y="{_n(top + 11)}" class="flabel">{_e(label)}</text>')
    return out


def _axis(scale: _Scale, top: float, bottom: float) -> list[str]:
    """Seconds since the scenario started, about ten ticks whatever its length."""
    duration = scale.end - scale.start
    step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600) if duration / s <= 10), 1800)
    out = []
    for i in range(int(duration // step) + 1):
        x = scale.x(scale.start + i * step)
        out.append(
            f'<line x1="{_n(x)}" x2="{_n(x)}" y1="{_n(top)}" y2="{_n(bottom)}" class="grid"/>'
            f'<text x="{_n(x)}" y="{_n(bottom + 11)}" class="tick">{i * step} s</text>'
        )
    return out


def svg(t: Timeline) -> str:
    """The timeline: faults, client operations, leader, then one row per member; x is seconds since the start."""
    scale = _Scale(t.start, t.end)
    top = 2.0
    y_operations = top + ROW_FAULTS
    y_leader = y_operations + ROW_OPERATIONS
    y_members = y_leader + ROW_LEADER + 2
    bottom = y_members + ROW_MEMBER * len(t.members)
    out = [*_axis(scale, top, bottom), *_fault_shading(t, scale, top, bottom)]
    labels = [("faults", top), ("operations", y_operations + ROW_OPERATIONS / 2 - 6), ("leader", y_leader)]
    labels += [(pod, y_members + i * ROW_MEMBER) for i, pod in enumerate(t.members)]
    out += [f'<text x="8" y="{_n(y + 10)}" class="label">{_e(name)}</text>' for name, y in labels]
    out += [_glyph(scale, m, top + 5) for m in t.cluster_marks]
    out += _operations_row(t, scale, y_operations)
    colours = {pod: _MEMBER_COLOURS[i % len(_MEMBER_COLOURS)] for i, pod in enumerate(t.members)}
    for span in t.leaders:
        fill = colours.get(span.state, "")
        cls = "leader" if fill else "l-none" if span.state == "none" else "l-split"
        out.append(_span_rect(scale, span, y_leader + 2, ROW_LEADER - 4, cls, fill))
        if fill and scale.x(span.end) - scale.x(span.start) > 40:
            out.append(
                f'<text x="{_n(scale.x(span.start) + 2)}" y="{_n(y_leader + 10)}" class="ltext">{_e(span.state)}</text>'
            )
    for i, pod in enumerate(t.members):
        y = y_members + i * ROW_MEMBER
        out.append(f'<rect x="1" y="{_n(y + 3)}" width="4" height="7" fill="{colours[pod]}"/>')
        out += [
            _span_rect(scale, s, y + (4 if s.state == "gone" else 1), 2 if s.state == "gone" else 8, f"st-{s.state}")
            for s in t.states.get(pod, [])
        ]
        out += [_span_rect(scale, s, y + 10, 3, f"v-{s.state}") for s in t.views.get(pod, [])]
        out += [_glyph(scale, m, y + 5) for m in t.marks.get(pod, [])]
    height = bottom + AXIS
    return (
        f'<svg viewBox="0 0 {WIDTH} {_n(height)}" width="{WIDTH}" height="{_n(height)}" class="timeline">'
        + "".join(out)
        + "</svg>"
    )


# --- HTML: the matrix and one section per scenario --------------------------------------------

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:1200px}
h1{font-size:1.5em}h2{margin-top:1.5em}h4{margin:.8em 0 .2em}
div.wide{overflow-x:auto}table.matrix{border-collapse:collapse}
table.matrix td,table.matrix th{border:1px solid #ccc;padding:3px 6px;font-size:13px;white-space:nowrap}
table.matrix th{background:#f3f3f3}
td.pass{background:#e5f5e0}td.declared{background:#fee6ce}td.unexpected{background:#de2d26;font-weight:bold}
td.unexpected a{color:#fff}td.empty{color:#999}a.run{font-size:11px;margin-left:3px}
.badge{padding:1px 6px;border-radius:3px;font-weight:bold}.badge.pass{background:#e5f5e0}
.badge.declared{background:#fee6ce}.badge.unexpected{background:#de2d26;color:#fff}
section.scenario{border-top:1px solid #ddd;padding:.3em 0}summary{cursor:pointer;font-size:15px}
p.headline{font-weight:bold;font-size:15px;margin:.4em 0}
pre{background:#f6f6f6;padding:6px;overflow-x:auto;font-size:12px;max-height:20em}
.facts{color:#555}.legend span.sw{display:inline-block;width:12px;height:10px;margin:0 3px 0 10px;
vertical-align:middle}
svg.timeline{display:block;margin:.5em 0;font:10px sans-serif}svg .label{font-weight:bold}
svg .grid{stroke:#eee}svg .tick{fill:#888;text-anchor:middle}svg .base{stroke:#bbb}
svg .fault{fill:#ffe066;fill-opacity:.3}svg .held{fill:#e6b800;fill-opacity:.18}
svg .error{stroke:#de2d26;stroke-width:1.5}svg .skipped{stroke:#888;stroke-dasharray:3,3}
svg .flabel{fill:#7a5c00}svg .ltext{fill:#fff}
svg path[class^=op-]{shape-rendering:crispEdges}
svg .outage{fill:none;stroke:#de2d26;stroke-dasharray:4,2}
svg .m-crash,svg .m-exit{fill:none;stroke-width:1.8}
"""


def _css() -> str:
    """Layout, then every colour twice from one table: as an SVG fill and as a legend swatch."""
    fills = "".join(f"svg .{c}{{fill:{v}}}.sw.{c}{{background:{v}}}" for c, v in COLOURS.items())
    strokes = "".join(f"svg .{c}{{stroke:{COLOURS[c]}}}" for c in ("m-crash", "m-exit"))
    return CSS + fills + strokes


def _legend() -> str:
    groups = []
    for group, classes in LEGEND.items():
        items = "".join(f'<span class="sw {c}"></span>{c.split("-", 1)[1]}' for c in classes)
        groups.append(f"<div><b>{group}:</b>{items}</div>")
    note = (
        "<div>Faults are yellow bands, darker while held. Operations are all client calls: the ones that "
        "succeeded above the line, failed and timed-out ones below; the dashed box is the longest time without "
        "a commit (an acknowledged write or linearizable read) from the first fault on, shown from "
        f"{OUTAGE_SHOWN:g} s. Leaders and etcd answers are known only while snapshots were taken: from the first "
        "fault on.</div>"
    )
    return '<div class="legend">' + "".join(groups) + note + "</div>"


def _href(path: Path, report_dir: Path) -> str:
    return quote(Path(os.path.relpath(path, report_dir)).as_posix())


def _matrix_html(records: list[dict[str, Any]], anchors: dict[int, str]) -> str:
    """The shared grid as a table; each cell links to its runs' sections."""
    g = results.grid(records)
    head = "".join(f"<th>{_e(f)}</th>" for f in [results.HEADER, *g.columns])
    body = []
    for strategy, row in g.rows:
        tds = []
        for c in row:
            links = [anchors[id(r)] for r in c.records]
            text = _e(c.text)
            if links:
                text = f'<a href="#{links[0]}">{text}</a>'
            if len(links) > 1:
                text += "".join(f'<a class="run" href="#{a}">{i}</a>' for i, a in enumerate(links, 1))
            flaky = f' title="flaky: {_e(c.differences)}"' if c.flaky else ""
            tds.append(f'<td class="{c.status}"{flaky}>{text}</td>')
        body.append(f"<tr><th>{_e(strategy)}</th>{''.join(tds)}</tr>")
    return f'<table class="matrix"><tr>{head}</tr>{"".join(body)}</table>'


def _status(record: dict[str, Any]) -> str:
    return results.Cell(record["strategy"], record["fault"], (record,)).status


PANICS_LEAVING = (
    "panics of members leaving after their own removal (not counted: the process was exiting anyway; "
    "etcd#21966, a Status call that meets the removal)"
)


def _panics(title: str, listed: list[dict[str, str]], found: list[Panic]) -> list[str]:
    """One section of panics: grouped with log excerpts when the history was kept, else as results.json lists them."""
    groups = group_panics(found)
    if not groups:
        items = "".join(f"<li>{_e(_panic_text(p))}</li>" for p in listed[:MAX_ITEMS])
        return [f"<h4>{_e(title)}</h4><ul>{items}</ul>"]
    out = [f"<h4>{_e(title)}</h4>"]
    for panic, count in groups[:MAX_ITEMS]:
        where = f" in {panic.where}" if panic.where else ""
        out.append(
            f"<p>{_e(panic.pod)} (container run {panic.run + 1}, {count}×){_e(where)}: {_e(panic.message)}</p>"
            f"<pre>{_e(panic.excerpt)}</pre>"
        )
    if len(groups) > MAX_ITEMS:
        out.append(f"<p>and {len(groups) - MAX_ITEMS} more kinds of panic</p>")
    return out


def _panic_text(p: dict[str, str]) -> str:
    return f"{p['member']}" + (f" in {p['where']}" if p.get("where") else "") + f": {p['message']}"


def _findings(record: dict[str, Any], history: History | None) -> list[str]:
    """What the checks found, with log excerpts from the history when it was kept."""
    out = []
    listed = record.get("panics") or record.get("panics_leaving")
    found = find_panics(history.logs) if history is not None and listed else []  # every log read again: only when needed
    for key, title in (("panics", "panics"), ("panics_leaving", PANICS_LEAVING)):
        if record.get(key):
            out += _panics(title, record[key], [p for p in found if p.leaving == (key == "panics_leaving")])
    if record["crash_loops"]:
        out.append("<h4>crash loops</h4>")
        for loop in record["crash_loops"]:
            tail = log_tail(history.logs.get(loop["member"], [])) if history else ""
            out.append(
                f"<p>{_e(_crash_loop(loop))}" + (f"; its last log lines:</p><pre>{_e(tail)}</pre>" if tail else "</p>")
            )
    out += _alarms(record.get("alarms") or [], history)
    for key, title, _ in DATA_FINDINGS:
        if finding_count(record, key):
            out.append(_list_section(title, record.get(key) or [], finding_count(record, key)))
    sections = (
        ("not whole at the end", "problems_at_end"),
        ("fault errors", "fault_errors"),
        ("hazards left behind", "hazards_at_end"),
    )
    out += [_list_section(title, record[key]) for title, key in sections if record.get(key)]
    return out


def _list_section(title: str, items: list[str], count: int | None = None) -> str:
    """A heading and its items: a list, or one <pre> each when they span lines; ``count`` when more were found."""
    if any("\n" in item for item in items):
        body = "".join(f"<pre>{_e(item)}</pre>" for item in items)
    else:
        body = "<ul>" + "".join(f"<li>{_e(item)}</li>" for item in items) + "</ul>"
    shown = f"<p>{count} in all, the first {len(items)} here:</p>" if count and count > len(items) else ""
    return f"<h4>{_e(title)}{f' ({count})' if count else ''}</h4>{shown}{body}"


def _alarms(alarms: list[dict[str, Any]], history: History | None) -> list[str]:
    """Alarm lines by member and label, with the log around the first when the history was kept."""
    if not alarms:
        return []
    out = ["<h4>log alarms</h4>"]
    for i, (alarm, runs) in enumerate(group_alarms(alarms)):
        later = f", and in {runs - 1} later run{'s' if runs > 2 else ''}" if runs > 1 else ""
        out.append(
            f"<p>{_e(alarm['label'])}: {_e(alarm['member'])} (container run {alarm['run'] + 1}{later}): "
            f"{_e(alarm['line'])}</p>"
        )
        runs_logged = history.logs.get(alarm["member"], []) if history is not None and i < MAX_ITEMS else []
        excerpt = alarm_excerpt(runs_logged, alarm["run"], alarm["label"])
        if excerpt:
            out.append(f"<pre>{_e(excerpt)}</pre>")
    return out


def _facts(record: dict[str, Any]) -> str:
    recovery = "never recovered" if record["recovery_s"] is None else f"recovered after {record['recovery_s']} s"
    facts = [declaration(record), f"longest time without a commit {record['max_write_outage_s']} s"]
    if record.get("quorum_fraction") is not None:
        facts.append(f"quorum {record['quorum_fraction']:.1%} of the time")
    facts.append(recovery)
    if record.get("operations") is not None:
        facts.append(f"{record['operations']} operations")
    facts += [
        f"took {record['duration_s']} s",
        f"seed {record['seed']}",
        f"{record['backend']} etcd {record['etcd_version']}" + _release_changes(record),
    ]
    return f'<p class="facts">{_e(" · ".join(str(f) for f in facts))}</p>'


def _release_changes(record: dict[str, Any]) -> str:
    """`` (etcd-2 3.5.1, 3.6.16 from 41.2 s; ...)`` for members whose release changed, or ran another than the cell's."""
    told = []
    for pod, runs in (record.get("member_releases") or {}).items():
        if len(runs) > 1 or runs[0][1] != record["etcd_version"]:
            told.append(f"{pod} " + ", ".join(release if i == 0 else f"{release} from {t:g} s" for i, (t, release) in enumerate(runs)))
    return f" ({'; '.join(told)})" if told else ""


def _steps(record: dict[str, Any]) -> str:
    items = []
    for step in record["steps"]:
        text = f"{step['fault']} → {', '.join(step['targets']) or 'nothing'}"
        for key in ("error", "skipped"):
            if step.get(key):
                text += f"; {key}: {step[key]}"
        items.append(f"<li>{_e(text)}</li>")
    return f"<ul>{''.join(items)}</ul>"


def _links(directory: Path | None, report_dir: Path) -> str:
    if directory is None:
        return "<p>no history kept</p>"
    files = [directory / "history.json", *sorted((directory / "logs").glob("*.log"))]
    return "<p>files: " + " · ".join(f'<a href="{_href(f, report_dir)}">{_e(f.name)}</a>' for f in files) + "</p>"


def scenario_section(record: dict[str, Any], history: History | None, anchor: str, title: str, files: str) -> str:
    """One scenario: verdict, facts, timeline, findings, files; open unless it simply passed."""
    status = _status(record)
    verdict = record["verdict"].upper() + (" (unexpected)" if status == "unexpected" else "")
    reasons = ", ".join(record["reasons"])
    picture = svg(timeline(history)) if history is not None else ""
    explained = f'<p class="headline">{_e(headline(record))}</p>' if headline(record) else ""
    body = [explained, _facts(record), _steps(record), picture, *_findings(record, history), files]
    return (
        f'<section class="scenario" id="{anchor}"><details{" open" if status != "pass" else ""}>'
        f'<summary><b>{_e(title)}</b> <span class="badge {status}">{_e(verdict)}</span> {_e(reasons)}</summary>'
        + "".join(body)
        + "</details></section>"
    )


def _anchor(index: int, record: dict[str, Any]) -> str:
    """A unique, URL-safe id that still says which scenario it is."""
    name = Path(record["report"]).name if record.get("report") else f"{record['strategy']}-{record['fault']}"
    return f"s{index}-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def html_page(records: list[dict[str, Any]], report_dir: Path) -> str:
    """The whole page; histories are read one at a time, so memory stays at one scenario's worth."""
    anchors = {id(r): _anchor(i, r) for i, r in enumerate(records)}
    cells = results.grid(records).cells()
    sections = []
    for c in cells:
        for run, record in enumerate(c.records, 1):
            directory = scenario_dir(report_dir, record)
            history = History.load(directory / "history.json") if directory else None
            title = c.label + (f" run {run}/{len(c.records)}" if len(c.records) > 1 else "")
            sections.append(
                scenario_section(record, history, anchors[id(record)], title, _links(directory, report_dir))
            )
    failing = failing_cells(records)
    index = "".join(_failure_item(c, anchors) for c in failing)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>etcd-chaos report</title>'
        f"<style>{_css()}</style></head><body><h1>etcd-chaos report</h1>"
        f"<p>{_e(tally(records))}: differing cells are "
        '<span class="badge unexpected">red</span>, declared failures '
        '<span class="badge declared">orange</span>.</p>'
        f'<h2>Matrix</h2><div class="wide">{_matrix_html(records, anchors)}</div>'
        + (f"<h2>Failures</h2><ul>{index}</ul>" if failing else "")
        + f"<h2>Scenarios</h2>{_legend()}"
        + "".join(sections)
        + "</body></html>\n"
    )


def _failure_item(c: results.Cell, anchors: dict[int, str]) -> str:
    """One failing cell in the page's index: its explaining sentences first, then the cell and, if flaky, its runs."""
    said = _unique(headline(r) for r in c.records if r["verdict"] != "pass" and headline(r))[:MAX_ITEMS]
    flaky = f"<br>flaky: {_e(c.differences)}" if c.flaky else ""
    return (
        f'<li><a href="#{anchors[id(c.records[0])]}">{_e(c.label)}</a>: '
        + "".join(f"<b>{_e(h)}</b><br>" for h in said)
        + f"{_e(c.text)} ({_STATUS_TEXT[c.status]}; {_e(declaration(c.records[0]))}){flaky}</li>"
    )


def write_html(report_dir: Path) -> Path:
    """Write ``report_dir/index.html`` from results.json and the kept histories; one file, no assets."""
    path = report_dir / "index.html"
    _replace(path, html_page(results.load(report_dir), report_dir))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.report", description=__doc__.splitlines()[0])
    parser.add_argument("report_dir", type=Path, help="a report directory holding results.json (--report-dir)")
    args = parser.parse_args(argv)
    print(write_markdown(results.load(args.report_dir), args.report_dir / "summary.md"))
    print(write_html(args.report_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
