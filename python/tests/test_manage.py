"""Unit tests of the management calls' pure parts: server and token lookup, which notebook a call is
about, file naming, argument checks, error messages. No nbhook server: the calls against the real
server are in test/integration/python-manage.test.ts.

Run: /usr/bin/python3 -m unittest discover -s python/tests
"""

import contextlib
import http.server
import io
import json
import os
import socket
import sys
import tempfile
import threading
import types
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
sys.path.insert(0, PYTHON_DIR)

from nbhook import _api, _locate, manage  # noqa: E402

ENV_NAMES = (
    "NBHOOK_URL",
    "NBHOOK_TOKEN",
    "NBHOOK_HOME",
    "NBHOOK_RUN",
    "NBHOOK_WEBHOOK_URL",
    "JPY_SESSION_NAME",
    "JUPYTER_RUNTIME_DIR",
)


def closed_port_url():
    """A loopback URL nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return "http://127.0.0.1:{}".format(port)


def quiet(function, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        result = function(*args, **kwargs)
    return result, out.getvalue()


class CleanEnvTest(unittest.TestCase):
    """A temp folder as working directory and home, and none of our variables set."""

    def setUp(self):
        patcher = mock.patch.dict(os.environ, {}, clear=False)
        patcher.start()
        self.addCleanup(patcher.stop)
        for name in ENV_NAMES:
            os.environ.pop(name, None)
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = os.path.realpath(tmp.name)
        os.environ["XDG_DATA_HOME"] = os.path.join(self.tmp, "xdg")  # no real Jupyter runtime dir
        os.environ["NBHOOK_HOME"] = os.path.join(self.tmp, "home")
        cwd = os.getcwd()
        os.chdir(self.tmp)
        self.addCleanup(os.chdir, cwd)
        # No IPython shell or kernel is running these tests, even when IPython was imported.
        for module in ("IPython", "ipykernel", "ipykernel.connect"):
            self.replace_module(module, None)

    def replace_module(self, name, value):
        """Sets ``sys.modules[name]`` for this test only (touching no other entry)."""
        missing = object()
        saved = sys.modules.get(name, missing)
        sys.modules[name] = value
        self.addCleanup(lambda: sys.modules.pop(name) if saved is missing else sys.modules.__setitem__(name, saved))

    def notebook(self, relative="nb.ipynb"):
        full = os.path.join(self.tmp, relative)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as handle:
            json.dump({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, handle)
        return full


class ServerAndTokenTest(CleanEnvTest):
    def test_url_defaults_to_the_local_server(self):
        self.assertEqual(_api.server_url(), "http://127.0.0.1:5000")
        os.environ["NBHOOK_URL"] = "http://example.test:8080/"
        self.assertEqual(_api.server_url(), "http://example.test:8080")

    def test_token_from_env_wins(self):
        os.environ["NBHOOK_TOKEN"] = " tok-env \n"
        self.assertEqual(_api.api_token(), ("tok-env", "NBHOOK_TOKEN"))

    def test_token_from_the_home_file(self):
        home = os.environ["NBHOOK_HOME"]
        os.makedirs(home)
        with open(os.path.join(home, "api-token"), "w") as handle:
            handle.write("tok-file\n")
        self.assertEqual(_api.api_token(), ("tok-file", os.path.join(home, "api-token")))

    def test_home_defaults_to_dot_nbhook(self):
        del os.environ["NBHOOK_HOME"]
        self.assertEqual(_api.token_file(), os.path.join(os.path.expanduser("~"), ".nbhook", "api-token"))

    def test_no_token_at_all(self):
        token, source = _api.api_token()
        self.assertIsNone(token)
        self.assertTrue(source.endswith("api-token"))


class ErrorMessageTest(CleanEnvTest):
    def client(self, token="secret-token"):
        return _api.Client(url="http://127.0.0.1:1", token=token)

    def test_unreachable_server_says_how_to_start_it(self):
        os.environ["NBHOOK_URL"] = closed_port_url()
        with self.assertRaises(_api.ServerUnreachable) as caught:
            manage.currents(raw=True)
        self.assertIsInstance(caught.exception, ConnectionError)
        self.assertIn("nbhook serve", str(caught.exception))
        self.assertIn("NBHOOK_URL", str(caught.exception))
        self.assertIn(os.environ["NBHOOK_URL"], str(caught.exception))

    def test_401_gives_the_token_hint(self):
        err = self.client()._error(401, b'{"error":"unauthorized","message":"x"}', None)
        self.assertIsInstance(err, _api.Unauthorized)
        self.assertIsInstance(err, PermissionError)
        self.assertIn("NBHOOK_TOKEN", str(err))
        self.assertIn("refused", str(err))
        self.assertNotIn("secret-token", str(err))

    def test_401_without_a_token_says_where_it_looked(self):
        client = _api.Client(url="http://127.0.0.1:1")
        err = client._error(401, b"", None)
        self.assertIn("no API token found", str(err))
        self.assertIn(os.path.join(os.environ["NBHOOK_HOME"], "api-token"), str(err))

    def test_404_uses_the_callers_message(self):
        err = self.client()._error(404, b'{"error":"not-found","message":"server words"}', "no webhook for /x")
        self.assertIsInstance(err, _api.NotFound)
        self.assertIsInstance(err, LookupError)
        self.assertEqual(str(err), "no webhook for /x")
        self.assertEqual(str(self.client()._error(404, b'{"message":"server words"}', None)), "server words")

    def test_other_statuses_keep_the_server_message(self):
        err = self.client()._error(422, b'{"error":"notebook-invalid","message":"cells missing"}', None)
        self.assertEqual((err.status, err.code), (422, "notebook-invalid"))
        self.assertIn("422: cells missing", str(err))
        self.assertIsInstance(self.client()._error(409, b"{}", None), _api.Conflict)

    def test_debug_redacts_the_token_and_the_notebook(self):
        client = _api.Client(url="http://127.0.0.1:1", token="secret-token", debug=True)
        body = {"path": "/a.ipynb", "notebook": {"cells": [{}, {}]}, "files": [{"path": "d.csv", "data": "QUJD"}]}
        _, out = quiet(client._print_request, "POST", "http://x/api/webhooks", {"Authorization": "Bearer secret-token"}, body)
        self.assertNotIn("secret-token", out)
        self.assertIn("Bearer <redacted>", out)
        self.assertIn("<notebook: 2 cells", out)
        self.assertIn("<4 base64 chars>", out)
        self.assertIn('"path": "/a.ipynb"', out)


class NotebookPathTest(CleanEnvTest):
    def test_a_given_path_is_made_absolute_against_the_working_directory(self):
        self.assertEqual(_locate.resolve_notebook("sub/a.ipynb", "add"), os.path.join(self.tmp, "sub", "a.ipynb"))
        self.assertEqual(_locate.resolve_notebook("/x/b.ipynb", "add"), "/x/b.ipynb")

    def test_no_path_and_nothing_to_go_on_asks_for_path(self):
        with self.assertRaises(_locate.NotebookPathError) as caught:
            _locate.resolve_notebook(None, "list")
        self.assertIsInstance(caught.exception, ValueError)
        self.assertIn('naas.webhook.list(path="my_notebook.ipynb")', str(caught.exception))

    def test_jupyter_session_name(self):
        nb = self.notebook("work/report.ipynb")
        os.environ["JPY_SESSION_NAME"] = nb
        self.assertEqual(_locate.resolve_notebook(None, "add"), nb)

    def test_relative_session_name_is_found_in_the_working_directory(self):
        nb = self.notebook("work/report.ipynb")
        os.chdir(os.path.dirname(nb))
        os.environ["JPY_SESSION_NAME"] = "work/report.ipynb"  # relative to a server root we don't know
        self.assertEqual(_locate.current_notebook(), nb)

    def test_a_session_name_that_is_not_a_notebook_file_is_skipped(self):
        os.environ["JPY_SESSION_NAME"] = "/nowhere/gone.ipynb"
        self.assertIsNone(_locate.current_notebook())
        os.environ["JPY_SESSION_NAME"] = "a1b2-console-session"
        self.assertIsNone(_locate.current_notebook())

    def test_ipython_user_namespace(self):
        nb = self.notebook("vsc.ipynb")
        shell = types.SimpleNamespace(user_ns={"__vsc_ipynb_file__": nb})
        self.replace_module("IPython", types.SimpleNamespace(get_ipython=lambda: shell))
        self.assertEqual(_locate.current_notebook(), nb)
        shell.user_ns = {"__session__": nb}
        self.assertEqual(_locate.current_notebook(), nb)
        shell.user_ns = {"__vsc_ipynb_file__": "file://" + nb}
        self.assertEqual(_locate.current_notebook(), nb)

    def test_jupyter_sessions_api_matched_by_kernel_id(self):
        nb = self.notebook("root/dir/nb.ipynb")
        runtime = os.path.join(self.tmp, "runtime")
        os.makedirs(runtime)
        seen = []

        class Sessions(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                seen.append((self.path, self.headers.get("Authorization")))
                body = json.dumps([
                    {"path": "other.ipynb", "kernel": {"id": "k-other"}},
                    {"path": "dir/nb.ipynb", "kernel": {"id": "k-1"}},
                ]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args):
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Sessions)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 5)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        with open(os.path.join(runtime, "jpserver-1.json"), "w") as handle:
            json.dump(
                {"url": "http://127.0.0.1:{}/".format(server.server_port), "token": "jt", "root_dir": os.path.join(self.tmp, "root")},
                handle,
            )
        connect = types.SimpleNamespace(get_connection_file=lambda: os.path.join(runtime, "kernel-k-1.json"))
        self.replace_module("ipykernel", types.SimpleNamespace())
        self.replace_module("ipykernel.connect", connect)
        self.assertEqual(_locate.current_notebook(), nb)
        self.assertEqual(seen, [("/api/sessions", "token jt")])


class ArgumentTest(CleanEnvTest):
    def test_histo_must_be_a_20_digit_id(self):
        self.assertEqual(manage._histo(20201008101221879662, "get"), "20201008101221879662")
        self.assertIsNone(manage._histo(None, "get"))
        self.assertIsNone(manage._histo("latest", "get", latest_ok=True))
        for bad in ("2020", "../../etc", "latest"):
            with self.assertRaisesRegex(ValueError, "20201008101221879662"):
                manage._histo(bad, "clear")

    def test_clear_without_histo_means_every_old_version(self):
        self.assertEqual(manage._histo_or_all(None, False, "clear"), (None, True))
        self.assertEqual(manage._histo_or_all("all", False, "clear"), (None, True))
        self.assertEqual(manage._histo_or_all("20201008101221879662", False, "clear"), ("20201008101221879662", False))
        with self.assertRaisesRegex(ValueError, "not both"):
            manage._histo_or_all("20201008101221879662", True, "clear")

    def test_clear_output_without_histo_means_the_latest(self):
        self.assertEqual(manage._histo_or_all(None, False, "clear_output"), (None, False))
        self.assertEqual(manage._histo_or_all(None, True, "clear_output"), (None, True))
        self.assertEqual(manage._histo_or_all("ALL", False, "clear_output"), (None, True))

    def test_params_must_be_a_json_dict(self):
        self.assertEqual(manage._params(None), {})
        self.assertEqual(manage._params({"inline": True, 1: "x"}), {"inline": True, "1": "x"})
        with self.assertRaisesRegex(TypeError, "must be a dict"):
            manage._params(["inline"])
        with self.assertRaisesRegex(TypeError, "JSON values"):
            manage._params({"when": object()})

    def test_add_reads_the_saved_file(self):
        with self.assertRaisesRegex(FileNotFoundError, "save it first"):
            quiet(manage.add, "missing.ipynb")
        with open("bad.ipynb", "w") as handle:
            handle.write("{not json")
        with self.assertRaisesRegex(ValueError, "not a notebook"):
            manage._read_notebook(os.path.abspath("bad.ipynb"))
        self.assertEqual(manage._read_notebook(self.notebook())["nbformat"], 4)

    def test_misused_keywords_are_ignored_with_a_note(self):
        os.environ["NBHOOK_URL"] = closed_port_url()
        self.notebook()
        with contextlib.redirect_stdout(io.StringIO()) as out:
            with self.assertRaises(_api.ServerUnreachable):
                manage.add("nb.ipynb", {"inline": True}, False, "extra", recurrence="0 9 * * *")
        self.assertIn("ignored 1 positional, recurrence=", out.getvalue())

    def test_dependency_files_keep_paths_under_the_notebook_folder(self):
        nb = self.notebook("proj/nb.ipynb")
        os.makedirs("proj/data")
        for name in ("proj/data/a.csv", "elsewhere.txt"):
            with open(name, "w") as handle:
                handle.write("ABC")
        files = manage._dependency_files(["proj/data/a.csv", "elsewhere.txt"], nb)
        self.assertEqual(files, [{"path": "data/a.csv", "data": "QUJD"}, {"path": "elsewhere.txt", "data": "QUJD"}])
        with self.assertRaisesRegex(FileNotFoundError, "files= entry"):
            manage._dependency_files("nope.csv", nb)

    def test_timeout_must_be_positive(self):
        self.assertEqual(manage._positive_number("30", "timeout_s"), 30)
        self.assertEqual(manage._positive_number(1.5, "timeout_s"), 1.5)
        for bad in (0, -1, "x", None):
            with self.assertRaisesRegex(ValueError, "above 0"):
                manage._positive_number(bad, "timeout_s")


class DownloadedFileTest(CleanEnvTest):
    def test_files_are_written_beside_the_notebook(self):
        nb = self.notebook("dir/report.ipynb")
        self.assertEqual(manage._target(nb, "prod_report.ipynb", "get"), os.path.join(self.tmp, "dir", "prod_report.ipynb"))

    def test_a_notebook_folder_missing_here_means_the_working_directory(self):
        self.assertEqual(manage._target("/not/here/report.ipynb", "output__report.ipynb", "get_output"), os.path.join(self.tmp, "output__report.ipynb"))

    def test_an_existing_file_is_never_overwritten(self):
        nb = self.notebook()
        target = manage._target(nb, "prod_nb.ipynb", "get")
        manage._write_new(target, b"first", "get")
        with self.assertRaisesRegex(FileExistsError, "never overwrites"):
            manage._target(nb, "prod_nb.ipynb", "get")
        with self.assertRaisesRegex(FileExistsError, "call get\\(\\) again"):
            manage._write_new(target, b"second", "get")
        with open(target, "rb") as handle:
            self.assertEqual(handle.read(), b"first")


class DuringARunTest(CleanEnvTest):
    """Nothing reaches the server during a run: NBHOOK_URL points at a closed port."""

    def setUp(self):
        super().setUp()
        os.environ["NBHOOK_URL"] = closed_port_url()
        os.environ["NBHOOK_RUN"] = json.dumps({"path": os.path.join(self.tmp, "nb.ipynb"), "run_id": "r1"})
        os.environ["NBHOOK_WEBHOOK_URL"] = "http://127.0.0.1:5000/notebook/tok"

    def test_add_and_find_give_the_running_url(self):
        url, out = quiet(manage.add, params={"inline": True}, debug=True, recurrence="x")
        self.assertEqual(url, "http://127.0.0.1:5000/notebook/tok")
        self.assertEqual(out, "No add done, you are in production\n")
        self.assertEqual(quiet(manage.add, "nb.ipynb")[0], url)
        self.assertEqual(quiet(manage.find, path="nb.ipynb")[0], url)
        self.assertIsNone(quiet(manage.add, "other.ipynb")[0])

    def test_a_relative_path_naming_the_running_notebook_matches_from_any_folder(self):
        # A run's working directory is the webhook's files folder, not the notebook's folder.
        os.environ["NBHOOK_RUN"] = json.dumps({"path": "/srv/reports/nb.ipynb"})
        self.assertEqual(quiet(manage.add, "nb.ipynb")[0], "http://127.0.0.1:5000/notebook/tok")
        self.assertEqual(quiet(manage.find, "reports/nb.ipynb")[0], "http://127.0.0.1:5000/notebook/tok")
        for other in ("other/nb.ipynb", "b.ipynb", "../nb.ipynb", "/elsewhere/nb.ipynb", 42):
            self.assertIsNone(quiet(manage.add, other)[0], other)

    def test_the_calls_that_change_or_write_files_do_nothing(self):
        for name in ("get", "clear", "get_output", "clear_output", "delete"):
            result, out = quiet(getattr(manage, name))
            self.assertIsNone(result, name)
            self.assertEqual(out, "webhook.{}(): nothing done during a run\n".format(name))
        self.assertEqual(os.listdir(self.tmp), [])  # nothing downloaded

    def test_the_read_only_calls_ask_the_server_and_say_so_when_they_cannot(self):
        for name in ("list", "list_output", "currents"):
            result, out = quiet(getattr(manage, name))
            self.assertIsNone(result, name)
            self.assertIn("webhook.{}(): could not ask the nbhook server during this run".format(name), out)
            self.assertIn("cannot reach the nbhook server at " + os.environ["NBHOOK_URL"], out)
        result, out = quiet(manage.find, "other.ipynb")
        self.assertIsNone(result)
        self.assertIn("webhook.find(): could not ask", out)

    def test_the_server_is_the_one_of_the_webhook_url_unless_nbhook_url_names_one(self):
        self.assertEqual(manage._client().url, os.environ["NBHOOK_URL"])
        del os.environ["NBHOOK_URL"]
        self.assertEqual(manage._client().url, "http://127.0.0.1:5000")
        os.environ["NBHOOK_WEBHOOK_URL"] = "https://hooks.example/team/notebook/tok?x=1"
        self.assertEqual(manage._client().url, "https://hooks.example/team")
        self.assertEqual(manage._client().timeout, manage._RUN_TIMEOUT_S)

    def test_paths_are_the_running_notebook_or_beside_it(self):
        os.environ["NBHOOK_RUN"] = json.dumps({"path": "/srv/reports/nb.ipynb"})
        self.assertEqual(manage._notebook(None, "list"), "/srv/reports/nb.ipynb")
        self.assertEqual(manage._notebook("nb.ipynb", "list"), "/srv/reports/nb.ipynb")
        self.assertEqual(manage._notebook("other.ipynb", "list"), "/srv/reports/other.ipynb")
        self.assertEqual(manage._notebook("../x/y.ipynb", "list"), "/srv/x/y.ipynb")
        self.assertEqual(manage._notebook("/elsewhere/z.ipynb", "list"), "/elsewhere/z.ipynb")


if __name__ == "__main__":
    unittest.main()
