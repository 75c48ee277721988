import type { IncomingMessage } from "node:http";
import { HttpError } from "./http-error.ts";

/**
 * Reads a request body of at most `limit` bytes and parses it as JSON, whatever
 * the Content-Type (Piston's JavaScript client sends JSON as text/plain). A
 * larger body is 413 before it is read in full (Content-Length) or as soon as
 * it passes the limit, so an oversized upload costs at most `limit` bytes.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "request body is not valid JSON");
  }
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, `request body exceeds ${limit} bytes`, { headers: { Connection: "close" } });
}
