#!/usr/bin/python3
"""Where one execute's milliseconds go on a warm ipykernel (issue 11, part 2). Not a test.

Run with Debian's Python (it has ipykernel 6.17 and jupyter_client 7.4):

    npm run bench:kernel                       # = /usr/bin/python3 bench/kernel-profile.py
    /usr/bin/python3 bench/kernel-profile.py --rounds 150 --cprofile 40

The script starts two kernels itself on loopback, each with nbhook's IPython settings (command
history off, PYDEVD_DISABLE_FILE_VALIDATION=1, the helper on PYTHONPATH):

- a plain `ipykernel_launcher` (the reference round trip, no instrumentation);
- this file run with `--kernel`: the same kernel with timers wrapped around the functions of
  one execute (message deserialisation and HMAC, Session.send per message type, status and
  execute_input publishing, the stdout/stderr flushes that wait for the IOPub thread, the
  0.5 ms `_execute_sleep`, transform_cell, should_run_async, AST parse/compile, history,
  displayhook, the user code, post_execute events…). The request's metadata (`kprof`) names the
  variant a request belongs to, so all variants are measured interleaved in the same run and
  the kernel attributes its timers per variant. A few variants change the kernel for the request
  only (`kprof_flags`): no `_execute_sleep`, no IOPub round trip for a flush with nothing to
  flush, no control-queue flush.

The job is the one of the issue's 3-cell notebook as a `reuse` call runs it: the `parameters`
cell, the injected cell (as nbhook writes it), the respond cell; `import naas` is run once first.
Each execute waits for its reply and its `idle` (as nbclient and nbhook do). Printed: one table of
client-side round trips per variant (p50/p95 of the 3 executes) and what each would change in the
saved notebook; one table of kernel-side time per execute by phase (baseline); with --cprofile N,
cProfile's top functions over N baseline calls (profiled in the kernel's main thread only).
Bounded: --rounds (default 120, at most 2000) rounds of every variant, 20 s timeout per message,
both kernels shut down (and killed if they do not end) before the script exits.
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


# ---------------------------------------------------------------------------------------------
# Kernel side: the instrumented kernel (this file run with --kernel -f CONNECTION_FILE).
# ---------------------------------------------------------------------------------------------
def run_instrumented_kernel(argv):
    import asyncio  # noqa: F401
    import threading
    import types
    from collections import defaultdict

    main_thread = threading.get_ident()
    stats = defaultdict(lambda: defaultdict(lambda: [0, 0.0]))  # tag -> name -> [count, seconds]
    state = {"tag": None, "flags": (), "depth": 0, "pending": None, "profile": None, "prof_file": None}
    perf = time.perf_counter

    mod = types.ModuleType("_kprof")
    sys.modules["_kprof"] = mod

    def record(name, dt):
        if threading.get_ident() == main_thread:
            pend = state["pending"]
            if pend is not None:
                pend.append((name, dt))
        elif state["tag"] is not None:
            slot = stats[state["tag"]]["[iopub thread] " + name]
            slot[0] += 1
            slot[1] += dt

    def wrap(owner, attr, name=None, key=None):
        fn = getattr(owner, attr)
        label = name or f"{owner.__name__}.{attr}"

        if asyncio.iscoroutinefunction(fn):

            async def awrapper(*args, **kwargs):
                t0 = perf()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    record(key(args, kwargs) if key else label, perf() - t0)

            setattr(owner, attr, awrapper)
        else:

            def wrapper(*args, **kwargs):
                t0 = perf()
                try:
                    return fn(*args, **kwargs)
                finally:
                    record(key(args, kwargs) if key else label, perf() - t0)

            setattr(owner, attr, wrapper)

    from jupyter_client import session as jc_session
    from ipykernel import kernelbase, ipkernel, iostream, displayhook, compiler
    from IPython.core import interactiveshell, history, compilerop
    import IPython.core.events as ipy_events

    S = jc_session.Session
    wrap(S, "deserialize", "Session.deserialize (json + HMAC verify)")
    wrap(S, "serialize", "Session.serialize (json + HMAC sign)")
    wrap(S, "sign", "Session.sign (HMAC)")

    def send_key(args, kwargs):
        msg = args[2] if len(args) > 2 else kwargs.get("msg_or_type")
        mtype = msg if isinstance(msg, str) else (msg or {}).get("header", {}).get("msg_type", "?")
        if mtype == "status":
            content = args[3] if len(args) > 3 else kwargs.get("content")
            mtype = f"status {(content or {}).get('execution_state', '')}"
        return f"Session.send {mtype}"

    wrap(S, "send", key=send_key)

    K = kernelbase.Kernel
    wrap(K, "_publish_status", "Kernel._publish_status")
    wrap(K, "_publish_execute_input", "Kernel._publish_execute_input")
    wrap(K, "execute_request", "Kernel.execute_request (handler total)")
    wrap(K, "init_metadata", "Kernel.init_metadata")
    wrap(K, "finish_metadata", "Kernel.finish_metadata")
    wrap(K, "pre_handler_hook", "Kernel.pre_handler_hook (SIGINT handler)")
    wrap(K, "post_handler_hook", "Kernel.post_handler_hook")
    wrap(K, "should_handle", "Kernel.should_handle")
    IK = ipkernel.IPythonKernel
    wrap(IK, "do_execute", "IPythonKernel.do_execute")
    wrap(IK, "set_parent", "IPythonKernel.set_parent")
    wrap(IK, "_forward_input", "IPythonKernel._forward_input")
    wrap(IK, "_restore_input", "IPythonKernel._restore_input")

    IS = interactiveshell.InteractiveShell
    wrap(IS, "transform_cell", "InteractiveShell.transform_cell")
    wrap(IS, "should_run_async", "InteractiveShell.should_run_async (transform + compile again)")
    wrap(IS, "run_cell_async", "InteractiveShell.run_cell_async")
    wrap(IS, "run_ast_nodes", "InteractiveShell.run_ast_nodes")
    wrap(IS, "run_code", "InteractiveShell.run_code (the user code)")
    wrap(IS, "user_expressions", "InteractiveShell.user_expressions")
    wrap(compilerop.CachingCompiler, "ast_parse", "CachingCompiler.ast_parse")
    wrap(compilerop.CachingCompiler, "cache", "CachingCompiler.cache (linecache)")
    wrap(compiler.XCachingCompiler, "get_code_name", "XCachingCompiler.get_code_name (murmur2 in Python)")
    wrap(history.HistoryManager, "store_inputs", "HistoryManager.store_inputs")
    wrap(history.HistoryManager, "store_output", "HistoryManager.store_output")
    wrap(displayhook.ZMQShellDisplayHook, "__call__", "ZMQShellDisplayHook.__call__")
    wrap(ipy_events.EventManager, "trigger", "EventManager.trigger (pre/post_execute…)")

    wrap(iostream.IOPubThread, "schedule", "IOPubThread.schedule (queue + wake the IOPub thread)")

    # The 0.5 ms sleep after the cell: a variant turns it off for its requests.
    orig_execute_request = K.execute_request

    async def execute_request(self, stream, ident, parent):
        saved = self._execute_sleep
        if "no_sleep" in state["flags"]:
            self._execute_sleep = 0
        elif self._execute_sleep:
            record("time.sleep(_execute_sleep) (0.5 ms)", self._execute_sleep)
        try:
            return await orig_execute_request(self, stream, ident, parent)
        finally:
            self._execute_sleep = saved

    K.execute_request = execute_request

    # OutStream.flush waits for the IOPub thread even when nothing was written.
    OS = iostream.OutStream
    orig_flush = OS.flush

    def flush(self):
        t0 = perf()
        skip = "lazy_flush" in state["flags"] and not self._flush_pending and not self._buffer.tell()
        try:
            if not skip:
                return orig_flush(self)
        finally:
            record(f"OutStream.flush {self.name} (waits for the IOPub thread)", perf() - t0)

    OS.flush = flush

    orig_fcq = K._flush_control_queue

    async def _flush_control_queue(self):
        t0 = perf()
        try:
            if "no_control_flush" in state["flags"]:
                return None
            return await orig_fcq(self)
        finally:
            record("Kernel._flush_control_queue", perf() - t0)

    K._flush_control_queue = _flush_control_queue

    # The request's metadata names the variant: set while deserialising, used at the end.
    orig_deserialize = S.deserialize

    def deserialize(self, *args, **kwargs):
        msg = orig_deserialize(self, *args, **kwargs)
        meta = msg.get("metadata") or {}
        if state["depth"] and isinstance(meta, dict):
            state["tag"] = meta.get("kprof")
            state["flags"] = tuple(meta.get("kprof_flags") or ())
        return msg

    S.deserialize = deserialize

    orig_dispatch = K.dispatch_shell

    async def dispatch_shell(self, msg):
        import cProfile

        state["depth"] += 1
        state["pending"] = []
        state["flags"] = ()
        prof = None
        t0 = perf()
        try:
            if state["profile"] is not None:
                prof = state["profile"]
                prof.enable()
            return await orig_dispatch(self, msg)
        finally:
            if prof is not None:
                prof.disable()
            dt = perf() - t0
            state["depth"] -= 1
            tag = state["tag"]
            pend = state["pending"]
            state["pending"] = None
            state["flags"] = ()
            if tag:
                bucket = stats[tag]
                slot = bucket["Kernel.dispatch_shell (total, deserialize to idle sent)"]
                slot[0] += 1
                slot[1] += dt
                for name, d in pend:
                    slot = bucket[name]
                    slot[0] += 1
                    slot[1] += d
            del cProfile

    K.dispatch_shell = dispatch_shell

    def report():
        out = {tag: {n: v for n, v in b.items()} for tag, b in stats.items()}
        out["_env"] = {
            "sys.gettrace()": repr(sys.gettrace()),
            "sys.getprofile()": repr(sys.getprofile()),
            "threads": [t.name for t in threading.enumerate()],
            "debugpy imported": "debugpy" in sys.modules,
            "_execute_sleep": __import__("IPython").get_ipython().kernel._execute_sleep,
            "HistoryManager.enabled": __import__("IPython").get_ipython().history_manager.enabled,
        }
        return json.dumps(out)

    def reset():
        stats.clear()

    def profile_start():
        import cProfile

        state["profile"] = cProfile.Profile()

    def profile_stop(path):
        prof = state["profile"]
        state["profile"] = None
        prof.dump_stats(path)
        return path

    mod.report = report
    mod.reset = reset
    mod.profile_start = profile_start
    mod.profile_stop = profile_stop

    from ipykernel import kernelapp

    sys.argv = [sys.argv[0]] + argv
    kernelapp.launch_new_instance()


# ---------------------------------------------------------------------------------------------
# Client side: the driver.
# ---------------------------------------------------------------------------------------------
RESPOND = "naas.webhook.respond_json({'greeting': 'hello ' + name})"
PARAMS = "name = 'world'"


def injected(i):
    return (
        "# Parameters\n"
        "inline = True\n"
        f'params = {{"name": "caller{i}"}}\n'
        "body = {}\n"
        'headers = {"host": "127.0.0.1:8080", "user-agent": "bench", "accept": "*/*"}\n'
        f'name = "caller{i}"\n'
    )


def start(cmd, env, work, name):
    """Starts a kernel from a kernelspec of our own (in work/kernels/NAME) with `cmd` as argv."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    kdir = os.path.join(work, "kernels")
    os.makedirs(os.path.join(kdir, name), exist_ok=True)
    with open(os.path.join(kdir, name, "kernel.json"), "w") as f:
        json.dump({"argv": cmd, "display_name": name, "language": "python"}, f)
    km = KernelManager(kernel_name=name, kernel_spec_manager=KernelSpecManager(kernel_dirs=[kdir]))
    km.start_kernel(env=env)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return km, kc


def send_execute(kc, code, tag, silent=False, store_history=True, flags=()):
    content = dict(
        code=code,
        silent=silent,
        store_history=store_history,
        user_expressions={},
        allow_stdin=False,
        stop_on_error=True,
    )
    msg = kc.session.msg("execute_request", content, metadata={"kprof": tag, "kprof_flags": list(flags)})
    kc.shell_channel.send(msg)
    return msg["header"]["msg_id"]


def wait_done(kc, msg_ids, timeout=20):
    """Waits for each request's reply and idle; returns the replies."""
    pending_reply = set(msg_ids)
    pending_idle = set(msg_ids)
    replies = {}
    deadline = time.monotonic() + timeout
    while pending_reply or pending_idle:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("kernel did not answer")
        if pending_reply:
            try:
                m = kc.get_shell_msg(timeout=0 if pending_idle else left)
                pid = m["parent_header"].get("msg_id")
                if pid in pending_reply:
                    pending_reply.discard(pid)
                    replies[pid] = m
                    if m["content"].get("status") != "ok":
                        raise RuntimeError(f"execute failed: {m['content']}")
                continue
            except Exception as err:  # queue.Empty
                if isinstance(err, (RuntimeError, TimeoutError)):
                    raise
        if pending_idle:
            try:
                m = kc.get_iopub_msg(timeout=min(left, 0.05))
            except Exception:
                continue
            pid = m["parent_header"].get("msg_id")
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle" and pid in pending_idle:
                pending_idle.discard(pid)
    return replies


def one_by_one(kc, specs, tag):
    for code, kw in specs:
        wait_done(kc, [send_execute(kc, code, tag, **kw)])


def pipelined(kc, specs, tag):
    ids = [send_execute(kc, code, tag, **kw) for code, kw in specs]
    wait_done(kc, ids)


def variants():
    # name, runner(kc, i, tag), what the saved notebook would show differently
    base = lambda i, **inj: [(PARAMS, {}), (injected(i), inj), (RESPOND, {})]  # noqa: E731
    flags = lambda fl: lambda i: [(c, {**kw, "flags": fl}) for c, kw in base(i)]  # noqa: E731
    return [
        ("baseline: 3 requests (nbhook today)", lambda kc, i, t: one_by_one(kc, base(i), t), "—"),
        (
            "injected cell store_history=False",
            lambda kc, i, t: one_by_one(kc, base(i, store_history=False), t),
            "the injected cell repeats the previous cell's execution_count (IPython does not "
            "count it); `_`/Out not updated for it",
        ),
        (
            "all 3 store_history=False",
            lambda kc, i, t: one_by_one(kc, [(c, {"store_history": False}) for c, _ in base(i)], t),
            "execution counts stop advancing (every cell shows the same count); `_`/Out/In not kept",
        ),
        (
            "injected cell silent=True",
            lambda kc, i, t: one_by_one(kc, base(i, silent=True), t),
            "injected cell: no execute_input, no execution_count (null), an execute_result would "
            "not be shown; streams and displays still are",
        ),
        (
            "one request, 3 cells' code joined",
            lambda kc, i, t: one_by_one(kc, [("\n".join([PARAMS, injected(i), RESPOND]), {})], t),
            "one execution count and one output list for all three: per-cell outputs, timing "
            "metadata, errors and timeouts lost unless an in-kernel runner marks cell boundaries",
        ),
        (
            "3 requests pipelined (sent at once)",
            lambda kc, i, t: pipelined(kc, base(i), t),
            "nothing (the kernel still runs them one by one; stop_on_error aborts the rest after "
            "an error); per-cell timeouts must be timed from each cell's busy, not the send",
        ),
        (
            "kernel: no _execute_sleep",
            lambda kc, i, t: one_by_one(kc, flags(["no_sleep"])(i), t),
            "nothing (ipykernel's 0.5 ms sleep after each cell, `Kernel._execute_sleep`, is a "
            "config trait: --IPythonKernel._execute_sleep=0)",
        ),
        (
            "kernel: no IOPub wait on an empty flush",
            lambda kc, i, t: one_by_one(kc, flags(["lazy_flush"])(i), t),
            "nothing for a client that waits for idle (iopub order is kept; only reply-before-"
            "stream order changes); needs a patched OutStream.flush in the kernel",
        ),
        (
            "kernel: no control-queue flush",
            lambda kc, i, t: one_by_one(kc, flags(["no_control_flush"])(i), t),
            "nothing while no control message (interrupt/shutdown) is queued",
        ),
        (
            "kernel: all three tweaks",
            lambda kc, i, t: one_by_one(kc, flags(["no_sleep", "lazy_flush", "no_control_flush"])(i), t),
            "as the three above",
        ),
        (
            "all three tweaks + pipelined",
            lambda kc, i, t: pipelined(kc, flags(["no_sleep", "lazy_flush", "no_control_flush"])(i), t),
            "as above",
        ),
    ]


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, -(-p * len(s) // 100) - 1))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=120, help="rounds of every variant (default 120)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--cprofile", type=int, default=40, help="baseline calls under cProfile (0: none)")
    ap.add_argument("--top", type=int, default=25, help="cProfile rows to print")
    args = ap.parse_args()
    rounds = max(1, min(args.rounds, 2000))

    work = tempfile.mkdtemp(prefix="nbhook-kprof-")
    ipydir = os.path.join(work, "ipython")
    os.makedirs(os.path.join(ipydir, "profile_default"))
    with open(os.path.join(ipydir, "profile_default", "ipython_kernel_config.json"), "w") as f:
        json.dump({"HistoryManager": {"enabled": False}}, f)  # as nbhook's kernels (launch.ts)
    env = dict(os.environ)
    env.update(
        IPYTHONDIR=ipydir,
        PYDEVD_DISABLE_FILE_VALIDATION="1",
        PYTHONPATH=os.path.join(REPO, "python") + os.pathsep + env.get("PYTHONPATH", ""),
    )
    env.pop("NBHOOK_RUN", None)
    os.environ.update(env)  # jupyter_client 7.4 launches with os.environ when a kernelspec has no env
    py = "/usr/bin/python3"
    kernels = []
    try:
        plain = start([py, "-m", "ipykernel_launcher", "-f", "{connection_file}"], env, work, "plain")
        kernels.append(plain)
        instr = start([py, os.path.abspath(__file__), "--kernel", "-f", "{connection_file}"], env, work, "instrumented")
        kernels.append(instr)
        for _, kc in kernels:
            wait_done(kc, [send_execute(kc, "import naas", "setup")])
        vs = variants()
        times = {name: [] for name, _, _ in vs}
        plain_times = []
        for i in range(args.warmup + rounds):
            t0 = time.perf_counter()
            one_by_one(plain[1], [(PARAMS, {}), (injected(i), {}), (RESPOND, {})], "plain")
            if i >= args.warmup:
                plain_times.append((time.perf_counter() - t0) * 1000)
            for name, run, _ in vs:
                t0 = time.perf_counter()
                run(instr[1], i, name if i >= args.warmup else "warmup")
                if i >= args.warmup:
                    times[name].append((time.perf_counter() - t0) * 1000)

        # Kernel-side timers per variant.
        kc = instr[1]
        mid = kc.execute("", silent=True, user_expressions={"r": "__import__('_kprof').report()"})
        rep = wait_done(kc, [mid])[mid]
        expr = rep["content"]["user_expressions"]["r"]
        if "data" not in expr:
            raise RuntimeError(f"report failed: {expr}")
        raw = expr["data"]["text/plain"]
        import ast

        stats = json.loads(ast.literal_eval(raw))

        prof_path = None
        if args.cprofile > 0:
            mid = kc.execute("__import__('_kprof').profile_start()", silent=True)
            wait_done(kc, [mid])
            for i in range(args.cprofile):
                one_by_one(kc, [(PARAMS, {}), (injected(i), {}), (RESPOND, {})], "cprofile")
            prof_path = os.path.join(work, "execute.pstats")
            mid = kc.execute(f"__import__('_kprof').profile_stop({prof_path!r})", silent=True)
            wait_done(kc, [mid])
    finally:
        for km, kc in kernels:
            try:
                kc.stop_channels()
                km.shutdown_kernel(now=False)
            except Exception:
                try:
                    km.shutdown_kernel(now=True)
                except Exception:
                    pass

    base_name = vs[0][0]
    b50 = pct(times[base_name], 50)
    print(f"\n## Kernel-side profile of the 3-cell call (ipykernel 6.17, /usr/bin/python3, {os.cpu_count()} cores)\n")
    print(
        f"{rounds} rounds after {args.warmup} warm-up, every variant once per round (interleaved), "
        "each execute waiting for its reply and its idle; times are for the 3 executes of one call.\n"
    )
    print("| variant | p50 ms | p95 ms | vs baseline | kernel-side ms per call (dispatch_shell) | what the saved notebook would show differently |")
    print("|---|---|---|---|---|---|")
    p50 = pct(plain_times, 50)
    print(
        f"| plain ipykernel_launcher (no timers) | {p50:.2f} | {pct(plain_times, 95):.2f} | "
        f"{p50 / b50:.2f}× | n/a | reference: the instrumented kernel's own overhead is the baseline minus this |"
    )
    for name, _, change in vs:
        t = times[name]
        ks = stats.get(name, {}).get("Kernel.dispatch_shell (total, deserialize to idle sent)")
        kms = ks[1] * 1000 / rounds if ks else float("nan")
        print(f"| {name} | {pct(t, 50):.2f} | {pct(t, 95):.2f} | {pct(t, 50) / b50:.2f}× | {kms:.2f} | {change} |")

    env_info = stats.pop("_env", {})
    print("\nKernel state: " + "; ".join(f"{k} = {v}" for k, v in env_info.items()))
    b = stats.get(base_name, {})
    n_exec = 3 * rounds
    print(f"\n### Kernel-side time of one execute by phase (baseline, mean over {n_exec} executes)\n")
    print("Timers nest (a total includes the rows under it); [iopub thread] rows run beside the main thread.\n")
    print("| phase | ms per execute | calls per execute |")
    print("|---|---|---|")
    order = sorted(b.items(), key=lambda kv: -kv[1][1])
    for name, (count, secs) in order:
        print(f"| {name} | {secs * 1000 / n_exec:.3f} | {count / n_exec:.2f} |")
    total = b.get("Kernel.dispatch_shell (total, deserialize to idle sent)", [0, 0])[1] * 1000 / n_exec
    print(
        f"\nClient round trip per execute (baseline p50 / 3): {b50 / 3:.2f} ms; kernel main thread, "
        f"deserialize to idle sent: {total:.2f} ms; the rest ({b50 / 3 - total:.2f} ms) is the wire "
        "(zmq, both directions), the IOPub thread sending the idle, and the client's own decoding."
    )
    if prof_path:
        import io
        import pstats

        for key in ("tottime", "cumulative"):
            out = io.StringIO()
            ps = pstats.Stats(prof_path, stream=out)
            ps.strip_dirs().sort_stats(key).print_stats(args.top)
            print(f"\n### cProfile, {args.cprofile} baseline calls ({3 * args.cprofile} executes), by {key}\n")
            print("```")
            text = out.getvalue()
            start_at = text.find("   ncalls")
            print(text[start_at if start_at >= 0 else 0 :].rstrip())
            print("```")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--kernel":
        run_instrumented_kernel(sys.argv[2:])
    else:
        main()
