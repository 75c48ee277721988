// The controller, agent and pause images a real node runs, built from this
// checkout by images/build.sh (no Docker daemon, no registry).
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import type { ImageArchive } from "./node.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..", "..");

/** OCI archives in `out`, with this machine's isolate in the agent; `nodeBin` has the node's pause. */
export async function buildImages(out: string, nodeBin: string): Promise<ImageArchive[]> {
  const env = {
    ...process.env,
    PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH}`,
    ENVICUTOR_IMAGE_OUT: out,
    ISOLATE_FROM: "/",
    // The node's /nix is this machine's too: the image's build users are this machine's.
    NIX_USERS_FROM: "/etc",
    PAUSE_BIN: join(nodeBin, "pause"),
    PAUSE_TAG: "e2e",
  };
  const res = await run("bash", [join(ROOT, "images/build.sh"), "controller", "agent", "pause"], {
    env,
    maxBuffer: 16 << 20,
  });
  return res.stdout
    .trim()
    .split("\n")
    .map((l) => {
      const [ref, archive] = l.split(" ");
      return { ref: ref!, archive: archive! };
    });
}
