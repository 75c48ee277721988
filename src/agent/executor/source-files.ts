import { SAFE_FILE_NAME_PATTERN } from "../../api/common.ts";
import type { SourceFile } from "../../api/execution.ts";
import type { BoxFile } from "../sandbox/isolate-box.ts";

const SAFE = new RegExp(SAFE_FILE_NAME_PATTERN);

/**
 * The submission's files as they go into the box. The main source is the file
 * named like the Runtime's sourceFile, or else the first file, which is then
 * written under that name. Names are checked again here (defence in depth).
 */
export function boxFilesFor(files: SourceFile[], sourceFile: string): BoxFile[] {
  const hasMain = files.some((f) => f.name === sourceFile);
  return files.map((f, i) => {
    const name = !hasMain && i === 0 ? sourceFile : f.name;
    if (!SAFE.test(name)) throw new Error(`unsafe file name: ${JSON.stringify(name)}`);
    return {
      path: name,
      data: f.encoding === "base64" ? Buffer.from(f.content, "base64") : Buffer.from(f.content, "utf8"),
    };
  });
}
