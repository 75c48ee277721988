import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface GatewayMetrics {
  requests: Counter<"api" | "route" | "code">;
  duration: Histogram<"api" | "route">;
  rejected: Counter<"reason">;
  callbacks: Counter<"result">;
}

/** The gateway's metrics; waiting requests and watches are read when scraped. */
export function gatewayMetrics(
  registry: Registry,
  live: { waiting: () => number; watches: () => number; callbacksPending: () => number },
): GatewayMetrics {
  const registers = [registry];
  new Gauge({
    name: "envicutor_gateway_waiting_requests",
    help: "Requests held open until their Execution finishes.",
    registers,
    collect() {
      this.set(live.waiting());
    },
  });
  new Gauge({
    name: "envicutor_gateway_execution_watches",
    help: "Watches on Executions (one per tenant namespace, shared by every request).",
    registers,
    collect() {
      this.set(live.watches());
    },
  });
  new Gauge({
    name: "envicutor_gateway_callbacks_pending",
    help: "Judge0 callbacks registered or being delivered.",
    registers,
    collect() {
      this.set(live.callbacksPending());
    },
  });
  return {
    requests: new Counter({
      name: "envicutor_gateway_requests_total",
      help: "API requests by API, route and HTTP status.",
      labelNames: ["api", "route", "code"],
      registers,
    }),
    duration: new Histogram({
      name: "envicutor_gateway_request_duration_seconds",
      help: "Seconds from request to answer (waiting included).",
      labelNames: ["api", "route"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    }),
    rejected: new Counter({
      name: "envicutor_gateway_rejected_total",
      help: "Requests refused: unauthorized, rate_limited, too_large, queue_full, too_many_waiting.",
      labelNames: ["reason"],
      registers,
    }),
    callbacks: new Counter({
      name: "envicutor_gateway_callbacks_total",
      help: "Callback tries by result: delivered, retried, failed.",
      labelNames: ["result"],
      registers,
    }),
  };
}
