"""Three per-request costs of ipykernel 6 that buy nothing for a client such as nbhook, and one race.

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

3. What a subprocess writes to file descriptor 1 or 2 (``subprocess.run(['echo', ...])``, a C
   library) reaches ipykernel through a pipe its fd watcher thread reads and copies into the
   stream, whenever that thread gets to it: on a busy machine the cell has ended by then, and the
   text lands in the next cell (or after a ``print`` that came later). Here the watcher is
   replaced by one whose pipe the stream drains itself at each write and flush: what reached the
   descriptor before a ``print``, a display or the end of a cell is in the stream before it, as a
   setup template records it (python/nbhook/_template.py), so a saved notebook does not depend on
   thread timing. The thread still forwards what comes while nothing is written (a long
   subprocess), and it decodes UTF-8 incrementally: ipykernel 6's strict decode of 1000-byte
   chunks kills its watcher on a character split between two reads, and every later write to
   the descriptor is lost. See ``_FdForwarder``.

4. ``_accepts_cell_id(meth)``, twice per execute_request, computes ``inspect.signature`` of
   ``do_execute`` and ``run_cell`` again (~30 us each) to learn whether they take ``cell_id``.
   Here the answer is kept per function (a shell or kernel whose method is replaced gets it
   computed for the new function).

Gated on ipykernel major version 6 (the code these replace was read and measured on 6.17), and on
the attributes they rely on; otherwise the kernel is left as it is and the kernel log says why.
"""

import codecs
import os
import stat
import sys
import threading

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


def _cached_cell_id_check(kernelbase, ipkernel):
    import weakref

    original = kernelbase._accepts_cell_id
    known = weakref.WeakKeyDictionary()

    def _accepts_cell_id(meth):
        func = getattr(meth, "__func__", meth)  # a bound method is made anew at each access
        try:
            return known[func]
        except (KeyError, TypeError):
            pass
        answer = original(meth)
        try:
            known[func] = answer
        except TypeError:
            pass  # not weakly referenceable: asked each time, as before
        return answer

    _accepts_cell_id.__doc__ = original.__doc__
    _accepts_cell_id._nbhook_original = original
    kernelbase._accepts_cell_id = _accepts_cell_id
    if getattr(ipkernel, "_accepts_cell_id", None) is original:
        ipkernel._accepts_cell_id = _accepts_cell_id  # ipkernel imported it by name


class _FdForwarder(object):
    """Forwards a pipe that file descriptor ``fd`` writes into, to ``stream`` (an ipykernel
    OutStream), and drains it on demand.

    One lock orders the readers: the thread (``_run``) and whoever calls ``drain`` (the stream's
    write and flush, in any thread) read the pipe and put the text in the stream's buffer holding
    it, so bytes never go out of order, and a drain that returns has put in the stream every byte
    that was in the pipe when it began. ``busy`` lets a drain with nothing to read skip the lock:
    it is set, under the lock, before a reader reads, and cleared after the text is in the
    buffer; a drain reads the pipe's size first and ``busy`` second, so bytes another reader took
    before the drain began are either in the buffer or seen as busy (and the drain waits for them).
    """

    def __init__(self, stream, read_fd):
        import fcntl
        import termios

        self.stream = stream
        self.fd = read_fd
        self.lock = threading.Lock()
        self.busy = False
        self.forked = False  # set in a forked child of the kernel: the pipe is its parent's to read
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._ioctl = fcntl.ioctl
        self._fionread = termios.FIONREAD
        self.thread = threading.Thread(target=self._run, name="nbhook-fd-%s" % stream.name, daemon=True)
        self.drain = self._drain_function()

    def pending(self):
        try:
            return int.from_bytes(self._ioctl(self.fd, self._fionread, b"\0\0\0\0"), sys.byteorder)
        except OSError:
            return 0

    def _drain_function(self):
        """``drain()``: what the pipe holds into the stream's buffer. A closure over locals, as it
        runs before every write: with nothing to read it costs one ioctl (~0.4 µs)."""
        ioctl, fionread, fd, empty = self._ioctl, self._fionread, self.fd, b"\0\0\0\0"

        def drain():
            if self.forked:
                return
            try:
                if ioctl(fd, fionread, empty) == empty and not self.busy:
                    return
                # Bounded: a daemon thread frozen by the interpreter's exit keeps what it held.
                if not self.lock.acquire(timeout=1):
                    return
                try:
                    self._move(schedule=False)
                finally:
                    self.lock.release()
            except Exception:
                # A print must not fail for the pipe's sake; what is left there the thread forwards.
                self.stream._exc = sys.exc_info()

        return drain

    def _move(self, schedule):
        """Reads what the pipe holds into the stream's buffer (the lock held); False at the end of
        the pipe (every writer closed)."""
        self.busy = True
        try:
            return self._move_busy(schedule)
        finally:
            self.busy = False

    def _move_busy(self, schedule):
        stream = self.stream
        while True:
            size = self.pending()
            if not size:
                return True
            data = os.read(self.fd, size)  # the size is there and only lock holders read
            if not data:
                return False
            text = self.decoder.decode(data)
            if text:
                echo = stream.echo
                if echo is not None:
                    try:
                        echo.write(text)
                    except OSError:
                        pass
                with stream._buffer_lock:
                    stream._buffer.write(text)
                if schedule:
                    stream._schedule_flush()
            try:
                # As ipykernel's watcher: a copy to the kernel's own stdout/stderr (its log).
                os.write(stream._original_stdstream_copy, data)
            except OSError:
                pass

    def _run(self):
        import select

        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        try:
            while True:
                events = poller.poll()
                with self.lock:
                    if not self.pending() and any(ev & (select.POLLHUP | select.POLLERR) for _, ev in events):
                        return  # every writer closed, nothing left
                    self._move(schedule=True)
        except Exception:
            self.stream._exc = sys.exc_info()


def _pipe_writer_fds(pipe_fd, but):
    """This process's descriptors other than ``but`` that write into the pipe ``pipe_fd`` reads."""
    import fcntl

    inode = os.fstat(pipe_fd).st_ino
    found = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd in but:
            continue
        try:
            st = os.fstat(fd)
            if stat.S_ISFIFO(st.st_mode) and st.st_ino == inode:
                if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
                    found.append(fd)
        except OSError:
            pass
    return found


_forwarders = []


def _forked():
    for forwarder in _forwarders:
        forwarder.forked = True


def forward_fds_in_order():
    """Replaces the fd watcher threads of this kernel's sys.stdout and sys.stderr (see 3. above);
    returns the names of the streams done. Runs in the kernel, after ipykernel set its watchers up.

    ipykernel dup2'ed the write end of a pipe onto fd 1 (2) and left a second copy of that write
    end open; its thread blocks reading the pipe. Here a new pipe takes fd 1's place, the left-over
    copy is closed, so that the old thread reads what is left, copies it as before, sees the end of
    the pipe and returns; only then is the stream switched to the new pipe and its thread."""
    done = []
    for name, fd in (("stdout", 1), ("stderr", 2)):
        stream = getattr(sys, name, None)
        old = getattr(stream, "watch_fd_thread", None)
        old_read = getattr(stream, "_fid", None)
        if (
            old is None
            or old_read is None
            or not old.is_alive()
            or getattr(stream, "_should_watch", False) is not True
            or getattr(stream, "_original_stdstream_copy", None) is None
            or getattr(stream, "_nbhook_fd", None) is not None
        ):
            continue
        try:
            if os.fstat(fd).st_ino != os.fstat(old_read).st_ino:
                continue  # fd 1 is not the watcher's pipe (someone replaced it)
            leftovers = _pipe_writer_fds(old_read, but=(fd, old_read))
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            for extra in leftovers:
                os.close(extra)
        except OSError as err:
            _log("%s left to ipykernel's fd watcher: %s" % (name, err))
            continue
        old.join(1)
        if old.is_alive():
            # Some other copy of the old pipe's write end is open: its thread keeps reading the
            # old pipe, fd 1 writes to the new one, which this stream forwards as well.
            _log("ipykernel's %s watcher did not end; the new pipe is forwarded beside it" % name)
        if not old.is_alive():
            stream._fid = read_end  # (the old thread reads self._fid: only once it has ended)
        _start_forwarder(stream, read_end, replaced=True)
        done.append(name)
    return done


def _forward_from_start(OutStream):
    """A stream's fd redirect made with nbhook's forwarder from the start (see 3. above): what
    forward_fds_in_order ends up with, without ipykernel's watcher thread started only to be
    replaced (nor its left-over write end, closed here at once). It takes effect for the streams
    made after apply(): in a kernel forked by nbhook's fork server, which applies the tweaks before
    ipykernel makes its streams when the kernel's config loads this extension (init_io); a spawned
    kernel's streams exist when the extension loads, and forward_fds_in_order replaces their
    watchers then."""
    original = OutStream._setup_stream_redirects

    def setup_stream_redirects(self, name):
        read_end, write_end = os.pipe()
        fno = getattr(sys, name).fileno()
        self._original_stdstream_copy = os.dup(fno)
        os.dup2(write_end, fno)
        os.close(write_end)
        self._fid = read_end
        self._exc = None
        _start_forwarder(self, read_end, replaced=False)

    setup_stream_redirects.__doc__ = original.__doc__
    setup_stream_redirects._nbhook_original = original
    OutStream._setup_stream_redirects = setup_stream_redirects


def _start_forwarder(stream, read_end, replaced):
    if not _forwarders:
        os.register_at_fork(after_in_child=_forked)
    forwarder = _FdForwarder(stream, read_end)
    forwarder.replaced = replaced  # whether it took an ipykernel watcher's place (the tests read it)
    _forwarders.append(forwarder)
    stream._nbhook_drain = forwarder.drain
    stream._nbhook_fd = forwarder
    stream.watch_fd_thread = forwarder.thread
    forwarder.thread.start()


def _draining(OutStream):
    """The stream drains its fd pipe (see _FdForwarder) before each write, flush and send."""
    write, flush, _flush = OutStream.write, OutStream.flush, OutStream._flush

    def draining_write(self, string):
        drain = self.__dict__.get("_nbhook_drain")
        # Not before print's closing "\n": what came while print wrote its text came during the
        # print (either order is right), and a drain is a syscall (~1 µs, a write's own cost).
        if drain is not None and string != "\n":
            drain()
        return write(self, string)

    def draining_flush(self):
        drain = self.__dict__.get("_nbhook_drain")
        if drain is not None:
            drain()
        return flush(self)

    def draining_send(self):
        # On the IOPub thread: nbhook's cell runner flushes there directly (python/nbhook/_runner.py).
        drain = self.__dict__.get("_nbhook_drain")
        if drain is not None:
            drain()
        return _flush(self)

    for original, replacement in ((write, draining_write), (flush, draining_flush), (_flush, draining_send)):
        replacement.__doc__ = original.__doc__
        replacement._nbhook_original = original
    OutStream.write, OutStream.flush, OutStream._flush = draining_write, draining_flush, draining_send


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
    if all(name in probe for name in ("_buffer_lock", "_buffer", "echo")) and all(
        callable(getattr(OutStream, name, None))
        for name in ("_watch_pipe_fd", "_setup_stream_redirects", "_schedule_flush", "_flush", "write", "flush")
    ):
        _draining(OutStream)
        _forward_from_start(OutStream)
        applied.append("fd-in-order")
    Kernel = kernelbase.Kernel
    if callable(getattr(Kernel, "_flush_control_queue", None)):
        _no_control_flush(Kernel)
        applied.append("no-control-flush")
    try:
        from ipykernel import ipkernel
    except Exception:
        ipkernel = None
    if callable(getattr(kernelbase, "_accepts_cell_id", None)) and ipkernel is not None:
        _cached_cell_id_check(kernelbase, ipkernel)
        applied.append("cell-id-check-cached")
    if not applied:
        skipped = "nothing to apply"
    return applied


def load_ipython_extension(ipython):
    apply()
    if "fd-in-order" in applied:
        forward_fds_in_order()  # (a stream it already did is left as it is)
