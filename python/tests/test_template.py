"""nbhook._template: setup cells run in the fork server's prebuilt shell, no kernel, no thread.

Each test runs in a fresh Python (the shell is a singleton, and the checks look at the process).
"""

import json
import os
import subprocess
import sys
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)

PROBE = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, %(nbhook)r)
    sys.path.insert(0, %(pkg)r)
    import _forkserver
    from nbhook import _template
    _forkserver._preimport("ipykernel_launcher")
    _forkserver._prebuild_shell('{"HistoryManager":{"enabled":false}}', "")
    shell = _forkserver._Template.shell
    cells = json.loads(sys.argv[1])
    out = []
    for code in cells:
        msgs = []
        reply = _template.run_cell(shell, code, msgs.append)
        out.append({"messages": msgs, "reply": reply, "async": _template.needs_async(shell, code)})
    out.append({"unsafe": _template.unsafe_after_setup()})
    sys.__stdout__.write("RESULT" + json.dumps(out) + "\\n")
    """
)


def run_cells(*cells):
    code = PROBE % {"nbhook": os.path.join(PYTHON_DIR, "nbhook"), "pkg": PYTHON_DIR}
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(list(cells))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")]
    if not line:
        raise AssertionError(proc.stderr)
    return json.loads(line[0][len("RESULT") :])


def streams(messages):
    return [(m["content"]["name"], m["content"]["text"]) for m in messages if m["msg_type"] == "stream"]


class RunCellTest(unittest.TestCase):
    def test_outputs_as_a_kernel_publishes_them(self):
        res = run_cells(
            "import sys, subprocess\nprint('a')\nprint('b', file=sys.stderr)\nprint('c', end='')",
            "subprocess.run(['echo', 'from fd'])\n!echo bang",
            "from IPython.display import display\nh = display('one', display_id='d1')\n41 + 1",
            "h.update('two')",
            "1/0",
        )
        self.assertEqual(streams(res[0]["messages"]), [("stdout", "a\nc"), ("stderr", "b\n")])
        self.assertEqual(res[0]["reply"], {"status": "ok", "execution_count": 1})
        # pexpect's terminal line ends, as in a kernel (the same ZMQInteractiveShell.system_piped);
        # the subprocess's output reached the stream first.
        self.assertEqual(streams(res[1]["messages"]), [("stdout", "from fd\nbang\r\n")])
        kinds = [m["msg_type"] for m in res[2]["messages"]]
        self.assertEqual(kinds, ["display_data", "execute_result"])
        self.assertEqual(res[2]["messages"][0]["content"]["transient"], {"display_id": "d1"})
        self.assertEqual(res[2]["messages"][1]["content"]["execution_count"], 3)
        self.assertEqual(res[2]["messages"][1]["content"]["data"], {"text/plain": "42"})
        self.assertEqual(res[3]["messages"][0]["msg_type"], "update_display_data")
        self.assertEqual(res[4]["reply"]["status"], "error")
        self.assertEqual(res[4]["reply"]["ename"], "ZeroDivisionError")
        self.assertEqual(res[4]["messages"][-1]["msg_type"], "error")
        self.assertEqual(res[4]["messages"][-1]["content"]["traceback"], res[4]["reply"]["traceback"])
        self.assertIsNone(res[-1]["unsafe"])

    def test_input_fails_as_without_stdin(self):
        res = run_cells("input('name? ')")
        self.assertEqual(res[0]["reply"]["ename"], "StdinNotImplementedError")
        self.assertIn("does not support input requests", res[0]["reply"]["evalue"])

    def test_refuses_threads_and_knows_top_level_await(self):
        res = run_cells("import threading, time\nthreading.Thread(target=time.sleep, args=(5,), daemon=True).start()")
        self.assertIn("threads", res[-1]["unsafe"])
        res = run_cells("1")
        self.assertFalse(res[0]["async"])
        # Only checked, not run (run_cell would need the kernel's loop): a fresh probe per cell.
        code = PROBE % {"nbhook": os.path.join(PYTHON_DIR, "nbhook"), "pkg": PYTHON_DIR}
        check = code.replace("reply = _template.run_cell(shell, code, msgs.append)", "reply = None")
        proc = subprocess.run(
            [sys.executable, "-c", check, json.dumps(["import asyncio\nawait asyncio.sleep(0)"])],
            stdout=subprocess.PIPE,
            universal_newlines=True,
            timeout=60,
        )
        out = json.loads([l for l in proc.stdout.splitlines() if l.startswith("RESULT")][0][6:])
        self.assertTrue(out[0]["async"])

    def test_stops_openblas_pool_and_refuses_gui_event_loops(self):
        res = run_cells(
            "import os, numpy\nbefore = len(os.listdir('/proc/self/task'))\nbefore",
            "%gui qt",
        )
        if int(res[0]["messages"][-1]["content"]["data"]["text/plain"]) == 1:
            self.skipTest("numpy's BLAS starts no threads here (scripts/install-system-deps.sh installs one that does)")
        self.assertIsNone(res[-1]["unsafe"])  # OpenBLAS's pool stopped: nothing else ran
        # A GUI event loop needs a kernel: refused, with the reason (%gui prints it; the
        # %matplotlib magic with a GUI backend fails the cell and the kernels run it themselves).
        self.assertIn("cannot start the 'qt' event loop", json.dumps(res[1]["messages"]))


if __name__ == "__main__":
    unittest.main()
