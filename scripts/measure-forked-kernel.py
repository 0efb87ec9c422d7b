#!/usr/bin/python3
"""Measures kernels forked by python/nbhook/_forkserver.py (not a test; prints, asserts nothing).

    /usr/bin/python3 scripts/measure-forked-kernel.py [N]

For each of N kernels, one after the other: ms from the fork request to the first
kernel_info_reply, the child's CPU ms until then, its private memory (Private_Clean +
Private_Dirty from /proc/<pid>/smaps_rollup) once ready and after `import nbhook, naas`,
then ms and CPU ms from shutdown_request to its exit. Medians at the end.
"""
import json, os, secrets, shutil, statistics, subprocess, sys, tempfile, time, uuid

import jupyter_client

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "..", "python", "nbhook", "_forkserver.py")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_ms(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000 / TICK
    except OSError:
        return float("nan")


def private_mib(pid):
    total = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total / 1024


def run(kc, code):
    msg_id = kc.execute(code)
    while True:
        reply = kc.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    while True:
        msg = kc.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status" \
                and msg["content"]["execution_state"] == "idle":
            return reply


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    root = tempfile.mkdtemp(prefix="nbk-")
    env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1", JPY_PARENT_PID=str(os.getpid()))
    env.pop("PYTHONPATH", None)
    env["PYTHONPATH"] = os.path.join(HERE, "..", "python")
    # As nbhook starts it: the kernels' IPython config last (the template shell is built with it);
    # NBHOOK_FORKSERVER_SHELL=0 measures without the template.
    config = json.dumps({"HistoryManager": {"enabled": False}})
    srv = subprocess.Popen([sys.executable, SERVER, "ipykernel_launcher", root, config], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, env=env, cwd="/")
    t0 = time.perf_counter()
    ready = json.loads(srv.stdout.readline())
    print("server:", ready, "in %.0f ms" % ((time.perf_counter() - t0) * 1000))
    if "ready" not in ready:
        return 1
    rows = []
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
        run(kc, "import nbhook, naas")
        mem_helpers = private_mib(pid)
        # the notebook leaves a file open, appended to and never closed
        run(kc, "f = open(%r, 'a'); f.write('kept\\n')" % os.path.join(d, "left-open.txt"))
        t1 = time.perf_counter()
        kc.shutdown()
        line = json.loads(srv.stdout.readline())
        while line.get("exit") != pid:
            line = json.loads(srv.stdout.readline())
        exit_ms = (time.perf_counter() - t1) * 1000
        kc.stop_channels()
        with open(os.path.join(d, "left-open.txt")) as f:
            kept = f.read() == "kept\n"
        rows.append((ready_ms, ready_cpu, mem_ready, mem_helpers, exit_ms, kept))
        print("kernel %d: ready %.1f ms (cpu %.0f ms), private %.1f MiB, %.1f MiB after import nbhook, naas; "
              "shutdown->exit %.0f ms (code %s), open file flushed: %s"
              % (i + 1, ready_ms, ready_cpu, mem_ready, mem_helpers, exit_ms, line.get("code"), kept))
    med = lambda k: statistics.median(r[k] for r in rows)
    print("median: ready %.1f ms, cpu %.0f ms, private %.1f MiB (%.1f MiB with helpers), exit %.0f ms"
          % (med(0), med(1), med(2), med(3), med(4)))
    srv.stdin.close()
    srv.wait()
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
