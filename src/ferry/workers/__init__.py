"""Worker processes: ``ferry serve --workers N``. A main process (``Supervisor``) binds
the listening sockets once and keeps N workers, each a normal Ferry server on them,
running: it replaces the ones that die or hang, restarts them all on SIGHUP without
refusing a request, and recycles each after ``--max-requests``."""

from __future__ import annotations

from ._supervisor import Supervisor

__all__ = ["Supervisor"]
