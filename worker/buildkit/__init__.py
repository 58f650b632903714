"""The BuildKit builder: ``POST /build?version=2`` through the Docker SDK's low-level client.

- :mod:`worker.buildkit.wire`: a protobuf wire-format reader (the trace is protobuf);
- :mod:`worker.buildkit.status`: ``moby.buildkit.v1.StatusResponse`` as frozen dataclasses;
- :mod:`worker.buildkit.trace`: the trace as ``--progress=plain`` lines and step progress;
- :mod:`worker.buildkit.request`: the context tar and the query of one build;
- :mod:`worker.buildkit.build`: one build, with the outcome type of the legacy builder.
"""
