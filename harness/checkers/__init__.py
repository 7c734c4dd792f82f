"""The checkers: pure functions of a kept history, never touching a cluster.

Each module answers one question about a scenario: did a member die or
refuse its cluster (``logs``), how long could nothing commit and when was
the cluster whole again (``availability``), is every acknowledged write
still there (``lost_writes``), do the operations on each key fit one
register (``linearizability``), is it one cluster (``one_cluster``), and
did a client see time go back (``revisions``). ``harness.verdict`` turns
their findings into a verdict.
"""
