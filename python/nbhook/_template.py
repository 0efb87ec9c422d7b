"""Runs a webhook version's `setup` cells in the fork server's prebuilt IPython shell, without a
kernel, so that kernels forked afterwards start with the setup state (issue 11, `setup` mode).

Nothing here may start a thread, create a zmq Context or an event loop: the process forks
kernels afterwards. Outputs are reported as a kernel would publish them on iopub, one
``{"msg_type": ..., "content": ...}`` per message, so that nbhook builds the cells' nbformat
outputs with the collector it uses for a kernel's messages:

- ``execute_result`` and ``error`` go through the shell's own displayhook and traceback code
  (ZMQShellDisplayHook, ZMQInteractiveShell._showtraceback) with a recording session;
- ``display_data``, ``update_display_data`` and ``clear_output`` through its ZMQDisplayPublisher;
- ``stream`` from sys.stdout/sys.stderr (Python level: print, ``!cmd``) and from file
  descriptors 1 and 2 (a subprocess, C code), read after each cell (a kernel forwards them
  from a thread; the order between the two levels within one cell is not kept);
- ``input()`` raises StdinNotImplementedError, as in a kernel whose client allows no stdin.

Stdlib, IPython and ipykernel only (they are imported by the fork server anyway).
"""

import builtins
import os
import sys
import tempfile

STDIN_MESSAGE = "raw_input was called, but this frontend does not support input requests."


def _recording_session(messages):
    """A jupyter_client Session that records what would be sent (the traits require a Session)."""
    from jupyter_client.session import Session

    class Recorder(Session):
        def send(self, stream, msg_or_type, content=None, parent=None, ident=None, *args, **kwargs):
            if isinstance(msg_or_type, dict):
                msg_type = msg_or_type["header"]["msg_type"]
                content = msg_or_type["content"]
            else:
                msg_type = msg_or_type
            messages.append({"msg_type": msg_type, "content": _plain(content)})

    return Recorder(key=b"")


def _plain(content):
    """Content as JSON can carry it (ipykernel's json_clean, as the wire would)."""
    from ipykernel.jsonutil import json_clean

    return json_clean(content)


class _Pending(object):
    """Text written to the streams and not sent yet, one buffer per stream as a kernel's OutStreams
    have: a flush of one stream sends what it accumulated (a display flushes stdout, then stderr;
    so does the end of a cell). What reached file descriptor 1 or 2 (a subprocess) joins its
    stream's buffer at that stream's next flush, as a kernel's fd watcher feeds it."""

    def __init__(self, messages, fd_files):
        self.messages = messages
        self.parts = {"stdout": [], "stderr": []}
        self.fd_files = dict(zip(("stdout", "stderr"), fd_files))
        self.fd_read = {"stdout": 0, "stderr": 0}

    def add(self, name, text):
        self.drain(name)  # a kernel's fd watcher would have forwarded it by now
        self.parts[name].append(text)

    def drain(self, name):
        f = self.fd_files.get(name)
        if f is not None:
            while True:
                # pread: the file's offset is shared with whatever writes to the descriptor.
                data = os.pread(f.fileno(), 1 << 16, self.fd_read[name])
                if not data:
                    break
                self.fd_read[name] += len(data)
                self.parts[name].append(data.decode("utf-8", "replace"))

    def flush(self, name):
        self.drain(name)
        if self.parts[name]:
            text = "".join(self.parts[name])
            self.messages.append({"msg_type": "stream", "content": {"name": name, "text": text}})
        self.parts[name] = []


class _PyStream(object):
    """sys.stdout / sys.stderr while a setup cell runs."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, name, pending):
        self.name = name
        self._pending = pending

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not %s" % type(text).__name__)
        if text:
            self._pending.add(self.name, text)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        self._pending.flush(self.name)

    def isatty(self):
        return False

    def fileno(self):
        return 1 if self.name == "stdout" else 2

    @property
    def closed(self):
        return False


def _no_stdin(*args, **kwargs):
    from IPython.core.error import StdinNotImplementedError

    raise StdinNotImplementedError(STDIN_MESSAGE)


def needs_async(shell, code):
    """Whether a cell needs top-level await (a kernel would run it on its event loop)."""
    try:
        transformed = shell.transform_cell(code)
        return bool(shell.should_run_async(code, transformed_cell=transformed, preprocessing_exc_tuple=None))
    except Exception:
        return False


def run_cell(shell, code, report):
    """Runs one setup cell as a kernel's execute_request would (store_history, not silent).

    ``report(message)`` gets each iopub-like message; returns the execute_reply-like result:
    {"status", "execution_count", and "ename"/"evalue"/"traceback" on error}.
    """
    messages = _Forwarding(report)
    session = _recording_session(messages)
    dh, pub = shell.displayhook, shell.display_pub
    saved = (dh.session, pub.session, sys.stdout, sys.stderr, builtins.input)
    fd_files = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
    fd_saved = [os.dup(1), os.dup(2)]
    try:
        dh.session = session
        pub.session = session
        pending = _Pending(messages, fd_files)
        sys.stdout = _PyStream("stdout", pending)
        sys.stderr = _PyStream("stderr", pending)
        builtins.input = _no_stdin
        for fd, f in zip((1, 2), fd_files):
            os.dup2(f.fileno(), fd)
        shell._last_traceback = None
        shell.enable_gui = _inline_gui_only(shell)
        result = shell.run_cell(code, store_history=True, silent=False)
    finally:
        shell.__dict__.pop("enable_gui", None)
        # What the cell wrote last (a kernel flushes stdout, then stderr, before its reply).
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, old in zip((1, 2), fd_saved):
            os.dup2(old, fd)
            os.close(old)
        dh.session, pub.session, sys.stdout, sys.stderr, builtins.input = saved
    for f in fd_files:
        f.close()
    reply = {"status": "ok", "execution_count": shell.execution_count - 1}
    if not result.success:
        err = result.error_in_exec or result.error_before_exec
        reply = {
            "status": "error",
            "execution_count": shell.execution_count - 1,
            "ename": type(err).__name__ if err is not None else "Error",
            "evalue": str(err) if err is not None else "",
            "traceback": shell._last_traceback or [],
        }
    return reply


def _inline_gui_only(shell):
    """The shell's enable_gui while a setup cell runs: ``%matplotlib inline`` (and IPython's
    matplotlib setup) asks ipykernel for the kernel's event loop, and a template has no kernel. A
    kernel's answer for "inline" (and None) is no event loop at all, which is what the kernels
    forked from the template get; a GUI loop (qt, tk, ...) needs the kernel: the cell fails here,
    and the version's kernels run their setup cells themselves."""

    def enable_gui(gui=None):
        if gui not in (None, "inline"):
            raise RuntimeError("a setup template cannot start the %r event loop (it has no kernel yet)" % gui)
        shell.active_eventloop = gui

    return enable_gui


class _Forwarding(list):
    """A message list that hands each message on as it comes."""

    def __init__(self, report):
        list.__init__(self)
        self._report = report

    def append(self, message):
        self._report(message)


def _stop_openblas_pools():
    """Stops the thread pools of the OpenBLAS libraries loaded (numpy's BLAS, pthreads builds),
    which start at import: what OpenBLAS's own fork handler does before every fork, and the pool
    starts again at the next BLAS call, in the template and in each kernel forked from it.
    Returns how many libraries were asked. (An OpenMP build's threads are libgomp's: not these.)"""
    import ctypes

    paths = set()
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rsplit(None, 1)[-1]
                if path.startswith("/") and "openblas" in path.lower():
                    paths.add(path)
    except OSError:
        return 0
    asked = 0
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path, mode=getattr(os, "RTLD_NOLOAD", 0) | ctypes.RTLD_LOCAL)
        except OSError:
            continue
        for name in ("blas_thread_shutdown_", "blas_thread_shutdown64_", "scipy_blas_thread_shutdown_"):
            shutdown = getattr(lib, name, None)
            if shutdown is not None:
                shutdown.restype = ctypes.c_int
                shutdown()
                asked += 1
                break
    return asked


def unsafe_after_setup():
    """Why the process must not fork kernels after the setup cells, or None."""
    import threading

    if "numpy" in sys.modules and _stop_openblas_pools():
        # The pool's threads are told to end and joined; the kernel drops them from the task
        # list a moment later.
        import time

        deadline = time.monotonic() + 0.5
        while len(os.listdir("/proc/self/task")) > 1 and time.monotonic() < deadline:
            time.sleep(0.002)
    if threading.active_count() != 1:
        return "a setup cell left threads running: %s" % [t.name for t in threading.enumerate()]
    try:
        tasks = os.listdir("/proc/self/task")
        if len(tasks) != 1:
            return "a setup cell left native threads running (%d)" % len(tasks)
    except OSError:
        pass
    zmq = sys.modules.get("zmq")
    if zmq is not None and getattr(zmq.Context, "_instance", None) is not None:
        return "a setup cell created a zmq Context"
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None:
        try:
            policy = asyncio.get_event_loop_policy()
            local = getattr(policy, "_local", None)
            if getattr(local, "_loop", None) is not None:
                return "a setup cell set an asyncio event loop"
        except Exception:
            pass
        if asyncio._get_running_loop() is not None:
            return "an asyncio event loop is running"
    return None
