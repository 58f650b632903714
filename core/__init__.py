"""What the web process, the workers and the CLI share: builds, their store, logs, the queue.

The layers, from the bottom (a module imports only from its own layer or below; held by
tests/unit/test_layering.py, which reads every import, including those inside functions):

1. **Base modules of core** (:data:`BASE_MODULES`): the build record and its store, events,
   settings, masking, log format and logs, metrics, image references, build progress, the
   notification outbox, the git runner, git names and deploy keys. They import no other part of
   Autobuild: no ``buildrules``, ``app``, ``worker`` or ``cli``, and no core module outside this
   set.
2. **buildrules**: the rule language (YAML in, build plans out). It imports base modules of core
   only, and neither Flask, Docker, Redis nor rq.
3. **The rest of core**: the queue (rq), dispatch, build control, recovery, readiness and the
   manual trigger, which turn plans into records and jobs. They may import ``buildrules``, never
   ``app``, ``worker`` or ``cli``, Flask or the Docker SDK.
4. **app** (the web, Flask) and **worker** (rq jobs, the Docker SDK), side by side: the web never
   imports worker code or the Docker SDK (it names the job function as a string, and
   :mod:`core.docker_ping` speaks to the daemon's socket without the SDK); the worker never
   imports Flask or ``app``.
5. **cli**: parses arguments and calls the layers below.

No module imports itself back through another (no import cycles).
"""

from __future__ import annotations

BASE_MODULES = frozenset(
    {
        "core.build",
        "core.deploykey",
        "core.build_index",
        "core.docker_ping",
        "core.events",
        "core.gitcmd",
        "core.gitnames",
        "core.logfmt",
        "core.loglines",
        "core.logs",
        "core.masking",
        "core.metrics",
        "core.notifications",
        "core.progress",
        "core.registry_address",
        "core.remote",
        "core.settings",
        "core.store",
        "core.workerid",
    }
)
