import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";

const BLOCK = 512;
const CHUNK = 1024 * 1024;
/** Test files: `<name>.in`, `<name>.ans`; any other member is skipped, never written. */
export const TEST_FILE_PATTERN = /^([A-Za-z0-9][A-Za-z0-9._-]{0,62})\.(in|ans)$/;

interface Header {
  name: string;
  size: number;
  type: string;
}

function parseHeader(b: Buffer): Header | undefined {
  if (b.every((x) => x === 0)) return undefined; // end of archive
  const str = (from: number, len: number) => {
    const s = b.subarray(from, from + len);
    const nul = s.indexOf(0);
    return s.subarray(0, nul < 0 ? len : nul).toString("utf8");
  };
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : b[i]!;
  const stored = Number.parseInt(str(148, 8).trim() || "0", 8);
  if (stored !== sum) throw new Error("not a tar archive (bad header checksum)");
  const size = Number.parseInt(str(124, 12).trim() || "0", 8);
  if (!Number.isSafeInteger(size) || size < 0) throw new Error("tar member of unreadable size");
  const prefix = str(257, 6).startsWith("ustar") ? str(345, 155) : "";
  return { name: prefix ? `${prefix}/${str(0, 100)}` : str(0, 100), size, type: str(156, 1) || "0" };
}

async function readExactly(fh: FileHandle, buf: Buffer, pos: number): Promise<void> {
  const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
  if (bytesRead !== buf.length) throw new Error("tar archive is truncated");
}

/**
 * Extracts the regular files named like tests (TEST_FILE_PATTERN, by their
 * last path component) of a tar archive into `dir`, flat. Links, devices and
 * every other member are skipped, and names are checked before any write, so
 * nothing lands outside `dir`. Returns the bytes written.
 */
/** At most this many test files in one set (a Problem has at most 1,000 tests): inodes are bounded too. */
export const MAX_TEST_FILES = 2000;

export async function extractTestFiles(archive: string, dir: string): Promise<number> {
  const fh = await open(archive, "r");
  try {
    const size = (await fh.stat()).size;
    const header = Buffer.alloc(BLOCK);
    const chunk = Buffer.alloc(CHUNK);
    const seen = new Set<string>();
    let pos = 0;
    let written = 0;
    while (pos + BLOCK <= size) {
      await readExactly(fh, header, pos);
      const h = parseHeader(header);
      if (!h) break;
      pos += BLOCK;
      const base = h.name.replace(/\/+$/, "").split("/").pop() ?? "";
      if ((h.type === "0" || h.type === "7") && TEST_FILE_PATTERN.test(base)) {
        if (seen.has(base))
          throw new Error(`the archive has two files named ${base} (tests are kept by their last path part)`);
        if (seen.size >= MAX_TEST_FILES)
          throw new Error(`the archive has more than ${MAX_TEST_FILES} test files`);
        seen.add(base);
        written += await copyOut(fh, pos, h.size, join(dir, base), chunk);
      }
      pos += Math.ceil(h.size / BLOCK) * BLOCK;
    }
    return written;
  } finally {
    await fh.close();
  }
}

async function copyOut(
  fh: FileHandle,
  from: number,
  size: number,
  to: string,
  chunk: Buffer,
): Promise<number> {
  const out = await open(to, "wx", 0o600);
  try {
    for (let done = 0; done < size; ) {
      const n = Math.min(chunk.length, size - done);
      const { bytesRead } = await fh.read(chunk, 0, n, from + done);
      if (bytesRead !== n) throw new Error("tar archive is truncated");
      await out.write(chunk, 0, n);
      done += n;
    }
    return size;
  } finally {
    await out.close();
  }
}
