"""Tests of nbhook._kernel_tweaks on ipykernel's real OutStream and IOPub thread (a real zmq PUB
socket, read back). Run: /usr/bin/python3 -m unittest discover -s python/tests

Each test runs in a fresh interpreter (the tweaks patch ipykernel's classes for the process).
"""

import os
import subprocess
import sys
import textwrap
import unittest

PYTHON_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

SETUP = """
import os, sys, threading, time
sys.path.insert(0, %r)
import zmq
from jupyter_client.session import Session
from ipykernel.iostream import IOPubThread, OutStream
from nbhook import _kernel_tweaks as tweaks

print("applied", tweaks.apply())
ctx = zmq.Context()
pub = ctx.socket(zmq.PUB)
port = pub.bind_to_random_port("tcp://127.0.0.1")
sub = ctx.socket(zmq.SUB)
sub.setsockopt(zmq.SUBSCRIBE, b"")
sub.connect("tcp://127.0.0.1:%%d" %% port)
thread = IOPubThread(pub)
thread.start()
session = Session(key=b"")
stream = OutStream(session, thread, "stdout", watchfd=False)
# the subscriber is connected once a message gets through
while True:
    thread.send_multipart([b"hello"])
    if sub.poll(50):
        sub.recv_multipart()
        break
while sub.poll(100):
    sub.recv_multipart()
scheduled = []
schedule = thread.schedule
def counting(f):
    scheduled.append(f)
    return schedule(f)
thread.schedule = counting


def received():
    msgs = []
    while sub.poll(200):
        frames = sub.recv_multipart()
        msgs.append(frames[0] if len(frames) == 1 else frames[0].decode())
    return msgs
""" % (PYTHON_DIR,)


def run(body, env=None):
    code = SETUP + textwrap.dedent(body)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, **(env or {})),
    )
    if out.returncode != 0:
        raise AssertionError("exit %s\n%s\n%s" % (out.returncode, out.stdout, out.stderr))
    return out.stdout


class KernelTweaksTest(unittest.TestCase):
    def test_applied_on_ipykernel_6_and_off_with_the_switch(self):
        self.assertIn("applied ['lazy-flush', 'fd-in-order', 'no-control-flush', 'cell-id-check-cached']", run("pass"))
        out = run("print('flush', OutStream.flush.__name__)", env={"NBHOOK_KERNEL_TWEAKS": "0"})
        self.assertIn("applied []", out)
        self.assertIn("flush flush", out)

    def test_the_cell_id_check_answers_as_ipykernel_once_per_function(self):
        out = run(
            """
            from ipykernel import ipkernel, kernelbase
            check, original = kernelbase._accepts_cell_id, kernelbase._accepts_cell_id._nbhook_original
            class K:
                def with_id(self, code, *, cell_id=None): pass
                def with_kwargs(self, code, **kwargs): pass
                def without(self, code, cell_id=None): pass
            k = K()
            methods = [k.with_id, k.with_kwargs, k.without, K.with_id, lambda code: None]
            print("same", [bool(check(m)) for m in methods] == [bool(original(m)) for m in methods])
            print("answers", [bool(check(m)) for m in methods])
            print("ipkernel's", ipkernel._accepts_cell_id is check)
            import inspect
            calls = []
            signature = inspect.signature
            inspect.signature = lambda f, *a, **kw: calls.append(f) or signature(f, *a, **kw)
            check(k.with_id); check(k.with_id)
            def replaced(self, code): pass
            K.with_id = replaced  # a method replaced later is asked anew
            print("asked", len(calls), "then", bool(check(k.with_id)), len(calls))
            """
        )
        self.assertIn("same True", out)
        self.assertIn("answers [True, True, False, True, False]", out)
        self.assertIn("ipkernel's True", out)
        self.assertIn("asked 0 then False 1", out)

    def test_an_empty_flush_does_not_wait_for_the_iopub_thread(self):
        out = run(
            """
            stream.flush()
            print("scheduled", len(scheduled))
            """
        )
        self.assertIn("scheduled 0", out)

    def test_written_text_leaves_before_what_is_sent_after_the_flush(self):
        out = run(
            """
            stream.write("text")
            stream.flush()
            thread.send_multipart([b"marker"])
            print("order", received())
            """
        )
        self.assertIn("order ['stream.stdout', b'marker']", out)

    def test_a_flush_running_on_the_iopub_thread_is_waited_for(self):
        # While the IOPub thread's own timed flush has taken the buffer and not yet queued the
        # stream message, a flush must not count as empty, else `idle` could overtake the text.
        out = run(
            """
            seen = []
            send = session.send
            def slow_send(*args, **kwargs):
                seen.append(tweaks._nothing_to_flush(stream))
                time.sleep(0.05)
                return send(*args, **kwargs)
            session.send = slow_send
            stream.write("late")
            thread.schedule(stream._flush)  # as the timed flush does, on the IOPub thread
            while not seen:
                time.sleep(0.001)
            stream.flush()  # the main thread's flush at the end of a cell
            thread.send_multipart([b"idle"])
            print("seen", seen)
            print("order", received())
            """
        )
        self.assertIn("seen [False]", out)
        self.assertIn("order ['stream.stdout', b'idle']", out)

    def test_the_control_queue_flush_is_gone(self):
        out = run(
            """
            import asyncio
            from ipykernel.kernelbase import Kernel
            print("result", asyncio.run(Kernel._flush_control_queue(None)))
            """
        )
        self.assertIn("result None", out)


if __name__ == "__main__":
    unittest.main()
