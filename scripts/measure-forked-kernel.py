#!/usr/bin/python3
"""Measures kernels forked by python/nbhook/_forkserver.py (not a test; prints, asserts nothing).

    /usr/bin/python3 scripts/measure-forked-kernel.py [N] [--root CHECKOUT] [--server FILE]

For each of N kernels, one after the other: ms from the fork request to the first
kernel_info_reply, the child's CPU ms until then, its private memory (Private_Clean +
Private_Dirty from /proc/<pid>/smaps_rollup) once ready and after the pool's warm-up
(`import nbhook, naas, nbhook._runner`, silent) with the CPU ms of that warm-up, the CPU ms of
the greet call's cells and of a cell whose value is displayed (the kernel's first), then ms
and CPU ms from shutdown_request to its exit. Medians at the end, then the fork server's own
CPU per kernel (forks, requests, exit reports) and its memory.
CPU is the child's time on a CPU from /proc/<pid>/schedstat (ns; /proc/<pid>/stat counts 10-ms
ticks). --root measures another checkout's fork server (e.g. /work/main for a "before");
--server runs another script in its place (a profiling wrapper that calls its main()).
"""
import argparse, json, os, secrets, shutil, statistics, subprocess, sys, tempfile, time, uuid

import jupyter_client

HERE = os.path.dirname(os.path.abspath(__file__))


def cpu_ms(pid):
    """The process's time on a CPU, all its threads (schedstat of its thread group leader counts
    only that thread: sum the tasks)."""
    total = 0
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, task)) as f:
                total += int(f.read().split()[0])
    except OSError:
        return float("nan")
    return total / 1e6


def children_ms(pid):
    """CPU ms of a process's reaped children (cutime + cstime, 10-ms ticks)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) * 1000 / os.sysconf("SC_CLK_TCK")


def private_mib(pid):
    total = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total / 1024


def memory_of(pid):
    """Rss, anonymous and huge-page-backed anonymous memory (MiB) from smaps_rollup."""
    wanted = {"Rss:": "rss", "Anonymous:": "anon", "AnonHugePages:": "anon in huge pages"}
    got = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] in wanted:
                got[wanted[parts[0]]] = int(parts[1]) / 1024
    return ", ".join("%s %.1f MiB" % (k, v) for k, v in got.items())


def run(kc, code, silent=False):
    msg_id = kc.execute(code, silent=silent)
    while True:
        reply = kc.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    while True:
        msg = kc.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status" \
                and msg["content"]["execution_state"] == "idle":
            return reply


def kernel_config(checkout):
    """The ipython_kernel_config.json nbhook writes (src/kernel/ipython-config.ts, built in dist)."""
    out = subprocess.run(
        ["node", "--input-type=module", "-e",
         "import { IPYTHON_KERNEL_CONFIG } from %s; process.stdout.write(IPYTHON_KERNEL_CONFIG)"
         % json.dumps(os.path.join(checkout, "dist", "kernel", "ipython-config.js"))],
        capture_output=True, text=True)
    if out.returncode == 0 and out.stdout:
        return out.stdout
    print("(no dist in %s: history off only)" % checkout)
    return json.dumps({"HistoryManager": {"enabled": False}})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=8)
    parser.add_argument("--root", default=os.path.join(HERE, ".."))
    parser.add_argument("--server")
    args = parser.parse_args()
    n = args.n
    checkout = os.path.abspath(args.root)
    server = args.server or os.path.join(checkout, "python", "nbhook", "_forkserver.py")
    root = tempfile.mkdtemp(prefix="nbk-")
    env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1", JPY_PARENT_PID=str(os.getpid()))
    env.pop("PYTHONPATH", None)
    env["PYTHONPATH"] = os.path.join(checkout, "python")
    # As nbhook starts it: the kernels' IPython config last (the template shell is built with it);
    # NBHOOK_FORKSERVER_SHELL=0 measures without the template.
    config = kernel_config(checkout)
    print("checkout %s, kernel config %s" % (checkout, config))
    srv = subprocess.Popen([sys.executable, server, "ipykernel_launcher", root, config], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, env=env, cwd="/")
    t0 = time.perf_counter()
    ready = json.loads(srv.stdout.readline())
    print("server:", ready, "in %.0f ms" % ((time.perf_counter() - t0) * 1000))
    if "ready" not in ready:
        return 1
    rows = []
    children_before = children_ms(srv.pid)
    server_before = cpu_ms(srv.pid)
    for i in range(n):
        d = tempfile.mkdtemp(dir=root, prefix="k-")
        prof = os.path.join(d, "ipython", "profile_default")
        os.makedirs(prof)
        with open(os.path.join(prof, "ipython_kernel_config.json"), "w") as f:
            f.write(config)
        conn = {"transport": "ipc", "ip": os.path.join(d, "k"), "key": secrets.token_hex(32),
                "signature_scheme": "hmac-sha256", "kernel_name": "python3"}
        for j, name in enumerate(("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")):
            conn[name] = j + 1
        cf = os.path.join(d, "connection.json")
        with open(cf, "w") as f:
            json.dump(conn, f)
        kenv = dict(env, IPYTHONDIR=os.path.join(d, "ipython"))
        req = {"id": i + 1, "args": ["-f", cf], "cwd": d, "env": kenv, "log": os.path.join(d, "kernel.log")}
        kc = jupyter_client.BlockingKernelClient(connection_file=cf)
        kc.load_connection_file()
        t0 = time.perf_counter()
        srv.stdin.write((json.dumps(req) + "\n").encode())
        srv.stdin.flush()
        pid = json.loads(srv.stdout.readline())["pid"]
        # Connect once the kernel has bound its sockets: a zmq ipc connect made before waits for
        # its reconnect interval (100 ms), which is not the kernel's time.
        while not all(os.path.exists("%s-%d" % (conn["ip"], j)) for j in range(1, 6)):
            time.sleep(0.0005)
        kc.start_channels()
        while True:
            msg_id = kc.kernel_info()
            try:
                kc.get_shell_msg(timeout=0.005)
                break
            except Exception:
                continue
        ready_ms = (time.perf_counter() - t0) * 1000
        ready_cpu = cpu_ms(pid)
        mem_ready = private_mib(pid)
        while True:  # iopub connected (the slow joiner)
            kc.kernel_info()
            try:
                kc.get_iopub_msg(timeout=0.05)
                break
            except Exception:
                continue
        while True:
            try:
                kc.get_shell_msg(timeout=0.05)
            except Exception:
                break
        cpu0 = cpu_ms(pid)
        run(kc, "import nbhook, naas, nbhook._runner", silent=True)  # the pool's warm-up
        warm_cpu = cpu_ms(pid) - cpu0
        mem_helpers = private_mib(pid)
        cpu0 = cpu_ms(pid)
        run(kc, "import naas")
        run(kc, "name = 'caller%d'" % i)
        run(kc, "naas.webhook.respond_json({'greeting': 'hello ' + name})")
        call_cpu = cpu_ms(pid) - cpu0
        cpu0 = cpu_ms(pid)
        run(kc, "{'greeting': name}")  # a cell whose value is displayed (Out[n]), the kernel's first
        result_cpu = cpu_ms(pid) - cpu0
        # the notebook leaves a file open, appended to and never closed
        run(kc, "f = open(%r, 'a'); f.write('kept\\n')" % os.path.join(d, "left-open.txt"))
        t1 = time.perf_counter()
        cpu0 = cpu_ms(pid)
        kc.shutdown()
        line = json.loads(srv.stdout.readline())
        while line.get("exit") != pid:
            line = json.loads(srv.stdout.readline())
        exit_ms = (time.perf_counter() - t1) * 1000
        # The child is reaped: what it spent after the shutdown_request is in the server's cutime
        # (10-ms ticks) less what it had spent before; schedstat is gone with it. Read from the
        # server's children total instead.
        end_cpu = children_ms(srv.pid) - children_before - cpu0
        children_before = children_ms(srv.pid)
        kc.stop_channels()
        with open(os.path.join(d, "left-open.txt")) as f:
            kept = f.read() == "kept\n"
        rows.append((ready_ms, ready_cpu, mem_ready, mem_helpers, exit_ms, kept, warm_cpu, call_cpu, end_cpu, result_cpu))
        print("kernel %d: ready %.1f ms (cpu %.1f ms), private %.1f MiB, %.1f MiB after the warm-up (cpu %.1f ms); "
              "call cpu %.1f ms, first displayed result cpu %.1f ms; shutdown->exit %.0f ms (cpu ~%.0f ms, code %s), open file flushed: %s"
              % (i + 1, ready_ms, ready_cpu, mem_ready, mem_helpers, warm_cpu, call_cpu, result_cpu, exit_ms, end_cpu,
                 line.get("code"), kept))
    med = lambda k: statistics.median(r[k] for r in rows)
    print("median: ready %.1f ms, cpu %.1f ms, private %.1f MiB (%.1f MiB after the warm-up), warm-up cpu %.1f ms, "
          "call cpu %.1f ms, displayed result cpu %.1f ms, exit %.0f ms (cpu ~%.0f ms, 10-ms ticks)"
          % (med(0), med(1), med(2), med(3), med(6), med(7), med(9), med(4), med(8)))
    print("fork server: cpu %.1f ms per kernel (fork, request, exit report), %s"
          % ((cpu_ms(srv.pid) - server_before) / n, memory_of(srv.pid)))
    srv.stdin.close()
    srv.wait()
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
