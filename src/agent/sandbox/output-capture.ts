import type { Readable } from "node:stream";

/**
 * Reads a program's output stream with two bounds: everything up to `limit`
 * bytes is kept (expected output is compared against it), and reading stops
 * once the limit is passed — the pipe is closed, so the program gets SIGPIPE
 * or EPIPE instead of filling the agent's memory.
 */
export class OutputCapture {
  private readonly chunks: Buffer[] = [];
  exceeded = false;

  /** `budget` may be shared by several streams (stdout and stderr count together). */
  constructor(
    stream: Readable,
    limit: number,
    onExceeded: () => void,
    budget: { left: number } = { left: limit },
  ) {
    stream.on("data", (chunk: Buffer) => {
      if (this.exceeded) return;
      if (chunk.length > budget.left) {
        if (budget.left > 0) this.chunks.push(chunk.subarray(0, budget.left));
        budget.left = 0;
        this.exceeded = true;
        stream.destroy();
        onExceeded();
        return;
      }
      this.chunks.push(chunk);
      budget.left -= chunk.length;
    });
    stream.on("error", () => undefined);
  }

  /** The whole captured output (bounded by the limit). */
  buffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** At most `cap` bytes of text for the status, cut on a UTF-8 boundary. */
export function truncateUtf8(buf: Buffer, cap: number): { text: string; truncated: boolean } {
  if (buf.length <= cap) return { text: buf.toString("utf8"), truncated: false };
  let end = cap;
  // Step back over continuation bytes (10xxxxxx) so a character is never split.
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return { text: buf.subarray(0, end).toString("utf8"), truncated: true };
}
