"""The kind backend: the same ``KubeCluster`` on a kind cluster, with a node driver acting through ``docker exec``.

What the pytest plugin calls, in this order::

    from clusters.kind import preflight
    from clusters.kind.cluster import KindCluster
    from clusters.localkube import build

    reason = preflight.unavailable()            # one line when docker or kind v0.33.0 is missing: skip with it
    found = preflight.problems()                # every lack at once (inotify, root for the routes too): fail with them
    kind = KindCluster(workdir, progress=print) # the kubeconfig goes to workdir; name defaults to etcd-chaos
    kind.up(reuse=...)                          # create from config.yaml, or take the running one and keep it
    kind.load_image(build.strategy_image(etcd_bin, release, print))  # for each etcd release the run needs
    kind.route_pods()                           # the harness's clients reach pods at their own IPs
    Backend("kind", Api(kind.kubeconfig), kind.driver)
    ...
    kind.export_logs(report_dir / "kind-logs")  # when something failed; returns why it could not, or None
    left = kind.down()                          # routes removed, cluster deleted unless reused; must be empty

``down`` is safe after a failed ``up`` and safe to call twice; a ``KindError``
from any step carries the failed command and its reason in one line.
"""
