import { constants } from "node:fs";
import { open, realpath } from "node:fs/promises";
import { dirname, sep } from "node:path";

/**
 * Reads a small file of a store path (as root, in the agent), refusing what a
 * hostile package could use to make the agent read something else: a path
 * that resolves outside the store (a symlink to /etc/shadow), anything but a
 * regular file, anything larger than `maxBytes`.
 *
 * `storePath` is the package the file belongs to; its parent directory is the
 * store. Symlinks into other store paths are fine (buildEnv makes them).
 */
export async function readStoreFile(storePath: string, file: string, maxBytes: number): Promise<Buffer> {
  const store = dirname(storePath);
  const real = await realpath(file);
  if (!real.startsWith(store + sep)) throw new Error(`${file} resolves outside the store (${real})`);
  const handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new Error(`${file} is not a regular file`);
    if (st.size > maxBytes) throw new Error(`${file} is ${st.size} bytes, more than the ${maxBytes} allowed`);
    const buf = Buffer.alloc(st.size);
    const { bytesRead } = await handle.read(buf, 0, st.size, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
