import { arch, cpus, totalmem } from "node:os";
import type { Execution } from "../../api/execution.ts";
import { ExecutionResource } from "../../k8s/resources.ts";
import type { GatewayCore } from "../core.ts";
import { MANAGED_BY, MANAGED_BY_LABEL, TENANT_LABEL } from "../execution-watches.ts";
import { HttpError } from "../http-error.ts";
import { judge0Languages } from "../runtime-index.ts";
import type { Tenant } from "../tenants.ts";
import { JUDGE0_STATUSES } from "./statuses.ts";
import { judge0Spec, parseJudge0Submission } from "./submission-request.ts";
import {
  DEFAULT_FIELDS,
  JUDGE0_LANGUAGE_ANNOTATION,
  parseFields,
  submissionView,
} from "./submission-view.ts";

const TOKEN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** ?base64_encoded, ?wait and ?fields, as Judge0 reads them. */
export function judge0Query(url: URL): { base64: boolean; wait: boolean; fields: string[] } {
  return {
    base64: url.searchParams.get("base64_encoded") === "true",
    wait: url.searchParams.get("wait") === "true",
    fields: parseFields(url.searchParams.get("fields")),
  };
}

export function languages(core: GatewayCore): unknown {
  return judge0Languages(core.runtimeList()).map(({ id, name }) => ({ id, name }));
}

export function language(core: GatewayCore, id: string): unknown {
  const l = judge0Languages(core.runtimeList()).find((x) => String(x.id) === id);
  if (!l) throw new HttpError(404, "language not found");
  const s = l.runtime.spec;
  return {
    id: l.id,
    name: l.name,
    is_archived: false,
    source_file: s.sourceFile,
    compile_cmd: s.compileCommand?.join(" ") ?? null,
    run_cmd: s.runCommand.join(" "),
  };
}

export function statuses(): unknown {
  return JUDGE0_STATUSES.map((s) => ({ ...s }));
}

/** Judge0 answers with the host's lscpu; this is the gateway's host (the programs run on the agents' nodes). */
export function systemInfo(): unknown {
  return {
    Architecture: arch(),
    "CPU(s)": String(cpus().length),
    "Model name": cpus()[0]?.model ?? "unknown",
    Mem: `${Math.round(totalmem() / 2 ** 20)} MiB`,
    Note: "the gateway's host; submissions run on the cluster's Envicutor agents",
  };
}

export function configInfo(core: GatewayCore): unknown {
  const c = core.config;
  return {
    maintenance_mode: false,
    enable_wait_result: true,
    enable_compiler_options: false,
    allowed_languages_for_compile_options: [],
    enable_command_line_arguments: true,
    enable_submission_delete: false,
    enable_callbacks: c.callbacks.enabled,
    callbacks_max_tries: c.callbacks.attempts,
    callbacks_timeout: c.callbacks.timeoutMs / 1000,
    enable_additional_files: false,
    max_queue_size: c.queueMax,
    number_of_runs: 1,
    redirect_stderr_to_stdout: false,
    max_submission_batch_size: c.maxBatchSize,
    submission_cache_duration: c.ttlSecondsAfterFinished,
    allow_enable_network: false,
  };
}

function nameOf(core: GatewayCore) {
  const langs = judge0Languages(core.runtimeList());
  return (id: number) => langs.find((l) => l.id === id)?.name;
}

function render(core: GatewayCore, fields: string[], base64: boolean) {
  const names = nameOf(core);
  return (ex: Execution) => submissionView(ex, fields, base64, names);
}

/** Checks one submission and builds its Execution spec; errors are per submission (batch) or the answer. */
function prepare(core: GatewayCore, body: unknown, base64: boolean) {
  const req = parseJudge0Submission(body, base64);
  const lang = judge0Languages(core.runtimeList()).find((l) => l.id === req.languageId);
  if (!lang)
    throw new HttpError(422, "language_id is invalid", {
      fields: { language_id: [`language with id ${req.languageId} doesn't exist`] },
    });
  return { req, spec: judge0Spec(req, lang.runtime) };
}

/** POST /submissions: 201 {"token"}, or with wait=true the finished submission. */
export async function createSubmission(
  core: GatewayCore,
  tenant: Tenant,
  body: unknown,
  url: URL,
  signal: AbortSignal,
): Promise<unknown> {
  const q = judge0Query(url);
  const { req, spec } = prepare(core, body, q.base64);
  if (req.callbackUrl && !core.config.callbacks.enabled)
    throw new HttpError(422, "callback_url is not enabled", {
      fields: { callback_url: ["is not enabled on this server"] },
    });
  core.admit(tenant, 1, q.wait, req.callbackUrl !== undefined);
  const ex = await core.submit(tenant, {
    api: "judge0",
    spec,
    annotations: { [JUDGE0_LANGUAGE_ANNOTATION]: String(req.languageId) },
    wait: q.wait,
    signal,
    ...(req.callbackUrl
      ? { callback: { url: req.callbackUrl, render: render(core, DEFAULT_FIELDS, q.base64) } }
      : {}),
  });
  return q.wait ? render(core, q.fields, q.base64)(ex) : { token: ex.metadata.name };
}

/** GET /submissions/:token, from the shared watch's cache (or the apiserver when the cache has not seen it yet). */
export async function getSubmission(
  core: GatewayCore,
  tenant: Tenant,
  token: string,
  url: URL,
): Promise<unknown> {
  const q = judge0Query(url);
  const ex = await findSubmission(core, tenant, token);
  if (!ex) throw new HttpError(404, "submission not found");
  return render(core, q.fields, q.base64)(ex);
}

async function findSubmission(
  core: GatewayCore,
  tenant: Tenant,
  token: string,
): Promise<Execution | undefined> {
  if (!TOKEN.test(token)) return undefined;
  await core.watches.synced(tenant.namespace);
  const cached = core.watches.get(tenant.namespace, token);
  const ex = cached ?? (await core.client.tryGet(ExecutionResource, token, tenant.namespace));
  const labels = ex?.metadata.labels;
  // Another token's submission in the same namespace is not this token's to read.
  return labels?.[MANAGED_BY_LABEL] === MANAGED_BY && labels[TENANT_LABEL] === tenant.name ? ex : undefined;
}

/** POST /submissions/batch: {"submissions": [...]} → [{"token"} or that submission's errors]. */
export async function createBatch(
  core: GatewayCore,
  tenant: Tenant,
  body: unknown,
  url: URL,
  signal: AbortSignal,
): Promise<unknown> {
  const q = judge0Query(url);
  const list = (body as { submissions?: unknown } | undefined)?.submissions;
  if (!Array.isArray(list) || list.length === 0)
    throw new HttpError(422, "submissions can't be blank", { fields: { submissions: ["can't be blank"] } });
  if (list.length > core.config.maxBatchSize)
    throw new HttpError(
      422,
      `number of submissions in a batch should be less than or equal to ${core.config.maxBatchSize}`,
    );
  const prepared = list.map((item) => {
    try {
      return prepare(core, item, q.base64);
    } catch (err) {
      if (err instanceof HttpError && err.fields) return { error: err.fields };
      throw err;
    }
  });
  const good = prepared.filter((p) => !("error" in p));
  core.admit(
    tenant,
    good.length,
    false,
    good.some((p) => "req" in p && p.req.callbackUrl !== undefined),
  );
  return Promise.all(
    prepared.map(async (p) => {
      if ("error" in p) return p.error;
      try {
        const ex = await core.submit(tenant, {
          api: "judge0",
          spec: p.spec,
          annotations: { [JUDGE0_LANGUAGE_ANNOTATION]: String(p.req.languageId) },
          wait: false,
          signal,
          ...(p.req.callbackUrl
            ? { callback: { url: p.req.callbackUrl, render: render(core, DEFAULT_FIELDS, q.base64) } }
            : {}),
        });
        return { token: ex.metadata.name };
      } catch (err) {
        return { error: err instanceof HttpError ? err.message : String(err) };
      }
    }),
  );
}

/** GET /submissions/batch?tokens=a,b: {"submissions": [...]}, null for a token that is not known. */
export async function getBatch(core: GatewayCore, tenant: Tenant, url: URL): Promise<unknown> {
  const q = judge0Query(url);
  const tokens = (url.searchParams.get("tokens") ?? "")
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  if (tokens.length === 0)
    throw new HttpError(422, "tokens can't be blank", { fields: { tokens: ["can't be blank"] } });
  if (tokens.length > core.config.maxBatchSize)
    throw new HttpError(422, `number of tokens should be less than or equal to ${core.config.maxBatchSize}`);
  const view = render(core, q.fields, q.base64);
  const found = await Promise.all(tokens.map((t) => findSubmission(core, tenant, t)));
  return { submissions: found.map((ex) => (ex ? view(ex) : null)) };
}
