"""The fork server as a setup template: it runs a version's setup cells, reports their messages,
then forks kernels that keep the setup state (namespace, os.environ, folder, sys.path, counts)."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(os.path.dirname(HERE), "nbhook", "_forkserver.py")
CONFIG = '{"HistoryManager":{"enabled":false}}'


class SetupTemplateTest(unittest.TestCase):
    def start(self, cells, version_env=None):
        self.tmp = tempfile.mkdtemp(prefix="nbhook-template-test-")
        setup = os.path.join(self.tmp, "setup.json")
        with open(setup, "w") as f:
            json.dump({"cells": cells, "cwd": self.tmp, "env": version_env or {"FROM_VERSION": "v"}}, f)
        env = dict(os.environ, NBHOOK_SETUP_TEMPLATE_FILE=setup)
        env["PYTHONPATH"] = os.path.dirname(HERE)
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, "ipykernel_launcher", self.tmp, CONFIG],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self.addCleanup(self.stop)
        lines = []
        while True:
            line = json.loads(self.proc.stdout.readline())
            lines.append(line)
            if "ready" in line or "refused" in line:
                return lines

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(10)

    def evaluate_in_child(self, code, launch_env):
        """Forks one kernel from the template (its profile with the config the template's shell was
        built with, as nbhook's kernels have), evaluates ``code`` in it; (execution_count, repr)."""
        from jupyter_client import BlockingKernelClient
        from jupyter_client.connect import write_connection_file

        conn = os.path.join(self.tmp, "conn.json")
        write_connection_file(conn, ip="127.0.0.1", key=b"k")
        profile = os.path.join(self.tmp, "ipython", "profile_default")
        os.makedirs(profile)
        with open(os.path.join(profile, "ipython_kernel_config.json"), "w") as f:
            f.write(CONFIG)
        launch_env = dict(launch_env, IPYTHONDIR=os.path.join(self.tmp, "ipython"))
        kernel_env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE))
        request = {"id": 1, "args": ["-f", conn], "cwd": "/", "env": dict(kernel_env, **launch_env),
                   "log": os.path.join(self.tmp, "k.log"), "launch_env": launch_env}
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        self.assertIn("pid", reply)
        client = BlockingKernelClient(connection_file=conn)
        client.load_connection_file()
        client.start_channels()
        outputs = []
        try:
            client.wait_for_ready(30)
            msg = client.execute_interactive(code, timeout=30, output_hook=outputs.append)
        finally:
            client.stop_channels()
            os.kill(reply["pid"], 9)
        result = [m for m in outputs if m["msg_type"] == "execute_result"][0]
        return msg["content"]["execution_count"], result["content"]["data"]["text/plain"]

    def test_children_keep_the_setup_state(self):
        lines = self.start(["import os, sys\nos.environ['SET'] = '1'\nsys.path.append('/p')\nY = 41\nprint('hi')"])
        self.assertTrue(lines[-1].get("ready"), lines)
        self.assertEqual(lines[0], {"cell": 0, "msg": {"msg_type": "stream", "content": {"name": "stdout", "text": "hi\n"}}})
        self.assertEqual(lines[1], {"cell": 0, "reply": {"status": "ok", "execution_count": 1}})
        code = "(Y + 1, os.environ.get('SET'), os.environ.get('FROM_VERSION'), os.environ.get('LAUNCH'), '/p' in sys.path, os.getcwd(), In[1][:9])"
        count, value = self.evaluate_in_child(code, {"LAUNCH": "l"})
        self.assertEqual(count, 2)
        self.assertEqual(value, repr((42, "1", "v", "l", True, os.path.realpath(self.tmp), "import os")))

    def test_the_versions_temp_folder_reaches_its_setup_cells_and_kernels(self):
        own = tempfile.mkdtemp(prefix="nbhook-template-own-tmp-")
        self.addCleanup(os.rmdir, own)
        lines = self.start(["import tempfile\nprint(tempfile.gettempdir())"], {"TMPDIR": own})
        self.assertTrue(lines[-1].get("ready"), lines)
        self.assertEqual(lines[0]["msg"]["content"]["text"], own + "\n")
        self.assertEqual(self.evaluate_in_child("tempfile.gettempdir()", {})[1], repr(own))

    def test_refuses_after_a_thread_or_an_error(self):
        lines = self.start(["import threading, time\nthreading.Thread(target=time.sleep, args=(9,), daemon=True).start()"])
        self.assertIn("threads", lines[-1]["refused"])
        lines = self.start(["1/0"])
        self.assertEqual(lines[-2]["reply"]["ename"], "ZeroDivisionError")
        self.assertIn("failed", lines[-1]["refused"])
        lines = self.start(["import asyncio\nawait asyncio.sleep(0)"])
        self.assertIn("top-level await", lines[-1]["refused"])


if __name__ == "__main__":
    unittest.main()
