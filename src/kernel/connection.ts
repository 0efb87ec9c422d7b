/**
 * Connection files: the transport, endpoints and signing key a kernel and its client share. The
 * ipc transport is the default (no TCP port to race for, papermill issues 239 and 511); TCP is for
 * kernels that cannot listen on ipc:// endpoints.
 */
import { randomBytes } from "node:crypto";
import net from "node:net";
import path from "node:path";
import type { ChannelName, ConnectionInfo } from "./types.js";

/** The ZeroMQ endpoint of one channel, as jupyter_client computes it. */
export function endpoint(info: ConnectionInfo, channel: ChannelName): string {
  const port = info[`${channel}_port`];
  return info.transport === "ipc" ? `ipc://${info.ip}-${port}` : `tcp://${info.ip}:${port}`;
}

/**
 * A new connection with a random 32-byte key: ipc endpoints `<ipcDir>/k-1` … `k-5` (the folder
 * must be private to this kernel), or the given TCP ports on 127.0.0.1.
 */
export function newConnection(
  kernelName: string,
  where: { ipcDir: string } | { tcpPorts: number[] },
): ConnectionInfo {
  const ipc = "ipcDir" in where;
  const ports = ipc ? [1, 2, 3, 4, 5] : where.tcpPorts;
  if (ports.length < 5) throw new Error(`a kernel connection needs 5 ports, got ${ports.length}`);
  return {
    transport: ipc ? "ipc" : "tcp",
    ip: ipc ? path.join(where.ipcDir, "k") : "127.0.0.1",
    shell_port: ports[0]!,
    iopub_port: ports[1]!,
    stdin_port: ports[2]!,
    control_port: ports[3]!,
    hb_port: ports[4]!,
    key: randomBytes(32).toString("hex"),
    signature_scheme: "hmac-sha256",
    kernel_name: kernelName,
  };
}

/**
 * Free TCP ports on 127.0.0.1, only for kernels without ipc support. Binding port 0 and closing
 * is racy in principle; the kernel binds within milliseconds and a clash surfaces as a launch
 * error (retried by KernelClient.start), not a hang.
 */
export async function freeTcpPorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => {
      return new Promise<net.Server>((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve(server));
      });
    }),
  );
  const ports = servers.map((s) => {
    const address = s.address();
    return address !== null && typeof address === "object" ? address.port : 0;
  });
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  if (ports.includes(0)) throw new Error("could not read the port of a probe socket");
  return ports;
}
