import { createHash } from "node:crypto";
import { open } from "node:fs/promises";

/** A member of a test archive: its name and bytes. */
export interface TarMember {
  name: string;
  data: Buffer;
}

function header(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, "utf8");
  h.write("0000644\0", 100);
  h.write("0000000\0", 108);
  h.write("0000000\0", 116);
  h.write(`${size.toString(8).padStart(11, "0")}\0`, 124);
  h.write("00000000000\0", 136);
  h.write("        ", 148); // checksum counts as spaces
  h.write("0", 156);
  h.write("ustar\0", 257);
  h.write("00", 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return h;
}

/**
 * Writes a ustar archive (what `tar -cf` makes) of the members, in order,
 * for tests: members may be produced one at a time, so a large set never
 * sits in memory at once. Returns its sha256 and size.
 */
export async function writeTar(
  path: string,
  members: Iterable<TarMember>,
): Promise<{ sha256: string; bytes: number }> {
  const out = await open(path, "w");
  const hash = createHash("sha256");
  let bytes = 0;
  const put = async (b: Buffer) => {
    hash.update(b);
    bytes += b.length;
    await out.write(b);
  };
  try {
    for (const m of members) {
      await put(header(m.name, m.data.length));
      await put(m.data);
      const pad = (512 - (m.data.length % 512)) % 512;
      if (pad) await put(Buffer.alloc(pad));
    }
    await put(Buffer.alloc(1024));
  } finally {
    await out.close();
  }
  return { sha256: hash.digest("hex"), bytes };
}
