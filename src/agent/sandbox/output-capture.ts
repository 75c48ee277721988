import type { Readable } from "node:stream";
import { truncateEncoded } from "../encoded-size.ts";

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

/**
 * Output as text for the status, at most `cap` bytes once JSON-encoded (see
 * encoded-size.ts: a control byte counts 6, an invalid byte becomes U+FFFD, 3),
 * cut on a character boundary.
 */
export function truncateUtf8(buf: Buffer, cap: number): { text: string; truncated: boolean } {
  // Every byte encodes to at least one byte, so nothing past cap bytes can fit; the 4 extra
  // bytes let the decoder see the whole of a character that starts before the cut.
  const head = buf.length > cap + 4 ? buf.subarray(0, cap + 4) : buf;
  const { text, truncated } = truncateEncoded(head.toString("utf8"), Math.max(0, cap));
  return { text, truncated: truncated || head !== buf };
}
