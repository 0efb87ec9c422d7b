"""Two per-request costs of ipykernel 6 that buy nothing for a client such as nbhook.

Loaded as an IPython extension by every ipykernel kernel nbhook starts, spawned or forked: nbhook's
ipython_kernel_config.json lists it in ``IPKernelApp.extra_extensions`` (src/kernel/ipython-config.ts),
and the fork server imports it before forking, so a forked kernel only runs ``load_ipython_extension``.
An extension, rather than patches the fork server applies before forking, so that spawned kernels get
the same kernel as forked ones, and so that the kernel's own environment decides:
``NBHOOK_KERNEL_TWEAKS=0`` leaves ipykernel as it is.

1. ``OutStream.flush`` (sys.stdout/sys.stderr of the kernel) hands a flush to the IOPub thread and
   waits for it, even when nothing was written: ipykernel flushes both streams around every request,
   ~20 % of a short execute (``npm run bench:kernel``, docs/performance.md). Here a flush with nothing
   to send returns at once. The IOPub thread sends everything in the order it was scheduled, so the
   outputs of a cell still reach the client before its ``idle``; what the skipped wait gave was only
   that the ``execute_reply`` (on the shell socket) left after them, and nbhook ends a cell only once
   it has both the reply and ``idle``. "Nothing to send" is checked so that a flush the IOPub thread
   is running right now (it has taken the buffer, not yet queued the ``stream`` message) is waited
   for as before: see ``_nothing_to_flush``.

2. ``Kernel._flush_control_queue``, before every shell request, wakes the control thread to drain
   its socket and queue a marker; ipykernel 6 does not even wait for the marker (the coroutine
   returns the future without awaiting it), so the request never waited for queued control
   messages. Control messages (interrupt, shutdown, debug) are still received and handled by the
   control thread as they come, with or without it. ~10 % of a short request (the control thread
   takes the GIL from the main thread).

Gated on ipykernel major version 6 (the code both replace was read and measured on 6.17), and on
the attributes they rely on; otherwise the kernel is left as it is and the kernel log says why.
"""

import os
import sys

TESTED_IPYKERNEL_MAJORS = ("6",)
OFF_SWITCH = "NBHOOK_KERNEL_TWEAKS"

# What was applied in this process (the tests read it through the kernel).
applied = []
skipped = None


def _log(message):
    try:
        sys.__stderr__.write("[nbhook] kernel tweaks: %s\n" % message)
        sys.__stderr__.flush()
    except Exception:
        pass


def _nothing_to_flush(stream):
    """Whether a flush of an ipykernel OutStream has nothing to send and nothing to wait for.

    The IOPub thread's ``_flush`` first clears ``_flush_pending``, then takes the buffer, then
    queues the ``stream`` message; ``_nbhook_flushing`` is set around it. Read in this order (the
    GIL makes each read atomic), a flush in progress is always seen: if ``_flush_pending`` reads
    False because ``_flush`` has begun, ``_nbhook_flushing`` was set before it and stays set until
    the message is queued, after which a wait is not needed (the queue keeps the order).
    A write from another thread puts its text in the buffer before it sets ``_flush_pending``, so a
    write seen by neither check had not reached the buffer when this flush began, as with ipykernel.
    """
    return (
        not stream._flush_pending
        and not stream._subprocess_flush_pending
        and not stream._buffer.tell()
        and not getattr(stream, "_nbhook_flushing", False)
        and stream.echo is None
    )


def _lazy_flush(OutStream):
    flush = OutStream.flush
    _flush = OutStream._flush

    def tracked_flush(self):
        # Runs on the IOPub thread (or in place when that thread is gone).
        self._nbhook_flushing = True
        try:
            return _flush(self)
        finally:
            self._nbhook_flushing = False

    def lazy_flush(self):
        if _nothing_to_flush(self):
            return None
        return flush(self)

    lazy_flush.__doc__ = flush.__doc__
    lazy_flush._nbhook_original = flush
    tracked_flush._nbhook_original = _flush
    OutStream._flush = tracked_flush
    OutStream.flush = lazy_flush


def _no_control_flush(Kernel):
    original = Kernel._flush_control_queue

    async def _flush_control_queue(self):
        return None

    _flush_control_queue._nbhook_original = original
    Kernel._flush_control_queue = _flush_control_queue


def apply():
    """Patches ipykernel's classes in this process, once; returns what was applied."""
    global skipped
    if applied or skipped:
        return applied
    if os.environ.get(OFF_SWITCH) == "0":
        skipped = "off (%s=0)" % OFF_SWITCH
        _log(skipped)
        return applied
    try:
        import ipykernel
        from ipykernel import iostream, kernelbase
    except Exception as err:
        skipped = "ipykernel not importable: %s" % err
        _log(skipped)
        return applied
    version = getattr(ipykernel, "__version__", "?")
    if version.split(".")[0] not in TESTED_IPYKERNEL_MAJORS:
        skipped = "ipykernel %s is not a version they were checked with" % version
        _log(skipped)
        return applied
    OutStream = iostream.OutStream
    probe = OutStream.__init__.__code__.co_names
    if all(name in probe for name in ("_flush_pending", "_subprocess_flush_pending", "_buffer", "echo")) and callable(
        getattr(OutStream, "_flush", None)
    ):
        _lazy_flush(OutStream)
        applied.append("lazy-flush")
    else:
        _log("OutStream differs from ipykernel 6.17's: its flush is left as it is")
    Kernel = kernelbase.Kernel
    if callable(getattr(Kernel, "_flush_control_queue", None)):
        _no_control_flush(Kernel)
        applied.append("no-control-flush")
    if not applied:
        skipped = "nothing to apply"
    return applied


def load_ipython_extension(ipython):
    apply()
