import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export type HealthCheck = () => boolean | string;

/**
 * /healthz (liveness), /readyz (readiness) and /metrics (Prometheus). A check
 * returns true, or a string saying what is wrong (→ 503 with that text).
 */
export class HealthServer {
  private server: http.Server | undefined;
  private readonly registry: Registry;
  private readonly live: Record<string, HealthCheck>;
  private readonly ready: Record<string, HealthCheck>;

  constructor(opts: {
    registry: Registry;
    live?: Record<string, HealthCheck>;
    ready?: Record<string, HealthCheck>;
  }) {
    this.registry = opts.registry;
    this.live = opts.live ?? {};
    this.ready = opts.ready ?? {};
  }

  addReadyCheck(name: string, check: HealthCheck): void {
    this.ready[name] = check;
  }

  addLiveCheck(name: string, check: HealthCheck): void {
    this.live[name] = check;
  }

  /** Listens on port (0 = any free one) and returns the bound port. */
  async listen(port: number, host = "0.0.0.0"): Promise<number> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    try {
      if (path === "/metrics") {
        const body = await this.registry.metrics();
        res.writeHead(200, { "Content-Type": this.registry.contentType });
        res.end(body);
      } else if (path === "/healthz" || path === "/livez") {
        this.check(res, this.live);
      } else if (path === "/readyz") {
        this.check(res, { ...this.live, ...this.ready });
      } else {
        res.writeHead(404, { "Content-Type": "text/plain" });
        res.end("not found\n");
      }
    } catch (err) {
      res.writeHead(500, { "Content-Type": "text/plain" });
      res.end(`${String(err)}\n`);
    }
  }

  private check(res: http.ServerResponse, checks: Record<string, HealthCheck>): void {
    const failures: string[] = [];
    for (const [name, check] of Object.entries(checks)) {
      let r: boolean | string;
      try {
        r = check();
      } catch (err) {
        r = String(err);
      }
      if (r !== true) failures.push(`${name}: ${r === false ? "failed" : r}`);
    }
    res.writeHead(failures.length ? 503 : 200, { "Content-Type": "text/plain" });
    res.end(failures.length ? `${failures.join("\n")}\n` : "ok\n");
  }
}
