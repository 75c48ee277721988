import { describe, expect, it } from "vitest";
import type { SourceFile } from "../../api/execution.ts";
import { boxFilesFor } from "./source-files.ts";

const f = (name: string, content: string, encoding: "utf8" | "base64" = "utf8"): SourceFile => ({
  name,
  content,
  encoding,
});

describe("boxFilesFor", () => {
  it("keeps names when one file is named like the Runtime's sourceFile", () => {
    const out = boxFilesFor([f("util.py", "x = 1"), f("main.py", "import util")], "main.py");
    expect(out.map((b) => b.path)).toEqual(["util.py", "main.py"]);
    expect(out[1]!.data.toString()).toBe("import util");
  });

  it("renames the first file to sourceFile when none has that name", () => {
    const out = boxFilesFor([f("solution.c", "int main(){}"), f("lib.h", "#pragma once")], "main.c");
    expect(out.map((b) => b.path)).toEqual(["main.c", "lib.h"]);
    expect(out[0]!.data.toString()).toBe("int main(){}");
  });

  it("decodes base64 and keeps utf8 as is", () => {
    const bin = Buffer.from([0, 1, 2, 255, 254]);
    const out = boxFilesFor(
      [f("main.py", "print('é')"), f("data.bin", bin.toString("base64"), "base64")],
      "main.py",
    );
    expect(out[0]!.data).toEqual(Buffer.from("print('é')", "utf8"));
    expect(out[1]!.data).toEqual(bin);
  });

  it("files are not executable", () => {
    for (const b of boxFilesFor([f("main.sh", "echo")], "main.sh")) expect(b.executable).toBeFalsy();
  });

  it("rejects unsafe names", () => {
    for (const bad of ["../etc/passwd", "a/b", ".hidden", "", "..", "a b", "x;rm", "$(id)", "-rf"]) {
      expect(() => boxFilesFor([f("main.py", ""), f(bad, "")], "main.py"), bad).toThrow(/unsafe file name/);
    }
  });

  it("rejects an unsafe sourceFile it would rename to", () => {
    expect(() => boxFilesFor([f("a.c", "")], "../main.c")).toThrow(/unsafe file name/);
    expect(() => boxFilesFor([f("a.c", "")], "src/main.c")).toThrow(/unsafe file name/);
  });
});
