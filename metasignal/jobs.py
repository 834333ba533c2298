"""Command-line jobs run inside the upload server, on the store it serves.

DuckDB lets one process write a database file; while ``metasignal serve`` runs, that process is
the server. Every other command (``rounds resolve``, ``clock advance``, ``portfolio``,
``leaderboard``, backtests, plain reads) is sent to it and runs there as a job: on its own DuckDB
connection (a consistent snapshot; uploads keep committing meanwhile), one job at a time, its
standard output and error kept for the client to fetch while it runs.

Output capture: the server process replaces ``sys.stdout`` and ``sys.stderr`` with
:class:`ThreadRoutedStream` objects. A job thread's writes go to the job; every other thread's
writes go where they always went.
"""

from __future__ import annotations

import io
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional

RETAINED_JOBS = 50  # finished jobs kept for their client to fetch the end of their output


class ThreadRoutedStream(io.TextIOBase):
    """A text stream writing to the current thread's target if it has one, else to ``default``."""

    def __init__(self, default):
        self.default = default
        self._local = threading.local()

    def route(self, target: Optional[io.StringIO]) -> None:
        """Send this thread's writes to ``target`` (``None``: back to the default)."""
        self._local.target = target

    def _target(self):
        return getattr(self._local, "target", None) or self.default

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        target = self._target()
        return target is self.default and bool(getattr(target, "isatty", lambda: False)())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.default, "encoding", None) or "utf-8"

    def fileno(self) -> int:
        if self._target() is not self.default:
            raise io.UnsupportedOperation("a job's output has no file descriptor")
        return self.default.fileno()


def routed_streams() -> tuple[ThreadRoutedStream, ThreadRoutedStream]:
    """Install (once) and return the routed ``sys.stdout`` and ``sys.stderr``."""
    if not isinstance(sys.stdout, ThreadRoutedStream):
        sys.stdout = ThreadRoutedStream(sys.stdout)
    if not isinstance(sys.stderr, ThreadRoutedStream):
        sys.stderr = ThreadRoutedStream(sys.stderr)
    return sys.stdout, sys.stderr


class _Buffer(io.StringIO):
    """A StringIO safe to read (``since``) from another thread while the job writes."""

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            return super().write(text)

    def since(self, offset: int) -> str:
        with self.lock:
            return self.getvalue()[offset:]


@dataclass
class Job:
    """One command run in the server: ``argv`` (without ``--db``), its output and exit code."""

    id: str
    argv: list[str]
    actor: str
    submitted_at: float = field(default_factory=time.time)
    state: str = "queued"  # queued, running, done
    exit_code: Optional[int] = None
    stdout: _Buffer = field(default_factory=_Buffer)
    stderr: _Buffer = field(default_factory=_Buffer)

    def to_dict(self, stdout_from: int = 0, stderr_from: int = 0) -> dict:
        """JSON form with the output written after the given offsets (characters)."""
        return {"id": self.id, "argv": self.argv, "actor": self.actor, "state": self.state,
                "exit_code": self.exit_code, "stdout": self.stdout.since(stdout_from),
                "stderr": self.stderr.since(stderr_from)}


class JobRunner:
    """Runs jobs one at a time on a worker thread: ``run(argv) -> exit code`` does the work."""

    def __init__(self, run: Callable[[list[str]], int], *, on_done: Callable[[], None] | None = None):
        self._run = run
        self._on_done = on_done
        self._jobs: dict[str, Job] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: list[Job] = []
        self._stopping = False
        self._out, self._err = routed_streams()
        self._thread = threading.Thread(target=self._work, name="metasignal-jobs", daemon=True)
        self._thread.start()

    def submit(self, argv: list[str], actor: str) -> Job:
        job = Job(id=uuid.uuid4().hex[:16], argv=list(argv), actor=actor)
        with self._wake:
            self._jobs[job.id] = job
            self._order.append(job.id)
            self._queue.append(job)
            self._forget_old()
            self._wake.notify()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def busy(self) -> int:
        """Jobs queued or running."""
        with self._lock:
            return sum(job.state != "done" for job in self._jobs.values())

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()

    def _forget_old(self) -> None:
        done = [j for j in self._order if self._jobs[j].state == "done"]
        for job_id in done[: max(0, len(done) - RETAINED_JOBS)]:
            self._order.remove(job_id)
            del self._jobs[job_id]

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                job = self._queue.pop(0)
                job.state = "running"
            self._out.route(job.stdout)
            self._err.route(job.stderr)
            try:
                job.exit_code = self._run(job.argv)
            except BaseException as error:  # noqa: BLE001 - a job never takes the worker down
                job.stderr.write(f"error: {type(error).__name__}: {error}\n")
                job.exit_code = 1
            finally:
                self._out.route(None)
                self._err.route(None)
                job.state = "done"
            if self._on_done is not None:
                try:
                    self._on_done()
                except Exception:  # noqa: BLE001 - a refresh failing must not stop the jobs
                    pass
