"""The kind backend: the same ``KubeCluster`` on a kind cluster, with a node driver acting through ``docker exec``.

What the pytest plugin calls, in this order::

    reason = preflight.unavailable()            # one line when docker or kind v0.33.0 is missing: skip with it
    found = preflight.problems()                # every other lack too (inotify, root for the routes): fail with them
    kind = KindCluster(workdir, name, progress=print)
    kind.up(reuse=...)                          # create from config.yaml, or take the running one and keep it
    kind.load_image(build.strategy_image(etcd_bin, etcd_version, print))
    kind.route_pods()                           # the harness's clients reach pods at their own IPs
    Backend("kind", Api(kind.kubeconfig), kind.driver)
    ...
    kind.export_logs(report_dir / "kind-logs")  # when something failed
    left = kind.down()                          # routes removed, cluster deleted unless reused; must be empty
"""
