"""BuildKit's session from Python: the gRPC server a BuildKit build calls back for build secrets
and registry credentials (``POST /session`` upgraded to HTTP/2). See docs/secrets.md."""

from worker.buildkit_session.server import Served
from worker.buildkit_session.session import BuildSession
from worker.buildkit_session.upgrade import SessionError

__all__ = ["BuildSession", "Served", "SessionError"]
