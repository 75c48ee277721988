// Controller and agent processes for e2e tests: real OS processes against the
// real apiserver, each in its own process group so a test can SIGKILL one
// mid-run and be sure nothing of it is left.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");
const live = new Set<ManagedProcess>();
process.once("exit", () => {
  for (const p of live) p.killSync();
});

export class ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  private proc: ChildProcess | undefined;
  private readonly script: string;
  private readonly env: Record<string, string>;
  private exited: Promise<number | null> = Promise.resolve(null);

  constructor(name: string, script: string, env: Record<string, string>, logDir: string) {
    this.name = name;
    this.script = script;
    this.env = env;
    mkdirSync(logDir, { recursive: true });
    this.logFile = join(logDir, `${name}.log`);
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get running(): boolean {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  start(): this {
    const fd = openSync(this.logFile, "a");
    this.proc = spawn(process.execPath, [join(ROOT, this.script)], {
      env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "info", ...this.env },
      stdio: ["ignore", fd, fd],
      detached: true,
    });
    closeSync(fd);
    const proc = this.proc;
    this.exited = new Promise((r) => proc.once("exit", (code) => r(code)));
    live.add(this);
    return this;
  }

  /** SIGKILL of the whole process group (a crash), resolving when it is gone. */
  async kill(): Promise<void> {
    this.killSync();
    await this.exited;
  }

  /** SIGTERM (graceful), then SIGKILL after the timeout; the exit code (null when killed or not running). */
  async stop(timeoutMs = 15_000): Promise<number | null> {
    if (!this.running || !this.proc?.pid) return null;
    try {
      process.kill(-this.proc.pid, "SIGTERM");
    } catch {
      return null;
    }
    const t = setTimeout(() => this.killSync(), timeoutMs);
    const code = await this.exited;
    clearTimeout(t);
    live.delete(this);
    return code;
  }

  killSync(): void {
    if (this.proc?.pid && this.running) {
      try {
        process.kill(-this.proc.pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
  }

  logs(): string {
    try {
      return readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }

  /** Lines of the JSON log that match a predicate (pino output). */
  logEntries(match: (entry: Record<string, unknown>) => boolean = () => true): Record<string, unknown>[] {
    return this.logs()
      .split("\n")
      .filter(Boolean)
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      })
      .filter(match);
  }
}

export interface ControllerProcessOptions {
  kubeconfig: string;
  namespace: string;
  identity: string;
  logDir: string;
  env?: Record<string, string>;
}

export function startController(o: ControllerProcessOptions): ManagedProcess {
  return new ManagedProcess(
    `controller-${o.identity}`,
    "src/controller/main.ts",
    {
      ENVICUTOR_KUBECONFIG: o.kubeconfig,
      KUBECONFIG: o.kubeconfig,
      ENVICUTOR_NAMESPACE: o.namespace,
      ENVICUTOR_IDENTITY: o.identity,
      ENVICUTOR_METRICS_PORT: "0",
      ENVICUTOR_METRICS_HOST: "127.0.0.1",
      ...o.env,
    },
    o.logDir,
  ).start();
}

export interface AgentProcessOptions {
  kubeconfig: string;
  namespace: string;
  nodeName: string;
  stateDir: string;
  logDir: string;
  slots?: number;
  boxIdBase?: number;
  env?: Record<string, string>;
}

export function startAgent(o: AgentProcessOptions): ManagedProcess {
  return new ManagedProcess(
    `agent-${o.nodeName}`,
    "src/agent/main.ts",
    {
      ENVICUTOR_KUBECONFIG: o.kubeconfig,
      KUBECONFIG: o.kubeconfig,
      ENVICUTOR_NAMESPACE: o.namespace,
      ENVICUTOR_NODE_NAME: o.nodeName,
      ENVICUTOR_STATE_DIR: o.stateDir,
      ENVICUTOR_SLOTS: String(o.slots ?? 2),
      ENVICUTOR_BOX_ID_BASE: String(o.boxIdBase ?? 0),
      ENVICUTOR_METRICS_PORT: "0",
      ENVICUTOR_METRICS_HOST: "127.0.0.1",
      ENVICUTOR_LEASE_DURATION_SECONDS: "6",
      ...o.env,
    },
    o.logDir,
  ).start();
}
