"""BuildKit's build trace (``moby.buildkit.v1.StatusResponse``) as ``--progress=plain`` lines.

A small reader, enough for the log of a build with secrets: ``#N name`` when a step starts,
``#N CACHED``, each output line as ``#N line``, ``#N DONE`` and ``#N ERROR: message``. Fields
(BuildKit ``api/services/control/control.proto``): StatusResponse 1 vertexes, 3 logs; Vertex 1
digest, 3 name, 4 cached, 5 started, 6 completed, 7 error; VertexLog 1 vertex, 4 msg.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from worker.buildkit_session.proto import VARINT, ProtoError, fields


@dataclass
class _Vertex:
    number: int
    announced: bool = False
    finished: bool = False
    partial: bytes = b""


@dataclass
class TraceLines:
    """Feeds decoded trace records in, takes whole log lines out; keeps state across records."""

    _vertices: dict[str, _Vertex] = field(default_factory=dict)
    last_error: str | None = None
    last_output: list[str] = field(default_factory=list)

    def feed(self, record: bytes) -> list[str]:
        """The lines one ``StatusResponse`` adds; a malformed record adds one line saying so."""
        try:
            return self._feed(record)
        except ProtoError as exc:
            return [f"(unreadable BuildKit trace record: {exc})"]

    def _vertex(self, digest: str) -> _Vertex:
        if digest not in self._vertices:
            self._vertices[digest] = _Vertex(len(self._vertices) + 1)
        return self._vertices[digest]

    def _feed(self, record: bytes) -> list[str]:
        lines: list[str] = []
        for number, _wire, value in fields(record):
            if not isinstance(value, bytes):
                continue
            if number == 1:
                lines += self._on_vertex(value)
            elif number == 3:
                lines += self._on_log(value)
        return lines

    def _on_vertex(self, data: bytes) -> list[str]:
        digest = name = error = ""
        cached = started = completed = False
        for number, wire, value in fields(data):
            if number == 1 and isinstance(value, bytes):
                digest = value.decode("utf-8", "replace")
            elif number == 3 and isinstance(value, bytes):
                name = value.decode("utf-8", "replace")
            elif number == 4 and wire == VARINT:
                cached = bool(value)
            elif number == 5:
                started = True
            elif number == 6:
                completed = True
            elif number == 7 and isinstance(value, bytes):
                error = value.decode("utf-8", "replace")
        vertex = self._vertex(digest)
        lines: list[str] = []
        if (started or cached) and not vertex.announced:
            vertex.announced = True
            lines.append(f"#{vertex.number} {name}")
        if completed and not vertex.finished:
            vertex.finished = True
            if vertex.partial:
                lines.append(self._output(vertex, vertex.partial))
                vertex.partial = b""
            if error:
                self.last_error = f"{name}: {error}" if name else error
                lines.append(f"#{vertex.number} ERROR: {error}")
            else:
                lines.append(f"#{vertex.number} {'CACHED' if cached else 'DONE'}")
        return lines

    def _on_log(self, data: bytes) -> list[str]:
        digest, message = "", b""
        for number, _wire, value in fields(data):
            if number == 1 and isinstance(value, bytes):
                digest = value.decode("utf-8", "replace")
            elif number == 4 and isinstance(value, bytes):
                message = value
        vertex = self._vertex(digest)
        *complete, vertex.partial = (vertex.partial + message).split(b"\n")
        return [self._output(vertex, line) for line in complete]

    def _output(self, vertex: _Vertex, raw: bytes) -> str:
        text = raw.decode("utf-8", "replace").rstrip("\r").rsplit("\r", 1)[-1]
        self.last_output = [*self.last_output[-4:], text]
        return f"#{vertex.number} {text}"
