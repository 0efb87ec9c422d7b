"""The plain fork server (python/nbhook/_forkserver.py): what it pays before forking reaches its
kernels as a spawned kernel would have it, and a kernel that ends removes nbhook's private files
of its folder (the IPython profile, the ipc sockets), leaving its log."""

import ast
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(os.path.dirname(HERE), "nbhook", "_forkserver.py")
CONFIG = '{"HistoryManager":{"enabled":false}}'
PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


class ForkServerTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nbhook-forkserver-test-")
        self.env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE), PYDEVD_DISABLE_FILE_VALIDATION="1")
        self.env.pop("NBHOOK_SETUP_TEMPLATE_FILE", None)
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, "ipykernel_launcher", self.tmp, CONFIG],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=self.env,
            cwd="/",
        )
        self.addCleanup(self.stop)
        self.ready = json.loads(self.proc.stdout.readline())
        self.next_id = 1

    def stop(self):
        self.proc.stdin.close()  # it kills the kernels left and exits
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc.stdout.close()
        subprocess.run(["rm", "-rf", self.tmp], check=False)

    def line(self):
        """The server's next line, or a failure after 30 s (a wedged server)."""
        import select

        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        self.assertTrue(ready, "no line from the fork server in 30 s")
        return json.loads(self.proc.stdout.readline())

    def launch(self, extra_env=None, files=(), kernel_config=CONFIG, by_child=False, ports=None):
        """A kernel laid out as src/kernel/launch.ts lays it out: connection file, IPYTHONDIR
        (`ipython`, nbhook's config in its profile) and ipc sockets in one folder."""
        folder = tempfile.mkdtemp(prefix="nbhook-k-", dir=self.tmp)
        for name in files:
            with open(os.path.join(folder, name), "w") as f:
                f.write("")
        profile = os.path.join(folder, "ipython", "profile_default")
        conn = {"transport": "ipc", "ip": os.path.join(folder, "k"), "key": secrets.token_hex(16),
                "signature_scheme": "hmac-sha256", "kernel_name": "python3"}
        conn.update({name: i + 1 for i, name in enumerate(PORTS)})
        conn.update(ports or {})
        conn_file = os.path.join(folder, "connection.json")
        written = [
            {"path": os.path.join(profile, "ipython_kernel_config.json"), "text": kernel_config},
            {"path": conn_file, "text": json.dumps(conn)},
        ]
        if not by_child:  # (launch.ts has the child write them)
            os.makedirs(profile)
            for item in written:
                with open(item["path"], "w") as f:
                    f.write(item["text"])
        env = dict(self.env, IPYTHONDIR=os.path.join(folder, "ipython"), **(extra_env or {}))
        request = {"id": self.next_id, "args": ["-f", conn_file], "cwd": folder, "env": env,
                   "log": os.path.join(folder, "kernel.log")}
        if by_child:
            request["files"] = written
        self.next_id += 1
        self.connection_text = written[1]["text"]
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        reply = self.line()
        pid = reply["pid"]
        self.prewarmed = reply.get("prewarmed")
        from jupyter_client import BlockingKernelClient

        client = BlockingKernelClient()
        client.load_connection_info(conn)  # as nbhook (the child may not have written the file yet)
        client.start_channels()
        self.addCleanup(client.stop_channels)
        client.wait_for_ready(30)
        return folder, pid, client

    def value(self, client, code):
        outputs = []
        client.execute_interactive(code, timeout=30, output_hook=outputs.append)
        results = [m for m in outputs if m["msg_type"] in ("execute_result", "error")]
        self.assertEqual(results[0]["msg_type"], "execute_result", results)
        return results[0]["content"]["data"]["text/plain"]

    def end(self, client, pid):
        client.shutdown()
        for _ in range(20):
            line = self.line()
            if line.get("exit") == pid:
                return line
        self.fail("no exit report for kernel %d" % pid)

    def test_the_shell_is_built_and_the_helpers_imported_before_forking(self):
        self.assertEqual(self.ready.get("shell"), "template", self.ready)
        folder, pid, client = self.launch()
        self.assertIs(self.prewarmed, True)  # nbhook skips its warm-up execute for it
        # Its first cell: count 1, nothing before it in history, the helpers loaded.
        code = "import sys; (len(In), get_ipython().execution_count, all(m in sys.modules for m in HELPERS))"
        self.value(client, "HELPERS = ('nbhook', 'naas', 'nbhook._runner'); 0")
        self.assertEqual(self.value(client, code), "(3, 2, True)")
        self.end(client, pid)

    def test_tracebacks_are_warmed_before_forking_and_the_warm_up_leaves_no_trace(self):
        folder, pid, client = self.launch()
        code = (
            "import linecache, stack_data, executing\n"
            "from IPython.core import interactiveshell\n"
            "warm = '<nbhook-fork-server-warm-traceback>'\n"
            "def keys(cls):\n"
            "    return [k for v in vars(cls).values() if isinstance(v, dict) for k in v]\n"
            "files = [k[0] if isinstance(k, tuple) else getattr(k, 'co_filename', k)\n"
            "         for cls in (stack_data.Source, executing.Source) for k in keys(cls)]\n"
            "files = [getattr(f, 'co_filename', f) for f in files]\n"
            "(warm in linecache.cache, [f for f in files if f == warm or f.endswith('_forkserver.py')],\n"
            " interactiveshell.__file__ in files)"
        )
        self.assertEqual(self.value(client, code), "(False, [], True)")
        # and a cell's error reads as it does in any kernel
        outputs = []
        client.execute_interactive("def f():\n    raise ValueError('bad')\nf()", timeout=30, output_hook=outputs.append)
        errors = [m["content"] for m in outputs if m["msg_type"] == "error"]
        self.assertEqual([(e["ename"], e["evalue"]) for e in errors], [("ValueError", "bad")])
        text = re.sub(r"\x1b\[[0-9;]*m", "", "".join(errors[0]["traceback"]))  # highlighted
        self.assertIn("----> 2     raise ValueError('bad')", text)
        self.end(client, pid)

    def test_a_kernel_keeps_the_connection_file_it_wrote_unless_its_ports_changed(self):
        folder, pid, client = self.launch(by_child=True)
        with open(os.path.join(folder, "connection.json")) as f:
            self.assertEqual(f.read(), self.connection_text)  # not rewritten: nothing to record
        self.end(client, pid)
        # hb_port 0: the kernel picks one (the first free ipc name) and records it, as ipykernel does.
        folder, pid, client = self.launch(by_child=True, ports={"hb_port": 0})
        with open(os.path.join(folder, "connection.json")) as f:
            recorded = json.load(f)
        self.assertEqual(recorded["hb_port"], 5)  # 1-4 are taken
        self.assertEqual(recorded["shell_port"], 1)
        self.end(client, pid)

    def test_the_kernel_app_is_built_before_forking_and_fitted_to_each_kernel(self):
        self.assertEqual(self.ready.get("app"), "prebuilt", self.ready)
        state = (
            "from ipykernel.kernelapp import IPKernelApp\nimport json\napp = IPKernelApp.instance()\n"
            "json.dumps([getattr(app, '_nbhook_prebuilt', False), app.connection_file, app.ipython_dir,"
            " app.profile_dir.location, app.loaded_config_files, app.config.InteractiveShell.get('ast_node_interactivity')])"
        )
        for _ in range(2):
            folder, pid, client = self.launch()
            ipython = os.path.join(folder, "ipython")
            profile = os.path.join(ipython, "profile_default")
            expected = [True, os.path.join(folder, "connection.json"), ipython, profile,
                        [os.path.join(profile, "ipython_kernel_config.json")], None]
            self.assertEqual(json.loads(ast.literal_eval(self.value(client, state))), expected)
            self.end(client, pid)
        # A kernel whose config file is not the server's builds its own app, with that config.
        folder, pid, client = self.launch(kernel_config='{"InteractiveShell":{"ast_node_interactivity":"all"}}')
        got = json.loads(ast.literal_eval(self.value(client, state)))
        self.assertEqual((got[0], got[-1]), (False, "all"))
        self.end(client, pid)

    def test_the_child_writes_the_files_it_is_given_private_to_its_user(self):
        folder, pid, client = self.launch(by_child=True)
        ipython = os.path.join(folder, "ipython")
        profile = os.path.join(ipython, "profile_default")
        for path, mode in ((ipython, 0o700), (profile, 0o700), (os.path.join(profile, "ipython_kernel_config.json"), 0o600),
                           (os.path.join(folder, "connection.json"), 0o600)):
            self.assertEqual(os.stat(path).st_mode & 0o777, mode & ~_umask(), path)
        # The kernel read them: it answers on the connection file's sockets, with the server's app.
        self.assertEqual(self.value(client, "from ipykernel.kernelapp import IPKernelApp\n"
                                            "getattr(IPKernelApp.instance(), '_nbhook_prebuilt', False)"), "True")
        self.end(client, pid)

    def test_a_kernel_whose_folder_shadows_a_helper_is_not_prewarmed(self):
        folder, pid, client = self.launch(files=("naas.py",))
        self.assertIs(self.prewarmed, False)  # it imports the folder's naas, as a spawned kernel would
        self.assertEqual(self.value(client, "import naas; naas.__file__"), repr(os.path.join(folder, "naas.py")))
        self.end(client, pid)

    def test_tempfile_chooses_the_kernels_own_folder_when_its_variables_differ(self):
        own = tempfile.mkdtemp(prefix="own-tmp-", dir=self.tmp)
        folder, pid, client = self.launch({"TMPDIR": own})
        self.assertEqual(self.value(client, "import tempfile; tempfile.gettempdir()"), repr(own))
        self.end(client, pid)
        # Same variables as the server: the folder the server chose, as a spawned kernel would.
        folder, pid, client = self.launch()
        expected = subprocess.run(
            [sys.executable, "-c", "import tempfile; print(tempfile.gettempdir())"],
            env=self.env, capture_output=True, text=True, check=True,
        ).stdout.strip()
        self.assertEqual(self.value(client, "import tempfile; tempfile.gettempdir()"), repr(expected))
        self.end(client, pid)

    def test_an_ended_kernel_leaves_its_log_and_what_the_notebook_wrote(self):
        folder, pid, client = self.launch()
        kept = os.path.join(folder, "kept.txt")
        self.value(client, "f = open(%r, 'a'); f.write('x'); 1" % kept)  # left open: flushed at the end
        line = self.end(client, pid)
        self.assertEqual(line["code"], 0, line)
        self.assertEqual(sorted(os.listdir(folder)), ["connection.json", "kept.txt", "kernel.log"])
        with open(kept) as f:
            self.assertEqual(f.read(), "x")


if __name__ == "__main__":
    unittest.main()
