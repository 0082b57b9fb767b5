"""A pool of spawned worker processes that survives its workers: one that dies fails only its task.

Each worker runs one task at a time, sent over its own pipe, so the parent always knows which task a
worker holds. When a worker ends without answering (``os._exit``, SIGKILL from the out-of-memory
killer, SIGSEGV in native code), its task's result is a :class:`WorkerDied` naming the exit code or
signal; the worker is replaced when the next task needs one and every other task goes on.
Workers ignore SIGINT (Ctrl-C reaches the parent, which ends them).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

STOP_TIMEOUT = 10.0
"""Seconds a worker asked to stop may take before it is terminated."""


class WorkerDied(RuntimeError):
    """The worker process running a task ended without answering."""


class RemoteTraceback(Exception):
    """The traceback text of an exception raised in a worker (the cause of the re-raised one)."""

    def __str__(self) -> str:
        return f"\n{self.args[0]}"


def exit_cause(exitcode: int | None) -> str:
    """``exited with code 3`` or ``was killed by signal SIGKILL (9)`` (with a likely reason)."""
    if exitcode is None:
        return "ended with no exit status"
    if exitcode >= 0:
        return f"exited with code {exitcode}"
    number = -exitcode
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    reasons = {
        "SIGKILL": " (e.g. the out-of-memory killer)",
        "SIGSEGV": " (a crash in native code)",
    }
    return f"was killed by signal {name} ({number}){reasons.get(name, '')}"


def _serve(conn: Connection, initializer: Callable[[], None] | None) -> None:
    """A worker's loop: receive ``(fn, args)``, send back ``("ok", value)`` or ``("error", ...)``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if initializer is not None:
        initializer()
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        fn, args = task
        try:
            answer: tuple[Any, ...] = ("ok", fn(*args))
        except BaseException as exc:
            answer = ("error", exc, traceback.format_exc())
        try:
            conn.send(answer)
        except Exception:  # a result or exception that does not pickle
            conn.send(("error", None, traceback.format_exc()))


@dataclass
class _Worker:
    process: Any
    conn: Connection
    item: Any = None


class WorkerPool:
    """``size`` spawned processes, each running ``initializer`` once, then one task at a time."""

    def __init__(self, size: int, initializer: Callable[[], None] | None = None) -> None:
        self.size = size
        self.initializer = initializer
        self._context = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []
        self._busy: list[_Worker] = []

    def _spawn(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(child, self.initializer), daemon=True, name="dmarl-worker"
        )
        # the child starts with SIGINT blocked (inherited), so Ctrl-C during its start-up cannot
        # print a traceback; _serve ignores SIGINT before unblocking it
        if not hasattr(signal, "pthread_sigmask"):  # not on Windows
            process.start()
        else:
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                process.start()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        child.close()
        return _Worker(process, parent)

    def start(self) -> None:
        """Start every worker now (otherwise each starts when a task first needs it)."""
        while len(self._idle) < self.size:
            self._idle.append(self._spawn())

    def run_each(
        self, fn: Callable[[T], R], items: Iterable[T]
    ) -> Iterator[tuple[T, R | BaseException]]:
        """``(item, fn(item) or the exception it raised)`` for every item, as tasks complete.

        A task whose worker dies gives a :class:`WorkerDied`. When the caller stops iterating
        (or an exception such as KeyboardInterrupt ends it), workers still busy are terminated.
        """
        queue = deque(items)
        busy = self._busy
        try:
            while queue or busy:
                while queue and len(busy) < self.size:
                    worker = self._idle.pop() if self._idle else self._spawn()
                    try:
                        if not worker.process.is_alive():
                            raise OSError("the worker died while idle")
                        worker.conn.send((fn, (queue[0],)))
                    except OSError:  # not this task's fault: the next worker takes it
                        self._discard(worker)
                        continue
                    worker.item = queue.popleft()
                    busy.append(worker)
                waiting = [w.conn for w in busy] + [w.process.sentinel for w in busy]
                ready = set(wait(waiting))
                for worker in [w for w in busy if w.conn in ready or w.process.sentinel in ready]:
                    busy.remove(worker)
                    value = self._answer(worker)
                    yield worker.item, value
        finally:
            while busy:
                self._discard(busy.pop())

    def map_each(self, fn: Callable[..., R], args: tuple[Any, ...] = ()) -> list[R | BaseException]:
        """Run ``fn(*args)`` once on every worker (started first); the answers in worker order."""
        self.start()
        workers, self._idle = self._idle, []
        for worker in workers:
            worker.conn.send((fn, args))
        answers = []
        for worker in workers:
            wait([worker.conn, worker.process.sentinel])
            answers.append(self._answer(worker))
        return answers

    def _answer(self, worker: _Worker) -> Any:
        """The worker's answer to its task; returns it to the idle list if it is still alive."""
        message = None
        if worker.conn.poll():
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                message = None
        if message is None:
            worker.process.join(STOP_TIMEOUT)
            cause = exit_cause(worker.process.exitcode)
            self._discard(worker)
            return WorkerDied(f"the worker process (pid {worker.process.pid}) {cause}")
        self._idle.append(worker)
        if message[0] == "ok":
            return message[1]
        _, exc, text = message
        if exc is None:
            exc = RuntimeError("the worker could not send back its result")
        exc.__cause__ = RemoteTraceback(text)
        return exc

    def _discard(self, worker: _Worker) -> None:
        if worker.process.is_alive():
            worker.process.terminate()
        worker.process.join(STOP_TIMEOUT)
        worker.conn.close()

    def close(self) -> None:
        """Terminate busy workers; ask every idle one to stop and wait (terminating one that lingers)."""
        while self._busy:
            self._discard(self._busy.pop())
        workers, self._idle = self._idle, []
        for worker in workers:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        for worker in workers:
            worker.process.join(STOP_TIMEOUT)
            self._discard(worker)
