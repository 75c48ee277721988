import { createHash, timingSafeEqual } from "node:crypto";
import type { KubeClient } from "../k8s/client.ts";
import { Informer } from "../k8s/informer.ts";
import type { KubeObject, ResourceType } from "../k8s/resources.ts";
import type { Logger } from "../logging.ts";

/** Label that marks a Secret of the gateway's namespace as an API token. */
export const TOKEN_SECRET_LABEL = "gateway.envicutor.io/token";

/** v1 Secret, the parts the gateway reads. */
interface Secret extends KubeObject {
  data?: Record<string, string>;
}

const SecretResource: ResourceType<Secret> = {
  apiVersion: "v1",
  kind: "Secret",
  plural: "secrets",
  namespaced: true,
  validate: (raw) =>
    raw && typeof raw === "object" && typeof (raw as Secret).metadata?.name === "string"
      ? { ok: true, object: raw as Secret }
      : { ok: false, issues: ["metadata.name: missing"] },
};

/** Who a token belongs to: its Secret's name, the namespace its Executions go to, and its own limits. */
export interface Tenant {
  /** The Secret's name: labels Executions and keys the rate limit and queue cap (never the token itself). */
  name: string;
  namespace: string;
  /** Requests per second and burst; undefined = the gateway's defaults. */
  ratePerSecond?: number;
  burst?: number;
  /** Unfinished Executions allowed at once; undefined = the gateway's default. */
  queueMax?: number;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const sha256 = (s: string) => createHash("sha256").update(s).digest();

/**
 * Bearer tokens from Secrets labelled gateway.envicutor.io/token=true in the
 * gateway's namespace, watched (a new or revoked token counts at once). Data
 * keys: token, namespace, and optionally requestsPerSecond, burst, queueMax.
 * Tokens are kept and compared as SHA-256 digests, in constant time.
 */
export class Tenants {
  readonly informer: Informer<Secret>;
  private readonly byDigest = new Map<string, { digest: Buffer; tenant: Tenant }>();
  private readonly log: Logger;
  private readonly changeHandlers: ((namespaces: Set<string>) => void)[] = [];

  constructor(client: KubeClient, namespace: string, log: Logger) {
    this.log = log;
    this.informer = new Informer(client, SecretResource, {
      namespace,
      labelSelector: `${TOKEN_SECRET_LABEL}=true`,
      logger: log,
    });
    this.informer.on(() => this.rebuild());
  }

  /** Called with every tenant namespace whenever the set of tokens changes. */
  onChange(fn: (namespaces: Set<string>) => void): void {
    this.changeHandlers.push(fn);
  }

  lookup(token: string): Tenant | undefined {
    const digest = sha256(token);
    const hit = this.byDigest.get(digest.toString("hex"));
    return hit && timingSafeEqual(hit.digest, digest) ? hit.tenant : undefined;
  }

  namespaces(): Set<string> {
    return new Set([...this.byDigest.values()].map((v) => v.tenant.namespace));
  }

  private rebuild(): void {
    this.byDigest.clear();
    for (const s of this.informer.list()) {
      const parsed = parseSecret(s);
      if (typeof parsed === "string") {
        this.log.warn({ secret: s.metadata.name, problem: parsed }, "token Secret ignored");
        continue;
      }
      const digest = sha256(parsed.token);
      this.byDigest.set(digest.toString("hex"), { digest, tenant: parsed.tenant });
    }
    const ns = this.namespaces();
    for (const fn of this.changeHandlers) fn(ns);
  }
}

/** A token Secret's tenant, or what is wrong with it. */
export function parseSecret(s: Secret): { token: string; tenant: Tenant } | string {
  const get = (k: string) =>
    s.data?.[k] !== undefined ? Buffer.from(s.data[k], "base64").toString("utf8").trim() : undefined;
  const token = get("token");
  const namespace = get("namespace");
  if (!token || token.length < 16) return "data.token must be at least 16 characters";
  if (!namespace || !DNS_LABEL.test(namespace)) return "data.namespace must be a namespace name";
  const num = (k: string): number | undefined | string => {
    const v = get(k);
    if (v === undefined || v === "") return undefined;
    const n = Number(v);
    return Number.isFinite(n) && n >= 0 ? n : `data.${k} must be a number >= 0`;
  };
  const tenant: Tenant = { name: s.metadata.name!, namespace };
  for (const k of ["requestsPerSecond", "burst", "queueMax"] as const) {
    const v = num(k);
    if (typeof v === "string") return v;
    if (v !== undefined) tenant[k === "requestsPerSecond" ? "ratePerSecond" : k] = v;
  }
  return { token, tenant };
}
