import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTar } from "./tar-fixture.ts";
import { TestDataCache, testDataCacheMetrics } from "./test-data-cache.ts";

let tmp: string;
let server: Server;
let base: string;
const served = new Map<string, string>(); // url path → file
let requests = 0;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "envicutor-test-data-"));
  server = createServer(async (req, res) => {
    requests++;
    if (req.url?.startsWith("/stall")) return void res.writeHead(200).write("x"); // one byte, then nothing
    const file = served.get(req.url ?? "");
    if (!file) return res.writeHead(404).end();
    res.end(await readFile(file));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server?.close();
  await rm(tmp, { recursive: true, force: true });
});

async function archive(name: string, members: { name: string; data: Buffer }[]) {
  const path = join(tmp, `${name}.tar`);
  const { sha256 } = await writeTar(path, members);
  served.set(`/${name}.tar`, path);
  return { url: `${base}/${name}.tar`, sha256 };
}

const t = (name: string, text: string) => ({ name, data: Buffer.from(text) });

describe("TestDataCache", () => {
  it("fetches once, checks the hash, lists tests in numeric order and skips other members", async () => {
    const ref = await archive("a", [
      t("10.in", "ten"),
      t("10.ans", "10"),
      t("2.in", "two"),
      t("../evil.in", "x"),
      t("README", "x"),
      t("1.in", "one"),
    ]);
    const registry = new Registry();
    const cache = new TestDataCache(join(tmp, "cache-a"), 1 << 20, testDataCacheMetrics(registry));
    const before = requests;
    const a = await cache.acquire(ref);
    const b = await cache.acquire(ref);
    expect(requests - before).toBe(1);
    // "../evil.in" is taken by its last component only, inside the cache.
    expect(a.tests.map((x) => x.name)).toEqual(["1", "2", "10", "evil"]);
    expect(await readFile(a.tests[2]!.answer!, "utf8")).toBe("10");
    expect(a.tests[0]!.answer).toBeUndefined();
    expect(b.tests).toEqual(a.tests);
    const text = await registry.metrics();
    expect(text).toMatch(/envicutor_agent_test_data_cache_lookups_total\{result="hit"\} 1/);
    expect(text).toMatch(/envicutor_agent_test_data_cache_lookups_total\{result="miss"\} 1/);
  });

  it("fails a server that stalls, names the set by its hash and never by its URL, and remembers the failure", async () => {
    const cache = new TestDataCache(join(tmp, "cache-stall"), 1 << 20, undefined, {
      idleMs: 200,
      totalMs: 5000,
    });
    const ref = { url: `${base}/stall?token=SECRET`, sha256: "a".repeat(64) };
    const started = Date.now();
    const err = await cache.acquire(ref).catch((e: Error) => e);
    expect(Date.now() - started).toBeLessThan(3000);
    expect((err as Error).message).toMatch(/^test data sha256:aaaaaaaaaaaa: the download failed or stalled/);
    expect((err as Error).message).not.toContain("SECRET");
    expect((err as Error).message).not.toContain("127.0.0.1");
    const before = requests;
    await expect(cache.acquire(ref)).rejects.toThrow(/stalled/);
    expect(requests).toBe(before); // not fetched again at once
  });

  it("refuses an HTTP error without the URL in the message", async () => {
    const cache = new TestDataCache(join(tmp, "cache-404"), 1 << 20);
    const err = await cache
      .acquire({ url: `${base}/missing?sig=SECRET`, sha256: "b".repeat(64) })
      .catch((e: Error) => e);
    expect((err as Error).message).toBe("test data sha256:bbbbbbbbbbbb: the server answered HTTP 404");
  });

  it("refuses bytes with another sha256 and keeps nothing", async () => {
    const ref = await archive("b", [t("1.in", "x")]);
    const dir = join(tmp, "cache-b");
    const cache = new TestDataCache(dir, 1 << 20);
    await expect(cache.acquire({ ...ref, sha256: "0".repeat(64) })).rejects.toThrow(
      /the archive's sha256 is/,
    );
    expect(await readdir(dir)).toEqual([]);
  });

  it("evicts the least recently used set nobody holds, never a held one", async () => {
    const big = (n: string) => archive(n, [{ name: "1.in", data: Buffer.alloc(600, n) }]);
    const [x, y, z] = [await big("x"), await big("y"), await big("z")];
    const dir = join(tmp, "cache-c");
    const cache = new TestDataCache(dir, 1300);
    const hx = await cache.acquire(x);
    (await cache.acquire(y)).release();
    // x is held: z evicts y although x is older.
    (await cache.acquire(z)).release();
    expect((await readdir(dir)).sort()).toEqual([x.sha256, z.sha256].sort());
    hx.release();
  });

  it("reads what a previous process left and drops interrupted fetches", async () => {
    const dir = join(tmp, "cache-d");
    const ref = await archive("d", [t("1.in", "x")]);
    await new TestDataCache(dir, 1 << 20).acquire(ref);
    await mkdir(join(dir, ".tmp-123"));
    const before = requests;
    const again = await new TestDataCache(dir, 1 << 20).acquire(ref);
    expect(requests).toBe(before);
    expect(again.tests.map((x) => x.name)).toEqual(["1"]);
    expect(await readdir(dir)).toEqual([ref.sha256]);
  });

  it("keeps a ConfigMap's files under the sha256 of their names and contents, and refuses other names", async () => {
    const cache = new TestDataCache(join(tmp, "cache-f"), 1 << 20);
    const files = [
      { name: "1.in", data: Buffer.from("x") },
      { name: "1.ans", data: Buffer.from("y") },
    ];
    const a = await cache.acquireFiles(files);
    const b = await cache.acquireFiles([...files].reverse());
    expect(b.sha256).toBe(a.sha256);
    expect(a.tests).toEqual([{ name: "1", input: expect.any(String), answer: expect.any(String) }]);
    await expect(cache.acquireFiles([{ name: "../x.in", data: Buffer.from("") }])).rejects.toThrow(
      /not a test file/,
    );
  });

  it("reads archives made by tar -cf", async () => {
    const src = join(tmp, "src");
    await mkdir(src);
    await writeFile(join(src, "01.in"), "1 2\n");
    await writeFile(join(src, "01.ans"), "3\n");
    const path = join(tmp, "gnu.tar");
    await promisify(execFile)("tar", ["-cf", path, "-C", tmp, "src"]);
    const { createHash } = await import("node:crypto");
    const sha256 = createHash("sha256")
      .update(await readFile(path))
      .digest("hex");
    served.set("/gnu.tar", path);
    const held = await new TestDataCache(join(tmp, "cache-e"), 1 << 20).acquire({
      url: `${base}/gnu.tar`,
      sha256,
    });
    expect(held.tests.map((x) => x.name)).toEqual(["01"]);
    expect(await readFile(held.tests[0]!.answer!, "utf8")).toBe("3\n");
  });
});
