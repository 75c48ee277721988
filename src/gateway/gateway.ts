import http from "node:http";
import type { AddressInfo } from "node:net";
import { Registry } from "prom-client";
import type { Runtime } from "../api/runtime.ts";
import type { KubeClient } from "../k8s/client.ts";
import { errText } from "../k8s/errors.ts";
import { HealthServer } from "../k8s/http-server.ts";
import { Informer } from "../k8s/informer.ts";
import { RuntimeResource } from "../k8s/resources.ts";
import type { Logger } from "../logging.ts";
import { requestToken } from "./auth.ts";
import { readJsonBody } from "./body.ts";
import { Callbacks } from "./callbacks.ts";
import type { GatewayConfig } from "./config.ts";
import { GatewayCore } from "./core.ts";
import { ExecutionWatches } from "./execution-watches.ts";
import { HttpError } from "./http-error.ts";
import * as judge0 from "./judge0/routes.ts";
import { type GatewayMetrics, gatewayMetrics } from "./metrics.ts";
import * as piston from "./piston/routes.ts";
import { type Tenant, Tenants } from "./tenants.ts";
import { RateLimiter } from "./token-bucket.ts";

type Api = "piston" | "judge0";

interface Ctx {
  req: http.IncomingMessage;
  url: URL;
  tenant: Tenant;
  /** Aborts when the client goes away: a waiting request stops waiting. */
  signal: AbortSignal;
  body: () => Promise<unknown>;
}

interface Route {
  method: string;
  path: RegExp;
  api: Api;
  name: string;
  handle: (ctx: Ctx, match: RegExpExecArray) => Promise<unknown> | unknown;
  /** 201 like Judge0's creates; 200 otherwise. */
  created?: boolean;
}

/**
 * The gateway process: Piston v2 and Judge0 CE HTTP APIs over Executions.
 * Every request is authenticated by a token (a Secret that names its
 * namespace), rate-limited per token, size-limited, and becomes an Execution
 * in the token's namespace; answers come from shared watches.
 */
export class Gateway {
  readonly core: GatewayCore;
  readonly tenants: Tenants;
  readonly registry: Registry;
  readonly health: HealthServer;
  private readonly log: Logger;
  private readonly config: GatewayConfig;
  private readonly runtimes: Informer<Runtime>;
  private readonly metrics: GatewayMetrics;
  private readonly limiter = new RateLimiter();
  private readonly routes: Route[];
  private server: http.Server | undefined;
  private sweep: NodeJS.Timeout | undefined;
  port: number | undefined;
  metricsPort: number | undefined;

  constructor(o: { client: KubeClient; config: GatewayConfig; logger: Logger; registry?: Registry }) {
    this.config = o.config;
    this.log = o.logger;
    this.registry = o.registry ?? new Registry();
    this.runtimes = new Informer(o.client, RuntimeResource, { logger: o.logger });
    this.tenants = new Tenants(o.client, o.config.namespace, o.logger);
    const watches = new ExecutionWatches(o.client, o.logger);
    this.tenants.onChange((ns) => watches.setNamespaces(ns));
    let callbacks: Callbacks | undefined;
    this.metrics = gatewayMetrics(this.registry, {
      waiting: () => watches.waitingCount(),
      watches: () => watches.watchCount(),
      callbacksPending: () => callbacks?.size ?? 0,
    });
    callbacks = new Callbacks({
      ...o.config.callbacks,
      log: o.logger,
      onResult: (result) => this.metrics.callbacks.inc({ result }),
    });
    watches.onFinished((ex) => callbacks.finished(ex));
    this.core = new GatewayCore({
      config: o.config,
      client: o.client,
      runtimes: this.runtimes,
      watches,
      callbacks,
      metrics: this.metrics,
      log: o.logger,
    });
    this.health = new HealthServer({
      registry: this.registry,
      ready: {
        runtimes: () => this.runtimes.hasSynced() || "Runtimes not listed yet",
        tokens: () => this.tenants.informer.hasSynced() || "token Secrets not listed yet",
      },
    });
    this.routes = this.buildRoutes();
  }

  async start(): Promise<void> {
    this.runtimes.start();
    this.tenants.informer.start();
    if (this.config.metricsPort !== undefined) {
      this.metricsPort = await this.health.listen(this.config.metricsPort, this.config.metricsHost);
      this.log.info({ port: this.metricsPort }, "serving /healthz, /readyz, /metrics");
    }
    await Promise.all([this.runtimes.waitForSync(), this.tenants.informer.waitForSync()]);
    const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => void this.handle(req, res));
    // A waiting request may be held for the whole wait timeout.
    server.requestTimeout = (this.config.waitTimeoutSeconds + 30) * 1000;
    server.headersTimeout = 30_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.config.port, this.config.host, () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.sweep = setInterval(() => this.limiter.sweep(this.config.ratePerSecond, this.config.burst), 60_000);
    this.sweep.unref();
    this.log.info(
      { port: this.port, namespace: this.config.namespace },
      "serving the Piston and Judge0 APIs",
    );
  }

  /** Stops taking requests, answers the waiting ones with what is known, stops the watches. */
  async stop(): Promise<void> {
    if (this.sweep) clearInterval(this.sweep);
    const s = this.server;
    this.server = undefined;
    const closed = s ? new Promise<void>((r) => s.close(() => r())) : Promise.resolve();
    s?.closeIdleConnections();
    await this.core.watches.stop();
    await closed;
    await this.core.callbacks.stop();
    await Promise.all([this.runtimes.stop(), this.tenants.informer.stop()]);
    await this.health.close();
  }

  private buildRoutes(): Route[] {
    const c = this.core;
    // First match wins, and /submissions/batch must come before /submissions/<token>.
    return [...pistonRoutes(c), ...judge0InfoRoutes(c), ...judge0SubmissionRoutes(c)];
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = performance.now();
    const url = new URL(req.url ?? "/", "http://gateway");
    let route: Route | undefined;
    let match: RegExpExecArray | null = null;
    let pathKnown = false;
    for (const r of this.routes) {
      const m = r.path.exec(url.pathname);
      if (!m) continue;
      pathKnown = true;
      if (r.method === req.method) {
        route = r;
        match = m;
        break;
      }
    }
    const api: Api = route?.api ?? (url.pathname.startsWith("/api/v2/") ? "piston" : "judge0");
    const abort = new AbortController();
    res.once("close", () => abort.abort());
    let status = 200;
    try {
      if (!route || !match)
        throw new HttpError(pathKnown ? 405 : 404, pathKnown ? "method not allowed" : "not found");
      const tenant = this.authenticate(req);
      const body = route.created ? 201 : 200;
      const result = await route.handle(
        {
          req,
          url,
          tenant,
          signal: abort.signal,
          body: () => readJsonBody(req, this.config.maxBodyBytes),
        },
        match,
      );
      if (abort.signal.aborted) return;
      status = body;
      this.reply(res, status, result);
    } catch (err) {
      status = err instanceof HttpError ? err.status : 500;
      if (status === 413) this.metrics.rejected.inc({ reason: "too_large" });
      if (!(err instanceof HttpError))
        this.log.error({ err: errText(err), path: url.pathname }, "request failed");
      if (!res.headersSent && !abort.signal.aborted) this.replyError(res, api, err);
    } finally {
      const name = route?.name ?? "unknown";
      this.metrics.requests.inc({ api, route: name, code: String(status) });
      this.metrics.duration.observe({ api, route: name }, (performance.now() - started) / 1000);
    }
  }

  private authenticate(req: http.IncomingMessage): Tenant {
    const token = requestToken(req);
    const tenant = token ? this.tenants.lookup(token) : undefined;
    if (!tenant) {
      this.metrics.rejected.inc({ reason: "unauthorized" });
      throw new HttpError(401, token ? "invalid token" : "missing token (Authorization: Bearer <token>)", {
        headers: { "WWW-Authenticate": 'Bearer realm="envicutor"' },
      });
    }
    const rate = tenant.ratePerSecond ?? this.config.ratePerSecond;
    const retry = this.limiter.take(tenant.name, rate, tenant.burst ?? this.config.burst);
    if (retry > 0) {
      this.metrics.rejected.inc({ reason: "rate_limited" });
      throw new HttpError(429, `rate limit of ${rate} requests per second exceeded`, {
        headers: { "Retry-After": String(retry) },
      });
    }
    return tenant;
  }

  private reply(
    res: http.ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    const text = JSON.stringify(body ?? null);
    res.writeHead(status, {
      "Content-Type": "application/json; charset=utf-8",
      "Content-Length": Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  /** Piston's errors are {"message"}; Judge0's {"error"}, or {"field": [...]} for invalid fields. */
  private replyError(res: http.ServerResponse, api: Api, err: unknown): void {
    const e = err instanceof HttpError ? err : new HttpError(500, "internal error");
    const body = api === "piston" ? { message: e.message } : (e.fields ?? { error: e.message });
    this.reply(res, e.status, body, e.headers);
  }
}

function pistonRoutes(c: GatewayCore): Route[] {
  return [
    {
      method: "GET",
      path: /^\/api\/v2\/runtimes$/,
      api: "piston",
      name: "runtimes",
      handle: () => piston.listRuntimes(c),
    },
    {
      method: "POST",
      path: /^\/api\/v2\/execute$/,
      api: "piston",
      name: "execute",
      handle: async (x) => piston.execute(c, x.tenant, await x.body(), x.signal),
    },
  ];
}

/** Judge0's read-only catalogue: languages, statuses, system and config info. */
function judge0InfoRoutes(c: GatewayCore): Route[] {
  return [
    {
      method: "GET",
      path: /^\/languages\/?$/,
      api: "judge0",
      name: "languages",
      handle: () => judge0.languages(c),
    },
    {
      method: "GET",
      path: /^\/languages\/([^/]+)$/,
      api: "judge0",
      name: "language",
      handle: (_x, m) => judge0.language(c, m[1]!),
    },
    {
      method: "GET",
      path: /^\/statuses\/?$/,
      api: "judge0",
      name: "statuses",
      handle: () => judge0.statuses(),
    },
    {
      method: "GET",
      path: /^\/system_info\/?$/,
      api: "judge0",
      name: "system_info",
      handle: () => judge0.systemInfo(),
    },
    {
      method: "GET",
      path: /^\/config_info\/?$/,
      api: "judge0",
      name: "config_info",
      handle: () => judge0.configInfo(c),
    },
  ];
}

function judge0SubmissionRoutes(c: GatewayCore): Route[] {
  return [
    {
      method: "POST",
      path: /^\/submissions\/batch\/?$/,
      api: "judge0",
      name: "batch_create",
      created: true,
      handle: async (x) => judge0.createBatch(c, x.tenant, await x.body(), x.url, x.signal),
    },
    {
      method: "GET",
      path: /^\/submissions\/batch\/?$/,
      api: "judge0",
      name: "batch_get",
      handle: (x) => judge0.getBatch(c, x.tenant, x.url),
    },
    {
      method: "POST",
      path: /^\/submissions\/?$/,
      api: "judge0",
      name: "submission_create",
      created: true,
      handle: async (x) => judge0.createSubmission(c, x.tenant, await x.body(), x.url, x.signal),
    },
    {
      method: "GET",
      path: /^\/submissions\/([^/]+)$/,
      api: "judge0",
      name: "submission_get",
      handle: (x, m) => judge0.getSubmission(c, x.tenant, decodeURIComponent(m[1]!), x.url),
    },
  ];
}
