/** Errors of the Kubernetes client, typed so callers branch on kind, not on strings. */

/** The apiserver answered with a non-2xx status (body is usually a metav1.Status). */
export class ApiError extends Error {
  readonly status: number;
  /** metav1.Status reason, e.g. Conflict, NotFound, AlreadyExists, Invalid, Expired. */
  readonly reason: string | undefined;
  readonly body: unknown;
  constructor(status: number, reason: string | undefined, message: string, body: unknown) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.reason = reason;
    this.body = body;
  }
}

/** 409 with reason Conflict: the object changed since it was read (optimistic concurrency). */
export class ConflictError extends ApiError {
  constructor(message: string, body: unknown) {
    super(409, "Conflict", message, body);
    this.name = "ConflictError";
  }
}

export class NotFoundError extends ApiError {
  constructor(message: string, body: unknown) {
    super(404, "NotFound", message, body);
    this.name = "NotFoundError";
  }
}

/** 410 Gone: a watch or list resourceVersion is too old; relist. */
export class GoneError extends ApiError {
  constructor(message: string, body: unknown) {
    super(410, "Expired", message, body);
    this.name = "GoneError";
  }
}

/** An object read from the apiserver that does not match our schema. */
export class InvalidObjectError extends Error {
  readonly kind: string;
  readonly key: string;
  /** One line per problem: `path: message`. */
  readonly issues: string[];
  constructor(kind: string, key: string, issues: string[]) {
    super(`${kind} ${key} is invalid: ${issues.slice(0, 5).join("; ")}${issues.length > 5 ? "; ..." : ""}`);
    this.name = "InvalidObjectError";
    this.kind = kind;
    this.key = key;
    this.issues = issues;
  }
}

/** Transport failure: connection refused/reset, timeout, TLS. Always retriable. */
export class TransportError extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = "TransportError";
  }
}

export const isConflict = (e: unknown): e is ApiError => e instanceof ApiError && e.status === 409;
export const isNotFound = (e: unknown): e is ApiError => e instanceof ApiError && e.status === 404;
export const isAlreadyExists = (e: unknown): e is ApiError =>
  e instanceof ApiError && e.status === 409 && e.reason === "AlreadyExists";
export const isGone = (e: unknown): e is ApiError => e instanceof ApiError && e.status === 410;

/**
 * Whether the apiserver refused a write for its size. Seen from kube-apiserver
 * 1.36 with etcd 3.6 (e2e/hostile-results.e2e.test.ts): a 500 saying
 * "etcdserver: request is too large" above etcd's 1.5 MiB, and a 500 saying
 * "rpc error: code = ResourceExhausted desc = trying to send message larger
 * than max" above the etcd client's 2 MiB. A 413, or a 400/422 that says so,
 * counts too.
 */
export function isTooLarge(err: unknown): err is ApiError {
  if (!(err instanceof ApiError)) return false;
  if (err.status === 413) return true;
  return (
    [400, 422, 500].includes(err.status) &&
    /too large|larger than max|ResourceExhausted|exceeds the maximum|request size/i.test(err.message)
  );
}

/** Builds the typed error for a status code and a (parsed, if possible) body. */
export function apiErrorFrom(status: number, body: unknown, fallback: string): ApiError {
  const s = (body && typeof body === "object" ? body : {}) as { message?: string; reason?: string };
  const message = s.message ?? (typeof body === "string" && body ? body.slice(0, 500) : fallback);
  if (status === 409 && s.reason !== "AlreadyExists") return new ConflictError(message, body);
  if (status === 404) return new NotFoundError(message, body);
  if (status === 410) return new GoneError(message, body);
  return new ApiError(status, s.reason, message, body);
}

/** One-line description of any thrown value, for logs and condition messages. */
export function errText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
