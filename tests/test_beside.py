"""Work on a second core (servicemap._beside): same answers, errors and warnings as in-process."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import warnings

import pytest

from servicemap import _beside
from servicemap._beside import beside
from servicemap.errors import DataQualityWarning

PARENT = os.getpid()

needs_fork = pytest.mark.skipif(
    not _beside.can_fork(), reason="needs Linux (os.fork) and two cores"
)


def _where(value: int) -> tuple[int, int]:
    return value * 2, os.getpid()


@needs_fork
def test_the_call_runs_in_a_copy_and_its_value_comes_back():
    with beside(_where, 21) as work:
        assert work.forked
        doubled, pid = work.result()
    assert doubled == 42
    assert pid != PARENT  # computed by the copy


def test_with_one_core_the_call_runs_here(monkeypatch):
    monkeypatch.setattr(_beside, "cores", lambda: 1)
    with beside(_where, 5) as work:
        assert not work.forked
        assert work.result() == (10, PARENT)


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_nothing_is_forked_but_on_linux(platform, monkeypatch):
    monkeypatch.setattr(sys, "platform", platform)  # macOS's libraries are not safe in a copy
    assert not _beside.can_fork()
    with beside(_where, 2) as work:
        assert not work.forked
        assert work.result() == (4, PARENT)


def test_forking_is_quiet_about_native_threads_only():
    # Python 3.12 warns at a fork when the process has threads (numpy's maths library's too)
    threads = "This process (pid=7) is multi-threaded, use of fork() may lead to deadlocks."
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with _beside.quiet_fork():
            warnings.warn(threads, DeprecationWarning, stacklevel=1)
            with pytest.raises(DeprecationWarning):
                warnings.warn("something else", DeprecationWarning, stacklevel=1)


def test_with_another_thread_running_nothing_is_forked():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        with beside(_where, 1) as work:
            assert not work.forked
            assert work.result() == (2, PARENT)
    finally:
        stop.set()
        thread.join()


def _fails_in_the_copy(value: int) -> tuple[int, int]:
    if os.getpid() != PARENT:
        raise RuntimeError("only in the copy")
    return value, os.getpid()


def _killed_in_the_copy(value: int) -> tuple[int, int]:
    if os.getpid() != PARENT:
        os.kill(os.getpid(), signal.SIGKILL)
    return value, os.getpid()


def _unpicklable_in_the_copy(value: int) -> object:
    if os.getpid() != PARENT:
        return lambda: value  # a lambda cannot be pickled
    return value


@needs_fork
@pytest.mark.parametrize("func", [_fails_in_the_copy, _killed_in_the_copy])
def test_a_copy_that_fails_means_the_work_is_done_here(func):
    with beside(func, 7) as work:
        assert work.forked
        assert work.result() == (7, PARENT)


@needs_fork
def test_an_answer_that_cannot_be_sent_means_the_work_is_done_here():
    with beside(_unpicklable_in_the_copy, 7) as work:
        assert work.result() == 7


def _always_fails(value: int) -> int:
    raise ValueError(f"bad value {value}")


def test_an_error_is_the_one_the_call_raises():
    with beside(_always_fails, 3) as work, pytest.raises(ValueError, match="bad value 3"):
        work.result()


def _warns(value: int) -> int:
    warnings.warn(f"row {value} has no postcode", DataQualityWarning, stacklevel=1)
    return value


@needs_fork
def test_the_copys_warnings_are_shown_here():
    with beside(_warns, 4) as work:
        assert work.forked
        with pytest.warns(DataQualityWarning, match="row 4 has no postcode"):
            assert work.result() == 4


def _writes_stderr(value: int) -> int:
    print("from the copy", file=sys.stderr, flush=True)
    return value


@needs_fork
def test_the_copy_says_nothing_on_stderr(capfd):
    with beside(_writes_stderr, 1) as work:
        assert work.result() == 1
    assert "from the copy" not in capfd.readouterr().err


def _sleeps(seconds: float) -> float:
    if os.getpid() != PARENT:
        time.sleep(seconds)
    return seconds


@needs_fork
def test_leaving_the_block_early_stops_the_copy():
    started = time.perf_counter()
    with pytest.raises(KeyError), beside(_sleeps, 60.0) as work:
        pid = work._pid
        raise KeyError("an error in this process")
    assert time.perf_counter() - started < 10
    with pytest.raises(ChildProcessError):  # reaped: it is no longer a child of this process
        os.waitpid(pid, os.WNOHANG)


@needs_fork
def test_the_copy_runs_no_finally_of_its_caller(tmp_path):
    marker = tmp_path / "finally-ran"
    try:
        with beside(_where, 1) as work:
            work.result()
    finally:
        with marker.open("a") as notes:  # in this process only: the copy ends with os._exit
            notes.write(f"{os.getpid()}\n")
    assert marker.read_text() == f"{PARENT}\n"


@needs_fork
def test_the_answer_is_the_copys_and_is_kept():
    with beside(_where, 3) as work:
        first = work.result()
        assert work.answered
        assert work.result() == first  # once: not worked out again here
    assert first[1] != PARENT


@needs_fork
def test_a_copy_reaped_by_someone_else_means_the_work_is_done_here():
    before = signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps children itself
    try:
        with beside(_where, 8) as work:
            assert work.forked
            time.sleep(0.2)
            assert work.result() == (16, PARENT)
            assert not work.answered
    finally:
        signal.signal(signal.SIGCHLD, before)


def _warns_plainly(value: int) -> int:
    warnings.warn("a plain warning", UserWarning, stacklevel=1)
    return value


@needs_fork
def test_a_warning_already_shown_here_is_not_shown_again():
    """Under the "default" action a warning shows once per place, with a copy as without."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        _warns_plainly(1)
        with beside(_warns_plainly, 2) as work:
            assert work.result() == 2
            assert work.answered
    assert [str(w.message) for w in caught] == ["a plain warning"]
