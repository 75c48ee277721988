import { describe, expect, it } from "vitest";
import { parseMeta } from "./meta.ts";

describe("parseMeta", () => {
  it("parses a normal run of isolate 1.x with --cg", () => {
    const m = parseMeta(
      [
        "time:0.012",
        "time-wall:0.034",
        "max-rss:2048",
        "csw-voluntary:3",
        "csw-forced:1",
        "cg-mem:1536",
        "exitcode:0",
        "",
      ].join("\n"),
    );
    expect(m).toMatchObject({ time: 0.012, timeWall: 0.034, maxRss: 2048, cgMem: 1536, exitcode: 0 });
    expect(m.status).toBeUndefined();
    expect(m.message).toBeUndefined();
    expect(m.killed).toBeUndefined();
    expect(m.cgOomKilled).toBeUndefined();
    expect(m.raw["csw-voluntary"]).toBe("3");
  });

  it("empty text: nothing but an empty raw map", () => {
    expect(parseMeta("")).toEqual({ raw: {} });
  });

  it("missing keys stay absent (no NaN, no zero)", () => {
    const m = parseMeta("status:RE\n");
    expect(m).toEqual({ status: "RE", raw: { status: "RE" } });
  });

  it("a repeated key keeps its last value", () => {
    const m = parseMeta("time:0.1\nstatus:RE\ntime:0.25\nstatus:SG\nexitsig:9\nexitsig:11\n");
    expect(m.time).toBe(0.25);
    expect(m.status).toBe("SG");
    expect(m.exitsig).toBe(11);
  });

  it("ignores garbage lines, lines without a key and unparsable numbers", () => {
    const m = parseMeta(
      [
        "garbage without colon",
        ":no key",
        "time:abc",
        "max-rss:",
        "time-wall: 1.5 ",
        "   ",
        "\u0000\u0001binary",
        "exitcode:2",
      ].join("\n"),
    );
    expect(m.time).toBeUndefined();
    expect(m.maxRss).toBeUndefined();
    expect(m.timeWall).toBe(1.5);
    expect(m.exitcode).toBe(2);
    expect(Object.keys(m.raw)).not.toContain("");
  });

  it("keeps colons inside the value (messages)", () => {
    const m = parseMeta("status:XX\nmessage:Cannot run proxy: Permission denied\n");
    expect(m.status).toBe("XX");
    expect(m.message).toBe("Cannot run proxy: Permission denied");
  });

  it("tolerates CRLF line ends", () => {
    const m = parseMeta("status:TO\r\nmessage:Time limit exceeded\r\ntime:1.002\r\n");
    expect(m).toMatchObject({ status: "TO", message: "Time limit exceeded", time: 1.002 });
  });

  it("TO by the wall clock", () => {
    const m = parseMeta(
      "time:0.001\ntime-wall:1.503\nmax-rss:1400\nkilled:1\nstatus:TO\nmessage:Time limit exceeded (wall clock)\n",
    );
    expect(m).toMatchObject({
      status: "TO",
      message: "Time limit exceeded (wall clock)",
      killed: true,
      timeWall: 1.503,
    });
  });

  it("SG with exitsig", () => {
    const m = parseMeta("time:0.002\nexitsig:11\nstatus:SG\nmessage:Caught fatal signal 11\n");
    expect(m).toMatchObject({ status: "SG", exitsig: 11, message: "Caught fatal signal 11" });
    expect(m.exitcode).toBeUndefined();
  });

  it("cg-oom-killed and killed flags: only 1 is true", () => {
    expect(parseMeta("cg-oom-killed:1\nkilled:1\n")).toMatchObject({ cgOomKilled: true, killed: true });
    expect(parseMeta("cg-oom-killed:0\nkilled:0\n")).toMatchObject({ cgOomKilled: false, killed: false });
  });

  it("unknown keys are kept in raw but not typed", () => {
    const m = parseMeta("future-key:42\nstatus:RE\nexitcode:3\nmessage:Exited with error status 3\n");
    expect(m.raw["future-key"]).toBe("42");
    expect(m).toMatchObject({ status: "RE", exitcode: 3 });
  });
});
