"""The kind release and node image the kind backend supports, in one place.

A kind node image is only supported by the kind release it was built for,
which is why the image is pinned by digest: the tag alone may name a build
made for another release.
"""

from __future__ import annotations

KIND = "v0.33.0"

# Verified here against kind v0.33.0's release notes (the GitHub release
# page of kubernetes-sigs/kind, tag v0.33.0, as stored by the search index
# this was written with): it is the release's default node image and the
# v1.37.0 entry of "Images pre-built for this release", with this digest.
# Not pulled or inspected here: this machine has no Docker engine.
NODE_IMAGE = "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"
