/**
 * Types shared between the kernel layer's files. They live here, apart from the code that makes
 * them, so that no two files of src/kernel import each other (type-only imports included).
 */

/** A kernel's connection file (jupyter_client's fields). */
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

/** The five sockets of a kernel, as the connection file names their ports. */
export type ChannelName = "shell" | "iopub" | "stdin" | "control" | "hb";

/** The channels that carry signed messages (all but the heartbeat). */
export type Channel = Exclude<ChannelName, "hb">;

export interface LaunchOptions {
  /** Working directory of the kernel (the notebook's folder by default in runs). */
  cwd?: string;
  /** Extra environment for the kernel, applied last. */
  env?: Record<string, string>;
  /** Transport; `ipc` unless the kernel cannot speak it. */
  transport?: "ipc" | "tcp";
  /**
   * The folder the kernel's private folder is made in (the server's `<home>/kernels`, mode 0700,
   * swept at start: see runtime-dir.ts). @default os.tmpdir()
   */
  runtimeDir?: string;
  /**
   * Where the kernel comes from instead of the fork server or a spawn (a setup template:
   * forkserver.ts SetupTemplate); it throws when it cannot give one, and the launch fails.
   */
  fork?(
    spec: { name: string; argv: string[] },
    request: {
      argv: string[];
      cwd: string;
      env: Record<string, string>;
      baseEnv: Record<string, string>;
      log: string;
      tmpRoot: string;
    },
  ): Promise<{ pid: number; exited: Promise<ProcessExit> }>;
}

export interface KernelExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** `note` is set when the exit was inferred or is only partly known (e.g. the fork server died first). */
export type ProcessExit = KernelExit & { note?: string };

/**
 * A kernel process as the client sees it, whoever started it: spawned, forked by the fork server,
 * or a scripted fake in tests (test/support/fake-kernel.ts).
 */
export interface LaunchedKernel {
  pid: number;
  /** `spawn` (a child of this process) or `fork` (a child of the fork server). */
  startedBy: "spawn" | "fork";
  /** Forked from a server that paid a first execute's costs ahead (ForkedProcess.prewarmed). */
  prewarmed?: boolean;
  connection: ConnectionInfo;
  /** Private folder with the connection file and the kernel's IPYTHONDIR; removed by cleanup(). */
  dir: string;
  /** Resolves once the process has exited and what it wrote is in outputTail(). */
  exited: Promise<KernelExit>;
  /** Sends a signal to the kernel process (nothing once it has exited). */
  kill(signal: NodeJS.Signals): void;
  /** The last ~8 KiB the kernel wrote to stderr (and stdout), for error reports. */
  outputTail(): string;
  /**
   * Called once the kernel answers: the connection file (it holds the HMAC key) has been read
   * and is removed. Optional: a scripted fake has none.
   */
  connected?(): Promise<void>;
  cleanup(): Promise<void>;
}
