"""Runs several notebook cells in one execute_request (nbhook's server sends it; not for notebooks).

Each cell goes through ``shell.run_cell(code, store_history=True)``, exactly what ipykernel does
for an execute_request of its own: the cell gets its execution count, its ``In``/``Out``/``_``
history, its displayhook result, its events (``post_execute`` flushes inline figures per cell)
and its traceback. After each cell one marker is published on iopub, a ``display_data`` of the
MIME type below, which the server takes out of the outputs: the outputs before it belong to the
cell it names. IPython's display publisher flushes stdout and stderr before publishing, and
iopub is one ordered stream, so no output of a cell can come after its marker.

The runner stops after the first failing cell, as nbhook's one-request-per-cell path does, and
before a cell IPython would run as a coroutine (top-level ``await``): nested in this request,
such a cell cannot have the kernel's event loop; the server runs it on its own request instead.

Standard library and IPython only.
"""

import json
import os
import sys

MARKER_MIME = "application/vnd.nbhook.cell+json"


def run(payload):
    """``payload``: the JSON text of ``{"cells": [code, ...], "progress": path, "token": str,
    "prelude": code}`` (the prelude, if any, runs first, silently). Publishes one
    marker per cell run, and writes ``token index execution_count success`` lines to the file at
    ``progress`` (when given) as each cell ends."""
    from IPython import get_ipython
    from IPython.display import publish_display_data

    shell = get_ipython()
    request = json.loads(payload)
    progress = request.get("progress")
    fd = os.open(progress, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) if progress else None
    try:
        _run(shell, request, fd, publish_display_data)
    finally:
        if fd is not None:
            os.close(fd)


def _run(shell, request, fd, publish_display_data):
    send = _fast_marker(shell) or _marker(publish_display_data)
    cells = request["cells"]
    token = (request.get("token") or "").encode()

    def mark(content):
        send({**content, "token": request.get("token")})

    prelude = request.get("prelude")
    if prelude:
        # What the server would otherwise execute silently first (the call's folder and
        # environment): in the user's namespace, no history, no output.
        try:
            exec(compile(prelude, "<nbhook prelude>", "exec"), shell.user_ns)
        except Exception as err:
            mark({"cell": -1, "status": "prelude-error", "ename": type(err).__name__, "evalue": str(err)})
            return

    for index, code in enumerate(cells):
        # Top-level async code needs one of these words, which IPython's transforms (magics, `!`,
        # `?`) only move into string literals: a cell without them in its text is not transformed
        # twice (run_cell does it; ~50 us a cell). With them, the check compiles the cell.
        if ("await" in code or "async" in code) and _runs_async(shell, code):
            mark({"cell": index, "status": "yield"})
            return
        result = shell.run_cell(code, store_history=True)
        if fd is not None:
            # Survives the kernel when the next cell kills it before this marker is out of the process.
            line = b"%s %d %d %d\n" % (token, index, result.execution_count or 0, bool(result.success))
            os.write(fd, line)
        if result.success:
            mark({"cell": index, "status": "ok", "execution_count": result.execution_count})
            if index + 1 < len(cells):
                _wait_zmq_sent()
            continue
        # What ipykernel's execute_reply would have said of the cell.
        err = result.error_before_exec if result.error_before_exec is not None else result.error_in_exec
        mark(
            {
                "cell": index,
                "status": "error",
                "execution_count": result.execution_count,
                "ename": type(err).__name__,
                "evalue": str(err),
                "traceback": getattr(shell, "_last_traceback", None) or [],
            }
        )
        return


def _runs_async(shell, code):
    """Whether IPython would run the cell as a coroutine (False when its transform fails:
    run_cell then reports that as the cell's error)."""
    try:
        transformed = shell.transform_cell(code)
    except Exception:
        return False
    if "await" not in transformed and "async" not in transformed:
        return False
    return shell.should_run_async(code, transformed_cell=transformed, preprocessing_exc_tuple=None)


_zmq_io_tids = None
# Checks of libzmq's I/O threads that yield the CPU before the wait sleeps between checks (each
# check reads their /proc stat files, ~16 us for two threads).
YIELDS_BEFORE_SLEEP = 50


def _zmq_io_threads():
    """The task ids of libzmq's I/O threads in this process (named "ZMQbg/IO/<n>")."""
    tids = []
    try:
        for tid in os.listdir("/proc/self/task"):
            try:
                with open("/proc/self/task/%s/comm" % tid, "rb") as f:
                    if f.read().startswith(b"ZMQbg/IO"):
                        tids.append(tid)
            except OSError:
                pass
    except OSError:
        pass
    return tids


def _wait_zmq_sent(timeout=0.05):
    """Waits (at most ``timeout``) until libzmq's I/O threads have nothing to do: the marker and
    the outputs before it, handed to libzmq, are then in the socket, where they survive this
    process. Before the next cell of the request, which may end the process (``os._exit``, a
    crash): with a request per cell the server had the outputs before it sent the next cell; here
    a loaded machine could leave them in libzmq's queue when the process died.

    A woken I/O thread is runnable ("R") until it has written what it was woken for and sleeps
    again; the send happened before this check (the marker's wait), so "not R" means written, or
    waiting for room in the socket (the reader will take it).

    It is usually woken just now, and done within microseconds once it runs: the first checks
    yield the CPU (it may be waiting for this one) instead of sleeping, whose 0.2 ms at least cost
    ~0.5 ms per 3-cell call (measured on a warm kernel: p50 5.2 -> 4.4 ms)."""
    global _zmq_io_tids
    import time

    if _zmq_io_tids is None:
        _zmq_io_tids = _zmq_io_threads()
    if not _zmq_io_tids:
        return
    deadline = None
    yields = 0
    while True:
        busy = False
        for tid in _zmq_io_tids:
            try:
                with open("/proc/self/task/%s/stat" % tid, "rb") as f:
                    state = f.read().rsplit(b")", 1)[1].split(None, 1)[0]
            except (OSError, IndexError):
                continue
            if state == b"R":
                busy = True
                break
        if not busy:
            return
        now = time.monotonic()
        if deadline is None:
            deadline = now + timeout
        elif now >= deadline:
            return
        if yields < YIELDS_BEFORE_SLEEP:
            yields += 1
            os.sched_yield()
        else:
            time.sleep(0.0002)


def _marker(publish_display_data):
    """Through IPython's display publisher (which flushes stdout and stderr first)."""

    def mark(content):
        publish_display_data({MARKER_MIME: content}, metadata={})
        # Waits until the I/O thread has sent it: a kernel that dies in the next cell (os._exit, a
        # crash) must not take the end of this one with it.
        sys.stdout.flush()

    return mark


def _fast_marker(shell):
    """ipykernel's way with one wait instead of three: on its I/O thread, the streams' flushes
    (which queue their sends), then the marker's send, then the event the cell waits for, so
    that the marker goes out after the cell's last text and before the next cell starts. None
    when the kernel is not an ipykernel with these parts."""
    import threading

    out, err, pub = sys.stdout, sys.stderr, getattr(shell, "display_pub", None)
    thread = getattr(out, "pub_thread", None)
    parts = (
        thread is not None
        and getattr(err, "pub_thread", None) is thread
        and callable(getattr(thread, "schedule", None))
        and getattr(thread, "thread", None) is not None
        and callable(getattr(out, "_flush", None))
        and callable(getattr(err, "_flush", None))
        and all(hasattr(pub, a) for a in ("session", "pub_socket", "topic", "parent_header"))
    )
    if not parts:
        return None
    timeout = getattr(out, "flush_timeout", 10)

    def mark(content):
        if not thread.thread.is_alive():
            return _marker_slow(content)
        sent = threading.Event()
        message = {"data": {MARKER_MIME: content}, "metadata": {}, "transient": {}}
        parent = pub.parent_header

        def in_thread():
            out._flush()
            err._flush()
            pub.session.send(pub.pub_socket, "display_data", message, parent=parent, ident=pub.topic)
            thread.schedule(sent.set)

        thread.schedule(in_thread)
        sent.wait(timeout)

    return mark


def _marker_slow(content):
    from IPython.display import publish_display_data

    _marker(publish_display_data)(content)
