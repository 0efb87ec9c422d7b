/**
 * Starting a kernel process from its kernelspec: a private folder holding the connection file
 * (mode 0600, random 32-byte key, ipc transport so concurrent launches never race for TCP ports —
 * papermill issues 239 and 511), the argv of the spec with `{connection_file}` substituted, and an
 * environment that works for Debian's ipykernel (see docs/kernel-notes.md).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { AppError } from "../errors.js";
import { helperEnv, isDenoKernel } from "./in-kernel-helpers.js";
import type { KernelSpec } from "./kernelspec.js";

export interface ConnectionInfo {
  transport: "ipc" | "tcp";
  ip: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  key: string;
  signature_scheme: "hmac-sha256";
  kernel_name: string;
}

export type ChannelName = "shell" | "iopub" | "stdin" | "control" | "hb";

/** The ZeroMQ endpoint of one channel, as jupyter_client computes it. */
export function endpoint(info: ConnectionInfo, channel: ChannelName): string {
  const port = info[`${channel}_port`];
  return info.transport === "ipc" ? `ipc://${info.ip}-${port}` : `tcp://${info.ip}:${port}`;
}

export interface LaunchOptions {
  /** Working directory of the kernel (the notebook's folder by default in runs). */
  cwd?: string;
  /** Extra environment for the kernel, applied last. */
  env?: Record<string, string>;
  /** Transport; `ipc` unless the kernel cannot speak it. */
  transport?: "ipc" | "tcp";
}

export interface LaunchedKernel {
  process: ChildProcess;
  connection: ConnectionInfo;
  /** Private folder with the connection file and the kernel's IPYTHONDIR; removed by cleanup(). */
  dir: string;
  /** The last ~8 KiB the kernel wrote to stderr (and stdout), for error reports. */
  outputTail(): string;
  cleanup(): Promise<void>;
}

/** Kernels known not to listen on ipc:// endpoints. */
function defaultTransport(spec: KernelSpec): "ipc" | "tcp" {
  return isDenoKernel(spec) ? "tcp" : "ipc";
}

async function freeTcpPorts(count: number): Promise<number[]> {
  // Only for kernels without ipc support. Binding port 0 and closing is racy in principle; the
  // kernel binds within milliseconds and a clash surfaces as a launch error, not a hang.
  const net = await import("node:net");
  const servers = await Promise.all(
    Array.from({ length: count }, () => {
      return new Promise<import("node:net").Server>((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve(server));
      });
    }),
  );
  const ports = servers.map((s) => (s.address() as import("node:net").AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

function kernelEnv(spec: KernelSpec, dir: string, extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // A developer's venv/pyenv activation must not leak into Debian's python.
  delete env.PYTHONHOME;
  delete env.VIRTUAL_ENV;
  Object.assign(env, spec.env);
  Object.assign(env, helperEnv(spec));
  env.IPYTHONDIR = path.join(dir, "ipython");
  env.JPY_PARENT_PID = String(process.pid); // ipykernel exits if we die
  env.PYDEVD_DISABLE_FILE_VALIDATION = "1";
  Object.assign(env, extra);
  return env;
}

export async function launchKernel(spec: KernelSpec, options: LaunchOptions = {}): Promise<LaunchedKernel> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "nbhook-k-"));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    await mkdir(path.join(dir, "ipython"), { mode: 0o700 });
    const transport = options.transport ?? defaultTransport(spec);
    const ports = transport === "ipc" ? [1, 2, 3, 4, 5] : await freeTcpPorts(5);
    const connection: ConnectionInfo = {
      transport,
      ip: transport === "ipc" ? path.join(dir, "k") : "127.0.0.1",
      shell_port: ports[0]!,
      iopub_port: ports[1]!,
      stdin_port: ports[2]!,
      control_port: ports[3]!,
      hb_port: ports[4]!,
      key: randomBytes(32).toString("hex"),
      signature_scheme: "hmac-sha256",
      kernel_name: spec.name,
    };
    const connectionFile = path.join(dir, "connection.json");
    await writeFile(connectionFile, JSON.stringify(connection), { mode: 0o600 });

    const argv = spec.argv.map((arg) =>
      arg.replaceAll("{connection_file}", connectionFile).replaceAll("{resource_dir}", spec.resourceDir),
    );
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: options.cwd ?? process.cwd(),
      env: kernelEnv(spec, dir, options.env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let tail = "";
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString("utf8")).slice(-8192);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", (err) =>
        reject(
          new AppError("kernel-launch", `cannot start kernel "${spec.name}" (${argv[0]}): ${err.message}`, {
            cause: err,
          }),
        ),
      );
    });
    return { process: child, connection, dir, outputTail: () => tail, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
