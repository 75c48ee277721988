import { appendFileSync, readFileSync, writeFileSync } from "node:fs";

/** Lines past which the file is rewritten with the most recent starts only. */
const COMPACT_AT_LINES = 4096;
/** Starts kept at a rewrite: far more than a node runs at once (its slots). */
const KEEP_ON_COMPACT = 1024;

/**
 * The attempts this node started, one line "uid attempt" each, in a file in
 * the agent's state directory. A restarted agent reads it to tell an attempt
 * it started (and was interrupted in) from one it never started, which is
 * what lets ExecutionWorker run a short Execution without first writing
 * Running to the apiserver. A line is appended before the program runs; it is
 * not fsynced: it outlives the agent's crash (the page cache), not the node's,
 * and a node that went down loses its Lease, which the controller handles.
 */
export class StartedJournal {
  /** Starts recorded by earlier agent processes. */
  private readonly before = new Map<string, number>();
  /** Starts recorded by this process, oldest first. */
  private readonly recent = new Map<string, number>();
  private lines = 0;
  private readonly file: string | undefined;

  /** `file` unset: nothing is kept, and record() says so (tests; Running is then written first). */
  constructor(file?: string) {
    this.file = file;
    if (file) this.load(file);
  }

  /** Whether an earlier agent process started this attempt of the Execution. */
  startedBefore(uid: string, attempt: number): boolean {
    return this.before.get(uid) === attempt;
  }

  /**
   * Records a start; false when it could not be kept on disk (the caller then
   * marks the run Running in the apiserver first, as without a journal).
   */
  record(uid: string, attempt: number): boolean {
    if (!this.file) return false;
    this.recent.delete(uid);
    this.recent.set(uid, attempt);
    try {
      if (this.lines >= COMPACT_AT_LINES) this.compact(this.file);
      appendFileSync(this.file, `${uid} ${attempt}\n`, { mode: 0o600 });
      this.lines++;
      return true;
    } catch {
      return false;
    }
  }

  private load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      return; // none yet, or unreadable: nothing was started that we know of
    }
    for (const line of text.split("\n")) {
      const [uid, attempt, extra] = line.split(" ");
      const n = Number(attempt);
      if (uid && extra === undefined && Number.isSafeInteger(n)) this.before.set(uid, n);
    }
    this.lines = this.before.size;
  }

  /** Rewrites the file with this process's most recent starts (earlier processes' are in memory). */
  private compact(file: string): void {
    const keep = [...this.recent].slice(-KEEP_ON_COMPACT);
    this.recent.clear();
    for (const [uid, attempt] of keep) this.recent.set(uid, attempt);
    writeFileSync(file, keep.map(([uid, attempt]) => `${uid} ${attempt}\n`).join(""), { mode: 0o600 });
    this.lines = keep.length;
  }
}
