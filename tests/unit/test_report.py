import html
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from clusters.events import Event
from clusters.observe import MemberView, Snapshot
from harness import report, results
from harness.checkers.availability import max_write_outage
from harness.checkers.logs import find_alarms, find_panics
from harness.history import FaultWindow, History, Operation
from harness.report import Bucket, Mark, Span

T0 = 1000.0


def ev(t, kind, pod=None, **detail):
    return Event(T0 + t, kind, pod, detail)


def spans(items):
    """Spans in seconds since T0, for readable expectations."""
    return [(round(s.start - T0, 3), round(s.end - T0, 3), s.state) for s in items]


# --- member states ------------------------------------------------------------------------------


def test_member_states_follow_a_crash_loop_back_off_and_restart():
    events = [
        ev(1, "pod-running", "etcd-0", uid=1),
        ev(1, "container-started", "etcd-0", uid=1, restart_count=0),
        ev(2, "pod-ready", "etcd-0", uid=1),
        ev(5, "pod-not-ready", "etcd-0", uid=1),
        ev(5.1, "container-exited", "etcd-0", uid=1, cause="crash", exit_code=1, restart_count=0),
        ev(5.1, "pod-not-ready", "etcd-0", uid=1),  # not-ready never turns an exited container into a running one
        ev(5.2, "back-off", "etcd-0", seconds=10, restart_count=1),
        ev(7, "container-started", "etcd-0", uid=1, restart_count=1),
        ev(8, "pod-ready", "etcd-0", uid=1),
        ev(9, "dns", None, records={}),
    ]
    assert spans(report.member_states(events, T0 + 10)["etcd-0"]) == [
        (1, 2, "running"),
        (2, 5, "ready"),
        (5, 5.1, "running"),
        (5.1, 5.2, "exited"),
        (5.2, 7, "back-off"),
        (7, 8, "running"),
        (8, 10, "ready"),
    ]


def test_member_states_keep_terminating_until_gone_and_ignore_the_predecessor_after_a_replacement():
    events = [
        ev(0, "pod-running", "etcd-1", uid=1),
        ev(1, "pod-ready", "etcd-1", uid=1),
        ev(3, "pod-deleting", "etcd-1", uid=1, grace=30),
        ev(3.5, "pre-stop", "etcd-1", exit_code=0, output=""),
        ev(4, "container-exited", "etcd-1", uid=1, cause="deleted", restart_count=0),
        ev(4.5, "pod-gone", "etcd-1", uid=1),
        ev(4.6, "pod-created", "etcd-1", uid=2),
        ev(4.6, "pod-scheduled", "etcd-1", uid=2, node="node-3"),
        ev(4.7, "pod-running", "etcd-1", uid=2),
        ev(4.7, "container-started", "etcd-1", uid=2, restart_count=0),
        ev(4.8, "pod-gone", "etcd-1", uid=1),  # late news of the old pod
        ev(6, "pod-ready", "etcd-1", uid=2),
    ]
    assert spans(report.member_states(events, T0 + 10)["etcd-1"]) == [
        (0, 1, "running"),
        (1, 3, "ready"),
        (3, 4.5, "terminating"),
        (4.5, 4.6, "gone"),
        (4.6, 4.7, "pending"),
        (4.7, 6, "running"),
        (6, 10, "ready"),
    ]


def test_member_states_of_a_pod_scaled_away_end_gone():
    events = [ev(0, "pod-created", "etcd-3", uid=4), ev(1, "pod-running", "etcd-3", uid=4)]
    events += [ev(2, "pod-deleting", "etcd-3", uid=4), ev(3, "pod-gone", "etcd-3", uid=4)]
    assert spans(report.member_states(events, T0 + 5)["etcd-3"]) == [
        (0, 1, "pending"),
        (1, 2, "running"),
        (2, 3, "terminating"),
        (3, 5, "gone"),
    ]


# --- marks --------------------------------------------------------------------------------------


def test_marks_split_exits_like_the_crash_loop_check_and_spread_multi_pod_steps():
    events = [
        ev(1, "container-exited", "etcd-0", uid=1, cause="crash", exit_code=1, log="/x/0.log", restart_count=0),
        ev(2, "container-exited", "etcd-0", uid=1, cause="fault", exit_code=137, restart_count=1),
        ev(3, "container-exited", "etcd-0", uid=1, cause="liveness-probe", exit_code=143, restart_count=2),
        ev(4, "container-started", "etcd-0", uid=1, restart_count=0),
        ev(5, "container-started", "etcd-0", uid=1, restart_count=3),
        ev(6, "fault-step", "etcd-0,etcd-1", action="delete"),
        ev(7, "fault-step", None, action="cordon", node="node-1"),
        ev(8, "dns", None, records={"10.0.0.1": "etcd"}),
        ev(9, "dns-cached", "etcd-2", stale_ip="10.0.0.3", new_ip="10.0.0.9", seconds=30),
    ]
    found = report.marks(events)
    assert [m.kind for m in found["etcd-0"]] == ["crash", "exit", "crash", "restart", "fault"]
    assert [m.kind for m in found["etcd-1"]] == ["fault"]
    assert [(m.kind, m.label) for m in found[None]] == [("fault", "fault-step: action=cordon, node=node-1")]
    assert found["etcd-2"] == [Mark(T0 + 9, "dns", "dns-cached etcd-2: stale_ip=10.0.0.3, new_ip=10.0.0.9, seconds=30")]
    assert "uid" not in found["etcd-0"][0].label and "/x/0.log" not in found["etcd-0"][0].label


# --- observations: leaders and etcd answers ---------------------------------------------------------


def views(leader=0, n=3):
    members = tuple((f"id{i}", f"etcd-{i}", False) for i in range(n))
    return [
        MemberView(f"etcd-{i}", f"http://10.0.0.{i}:2379", f"id{i}", "c1", f"id{leader}", False, members)
        for i in range(n)
    ]


def snap(t, views_):
    return Snapshot(T0 + t, 3, tuple(views_))


def test_sampled_spans_hold_each_observation_until_the_next_but_at_most_max_gap():
    samples = [(0, "a", ""), (1, "a", ""), (2, "b", ""), (10, "b", ""), (11, "", ""), (12, "c", "why")]
    got = report.sampled_spans(samples, end=13, max_gap=2)
    assert got == [Span(0, 2, "a"), Span(2, 4, "b"), Span(10, 11, "b"), Span(12, 13, "c", "why")]


def test_leader_spans_show_changes_gaps_split_claims_and_no_leader():
    split = views(0)
    split[1] = replace(split[1], leader="id1")
    dead = [replace(v, error="connection refused") for v in views(1)]
    snapshots = [
        snap(0, views(0)),
        snap(0.5, views(0)),
        snap(1, views(1)),
        snap(10, split),
        snap(10.5, dead),
        snap(11, views(2)),
    ]
    assert spans(report.leader_spans(snapshots, T0 + 12)) == [
        (0, 1, "etcd-0"),
        (1, 3, "etcd-1"),  # the next snapshot is 9 s later: only 2 s are known
        (10, 10.5, "etcd-0+etcd-1"),
        (10.5, 11, "none"),
        (11, 12, "etcd-2"),
    ]


def test_view_spans_say_what_each_member_answered_and_stop_where_it_was_missing():
    learner = views(0)
    learner[2] = replace(learner[2], is_learner=True)
    broken = views(0)
    broken[1] = replace(broken[1], error="timed out")
    snapshots = [snap(0, views(0)), snap(1, learner), snap(2, broken), snap(3, views(0)[:2]), snap(4, views(0))]
    got = report.view_spans(snapshots, T0 + 5)
    assert spans(got["etcd-1"]) == [(0, 2, "member"), (2, 3, "error"), (3, 5, "member")]
    assert got["etcd-1"][1].detail == "timed out"
    assert spans(got["etcd-2"]) == [(0, 1, "member"), (1, 2, "learner"), (2, 3, "member"), (4, 5, "member")]


# --- operations ----------------------------------------------------------------------------------


def op(invoke, complete, outcome):
    return Operation("writer-0", "put", f"/k/{invoke}", "v", "http://e", invoke, complete, outcome)


def test_bucket_operations_count_by_completion_and_outcome():
    ops = [op(0.1, 0.2, "ok"), op(0.3, 1.4, "unknown"), op(1.5, 1.6, "fail"), op(1.7, None, None), op(-1, -0.5, "ok")]
    ops.append(op(3.5, 4.5, "ok"))  # completed after the end: last bucket
    assert report.bucket_operations(ops, 0, 4, 2) == [Bucket(0, 2, 2, 1, 2), Bucket(2, 4, 1, 0, 0)]


def test_ten_thousand_operations_make_at_most_max_buckets_columns():
    ops = [op(i * 0.01, i * 0.01 + 0.005, "ok" if i % 50 else "fail") for i in range(10_000)]
    count = report.bucket_count(100.0)
    buckets = report.bucket_operations(ops, 0, 100, count)
    assert count == len(buckets) == report.MAX_BUCKETS
    assert sum(b.ok for b in buckets) == 9800 and sum(b.fail for b in buckets) == 200


@pytest.mark.parametrize(("duration", "count"), [(0.0, 1), (0.2, 1), (30.0, 60), (30.1, 61), (3600.0, 160)])
def test_bucket_count_is_half_seconds_up_to_a_limit(duration, count):
    assert report.bucket_count(duration) == count


def history(**kw):
    defaults = {"meta": {"started": T0, "ended": T0 + 30, "outage_budget": 5.0}}
    return History(**{**defaults, **kw})


def test_longest_write_gap_is_where_the_quorum_check_measured():
    ops = [op(T0 + t, T0 + t + 0.01, "ok") for t in (1, 2, 3, 4, 12, 13)] + [op(T0 + 5, T0 + 6, "unknown")]
    fault = FaultWindow("pod-delete", ["etcd-0"], T0 + 3.5, T0 + 4.5, T0 + 3.6)
    h = history(meta={"started": T0, "ended": T0 + 14}, operations=ops, faults=[fault])
    gap = report.longest_write_gap(h)
    assert (round(gap.start - T0, 2), round(gap.end - T0, 2)) == (4.01, 12.01)
    assert gap.end - gap.start == pytest.approx(max_write_outage(h))


def test_outage_story_tells_the_pods_and_the_leader_of_the_quorum_lost_stretch(make_snapshot, make_views):
    ops = [op(T0 + t, T0 + t + 0.01, "ok") for t in (1, 2, 3, 12, 13)]
    fault = FaultWindow("simultaneous-rebuild", ["etcd-0", "etcd-1"], T0 + 3.5, T0 + 4.5, T0 + 4.5)
    exit_ = {"uid": "a", "cause": "deleted"}
    events = [
        Event(T0 + 0.5, "pod-ready", "etcd-0", {"uid": "a"}),  # long before: not told
        Event(T0 + 3.5, "pod-deleting", "etcd-0", {"uid": "a", "grace": 30}),
        Event(T0 + 4.0, "container-exited", "etcd-0", exit_),
        Event(T0 + 8.0, "container-started", "etcd-0", {"uid": "b"}),
        Event(T0 + 9.0, "volume-wiped", "etcd-0", {}),  # not a pod's lifecycle
    ]
    snapshots = [make_snapshot(make_views(leader=2), time=T0 + 10), make_snapshot(make_views(leader=2), time=T0 + 11)]
    h = history(meta={"started": T0, "ended": T0 + 14}, operations=ops, faults=[fault], events=events, snapshots=snapshots)
    assert report.outage_story(h) == (
        "3.5 etcd-0 deleting; 4.0 etcd-0 exited (deleted); 8.0 etcd-0 started; leader: etcd-2 10.0-13.0"
    )


def test_log_tail_takes_the_last_lines_of_the_last_run_that_logged():
    runs = ["first run\nbye", "a\n" + "b" * 500 + "\nc\n", "  \n"]
    assert report.log_tail(runs, lines=2, width=10) == "b" * 10 + "\nc"
    assert report.log_tail([]) == ""


def test_group_panics_counts_repeats_per_member_and_message():
    line = '{"level":"fatal","ts":"t","msg":"discovery failed"}'
    panics = find_panics({"etcd-1": [line, line, '{"level":"panic","msg":"other"}'], "etcd-2": [line]})
    assert [(p.pod, p.message, n) for p, n in report.group_panics(panics)] == [
        ("etcd-1", "discovery failed", 2),
        ("etcd-1", "other", 1),
        ("etcd-2", "discovery failed", 1),
    ]


REMOVED = '{"level":"warn","msg":"server error","error":"the member has been permanently removed from the cluster"}'


def test_alarm_excerpt_is_the_log_around_the_line_find_alarms_found():
    runs = ["quiet run\n", f"one\ntwo\nthree\nfour\n{REMOVED}\nafter\nlater\n{REMOVED}"]
    (alarm,) = find_alarms({"etcd-1": runs})
    assert report.alarm_excerpt(runs, alarm.run, alarm.label) == f"two\nthree\nfour\n{REMOVED}\nafter"
    assert report.alarm_excerpt(runs, alarm.run, alarm.label, before=0, after=0, width=12) == REMOVED[:12]
    assert report.alarm_excerpt(runs, 0, alarm.label) == ""  # not in that run
    assert report.alarm_excerpt(runs, 5, alarm.label) == ""  # a run the history does not have
    assert report.alarm_excerpt(runs, 1, "no-such-label") == ""


def test_group_alarms_keeps_the_first_run_of_each_member_and_label():
    alarms = [
        {"member": "etcd-0", "run": 0, "label": "removed-member", "line": "peer became inactive"},
        {"member": "etcd-0", "run": 1, "label": "removed-member", "line": "server error"},
        {"member": "etcd-0", "run": 1, "label": "data-dir-broken", "line": "no snapshot"},
        {"member": "etcd-1", "run": 2, "label": "removed-member", "line": "server error"},
    ]
    assert [(a["member"], a["label"], a["line"], n) for a, n in report.group_alarms(alarms)] == [
        ("etcd-0", "removed-member", "peer became inactive", 2),
        ("etcd-0", "data-dir-broken", "no snapshot", 1),
        ("etcd-1", "removed-member", "server error", 1),
    ]


# --- rendering ----------------------------------------------------------------------------------

EVIL = "<script>alert('x')</script>"
PANIC = '{"level":"panic","ts":"2026-01-01T00:00:00Z","msg":"tocommit(37) is out of range ' + EVIL + '"}'


def busy_history(n_ops=300):
    """A 30 s scenario: a leader kill at 10 s, a member that crash-loops with a hostile log."""
    ops = [op(T0 + i * 0.1, T0 + i * 0.1 + 0.01, "ok") for i in range(n_ops)]
    ops += [op(T0 + 11, T0 + 12, "unknown"), op(T0 + 12, T0 + 12.1, "fail")]
    events = [ev(0, "pod-running", f"etcd-{i}", uid=i) for i in range(3)]
    events += [ev(1, "pod-ready", f"etcd-{i}", uid=i) for i in range(3)]
    events += [ev(10, "fault-step", "etcd-0", action="SIGKILL etcd")]
    for k, t in enumerate((10.1, 14, 20)):
        events += [ev(t, "container-exited", "etcd-0", uid=0, cause="crash", exit_code=2, restart_count=k)]
        events += [ev(t + 0.1, "back-off", "etcd-0", seconds=2, restart_count=k + 1)]
        events += [ev(t + 2, "container-started", "etcd-0", uid=0, restart_count=k + 1)]
    snapshots = [snap(t, views(0 if t < 10 else 1)) for t in (9, 12, 12.5, 13, 29)]
    return history(
        operations=ops,
        events=events,
        snapshots=snapshots,
        faults=[FaultWindow("leader-kill", ["etcd-0"], T0 + 10, T0 + 11, T0 + 10.05, error=f"heal: {EVIL}")],
        logs={"etcd-0": ["started\n" + PANIC + "\npanic: tocommit(37)\n", "again\n" + EVIL + "\nexit 2"]},
    )


def test_svg_is_well_formed_xml_and_escapes_everything_from_the_history():
    text = report.svg(report.timeline(busy_history()))
    root = ET.fromstring(text)
    assert root.tag == "svg"
    assert "<script" not in text
    titles = [el.text or "" for el in root.iter("title")]
    assert any(EVIL in t for t in titles)  # the fault error survives, as text
    labels = [el.text for el in root.iter("text")]
    assert {"faults", "operations", "leader", "etcd-0", "etcd-1", "etcd-2"} <= set(labels)


def test_svg_of_ten_thousand_operations_stays_small():
    text = report.svg(report.timeline(busy_history(n_ops=10_000)))
    ET.fromstring(text)
    assert len(text) < 40_000


def test_timeline_keeps_troubled_calls_one_by_one_only_when_few():
    few = report.timeline(busy_history())
    assert [o.outcome for o in few.troubled] == ["unknown", "fail"]
    many = busy_history()
    many.operations += [op(T0 + 20 + i * 0.01, T0 + 20.5, "fail") for i in range(report.MAX_TROUBLED)]
    assert report.timeline(many).troubled == []
    assert report.timeline(many).members == ["etcd-0", "etcd-1", "etcd-2"]


def record(strategy="s", fault="f", verdict="pass", expected="pass", reasons=(), report_path=None, **kw):
    base = {
        "strategy": strategy,
        "fault": fault,
        "backend": "local",
        "etcd_version": "3.5.1",
        "seed": 1,
        "steps": [{"fault": fault, "targets": ["etcd-0"], "error": None, "skipped": None}],
        "verdict": verdict,
        "expected": expected,
        "reasons": list(reasons),
        "panics": [],
        "crash_loops": [],
        "max_write_outage_s": 0.1,
        "recovery_s": None if verdict == "fail" else 1.0,
        "problems_at_end": [],
        "fault_errors": [],
        "duration_s": 30.0,
        "report": report_path,
    }
    return {**base, **kw}


@pytest.fixture
def report_dir(tmp_path):
    """A kept report as a run leaves it, but recorded elsewhere: the renderer must find it by name."""
    root = tmp_path / "chaos-report"
    failing = root / "scenarios" / "test_x_seed-wipe-inplace-restart"
    busy_history().save(failing)
    (failing / "logs").mkdir()
    (failing / "logs" / "etcd-0-uid0-run0.log").write_text(PANIC)
    history(events=[ev(0, "pod-running", "etcd-0", uid=0)]).save(root / "scenarios" / "test_x_static-pod-delete")
    records = [
        record(
            "seed-wipe",
            "inplace-restart",
            "fail",
            reasons=["panic", "crash-loop", "not-recovered", "fault-incomplete"],
            report_path="/elsewhere/scenarios/test_x_seed-wipe-inplace-restart",
            panics=[{"member": "etcd-0", "message": "tocommit(37) is out of range " + EVIL, "time": "t"}],
            crash_loops=[{"member": "etcd-0", "crashes": 3}],
            problems_at_end=["etcd-0: [Errno 111] Connection refused"],
            fault_errors=[f"leader-kill: heal: {EVIL}"],
        ),
        record("static", "pod-delete", report_path=str(root / "scenarios" / "test_x_static-pod-delete")),
        record("static", "inplace-restart", "fail", "fail", ["not-recovered"]),
    ]
    results.write(records, root)
    return root


class TagBalance(HTMLParser):
    """Every element that must be closed is closed, in order; counts script elements."""

    VOID = frozenset({"meta", "br", "img", "input", "hr", "link"})  # SVG elements close with "/>" or a tag

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.scripts = 0
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        self.ids += [v for k, v in attrs if k == "id"]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.ids += [v for k, v in attrs if k == "id"]

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (self.stack[-5:], tag)
        self.stack.pop()


def test_html_is_one_well_formed_self_contained_page_with_escaped_logs(report_dir):
    path = report.write_html(report_dir)
    assert path == report_dir / "index.html"
    page = path.read_text()
    parser = TagBalance()
    parser.feed(page)
    parser.close()
    assert parser.stack == [] and parser.scripts == 0
    assert len(parser.ids) == len(set(parser.ids)) == 3
    assert EVIL not in page and "&lt;script&gt;" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # no external assets
    for fragment in re.findall(r"<svg.*?</svg>", page, re.DOTALL):
        ET.fromstring(fragment)
    assert page.count("<svg") == 2  # the scenario without a kept history has no picture


def test_html_matrix_links_cells_to_sections_and_marks_them_by_status(report_dir):
    page = report.write_html(report_dir).read_text()
    cells = dict(re.findall(r'<td class="(\w+)"><a href="#([^"]+)"', page))
    assert set(cells) == {"unexpected", "pass", "declared"}
    for anchor in cells.values():
        assert f'id="{anchor}"' in page
    assert 'href="scenarios/test_x_seed-wipe-inplace-restart/history.json"' in page
    assert 'href="scenarios/test_x_seed-wipe-inplace-restart/logs/etcd-0-uid0-run0.log"' in page
    assert "tocommit(37) is out of range &lt;script&gt;" in page  # the panic's excerpt from the log
    assert "exit 2" in page  # the crash-looping member's last log lines
    assert "no history kept" in page


def test_html_of_a_multi_run_cell_links_every_run(tmp_path):
    records = [record("s", "f", report_path=f"/x/scenarios/run{i}") for i in range(3)]
    page = report.html_page(records, tmp_path)
    assert 'pass 3/3</a><a class="run" href="#s0-run0">1</a>' in page
    assert "s × f run 3/3" in page


def test_markdown_has_the_shared_matrix_and_a_block_per_cell_worth_a_look(report_dir):
    records = results.load(report_dir)
    path = report.write_markdown(records, report_dir / "summary.md")
    text = path.read_text()
    for row in results.table(records):
        assert "| " + " | ".join(report._md_escape(value) for value in row) + " |" in text
    blocks = text.split("### ")[1:]
    assert [b.splitlines()[0] for b in blocks] == [
        "seed-wipe × inplace-restart: unexpected",
        "static × inplace-restart: declared failure",
    ]
    first = blocks[0]
    assert "FAIL(panic, crash-loop, not-recovered, fault-incomplete) in 1 of 1 runs; no declaration (expected to pass)" in first
    assert "panics: etcd-0: tocommit(37) is out of range \\<script>" in first
    assert "crash loops: etcd-0 (3 crashes)" in first
    assert "at the end: etcd-0: [Errno 111] Connection refused" in first
    assert "fault errors: leader-kill: heal:" in first
    assert "`scenarios/test_x_seed-wipe-inplace-restart/history.json`" in first
    assert EVIL not in text


def test_markdown_stays_short_however_many_cells_fail(tmp_path):
    noisy = {"problems_at_end": [f"problem {i} " + "x" * 400 for i in range(50)]}
    records = [record(f"s{i}", "f", "fail", reasons=["not-recovered"], **noisy) for i in range(100)]
    text = report.markdown(records, tmp_path)
    assert text.count("### ") == report.MAX_BLOCKS
    assert f"… and {100 - report.MAX_BLOCKS} more cells" in text
    block = text.split("### ")[1]
    assert len(block.splitlines()) <= 6
    assert max(len(line) for line in block.splitlines()) <= report.LINE_CHARS + 20
    assert len(text.encode()) < 100_000


def test_markdown_of_a_declared_failure_that_passed(tmp_path):
    text = report.markdown([record("s", "f", "pass", "fail")], tmp_path)
    assert "### s × f: unexpected" in text and "passed all 1 runs; declared to fail" in text
    assert "| s | pass ! |" in text


def test_cli_rerenders_both_files_from_disk(report_dir, capsys):
    assert report.main([str(report_dir)]) == 0
    assert capsys.readouterr().out.split() == [str(report_dir / "summary.md"), str(report_dir / "index.html")]
    first = (report_dir / "index.html").read_text()
    records = json.loads((report_dir / "results.json").read_text())
    records.append(record("static", "scale"))
    results.write(records, report_dir)
    report.main([str(report_dir)])
    assert (report_dir / "index.html").read_text() != first
    assert "static × scale" in (report_dir / "index.html").read_text()
    header = next(
        line for line in (report_dir / "summary.md").read_text().splitlines() if line.startswith("| strategy")
    )
    assert header.endswith("| scale |")
    assert sorted(p.name for p in report_dir.iterdir()) == ["index.html", "results.json", "scenarios", "summary.md"]


# --- the data checks' findings, on the page and in the summary -----------------------------------------

NOT_LINEARIZABLE = (
    f"key /k/0: not linearizable: get by client-1 read {EVIL}, but 'b' was acknowledged before\n"
    "  at 7.9 s the key held 'b', as far as acknowledged writes tell\n"
    "  client-0 put 'b', ok, 7.8–7.9 s on http://10.0.0.1:2379\n"
    f"  client-1 get -> {EVIL}, ok, 8.0–8.1 s on http://10.0.0.2:2379   <- cannot be linearized"
)
# Each finding: the record fields that carry it, what must be on the page (escaped), the summary's line.
FINDINGS = {
    "lost writes": (
        {"lost_writes": 1749, "lost_write_examples": [f"/k/1: client-3 put {EVIL} is lost", "/k/2: client-0 put"]},
        [
            "<h4>acknowledged writes lost (1749)</h4><p>1749 in all, the first 2 here:</p>",
            f"<li>/k/1: client-3 put {html.escape(EVIL)} is lost</li><li>/k/2: client-0 put</li>",
        ],
        "- lost writes: 1749, e.g. /k/1: client-3 put \\<script>",
    ),
    "not linearizable": (
        {"not_linearizable": [NOT_LINEARIZABLE]},
        ["<h4>not linearizable (1)</h4>", f"<pre>{html.escape(NOT_LINEARIZABLE)}</pre>"],
        (  # the first line only
            "- not linearizable: 1, e.g. key /k/0: not linearizable: get by client-1 read \\<script>alert('x')"
            "\\</script>, but 'b' was acknowledged before\n"
        ),
    ),
    "linearizability undecided": (
        {"linearizability_unknown": [f"key /k/3: unknown (search gave up {EVIL}; 900 operations)"]},
        ["<h4>linearizability undecided (1)</h4>", f"<li>key /k/3: unknown (search gave up {html.escape(EVIL)}"],
        "- linearizability undecided: 1, e.g. key /k/3: unknown (search gave up \\<script>",
    ),
    "one cluster": (
        {"one_cluster": [f"split-brain: etcd-0 and etcd-1 hold {EVIL}", "behind: etcd-0 ends at revision 5"]},
        [
            "<h4>two clusters / one cluster (2)</h4>",
            f"<li>split-brain: etcd-0 and etcd-1 hold {html.escape(EVIL)}</li>",
            "<li>behind: etcd-0 ends at revision 5</li>",
        ],
        "- one cluster: 2, e.g. split-brain: etcd-0 and etcd-1 hold \\<script>",
    ),
    "revisions went back": (
        {"revision_regressions": [f"client-0 saw revision 3 after 5: {EVIL}"]},
        ["<h4>revisions went back (1)</h4>", f"<li>client-0 saw revision 3 after 5: {html.escape(EVIL)}</li>"],
        "- revisions went back: 1, e.g. client-0 saw revision 3 after 5: \\<script>",
    ),
    "log alarms": (
        {
            "alarms": [
                {"member": "etcd-1", "run": 0, "label": "removed-member", "line": f"removed {EVIL}"},
                {"member": "etcd-1", "run": 1, "label": "removed-member", "line": f"removed {EVIL}"},
                {"member": "etcd-1", "run": 2, "label": "removed-member", "line": f"removed {EVIL}"},
            ]
        },
        [
            "<h4>log alarms</h4>",
            f"<p>removed-member: etcd-1 (container run 1, and in 2 later runs): removed {html.escape(EVIL)}</p>",
        ],
        "- alarms: etcd-1 (removed-member): removed \\<script>alert('x')\\</script>\n",  # said once
    ),
    "crash-loop cause": (
        {"crash_loops": [{"member": "etcd-2", "crashes": 3, "cause": f"removed {EVIL}"}]},
        ["<h4>crash loops</h4>", f"<p>etcd-2 (3 crashes: removed {html.escape(EVIL)})</p>"],
        "- crash loops: etcd-2 (3 crashes: removed \\<script>",
    ),
}


def rendered(fields):
    """One failing record with ``fields``: its page section (no history kept) and its summary block."""
    rec = record("s", "f", "fail", reasons=["not-recovered"], **fields)
    page = report.scenario_section(rec, None, "a", "s × f", "")
    block = "\n".join(report.failure_block(results.Cell("s", "f", (rec,)), Path("/nowhere")))
    return page, block + "\n"


@pytest.mark.parametrize("name", FINDINGS)
def test_each_finding_is_shown_escaped_on_the_page_and_in_the_summary(name):
    fields, fragments, line = FINDINGS[name]
    page, block = rendered(fields)
    for fragment in fragments:
        assert fragment in page
    assert line in block
    assert EVIL not in page and EVIL not in block
    parser = TagBalance()
    parser.feed(page)
    assert parser.stack == [] and parser.scripts == 0


@pytest.mark.parametrize("name", FINDINGS)
def test_a_record_without_a_finding_shows_no_section_for_it(name):
    _, fragments, line = FINDINGS[name]
    heading = fragments[0].split("</h4>")[0].split(" (")[0]
    summary_name = line.split(":")[0]
    page, block = rendered({"lost_writes": 0, "lost_write_examples": [], "alarms": [], "one_cluster": []})
    assert heading not in page
    assert summary_name + ":" not in block


def test_the_summary_line_of_a_finding_is_clipped_and_counts_over_the_failed_runs():
    long = {"lost_writes": 7, "lost_write_examples": ["x" * 2000]}
    runs = (
        record("s", "f", "fail", reasons=["lost-writes"], **long),
        record("s", "f", "fail", reasons=["lost-writes"], lost_writes=3, lost_write_examples=["y"]),
        record("s", "f", "pass", lost_writes=100, lost_write_examples=["z"]),  # a passing run is not a failure
    )
    block = report.failure_block(results.Cell("s", "f", runs), Path("/nowhere"))
    (line,) = [line for line in block if line.startswith("- lost writes:")]
    assert line.startswith("- lost writes: 10, e.g. xxx") and line.endswith("…")
    assert len(line) <= report.LINE_CHARS + 20


def test_alarms_show_the_log_around_them_when_the_history_is_kept():
    runs = ["started", "\n".join(["boot", "peers", f"dial {EVIL}", REMOVED, "exiting", "gone for good"])]
    h = history(logs={"etcd-1": runs})
    (alarm,) = find_alarms(h.logs)
    rec = record(alarms=[{"member": alarm.pod, "run": alarm.run, "label": alarm.label, "line": alarm.line}])
    page = report.scenario_section(rec, h, "a", "t", "")
    excerpt = "\n".join(["boot", "peers", f"dial {EVIL}", REMOVED, "exiting"])
    assert "(container run 2): server error: the member has been permanently removed" in page
    assert f"<pre>{html.escape(excerpt)}</pre>" in page
    assert "gone for good" not in page and EVIL not in page
    assert "<pre>" not in report.scenario_section(rec, None, "a", "t", "")  # no history, no excerpt


def test_facts_show_quorum_as_a_percentage_and_the_operations_only_when_recorded():
    page = report.scenario_section(record(quorum_fraction=0.9766, operations=5165, backend=EVIL), None, "a", "t", "")
    facts = re.search(r'<p class="facts">(.*?)</p>', page).group(1)
    assert "quorum 97.7% of the time · " in facts and "5165 operations" in facts
    assert "longest time without a commit 0.1 s" in facts and "&lt;script&gt;" in facts and EVIL not in facts
    old = re.search(r'<p class="facts">(.*?)</p>', report.scenario_section(record(), None, "a", "t", "")).group(1)
    assert "quorum" not in old and "operations" not in old


def test_facts_name_the_members_whose_release_changed():
    upgraded = {"etcd-0": [[1.0, "3.5.1"]], "etcd-2": [[1.0, "3.5.1"], [41.25, "3.6.16"]]}
    page = report.scenario_section(record(etcd_version="3.5.1", member_releases=upgraded), None, "a", "t", "")
    facts = re.search(r'<p class="facts">(.*?)</p>', page).group(1)
    assert facts.endswith("etcd 3.5.1 (etcd-2 3.5.1, 3.6.16 from 41.25 s)")
    same = report.scenario_section(record(etcd_version="3.5.1", member_releases={"etcd-0": [[1.0, "3.5.1"]]}), None, "a", "t", "")
    assert re.search(r'<p class="facts">(.*?)</p>', same).group(1).endswith("etcd 3.5.1")


def test_a_page_with_every_finding_is_well_formed(tmp_path):
    fields = {}
    for extra, _, _ in FINDINGS.values():
        fields.update(extra)
    page = report.html_page([record("s", "f", "fail", reasons=["lost-writes"], **fields)], tmp_path)
    parser = TagBalance()
    parser.feed(page)
    parser.close()
    assert parser.stack == [] and parser.scripts == 0 and EVIL not in page
    assert [h for h in re.findall(r"<h4>([^<(]+)", page)] == [
        "crash loops",
        "log alarms",
        "acknowledged writes lost ",
        "not linearizable ",
        "linearizability undecided ",
        "two clusters / one cluster ",
        "revisions went back ",
    ]


# --- what explains a failure comes first; declarations, undecided and flaky cells said plainly -------

SPLIT_HEADLINE = "two clusters acknowledged revision 21 with different contents: /k: c1 put 'a' -> etcd-0"


def test_the_headline_comes_first_on_the_page_in_the_index_and_in_the_summary(tmp_path):
    rec = record("s", "f", "fail", reasons=["lost-writes", "split-brain"], headline=SPLIT_HEADLINE,
                 lost_writes=30, lost_write_examples=["/k: lost"], one_cluster=["split-brain: x"])
    page = report.html_page([rec], tmp_path)
    section = page[page.index('<section class="scenario"'):]
    assert section.index(html.escape(SPLIT_HEADLINE)) < section.index('<p class="facts">') < section.index("<h4>")
    index = page[page.index("<h2>Failures</h2>"):page.index("<h2>Scenarios</h2>")]
    assert f"<b>{html.escape(SPLIT_HEADLINE)}</b>" in index
    block = report.failure_block(results.Cell("s", "f", (rec,)), tmp_path)
    assert block[2] == f"- **{report._md_escape(SPLIT_HEADLINE)}**"
    assert "-> etcd-0" in block[2] and "&gt;" not in "\n".join(block)


def test_a_record_from_before_headlines_renders_without_one(tmp_path):
    rec = record("s", "f", "fail", reasons=["panic"])
    assert 'class="headline"' not in report.html_page([rec], tmp_path)
    assert report.failure_block(results.Cell("s", "f", (rec,)), tmp_path)[2].startswith("- FAIL(panic) in 1 of 1 runs")


@pytest.mark.parametrize(
    ("rec", "said"),
    [
        (record(), "no declaration (expected to pass)"),
        (record(expected="fail"), "declared to fail"),  # a record from before the reason was kept
        (record(expected="fail", declared={"reason": "panic", "why": "w", "sometimes": False}), "declared to fail for panic"),
        (
            record(expected="sometimes", declared={"reason": "quorum-lost", "why": "w", "sometimes": True}),
            "declared to fail sometimes for quorum-lost",
        ),
    ],
)
def test_the_declaration_is_said_in_words(rec, said):
    assert report.declaration(rec) == said
    facts = re.search(r'<p class="facts">(.*?)</p>', report.scenario_section(rec, None, "a", "t", "")).group(1)
    assert facts.startswith(html.escape(said) + " · ")
    assert "declared: pass" not in facts


def test_a_failure_for_another_reason_than_declared_is_unexpected_everywhere(tmp_path):
    declared = {"reason": "panic", "why": "w", "sometimes": False}
    rec = record("s", "f", "fail", expected="fail", reasons=["quorum-lost"], declared=declared)
    assert results.Cell("s", "f", (rec,)).status == "unexpected"
    text = report.markdown([rec], tmp_path)
    assert "FAIL(quorum-lost) !" in text and "### s × f: unexpected" in text and "1 differ from" in text
    assert '<td class="unexpected">' in report.html_page([rec], tmp_path)


def test_an_undecided_run_is_neither_a_pass_nor_a_failure(tmp_path):
    rec = record("s", "f", "undecided", reasons=["undecided"], headline="could not decide: key /k: unknown",
                 undecided=["key /k: unknown (search budget exceeded: 5 states; 9 operations)"])
    text = report.markdown([rec], tmp_path)
    assert "1 scenarios: 0 passed, 0 failed, 1 undecided, 1 differ" in text
    assert "| s | UNDECIDED(undecided) ! |" in text
    assert "- UNDECIDED(undecided) in 1 of 1 runs; no declaration (expected to pass)" in text
    assert "- could not decide: key /k: unknown (search budget exceeded" in text
    page = report.html_page([rec], tmp_path)
    assert "UNDECIDED (unexpected)" in page


def test_a_flaky_cell_says_how_its_runs_differed_in_both_reports(tmp_path):
    runs = [record(), record(verdict="fail", reasons=["quorum-lost"]), record()]
    text = report.markdown(runs, tmp_path)
    assert "| s | FAIL(quorum-lost) 2/3 ~ ! |" in text
    assert "- flaky: runs 1, 3: pass; run 2: FAIL(quorum-lost)" in text
    assert "1 flaky cells (marked ~)" in text
    page = report.html_page(runs, tmp_path)
    assert 'title="flaky: runs 1, 3: pass; run 2: FAIL(quorum-lost)"' in page
    assert "<br>flaky: runs 1, 3: pass; run 2: FAIL(quorum-lost)</li>" in page
    assert "flaky" not in report.markdown([record(), record()], tmp_path).split("\n\n", 2)[2]


def test_markdown_escaping_needs_no_html_entities():
    assert report._md_escape("a -> b & <c> | `d` *e*") == "a -> b \\& \\<c> \\| 'd' \\*e\\*"
    assert report._md_escape("C:\\<x>") == "C:\\\\\\<x>"  # a backslash cannot undo the escape after it
