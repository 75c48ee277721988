/** An error that becomes an HTTP answer: status, a message, and optional per-field details (Judge0's 422 shape). */
export class HttpError extends Error {
  readonly status: number;
  readonly fields: Record<string, string[]> | undefined;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    message: string,
    opts: { fields?: Record<string, string[]>; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.status = status;
    this.fields = opts.fields;
    this.headers = opts.headers ?? {};
  }
}

/** 422 with Judge0's (Rails') validation shape: {"field": ["message"]}. */
export function invalidField(field: string, message: string): HttpError {
  return new HttpError(422, `${field} ${message}`, { fields: { [field]: [message] } });
}
