"""Work done on a second processor core while this process goes on: :func:`beside`.

``with beside(func, *args, **kwargs) as work:`` starts the call in a forked copy of this
process and ``work.result()`` returns what it returned. A fork needs no re-import and no copy of
the inputs: the copy sees this process's memory as it was. The function must be pure (it
returns a value and writes nothing), because its answer comes back only through a pipe,
pickled.

Nothing is forked (the work is done by ``result()`` in this process instead) when there is one
core, the system is not Linux (Windows has no fork; macOS's libraries are not safe in a forked
copy), or another Python thread is running (a fork copies only the calling thread, so a lock
another thread holds would stay held in the copy). Every warning the
call gives in the copy is given again here by ``result()``, through this process's filters and
each module's record of warnings shown, as if the call had run here. If the copy fails in any
way (an exception, a signal, an answer that cannot be pickled, a child reaped by someone
else), ``result()`` does the work here, so the caller sees the same value or the same error as
without a copy.

The copy's stdout and stderr (file descriptors 1 and 2 too) are silenced, and it ends with
``os._exit``: it runs no caller's ``finally``, no exit handler, and flushes none of this
process's buffers. SIGINT and SIGTERM are held back while forking, so Ctrl-C cannot land in
between; the copy keeps this process's choice of ignoring SIGINT (a run in the background),
and is otherwise ended by it. Leaving the ``with`` block early (an error in this process)
kills the copy and waits for it, so none is left behind.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import re
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

__all__ = ["Beside", "beside", "can_fork", "cores", "quiet_fork"]

T = TypeVar("T")


def cores() -> int:
    """Return how many processor cores this process may run on."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else os.cpu_count() or 1


def can_fork() -> bool:
    """Return whether work may go to a forked copy: Linux, two or more cores, one Python thread.

    Not elsewhere: Windows has no fork, and on macOS the system's libraries are not safe to use
    in a forked copy.
    """
    return (
        sys.platform.startswith("linux")
        and hasattr(os, "fork")
        and cores() >= 2
        and threading.active_count() == 1
    )


@contextlib.contextmanager
def quiet_fork() -> Iterator[None]:
    """Fork inside this block without Python 3.12's warning that the process has threads.

    It counts the native threads of numpy's maths library too, which make ready for a fork
    themselves; every Python thread is checked for by :func:`can_fork`. The filter is put in
    the filter list and taken out again by hand: ``warnings.catch_warnings`` would also make
    every module forget the warnings it has shown once.
    """
    entry = ("ignore", _FORK_WARNING, DeprecationWarning, None, 0)
    warnings.filters.insert(0, entry)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            warnings.filters.remove(entry)  # type: ignore[attr-defined]


_FORK_WARNING = re.compile(r".*is multi-threaded, use of fork\(\)")


class Beside(Generic[T]):
    """A call running in a forked copy of this process (or, failing that, not yet)."""

    def __init__(self, func: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]):
        self._call = functools.partial(func, *args, **kwargs)
        self._pid, self._read = 0, -1
        self.forked = self.answered = False  # a copy started; its answer used
        self._value: tuple[T] | None = None
        if not can_fork():
            return
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
        try:
            self._fork(held)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def _fork(self, held: set[int | signal.Signals]) -> None:
        """Fork (signals held back by the caller); in the copy, run the call and end."""
        read, write = os.pipe()
        try:
            with quiet_fork():
                pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            return
        if pid == 0:  # the copy: never returns
            try:
                os.close(read)
                if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
                    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends it with the run
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
                _run_copy(self._call, write)
            finally:
                os._exit(1)
        os.close(write)
        self._pid, self._read, self.forked = pid, read, True

    def result(self) -> T:
        """Return the call's value: the copy's answer, or else the work done here (once)."""
        if self._value is None:
            answer = self._collect() if self._pid else None
            if answer is None:
                self._value = (self._call(),)
            else:
                value, shown = answer
                for message, category, filename, lineno in shown:
                    _warn_again(message, category, filename, lineno)
                self._value, self.answered = (value,), True
        return self._value[0]

    def _collect(self) -> tuple[Any, list[tuple[Any, ...]]] | None:
        """Read the copy's answer and reap it; ``None`` when it gave none."""
        chunks = []
        with os.fdopen(self._read, "rb") as pipe:
            self._read = -1
            while chunk := pipe.read(1 << 20):
                chunks.append(chunk)
        try:
            _, status = os.waitpid(self._pid, 0)
        except ChildProcessError:  # reaped by someone else (SIGCHLD ignored): no answer known
            status = -1
        self._pid = 0
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            return None
        try:
            answer = pickle.loads(b"".join(chunks))
        except Exception:  # noqa: BLE001 - a torn answer is no answer: the work is done here
            return None
        return answer if isinstance(answer, tuple) and len(answer) == 2 else None

    def close(self) -> None:
        """Stop the copy if it is still running, and reap it."""
        if self._read >= 0:
            os.close(self._read)
            self._read = -1
        if self._pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._pid, 0)
            self._pid = 0


_HELD = {signal.SIGINT, signal.SIGTERM}


def _warn_again(message: Warning, category: type[Warning], filename: str, lineno: int) -> None:
    """Give a warning the copy gave, through this process's filters and the module's record."""
    module = next(
        (m for m in list(sys.modules.values()) if getattr(m, "__file__", None) == filename), None
    )
    registry = None if module is None else module.__dict__.setdefault("__warningregistry__", {})
    warnings.warn_explicit(message, category, filename, lineno, registry=registry)


def _run_copy(call: Callable[[], Any], write: int) -> None:
    """In the forked copy: call, send the pickled answer, and end (exit status 0 when sent)."""
    status = 1
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        sys.stdout = sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
        with warnings.catch_warnings(record=True) as caught:  # each given again by the caller
            warnings.simplefilter("always")
            value = call()
        shown = [(w.message, w.category, w.filename, w.lineno) for w in caught]
        data = pickle.dumps((value, shown), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(data)
        while view:
            view = view[os.write(write, view) :]
        status = 0
    except BaseException:  # noqa: BLE001, S110 - the caller does the work itself and sees why
        pass
    finally:
        os._exit(status)


@contextlib.contextmanager
def beside(func: Callable[..., T], *args: Any, **kwargs: Any) -> Iterator[Beside[T]]:
    """Start ``func(*args, **kwargs)`` on another core; ``.result()`` in the block returns it.

    Parameters
    ----------
    func, args, kwargs
        A pure function (it returns a picklable value and writes nothing) and its arguments.

    Yields
    ------
    Beside
        Call ``result()`` once, in the block, for the call's value.
    """
    work = Beside(func, args, kwargs)
    try:
        yield work
    finally:
        work.close()
