"""What the members' own logs and the kubelet's container exits say went wrong.

A panic is the seed's failure mode, and a container that keeps exiting on its
own is how it looks from Kubernetes (CrashLoopBackOff). Alarms are the lines
etcd writes when a member is refused by, or refuses, its cluster: they are
usually the cause of a crash loop, and a cluster ID mismatch means a second
cluster is talking to the first. A restart back-off still pending at the end
says the kubelet, not etcd, kept a member away.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from clusters.events import Event

# etcd's own ways of dying: zap JSON levels (3.4+), Go's panic banner, capnslog
# critical lines (3.2/3.3), and the raft panic of the seed incident.
_PANIC_JSON = re.compile(r'"level":"(panic|fatal|dpanic)"')
_PANIC_TEXT = re.compile(
    r"^(panic: .*|fatal error: .*|\d{4}-\d\d-\d\d [\d:.]+ C \| .*|.*tocommit\(\d+\) is out of range.*)$"
)

ALARMS: dict[str, re.Pattern[str]] = {
    # A member started as new on a member ID its cluster already knows as started.
    "already-bootstrapped": re.compile(r"has already been bootstrapped"),
    # Two clusters: a peer's requests carry another cluster's ID (rafthttp).
    "cluster-id-mismatch": re.compile(r"cluster ID mismatch"),
    # The member was removed while it was away and comes back under its old ID.
    "removed-member": re.compile(r"has been permanently removed from the cluster|data-dir used by this member must be removed"),
    # The flags and the data dir or the cluster disagree about who is a member.
    "membership-mismatch": re.compile(
        r"member count is unequal|couldn't find local name|unmatched member while checking PeerURLs|"
        r"error validating peerURLs"
    ),
    # The data dir is damaged or half there.
    "data-dir-broken": re.compile(r"failed to find database snapshot file|failed to recover v3 backend|database file .* does not exist"),
    # A peer refused to add the member (3.4/3.5 etcdserver.mayAddMember and the v3 cluster server): adding it
    # would leave too few started members for quorum, or a learner is not caught up.
    "member-add-rejected": re.compile(r"rejecting member add request|rejected member add|reconfigure breaks active quorum"),
    # etcd's own corruption checks (server/etcdserver/corrupt.go, 3.4 and 3.5): the initial check at start
    # ("found data inconsistency with peers", fatal), the leader's periodic and compaction hash checks, and
    # the CORRUPT alarm every member logs when it applies it (apply.go "alarm raised"; capnslog in 3.3).
    "corrupt": re.compile(
        r"found data inconsistency with peers|found hash mismatch|same compact revision then hashes must match|"
        r"failed compaction hash check|must be less than or equal to leader's|"
        r"\"alarm\":\"CORRUPT\"|alarm CORRUPT raised"
    ),
}
"""Lines that name why a member could not take part, by label."""


@dataclass(frozen=True)
class Panic:
    """The first panic or fatal line of one container run.

    ``where`` is the first etcd frame of its stack trace, since "nil pointer
    dereference" alone does not say which of etcd's known panics it was.
    ``leaving`` marks a process that had already applied its own removal from
    the cluster: it was exiting anyway, and what panicked was a request caught
    mid-way (etcd#21966: Maintenance/Status concurrent with the removal ends the
    process with exit code 2 instead of 0). The verdict reports those apart,
    since a removed member is no longer a member of the cluster.
    """

    pod: str
    run: int
    time: str
    message: str
    excerpt: str
    where: str = ""
    leaving: bool = False

    def describe(self) -> str:
        return f"{self.pod} panicked" + (f" in {self.where}" if self.where else "") + f": {self.message}"


@dataclass(frozen=True)
class Alarm:
    """The first line of one kind in one container run: the run is where to read on."""

    pod: str
    run: int
    label: str
    line: str


@dataclass(frozen=True)
class CrashLoop:
    pod: str
    crashes: int
    restart_count: int
    cause: str = ""  # the last panic or alarm of the pod, when one says why


def _panic_line(line: str) -> tuple[str, str] | None:
    """(time, message) if ``line`` says the process panicked or died fatally."""
    if _PANIC_JSON.search(line):
        try:
            entry = json.loads(line)
            return str(entry.get("ts", "")), str(entry.get("msg", line))
        except ValueError:
            return "", line.strip()
    match = _PANIC_TEXT.match(line.strip())
    return ("", match.group(1)) if match else None


def _message(line: str) -> str:
    """The readable part of a log line: zap's msg and error fields, or the line itself."""
    try:
        entry = json.loads(line)
    except ValueError:
        return line.strip()[:300]
    if not isinstance(entry, dict):
        return line.strip()[:300]
    parts = [str(entry.get(k)) for k in ("msg", "error") if entry.get(k)]
    return ": ".join(parts)[:300] or line.strip()[:300]


# A stack frame's function line: etcd's own packages (3.4+ and the older coreos path) and its raft.
_ETCD_FRAME = re.compile(r"^\s*((?:go\.etcd\.io|github\.com/coreos/etcd)/\S+?)(?:\(0x[^)]*\)|\(\.\.\.\)|\(\))?\s*$")
_LOGGER = re.compile(r"/zap|[Ll]ogger\)\.")  # the logger etcd panics through, not where it panicked
_MAJOR = re.compile(r"v\d+\.")
_FILE_LINE = re.compile(r"^\s*\S*/([^/\s]+\.go:\d+)")
_STACK_LINES = 60
"""How far past the panic line its stack trace is looked for."""

# A member applying its own removal: zap's "removed member" with its own ID, or capnslog's
# "removed member <id>" after "(re)starting member <id>" (etcd 3.4 without --logger=zap).
_LOCAL_ID = re.compile(r'"local-member-id":"([0-9a-f]+)"|(?:re)?starting member ([0-9a-f]+) in cluster')
_REMOVED = re.compile(r'"msg":"removed member".*"removed-remote-peer-id":"([0-9a-f]+)"|removed member ([0-9a-f]+) from cluster')


def _first_etcd_frame(lines: list[str]) -> str:
    """``package.Function (file.go:N)`` of the first etcd frame in a stack trace: Go's banner or zap's field."""
    for i, line in enumerate(lines):
        match = _ETCD_FRAME.match(line)
        if match and not _LOGGER.search(line):
            *path, function = match.group(1).split("/")
            if _MAJOR.match(function) and path:  # go.etcd.io/etcd/raft/v3.(*raftLog): the package is raft
                function = path[-1] + function[function.index(".") :]
            place = _FILE_LINE.match(lines[i + 1]) if i + 1 < len(lines) else None
            return f"{function} ({place.group(1)})" if place else function
    return ""


def _where(lines: list[str], at: int) -> str:
    try:
        stack = json.loads(lines[at]).get("stacktrace", "")
    except (ValueError, AttributeError):
        stack = ""
    return _first_etcd_frame(stack.splitlines() if stack else lines[at + 1 : at + _STACK_LINES])


def _removed_itself(lines: list[str]) -> bool:
    """Whether these lines show the process applying its own member's removal."""
    local = ""
    for line in lines:
        found = _LOCAL_ID.search(line)
        if found:
            local = found.group(1) or found.group(2)
        removed = _REMOVED.search(line)
        if removed and local and (removed.group(1) or removed.group(2)) == local:
            return True
    return False


def find_panics(logs: dict[str, list[str]]) -> list[Panic]:
    """The first panic or fatal line of each container run, with the lines before it."""
    found = []
    for pod, runs in sorted(logs.items()):
        for run, text in enumerate(runs):
            lines = text.splitlines()
            for i, line in enumerate(lines):
                hit = _panic_line(line)
                if hit:
                    excerpt = "\n".join(lines[max(0, i - 3) : i + 2])[-1500:]
                    found.append(
                        Panic(pod, run, hit[0], hit[1][:300], excerpt, _where(lines, i), _removed_itself(lines[:i]))
                    )
                    break
    return found


def find_alarms(logs: dict[str, list[str]]) -> list[Alarm]:
    """Each alarm label's first line in each container run, in log order."""
    found = []
    for pod, runs in sorted(logs.items()):
        for run, text in enumerate(runs):
            seen: set[str] = set()
            for line in text.splitlines():
                for label, pattern in ALARMS.items():
                    if label not in seen and pattern.search(line):
                        seen.add(label)
                        found.append(Alarm(pod, run, label, _message(line)))
    return found


_BACK_OFF = re.compile(r"back-off ((?:\d+(?:\.\d+)?(?:h|ms|m|s))+)")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


@dataclass(frozen=True)
class BackOff:
    """The kubelet holding a container down before its next restart (CrashLoopBackOff).

    The delay doubles with each restart (10 s up to 5 min) and is forgiven
    only after a run of 10 minutes, so a member killed often is kept away
    for minutes with nothing wrong in etcd: a verdict must say so.
    """

    pod: str
    since: float
    delay_s: float | None  # None when the kubelet's message gives none
    restart_count: int

    def describe(self, at: float) -> str:
        """``etcd-1 was held down by the kubelet's restart back-off (2m40s after 5 restarts, from 259.6 s): ...``."""
        delay = f"{self.delay_s:g} s" if self.delay_s is not None else "of unknown length"
        text = (f"{self.pod} was held down by the kubelet's restart back-off ({delay} after "
                f"{self.restart_count} restarts, from {self.since:.1f} s)")
        if self.delay_s is not None and self.since + self.delay_s > at:
            text += f": its next start was due at {self.since + self.delay_s:.1f} s, after the last look at {at:.1f} s"
        return text


def go_duration(text: str) -> float:
    """``2m40s`` -> 160.0: how the kubelet writes the back-off in its message."""
    return sum(float(n) * _SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


def pending_back_offs(events: Iterable[Event]) -> dict[str, BackOff]:
    """Per pod, the back-off its container was in when the events end: one not followed by a start of that container.

    A re-created pod (a new uid) starts with no back-off.
    """
    pending: dict[tuple[str, str], BackOff] = {}
    for event in events:
        container = str(event.detail.get("container", ""))
        if not event.pod:
            continue
        if event.kind == "pod-created":
            pending = {key: b for key, b in pending.items() if key[0] != event.pod}
        elif event.kind == "container-started":
            pending.pop((event.pod, container), None)
        elif event.kind == "back-off":
            said = _BACK_OFF.search(str(event.detail.get("message", "")))
            delay = go_duration(said.group(1)) if said else None
            pending[(event.pod, container)] = BackOff(event.pod, event.time, delay, int(event.detail.get("restart_count", 0)))
    return {pod: b for (pod, _), b in pending.items()}


def find_crash_loops(
    events: Iterable[Event], panics: Iterable[Panic] = (), alarms: Iterable[Alarm] = (), min_crashes: int = 2
) -> list[CrashLoop]:
    """Pods whose containers kept exiting on their own or by failed probes, not by a fault or a deletion.

    The cause is the last panic or alarm the pod logged, so a loop reads as
    "restarted 5 times: the member has been permanently removed" rather than
    as a count alone.
    """
    crashes: dict[str, int] = {}
    restarts: dict[str, int] = {}
    for event in events:
        if event.kind == "container-exited" and event.pod:
            restarts[event.pod] = int(event.detail.get("restart_count", 0)) + 1
            if event.detail.get("cause") not in ("fault", "deleted"):
                crashes[event.pod] = crashes.get(event.pod, 0) + 1
    causes: dict[str, tuple[int, str]] = {}
    for pod, run, text in [(p.pod, p.run, p.message) for p in panics] + [(a.pod, a.run, a.line) for a in alarms]:
        if run >= causes.get(pod, (-1, ""))[0]:
            causes[pod] = (run, text)
    return [
        CrashLoop(pod, n, restarts[pod], causes.get(pod, (0, ""))[1])
        for pod, n in sorted(crashes.items())
        if n >= min_crashes
    ]
