import { readFileSync } from "node:fs";

/** Where a single run's standard input comes from. */
export type StdinSource = { from: "file"; path: string } | { from: "process" } | { from: "none" };

/**
 * As other judges' CLIs do: `--stdin FILE` (or `-`) when given; otherwise
 * this process's stdin when it is piped or redirected (not a terminal);
 * nothing with --tests, whose cases carry their own input.
 */
export function stdinSource(flag: string | undefined, hasTests: boolean, isTTY: boolean): StdinSource {
  if (flag === "-") return { from: "process" };
  if (flag !== undefined) return { from: "file", path: flag };
  if (hasTests || isTTY) return { from: "none" };
  return { from: "process" };
}

/** Reads the input a source names; undefined for none. A closed or unreadable stdin reads as empty. */
export async function readStdin(
  source: StdinSource,
  stream: NodeJS.ReadableStream = process.stdin,
): Promise<string | undefined> {
  if (source.from === "none") return undefined;
  if (source.from === "file") return readFileSync(source.path, "utf8");
  const chunks: Buffer[] = [];
  try {
    for await (const c of stream) chunks.push(typeof c === "string" ? Buffer.from(c) : c);
  } catch {
    // fd 0 closed (a daemon): no input, as with --stdin /dev/null
  }
  return Buffer.concat(chunks).toString("utf8");
}
