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
import sys

MARKER_MIME = "application/vnd.nbhook.cell+json"


def run(payload):
    """``payload``: the JSON text of ``{"cells": [code, ...]}``. Publishes one marker per cell run."""
    from IPython import get_ipython
    from IPython.display import publish_display_data

    shell = get_ipython()
    cells = json.loads(payload)["cells"]

    mark = _fast_marker(shell) or _marker(publish_display_data)

    for index, code in enumerate(cells):
        try:
            transformed = shell.transform_cell(code)
            pre_error = None
        except Exception:  # run_cell reports it as the cell's error
            transformed = code
            pre_error = True
        if pre_error is None and shell.should_run_async(
            code, transformed_cell=transformed, preprocessing_exc_tuple=None
        ):
            mark({"cell": index, "status": "yield"})
            return
        result = shell.run_cell(code, store_history=True)
        if result.success:
            mark({"cell": index, "status": "ok", "execution_count": result.execution_count})
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


def _marker(publish_display_data):
    """Through IPython's display publisher (which flushes stdout and stderr first)."""

    def mark(content):
        publish_display_data({MARKER_MIME: content}, metadata={})
        # Waits until the I/O thread has sent it: a kernel that dies in the next cell (os._exit, a
        # crash) must not take the end of this one with it.
        sys.stdout.flush()

    return mark


def _fast_marker(shell):
    """ipykernel's way, without its waits: the streams' flushes and the marker are queued on its
    I/O thread in that order, then one wait for all three to be sent. None when the kernel is not
    an ipykernel with these parts."""
    out, err, pub = sys.stdout, sys.stderr, getattr(shell, "display_pub", None)
    thread = getattr(out, "pub_thread", None)
    parts = (
        thread is not None
        and getattr(err, "pub_thread", None) is thread
        and callable(getattr(thread, "schedule", None))
        and callable(getattr(out, "_flush", None))
        and callable(getattr(err, "_flush", None))
        and all(hasattr(pub, a) for a in ("session", "pub_socket", "topic", "parent_header"))
    )
    if not parts:
        return None

    def mark(content):
        thread.schedule(out._flush)
        thread.schedule(err._flush)
        pub.session.send(
            pub.pub_socket,
            "display_data",
            {"data": {MARKER_MIME: content}, "metadata": {}, "transient": {}},
            parent=pub.parent_header,
            ident=pub.topic,
        )
        out.flush()  # waits for the I/O thread to have sent everything queued before

    return mark
