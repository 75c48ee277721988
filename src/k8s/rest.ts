import http from "node:http";
import https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import { apiErrorFrom, TransportError } from "./errors.ts";

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  /** Content-Type of the body; JSON by default, a patch type for PATCH. */
  contentType?: string;
  signal?: AbortSignal;
  /** Whole-request timeout; default 30 s. */
  timeoutMs?: number;
}

/** One event of a watch stream. */
export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: Record<string, unknown>;
}

/**
 * Minimal HTTP transport to the apiserver. Authentication and TLS come from
 * client-node's KubeConfig (client certs, tokens, exec plugins); requests go
 * through node:http(s) with one keep-alive agent, so patch content types,
 * status subresources and streaming watches are fully under our control
 * (client-node's generated clients pick patch types themselves, and its Watch
 * aborts quiet streams after 30 s).
 */
export class RestClient {
  readonly kubeConfig: KubeConfig;
  readonly server: URL;
  private agent: http.Agent | undefined;
  private readonly userAgent: string;

  constructor(kubeConfig: KubeConfig, userAgent = "envicutor") {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    this.kubeConfig = kubeConfig;
    this.server = new URL(cluster.server);
    this.userAgent = userAgent;
  }

  /** Sends a request and returns the parsed JSON body; non-2xx becomes a typed ApiError. */
  async request<R = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<R> {
    const res = await this.open(method, path, opts, opts.timeoutMs ?? 30_000);
    const text = await readAll(res);
    const status = res.statusCode ?? 0;
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // keep text
    }
    if (status < 200 || status >= 300) throw apiErrorFrom(status, body, `${method} ${path}: HTTP ${status}`);
    return body as R;
  }

  /**
   * Streams a watch. Resolves when the server closes the stream normally (its
   * timeoutSeconds elapsed), rejects on transport errors, HTTP errors and
   * ERROR events (410 Gone becomes GoneError). `idleTimeoutMs` guards against
   * half-open connections: no bytes (bookmarks included) for that long aborts.
   */
  async watch(
    path: string,
    query: Query,
    onEvent: (ev: WatchEvent) => void,
    opts: { signal?: AbortSignal; idleTimeoutMs?: number } = {},
  ): Promise<void> {
    const res = await this.open(
      "GET",
      path,
      { query: { ...query, watch: true }, signal: opts.signal },
      30_000,
    );
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      const text = await readAll(res);
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {}
      throw apiErrorFrom(status, body, `watch ${path}: HTTP ${status}`);
    }
    await streamWatch(res, path, onEvent, opts);
  }

  private async open(
    method: string,
    path: string,
    opts: RequestOptions,
    timeoutMs: number,
  ): Promise<http.IncomingMessage> {
    const httpsOpts: https.RequestOptions = { headers: {} };
    await this.kubeConfig.applyToHTTPSOptions(httpsOpts);
    const url = new URL(this.server.pathname.replace(/\/$/, "") + path, this.server);
    for (const [k, v] of Object.entries(opts.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const isHttps = url.protocol === "https:";
    this.agent ??= isHttps
      ? new https.Agent({
          keepAlive: true,
          maxSockets: 64,
          ca: httpsOpts.ca,
          cert: httpsOpts.cert,
          key: httpsOpts.key,
          rejectUnauthorized: httpsOpts.rejectUnauthorized,
          servername: httpsOpts.servername,
        })
      : new http.Agent({ keepAlive: true, maxSockets: 64 });
    const headers: Record<string, string> = {
      ...(httpsOpts.headers as Record<string, string>),
      Accept: "application/json",
      "User-Agent": this.userAgent,
    };
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
      headers["Content-Type"] = opts.contentType ?? "application/json";
      headers["Content-Length"] = String(Buffer.byteLength(payload));
    }
    const mod = isHttps ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        url,
        { method, headers, agent: this.agent, auth: httpsOpts.auth, signal: opts.signal },
        (res) => {
          req.setTimeout(0);
          resolve(res);
        },
      );
      req.setTimeout(timeoutMs, () =>
        req.destroy(
          new TransportError(`${method} ${url.pathname}: timed out after ${timeoutMs} ms`, undefined),
        ),
      );
      req.on("error", (err) =>
        reject(
          err instanceof TransportError
            ? err
            : new TransportError(`${method} ${url.pathname}: ${err.message}`, err),
        ),
      );
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }
}

async function readAll(res: http.IncomingMessage): Promise<string> {
  res.setEncoding("utf8");
  let text = "";
  for await (const chunk of res) text += chunk;
  return text;
}

/** Reads a watch response's newline-delimited events until the stream ends, fails, or is aborted. */
function streamWatch(
  res: http.IncomingMessage,
  path: string,
  onEvent: (ev: WatchEvent) => void,
  opts: { signal?: AbortSignal; idleTimeoutMs?: number },
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const idle = idleGuard(opts.idleTimeoutMs, () =>
      finish(new TransportError(`watch ${path}: no data for ${opts.idleTimeoutMs} ms`, undefined)),
    );
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      idle.clear();
      opts.signal?.removeEventListener("abort", onAbort);
      res.destroy();
      if (err) reject(err);
      else resolve();
    };
    const onAbort = () => finish();
    if (opts.signal?.aborted) return finish();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    idle.touch();
    res.setEncoding("utf8");
    const lines = lineSplitter();
    res.on("data", (chunk: string) => {
      idle.touch();
      for (const line of lines(chunk)) {
        const stop = dispatchWatchLine(line, path, onEvent);
        if (stop) return finish(stop.error);
      }
    });
    res.on("end", () => finish());
    res.on("error", (err) => finish(new TransportError(`watch ${path}: ${err.message}`, err)));
    res.on("close", () => finish());
  });
}

/**
 * Half-open connections send nothing, not even bookmarks: no data for
 * `timeoutMs` calls onIdle. No timeout, no guard.
 */
function idleGuard(timeoutMs: number | undefined, onIdle: () => void): { touch(): void; clear(): void } {
  let idle: NodeJS.Timeout | undefined;
  return {
    touch() {
      if (!timeoutMs) return;
      if (idle) clearTimeout(idle);
      idle = setTimeout(onIdle, timeoutMs);
      idle.unref();
    },
    clear() {
      if (idle) clearTimeout(idle);
    },
  };
}

/** Complete, non-empty lines of a chunked stream; a partial last line waits for the next chunk. */
function lineSplitter(): (chunk: string) => string[] {
  let buffer = "";
  return (chunk) => {
    buffer += chunk;
    const parts = buffer.split("\n");
    buffer = parts.pop() ?? "";
    return parts.map((l) => l.trim()).filter((l) => l !== "");
  };
}

/** Hands one event line to onEvent; says to stop the watch on an ERROR event or a throwing handler. */
function dispatchWatchLine(
  line: string,
  path: string,
  onEvent: (ev: WatchEvent) => void,
): { error: unknown } | undefined {
  let ev: WatchEvent;
  try {
    ev = JSON.parse(line) as WatchEvent;
  } catch {
    return undefined; // a garbled line is skipped, the watch goes on
  }
  if (ev.type === "ERROR") {
    const s = ev.object as { code?: number };
    return { error: apiErrorFrom(s.code ?? 500, ev.object, `watch ${path}: error event`) };
  }
  try {
    onEvent(ev);
  } catch (err) {
    return { error: err };
  }
  return undefined;
}
