"""Autobuild's benchmarks (issue 8): ``python -m bench [--quick]`` or ``make bench`` /
``make bench-quick``.

Every figure is measured side by side with its baseline in the same run, on this machine, against
the real services (Redis, the Docker daemon, the registry on 127.0.0.1:5000) and the real
processes (``autobuild web`` under gunicorn, a long-running ``autobuild worker``), all on
loopback. The run prints a table per figure and, last, one ``ratio NAME VALUE`` line per figure.

Modules: :mod:`bench.env` (the run's processes, Redis database, configuration and cleanup),
:mod:`bench.sample` (the generated git repositories and ``git daemon``), :mod:`bench.images`
(images the run creates, and the plain ``docker`` pipeline), :mod:`bench.hooks` (signed
deliveries and waiting for digests), one module per figure (:mod:`bench.ingest`, :mod:`bench.e2e`,
:mod:`bench.burst`, :mod:`bench.coldworker`) and :mod:`bench.report` (tables and ratio lines).
"""
