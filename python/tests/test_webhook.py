"""Tests of the in-kernel helper. Run: /usr/bin/python3 -m unittest discover -s python/tests

The ``respond_*`` tests use a real IPython ``InteractiveShell`` and capture what ``display``
publishes, so the whole path (``display(bundle, raw=True)`` -> display publisher) is exercised.
"""

import base64
import contextlib
import datetime
import decimal
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest
import uuid
import warnings
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
sys.path.insert(0, PYTHON_DIR)

import nbhook  # noqa: E402
from nbhook import _jsonable, webhook  # noqa: E402

RESPONSE_MIME = "application/vnd.nbhook.response+json"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01"
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"

try:
    import IPython  # noqa: F401

    HAVE_IPYTHON = True
except ImportError:  # the pyenv python on PATH has no IPython
    HAVE_IPYTHON = False

try:
    import numpy
    import pandas
except ImportError:
    numpy = pandas = None


@unittest.skipUnless(HAVE_IPYTHON, "needs IPython (run with /usr/bin/python3)")
class RespondTest(unittest.TestCase):
    """Each respond_* displays exactly one bundle: the response next to its rendering."""

    @classmethod
    def setUpClass(cls):
        from IPython.core.interactiveshell import InteractiveShell

        cls.shell = InteractiveShell.instance()

    def setUp(self):
        self.published = []

        def publish(data, metadata=None, **_kwargs):
            self.published.append((data, metadata))

        patcher = mock.patch.object(self.shell.display_pub, "publish", publish)
        patcher.start()
        self.addCleanup(patcher.stop)
        # Answers are inline unless a test runs as a server does (answer_folder).
        environment = mock.patch.dict(os.environ)
        environment.start()
        self.addCleanup(environment.stop)
        for name in ("NBHOOK_RUN", "NBHOOK_ANSWER_DIR"):
            os.environ.pop(name, None)

    def bundle(self):
        self.assertEqual(len(self.published), 1, "exactly one display")
        data, metadata = self.published[0]
        self.assertEqual(metadata, {})
        return data

    def test_respond_html(self):
        webhook.respond_html("<h1>Hello, world!</h1>")
        self.assertEqual(
            self.bundle(),
            {
                RESPONSE_MIME: {
                    "content_type": "text/html",
                    "data": "<h1>Hello, world!</h1>",
                    "encoding": "utf-8",
                },
                "text/html": "<h1>Hello, world!</h1>",
                "text/plain": "Response set: text/html (22 bytes)",
            },
        )

    def test_respond_html_takes_objects_with_repr_html(self):
        class Table:
            def _repr_html_(self):
                return "<table></table>"

        webhook.respond_html(Table())
        self.assertEqual(self.bundle()[RESPONSE_MIME]["data"], "<table></table>")

    def test_respond_json(self):
        webhook.respond_json({"foo": "bar", "n": [1, 2.5, None], "é": True})
        text = '{"foo": "bar", "n": [1, 2.5, null], "é": true}'
        self.assertEqual(
            self.bundle(),
            {
                RESPONSE_MIME: {"content_type": "application/json", "data": text, "encoding": "utf-8"},
                "application/json": {"foo": "bar", "n": [1, 2.5, None], "é": True},
                "text/plain": "Response set: application/json (47 bytes)",
            },
        )

    def test_respond_json_parses_serialized_objects_like_naas(self):
        webhook.respond_json('{"a":1}')
        webhook.respond_json("hello")
        self.assertEqual(self.published[0][0][RESPONSE_MIME]["data"], '{"a": 1}')
        self.assertEqual(self.published[1][0][RESPONSE_MIME]["data"], '"hello"')

    def test_respond_json_never_fails(self):
        webhook.respond_json({"when": datetime.date(2024, 1, 2), "err": ValueError("bad"), "x": float("inf")})
        self.assertEqual(
            self.bundle()[RESPONSE_MIME]["data"],
            '{"when": "2024-01-02", "err": {"error": "ValueError", "message": "bad"}, "x": null}',
        )

    def test_respond_text(self):
        webhook.respond_text("Hello <Naas> friends")
        self.assertEqual(
            self.bundle(),
            {
                RESPONSE_MIME: {"content_type": "text/plain", "data": "Hello <Naas> friends", "encoding": "utf-8"},
                "text/html": "<pre>Hello &lt;Naas&gt; friends</pre>",
                "text/plain": "Response set: text/plain (20 bytes)",
            },
        )

    def test_respond_markdown_sends_the_markdown_for_the_server_to_render(self):
        text = "# Hello Naas friends<br /> Do you love markdown as much as we do?"
        webhook.respond_markdown(text, status=201, headers={"X-Kind": "md"})
        self.assertEqual(
            self.bundle(),
            {
                RESPONSE_MIME: {
                    "content_type": "text/markdown",
                    "data": text,
                    "encoding": "utf-8",
                    "status": 201,
                    "headers": {"X-Kind": "md"},
                    "render": "text/html",
                },
                "text/markdown": text,
                "text/plain": "Response set: text/markdown (65 bytes), answered as text/html",
            },
        )

    def test_respond_markdown_takes_bytes_and_none(self):
        webhook.respond_markdown("Zoë **bold**".encode("utf-8"))
        webhook.respond_markdown(None)
        self.assertEqual([data[RESPONSE_MIME]["data"] for data, _ in self.published], ["Zoë **bold**", ""])
        self.assertEqual(
            self.published[0][0]["text/plain"],
            "Response set: text/markdown (13 bytes), answered as text/html",
        )

    def test_respond_csv_text_is_sent_as_is(self):
        csv_text = "\nSally Whittaker,2018,McCarren House,312,3.75\n"
        webhook.respond_csv(csv_text)
        self.assertEqual(
            self.bundle(),
            {
                RESPONSE_MIME: {"content_type": "text/csv", "data": csv_text, "encoding": "utf-8"},
                "text/html": "<pre>" + csv_text + "</pre>",
                "text/plain": "Response set: text/csv (46 bytes)",
            },
        )

    def test_respond_csv_rows(self):
        webhook.respond_csv([{"a": 1, "b": "x,y"}, {"a": 2, "c": None}])
        webhook.respond_csv([["a", "b"], [1, 'say "hi"']])
        self.assertEqual(self.published[0][0][RESPONSE_MIME]["data"], 'a,b,c\n1,"x,y",\n2,,\n')
        self.assertEqual(self.published[1][0][RESPONSE_MIME]["data"], 'a,b\n1,"say ""hi"""\n')

    def test_respond_csv_rejects_other_values(self):
        with self.assertRaises(TypeError):
            webhook.respond_csv(42)
        self.assertEqual(self.published, [])

    @unittest.skipIf(pandas is None, "needs pandas")
    def test_respond_csv_dataframe(self):
        frame = pandas.DataFrame({"name": ["Sally", "Jeff"], "year": [2018, 2017]})
        webhook.respond_csv(frame)
        bundle = self.bundle()
        self.assertEqual(
            bundle[RESPONSE_MIME],
            {"content_type": "text/csv", "data": ",name,year\n0,Sally,2018\n1,Jeff,2017\n", "encoding": "utf-8"},
        )
        self.assertEqual(bundle["text/html"], frame.to_html())

    @unittest.skipIf(pandas is None, "needs pandas")
    def test_naas_respond_csv_dataframe_as_naas(self):
        import naas

        frame = pandas.DataFrame(
            {"name": ["Sally", 'Jeff "J"'], "year": [2018, 2017], "note": ["a;b", "x & y"]},
            index=pandas.Index(["r1", "r2"]),
        )
        naas.webhook.respond_csv(frame, headers={"X-Kind": "naas"})
        bundle = self.bundle()
        self.assertEqual(
            bundle[RESPONSE_MIME],
            {
                "content_type": "text/csv",
                "data": '"";"name";"year";"note"\n'
                '"r1";"Sally";"2018";"a;b"\n'
                '"r2";"Jeff ""J""";"2017";"x & y"\n',
                "encoding": "utf-8",
                "headers": {"X-Kind": "naas"},
            },
        )
        self.assertEqual(bundle["text/html"], frame.to_html())

    @unittest.skipIf(pandas is None, "needs pandas")
    def test_naas_respond_csv_keeps_text_and_rows(self):
        import naas

        naas.webhook.respond_csv("a,b\n1,2\n")
        naas.webhook.respond_csv([["a", "b"], [1, 2]])
        self.assertEqual(
            [data[RESPONSE_MIME]["data"] for data, _ in self.published], ["a,b\n1,2\n", "a,b\n1,2\n"]
        )

    def test_naas_csv_from_html_reads_the_first_table_only(self):
        page = (
            "<p>x</p><table><thead><tr><th></th><th>a &amp; b</th></tr></thead>"
            "<tbody><tr><th>0</th><td> <b>bold</b> text </td></tr></tbody></table>"
            "<table><tr><td>second</td></tr></table>"
        )
        self.assertEqual(webhook.naas_csv_from_html(page), '"";"a & b"\n"0";"boldtext"\n')

    def test_respond_svg(self):
        svg = '<svg xmlns="http://www.w3.org/2000/svg"><circle r="1"/></svg>'
        webhook.respond_svg(svg)
        self.assertEqual(
            self.bundle(),
            {
                RESPONSE_MIME: {"content_type": "image/svg+xml", "data": svg, "encoding": "utf-8"},
                "image/svg+xml": svg,
                "text/plain": "Response set: image/svg+xml (61 bytes)",
            },
        )

    def test_respond_image_detects_the_type(self):
        for data, content_type in ((PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif")):
            self.published.clear()
            webhook.respond_image(data)
            encoded = base64.b64encode(data).decode("ascii")
            self.assertEqual(
                self.bundle(),
                {
                    RESPONSE_MIME: {"content_type": content_type, "data": encoded, "encoding": "base64"},
                    content_type: encoded,
                    "text/plain": "Response set: {} ({} bytes)".format(content_type, len(data)),
                },
            )

    def test_respond_image_with_a_download_name(self):
        webhook.respond_image(bytearray(PNG), "plots/chart.png")
        self.assertEqual(self.bundle()[RESPONSE_MIME]["filename"], "chart.png")

    def test_respond_image_from_a_path(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "pic.gif")
            with open(path, "wb") as f:
                f.write(GIF)
            webhook.respond_image(path)
            webhook.respond_image(filename=path)  # IPython.display.Image(filename=...) under Naas
        for data, _ in self.published:
            self.assertEqual(
                data[RESPONSE_MIME],
                {
                    "content_type": "image/gif",
                    "data": base64.b64encode(GIF).decode("ascii"),
                    "encoding": "base64",
                    "filename": "pic.gif",
                },
            )

    def test_respond_image_rejects_unknown_bytes(self):
        with self.assertRaisesRegex(ValueError, "PNG, JPEG or GIF"):
            webhook.respond_image(b"<svg/>")

    def test_respond_file_is_binary(self):
        content = bytes(range(256))
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "data.csv")
            with open(path, "wb") as f:
                f.write(content)
            webhook.respond_file(path)
            webhook.respond_file(path, filename="report.bin")
            webhook.respond_file(path, filename="renamed")
        encoded = base64.b64encode(content).decode("ascii")
        self.assertEqual(
            self.published[0][0],
            {
                RESPONSE_MIME: {
                    "content_type": "text/csv",
                    "data": encoded,
                    "encoding": "base64",
                    "filename": "data.csv",
                },
                "text/plain": "Response set: text/csv, data.csv (256 bytes)",
            },
        )
        self.assertEqual(self.published[1][0][RESPONSE_MIME]["content_type"], "application/octet-stream")
        self.assertEqual(self.published[1][0][RESPONSE_MIME]["filename"], "report.bin")
        # A download name without an extension keeps the type of the file itself.
        self.assertEqual(self.published[2][0][RESPONSE_MIME]["content_type"], "text/csv")

    def answer_folder(self):
        """A server run with a temporary NBHOOK_ANSWER_DIR, for the rest of the test."""
        folder = tempfile.mkdtemp(prefix="nbhook-test-answers-")
        self.addCleanup(shutil.rmtree, folder, True)
        run = json.dumps({"path": "/srv/report.ipynb", "url": "http://127.0.0.1:5000/notebook/t"})
        patcher = mock.patch.dict(os.environ, {"NBHOOK_RUN": run, "NBHOOK_ANSWER_DIR": folder})
        patcher.start()
        self.addCleanup(patcher.stop)
        return folder

    def test_respond_file_on_a_server_references_a_copy(self):
        folder = self.answer_folder()
        content = bytes(range(256)) * 40
        with tempfile.TemporaryDirectory() as source:
            path = os.path.join(source, "data.csv")
            with open(path, "wb") as f:
                f.write(content)
            webhook.respond_file(path, status=201, headers={"X-Kind": "blob"})
            # The notebook may change or delete its file at once: the answer is the copy.
            with open(path, "wb") as f:
                f.write(b"changed")
        bundle = self.bundle()
        response = bundle[RESPONSE_MIME]
        copy = response["file"]
        self.assertEqual(
            response,
            {
                "content_type": "text/csv",
                "file": copy,
                "size": len(content),
                "filename": "data.csv",
                "status": 201,
                "headers": {"X-Kind": "blob"},
            },
        )
        self.assertEqual(bundle["text/plain"], "Response set: text/csv, data.csv (10240 bytes)")
        own = os.path.dirname(copy)
        self.assertTrue(os.path.isabs(copy))
        self.assertEqual(os.path.dirname(own), os.path.abspath(folder))
        self.assertTrue(os.path.basename(own).startswith("nbhook-answer-"))
        self.assertEqual(os.stat(own).st_mode & 0o777, 0o700)
        with open(copy, "rb") as f:
            self.assertEqual(f.read(), content)

    def test_each_respond_file_gets_its_own_copy(self):
        folder = self.answer_folder()
        with tempfile.TemporaryDirectory() as source:
            path = os.path.join(source, "a.bin")
            with open(path, "wb") as f:
                f.write(b"x")
            webhook.respond_file(path)
            webhook.respond_file(path, filename="b.bin")
        copies = [data[RESPONSE_MIME]["file"] for data, _ in self.published]
        self.assertEqual(len(set(copies)), 2)
        self.assertEqual(len(os.listdir(folder)), 2)

    def test_respond_file_creates_the_answer_folder(self):
        parent = self.answer_folder()
        folder = os.path.join(parent, "answers")
        with mock.patch.dict(os.environ, {"NBHOOK_ANSWER_DIR": folder}):
            with tempfile.TemporaryDirectory() as source:
                path = os.path.join(source, "a.bin")
                with open(path, "wb") as f:
                    f.write(b"x")
                webhook.respond_file(path)
        self.assertEqual(os.stat(folder).st_mode & 0o777, 0o700)
        self.assertEqual(os.path.dirname(os.path.dirname(self.bundle()[RESPONSE_MIME]["file"])), folder)

    def test_respond_file_failing_leaves_no_copy(self):
        folder = self.answer_folder()
        with tempfile.TemporaryDirectory() as source:
            path = os.path.join(source, "a.bin")
            with open(path, "wb") as f:
                f.write(b"x")
            with self.assertRaises(ValueError):
                webhook.respond_file(path, status=99)
            with self.assertRaises(FileNotFoundError):
                webhook.respond_file(os.path.join(source, "missing.bin"))
            with self.assertRaises(IsADirectoryError):
                webhook.respond_file(source)
        self.assertEqual(os.listdir(folder), [])
        self.assertEqual(self.published, [])

    def test_respond_file_defaults_to_the_system_temporary_folder_on_a_server(self):
        self.answer_folder()
        temporary = tempfile.mkdtemp(prefix="nbhook-test-tmp-")
        self.addCleanup(shutil.rmtree, temporary, True)
        with mock.patch.dict(os.environ, {"NBHOOK_ANSWER_DIR": ""}), mock.patch.object(
            tempfile, "tempdir", temporary
        ):
            with tempfile.TemporaryDirectory() as source:
                path = os.path.join(source, "a.bin")
                with open(path, "wb") as f:
                    f.write(b"x")
                webhook.respond_file(path)
        copy = self.bundle()[RESPONSE_MIME]["file"]
        expected = os.path.join(temporary, "nbhook-answers-{}".format(os.getuid()))
        self.assertEqual(os.path.dirname(os.path.dirname(copy)), expected)

    def test_respond_file_is_inline_outside_a_server_run_and_in_setup_cells(self):
        folder = self.answer_folder()
        with tempfile.TemporaryDirectory() as source:
            path = os.path.join(source, "a.bin")
            with open(path, "wb") as f:
                f.write(b"\x00\x01")
            # Someone's Jupyter, or nbhook run: nobody would remove a copy.
            with mock.patch.dict(os.environ, {"NBHOOK_RUN": ""}):
                webhook.respond_file(path)
            # A setup cell's outputs are shown in every call of a prepared kernel: inline.
            with mock.patch.dict(os.environ, {"NBHOOK_RUN": json.dumps({"path": "/x.ipynb", "setup": True})}):
                webhook.respond_file(path)
        self.assertEqual(len(self.published), 2)
        for data, _ in self.published:
            self.assertEqual(data[RESPONSE_MIME]["data"], "AAE=")
            self.assertNotIn("file", data[RESPONSE_MIME])
        self.assertEqual(os.listdir(folder), [])

    def test_respond_file_type_of_compressed_and_unknown_files(self):
        with tempfile.TemporaryDirectory() as folder:
            for name in ("a.csv.gz", "a.unknownext"):
                with open(os.path.join(folder, name), "wb") as f:
                    f.write(b"x")
                webhook.respond_file(os.path.join(folder, name))
        types = [data[RESPONSE_MIME]["content_type"] for data, _ in self.published]
        self.assertEqual(types, ["application/gzip", "application/octet-stream"])

    def test_respond_notebook(self):
        webhook.respond_notebook()
        self.assertEqual(
            self.bundle(),
            {
                RESPONSE_MIME: {"content_type": "text/html", "data": "", "encoding": "utf-8", "kind": "notebook"},
                "text/plain": "Response set: the executed notebook, as text/html",
            },
        )

    def test_status_and_headers(self):
        webhook.respond_text("created", status=201, headers={"X-Id": 7, "Cache-Control": "no-store"})
        self.assertEqual(
            self.bundle()[RESPONSE_MIME],
            {
                "content_type": "text/plain",
                "data": "created",
                "encoding": "utf-8",
                "status": 201,
                "headers": {"X-Id": "7", "Cache-Control": "no-store"},
            },
        )

    def test_bad_status_and_headers_are_refused(self):
        for kwargs in ({"status": 99}, {"status": True}, {"status": "200"}, {"headers": {"Bad Name": "x"}},
                       {"headers": {"X": "a\r\nInjected: 1"}}, {"headers": ["X"]}):
            with self.assertRaises((ValueError, TypeError), msg=str(kwargs)):
                webhook.respond_html("x", **kwargs)
        self.assertEqual(self.published, [])

    def test_generic_respond(self):
        webhook.respond(b"\x00\x01", "application/pdf", filename="a.pdf")
        self.assertEqual(
            self.bundle(),
            {
                RESPONSE_MIME: {"content_type": "application/pdf", "data": "AAE=", "encoding": "base64", "filename": "a.pdf"},
                "text/plain": "Response set: application/pdf, a.pdf (2 bytes)",
            },
        )

    def test_top_level_names(self):
        self.assertIs(nbhook.respond_json, webhook.respond_json)


class JsonableTest(unittest.TestCase):
    def test_plain_values_match_json_dumps(self):
        value = {"a": [1, 2.5, "x", None, True], "b": {"c": "d"}}
        self.assertEqual(_jsonable.dumps(value), json.dumps(value))

    def test_non_ascii_is_written_as_utf8(self):
        self.assertEqual(_jsonable.dumps({"é": "日本"}), '{"é": "日本"}')

    def test_unserializable_values(self):
        class Plain:
            def __init__(self):
                self.x = 1
                self._hidden = 2

        class WithToDict:
            def to_dict(self):
                return {"k": datetime.time(1, 2, 3)}

        class Color(__import__("enum").Enum):
            RED = "red"

        value = {
            "dt": datetime.datetime(2024, 5, 6, 7, 8, 9, 10),
            "d": datetime.date(2024, 5, 6),
            "td": datetime.timedelta(minutes=1, milliseconds=500),
            "dec": [decimal.Decimal("3"), decimal.Decimal("1.10"), decimal.Decimal("NaN")],
            "set": {3, 1, 2},
            "tuple": (1, "a"),
            "bytes": [b"abc", b"\xff\x00"],
            "exc": KeyError("k"),
            "nan": [float("nan"), float("-inf")],
            "uuid": uuid.UUID(int=1),
            "plain": Plain(),
            "to_dict": WithToDict(),
            "enum": Color.RED,
            "range": range(3),
            1: "int key",
            None: "none key",
            (1, 2): "tuple key",
            datetime.date(2020, 1, 1): "date key",
            "func": len,
        }
        self.assertEqual(
            _jsonable.dumps(value),
            '{"dt": "2024-05-06T07:08:09.000010", "d": "2024-05-06", "td": 60.5, '
            '"dec": [3, 1.1, null], "set": [1, 2, 3], "tuple": [1, "a"], '
            '"bytes": ["abc", "/wA="], "exc": {"error": "KeyError", "message": "\'k\'"}, '
            '"nan": [null, null], "uuid": "00000000-0000-0000-0000-000000000001", '
            '"plain": {"x": 1}, "to_dict": {"k": "01:02:03"}, "enum": "red", "range": [0, 1, 2], '
            '"1": "int key", "null": "none key", "(1, 2)": "tuple key", "2020-01-01": "date key", '
            '"func": "<built-in function len>"}',
        )

    def test_circular_references(self):
        loop = [1]
        loop.append(loop)
        self.assertEqual(_jsonable.dumps(loop), '[1, "<circular reference>"]')
        shared = [1]
        self.assertEqual(_jsonable.dumps([shared, shared]), "[[1], [1]]")

    def test_unprintable_objects(self):
        class Broken:
            __slots__ = ()

            def __str__(self):
                raise RuntimeError("no")

            def __repr__(self):
                raise RuntimeError("no")

        self.assertEqual(_jsonable.dumps([Broken()]), '["<unserializable Broken>"]')

    @unittest.skipIf(numpy is None, "needs numpy and pandas")
    def test_numpy_and_pandas(self):
        frame = pandas.DataFrame(
            {"a": [1, 2], "b": [0.5, numpy.nan], "t": pandas.to_datetime(["2024-01-01", None])}
        )
        value = {
            "int": numpy.int64(3),
            "float": numpy.float32(0.5),
            "bool": numpy.bool_(True),
            "array": numpy.array([[1, 2], [3, 4]]),
            "nanarray": numpy.array([numpy.nan, 1.0]),
            "dt64": numpy.datetime64("2024-01-02T03:04:05"),
            "frame": frame,
            "series": pandas.Series([1, 2], index=["x", "y"]),
            "ts": pandas.Timestamp("2024-01-02 03:04:05"),
            "nat": pandas.NaT,
            numpy.int64(5): "numpy key",
        }
        self.assertEqual(
            _jsonable.dumps(value),
            '{"int": 3, "float": 0.5, "bool": true, "array": [[1, 2], [3, 4]], "nanarray": [null, 1.0], '
            '"dt64": "2024-01-02T03:04:05", '
            '"frame": [{"a": 1, "b": 0.5, "t": "2024-01-01T00:00:00"}, {"a": 2, "b": null, "t": null}], '
            '"series": {"x": 1, "y": 2}, "ts": "2024-01-02T03:04:05", "nat": null, "5": "numpy key"}',
        )


class NaasCompatibilityTest(unittest.TestCase):
    def setUp(self):
        patcher = mock.patch.dict(os.environ, {}, clear=False)
        patcher.start()
        self.addCleanup(patcher.stop)
        for name in ("NBHOOK_RUN", "NBHOOK_WEBHOOK_URL"):
            os.environ.pop(name, None)
        import naas

        self.naas = naas
        naas.n_env.current = {}
        self.addCleanup(setattr, naas.n_env, "current", {})

    def quiet(self, function, *args, **kwargs):
        with contextlib.redirect_stdout(io.StringIO()) as out:
            result = function(*args, **kwargs)
        return result, out.getvalue()

    def test_aliases(self):
        import naas.webhook
        import naas.secrets

        # naas.webhook is nbhook.webhook's functions, respond_csv aside (Naas's CSV).
        self.assertIs(naas.webhook.respond_json, nbhook.webhook.respond_json)
        self.assertIs(naas.webhook.add, nbhook.webhook.add)
        self.assertIsNot(naas.webhook.respond_csv, nbhook.webhook.respond_csv)
        self.assertEqual(sorted(naas.webhook.__all__), sorted(nbhook.webhook.__all__))
        self.assertIs(naas.secrets, nbhook.secret)
        self.assertIs(self.naas.n_env, nbhook.n_env)
        self.assertIs(self.naas.assets, self.naas.asset)
        self.assertIs(self.naas.notifications, self.naas.notification)

    def test_api_alias_warns(self):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.assertIs(self.naas.api.respond_json, webhook.respond_json)
        self.assertEqual(len(caught), 1)
        self.assertIn("naas.webhook", str(caught[0].message))

    def test_n_env_current_can_be_assigned(self):
        self.naas.n_env.current = {"uid": "u", "path": "a.ipynb", "env": "RUNNER", "runtime": "1"}
        self.assertTrue(nbhook.run.in_run())

    def test_secret_get(self):
        os.environ["NBHOOK_SECRET_API_KEY"] = "prefixed"
        os.environ["OTHER_KEY"] = "plain"
        self.assertEqual(self.naas.secret.get("API_KEY"), "prefixed")
        self.assertEqual(self.naas.secret.get("OTHER_KEY"), "plain")
        self.assertEqual(self.naas.secret.get("other-key"), "plain")
        self.assertIsNone(self.naas.secret.get("MISSING_XYZ"))
        self.assertEqual(self.naas.secret.get("MISSING_XYZ") or "YOUR_X", "YOUR_X")
        self.assertIn("API_KEY", self.naas.secret.list())

    def test_stand_ins(self):
        self.assertEqual(self.naas.dependency.add("message.md"), os.path.abspath("message.md"))
        result, out = self.quiet(self.naas.scheduler.add, recurrence="0 9 * * *")
        self.assertIsNone(result)
        self.assertIn("not supported", out)
        self.assertIsNone(self.quiet(self.naas.asset.add, "x.png", params={"inline": True})[0])
        self.assertIsNone(self.quiet(self.naas.notifications.send, email="a@b.c", content="x")[0])

    def test_management_calls_during_a_run(self):
        os.environ["NBHOOK_RUN"] = json.dumps({"path": "/srv/nb/main.ipynb"})
        os.environ["NBHOOK_WEBHOOK_URL"] = "http://localhost/notebook/tok"
        url, out = self.quiet(self.naas.webhook.add, params={"inline": True}, recurrence="x")
        self.assertEqual(url, "http://localhost/notebook/tok")
        self.assertIn("No add done", out)
        self.assertEqual(self.quiet(self.naas.webhook.find)[0], url)
        self.assertEqual(self.quiet(self.naas.webhook.add, "/srv/nb/main.ipynb")[0], url)
        self.assertIsNone(self.quiet(self.naas.webhook.add, "/srv/other/GitHub.ipynb")[0])
        for name in ("get", "clear", "get_output", "clear_output", "delete"):
            result, out = self.quiet(getattr(self.naas.webhook, name), path="x", histo="1", all=True, raw=True)
            self.assertIsNone(result)
            self.assertIn("nothing done during a run", out)
        # The read-only calls ask the server (here: none answers, so they say so).
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            os.environ["NBHOOK_URL"] = "http://127.0.0.1:{}".format(s.getsockname()[1])
        for name in ("list", "list_output", "currents"):
            result, out = self.quiet(getattr(self.naas.webhook, name), histo="1", raw=True)
            self.assertIsNone(result)
            self.assertIn("could not ask the nbhook server during this run", out)

    def test_url_is_none_when_the_runner_gave_none(self):
        os.environ["NBHOOK_RUN"] = "1"
        self.assertIsNone(self.quiet(self.naas.webhook.add)[0])

    def test_read_calls_of_an_unnamed_notebook_during_a_run_return_none(self):
        # Naas's injected cell alone marks the run: no notebook path to ask the server about.
        self.naas.n_env.current = {"uid": "u", "path": "nb.ipynb", "env": "RUNNER", "runtime": "1"}
        with mock.patch("nbhook._locate.current_notebook", return_value=None):
            for name in ("find", "list", "list_output"):
                result, out = self.quiet(getattr(self.naas.webhook, name))
                self.assertIsNone(result, name)
                self.assertIn("nothing done during this run", out)


class PlainPythonTest(unittest.TestCase):
    def test_import_without_ipython(self):
        """Importing and responding must work in a python without IPython (it just prints)."""
        code = (
            "import sys; sys.modules['IPython'] = None\n"
            "import naas, nbhook\n"
            "naas.n_env.current = {'uid': 1}\n"
            "naas.webhook.respond_json({'a': 1})\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            env=dict(os.environ, PYTHONPATH=PYTHON_DIR),
            capture_output=True,
            text=True,
            check=False,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "Response set: application/json (8 bytes)\n")


if __name__ == "__main__":
    unittest.main()
