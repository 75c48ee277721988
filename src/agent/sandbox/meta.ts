/**
 * isolate's meta file: `key:value` lines. Parsed defensively: unknown keys are
 * kept but ignored, a repeated key keeps its last value, missing keys are
 * simply absent, and numbers that do not parse are dropped.
 */
export interface IsolateMeta {
  /** RE (runtime error), SG (signal), TO (timeout), XX (internal error); absent when the program exited 0. */
  status?: string;
  message?: string;
  exitcode?: number;
  exitsig?: number;
  killed?: boolean;
  /** Seconds. */
  time?: number;
  timeWall?: number;
  /** KiB. */
  maxRss?: number;
  cgMem?: number;
  cgOomKilled?: boolean;
  raw: Record<string, string>;
}

const num = (v: string | undefined): number | undefined => {
  if (v === undefined || v.trim() === "") return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
};

export function parseMeta(text: string): IsolateMeta {
  const raw: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    raw[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  const meta: IsolateMeta = { raw };
  if (raw.status) meta.status = raw.status;
  if (raw.message !== undefined) meta.message = raw.message;
  const set = <K extends keyof IsolateMeta>(k: K, v: IsolateMeta[K] | undefined) => {
    if (v !== undefined) meta[k] = v;
  };
  set("exitcode", num(raw.exitcode));
  set("exitsig", num(raw.exitsig));
  set("time", num(raw.time));
  set("timeWall", num(raw["time-wall"]));
  set("maxRss", num(raw["max-rss"]));
  set("cgMem", num(raw["cg-mem"]));
  if (raw.killed !== undefined) meta.killed = raw.killed === "1";
  if (raw["cg-oom-killed"] !== undefined) meta.cgOomKilled = raw["cg-oom-killed"] === "1";
  return meta;
}
