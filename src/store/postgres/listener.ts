/**
 * @module One LISTEN connection per node, kept up: the notifications of nbhook's channels
 * (store/postgres/cluster-queue.ts) handed to their handlers. A lost connection (Postgres
 * restarted, the network) is reported at once (`onLost`: whoever waits for a notification that
 * may now never come must not wait forever) and reconnected with a backoff; `onRestored` runs
 * once it listens again, for what was missed meanwhile.
 */
import pg from "pg";

export interface ListenerOptions {
  databaseUrl: string;
  channels: string[];
  onNotification(channel: string, payload: string): void;
  onLost?(err: Error): void;
  onRestored?(): void;
  log?: { warn(obj: object, msg?: string): void; info(obj: object, msg?: string): void };
}

export class PgListener {
  private client: pg.Client | undefined;
  private closed = false;
  private connecting: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private lostAt: number | undefined;

  constructor(private readonly options: ListenerOptions) {}

  /** Connects and listens; rejects when the first connection fails. */
  async start(): Promise<void> {
    await this.connect();
  }

  /** Whether the connection is up now. */
  get listening(): boolean {
    return this.client !== undefined && this.connecting === undefined;
  }

  private connect(): Promise<void> {
    this.connecting ??= (async () => {
      const client = new pg.Client({ connectionString: this.options.databaseUrl });
      client.on("notification", (msg) => {
        this.options.onNotification(msg.channel, msg.payload ?? "");
      });
      client.on("error", (err) => this.lost(client, err));
      client.on("end", () => this.lost(client, new Error("the database connection ended")));
      try {
        await client.connect();
        for (const channel of this.options.channels)
          await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      } catch (err) {
        client.removeAllListeners("end");
        await client.end().catch(() => undefined);
        throw err;
      }
      this.client = client;
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private lost(client: pg.Client, err: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.removeAllListeners("end");
    void client.end().catch(() => undefined);
    if (this.closed) return;
    this.lostAt = Date.now();
    this.options.log?.warn({ err: err.message }, "lost the database's notification connection: reconnecting");
    this.options.onLost?.(err);
    this.retry(250);
  }

  private retry(delayMs: number): void {
    if (this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.connect().then(
        () => {
          this.options.log?.info(
            { downMs: this.lostAt ? Date.now() - this.lostAt : undefined },
            "notification connection restored",
          );
          this.options.onRestored?.();
        },
        () => this.retry(Math.min(delayMs * 2, 2000)),
      );
    }, delayMs);
    this.retryTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.connecting?.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.removeAllListeners("end");
      await client.end().catch(() => undefined);
    }
  }
}
