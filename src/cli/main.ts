#!/usr/bin/env node
// envicutor: submit code to an Envicutor cluster and print the verdicts like a judge.
// Also a kubectl plugin when installed as `kubectl-envicutor`.
import { parseArgs } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { doctor } from "./doctor.ts";
import { rejudge } from "./rejudge.ts";
import { formatReport } from "./report.ts";
import { runAndWait } from "./run-command.ts";
import { readStdin, stdinSource } from "./stdin.ts";

const USAGE = `Usage: envicutor run FILE --runtime RUNTIME [--stdin FILE | --tests DIR] [options]
       envicutor doctor [--isolate PATH] [--network]
       envicutor rejudge (EXECUTION | --problem PROBLEM) [-n NS]

run: creates an Execution, waits for it and prints the verdicts.
doctor: checks what the agent needs on this node (isolate and its cgroup mode,
  kernel namespaces, Nix, ...); exit status 1 when a check fails.
rejudge: creates a new Execution with the spec of EXECUTION, or of every
  Execution of PROBLEM (not rejudges themselves), and prints their names; each
  runs against the Problem's and the Runtime's current state (status.judgedWith).

Options:
  -r, --runtime NAME     Runtime to run with (required)
      --stdin FILE       standard input of a single run ('-': this process's stdin,
                         which is also the default when it is piped or redirected)
      --tests DIR        test cases: NAME.in with optional NAME.out beside it
      --arg ARG          argument for the program (repeatable)
  -n, --namespace NS     namespace of the Execution (default: the kubeconfig's, or default)
      --kubeconfig PATH  kubeconfig (default: $KUBECONFIG or ~/.kube/config)
      --timeout SECONDS  how long to wait (default 300)
      --keep             keep the Execution instead of deleting it afterwards
      --isolate PATH     doctor: the isolate binary (default: $ENVICUTOR_ISOLATE_BIN or isolate)
      --network          doctor: also check what networked Runtimes need

Exit status: 0 when Accepted, 1 for any other verdict, 2 for usage or cluster errors.`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      runtime: { type: "string", short: "r" },
      stdin: { type: "string" },
      tests: { type: "string" },
      arg: { type: "string", multiple: true },
      namespace: { type: "string", short: "n" },
      kubeconfig: { type: "string" },
      timeout: { type: "string", default: "300" },
      keep: { type: "boolean", default: false },
      isolate: { type: "string" },
      network: { type: "boolean", default: false },
      problem: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, file] = positionals;
  if (command === "doctor" && !values.help)
    return doctor({ ...(values.isolate ? { isolateBin: values.isolate } : {}), network: values.network });
  if (command === "rejudge" && !values.help && (file || values.problem)) {
    const kc = loadConfig(values.kubeconfig);
    const namespace = values.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? "default";
    const target = file ? { execution: file } : { problem: values.problem! };
    for (const name of await rejudge(kc, { namespace, ...target })) console.log(`${namespace}/${name}`);
    return 0;
  }
  if (values.help || command !== "run" || !file || !values.runtime || (values.stdin && values.tests)) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  const kc = loadConfig(values.kubeconfig);
  const namespace = values.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? "default";
  const stdin = await readStdin(stdinSource(values.stdin, !!values.tests, !!process.stdin.isTTY));
  const result = await runAndWait(
    kc,
    {
      file,
      runtime: values.runtime,
      namespace,
      ...(stdin !== undefined ? { stdin } : {}),
      ...(values.tests ? { testsDir: values.tests } : {}),
      ...(values.arg ? { args: values.arg } : {}),
      timeoutSeconds: Number(values.timeout),
      keep: values.keep,
    },
    (name) => console.error(`execution ${namespace}/${name} created, waiting...`),
  );
  console.log(formatReport(result));
  return result.status?.verdict === "Accepted" ? 0 : 1;
}

function loadConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const body = (err as { body?: unknown }).body;
    console.error(
      `envicutor: ${err instanceof Error ? err.message : String(err)}${body ? `\n${typeof body === "string" ? body : JSON.stringify(body)}` : ""}`,
    );
    process.exit(2);
  },
);
