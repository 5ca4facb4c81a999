import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** The chart under test. */
export const CHART = resolve(import.meta.dirname, '../../deploy/helm/maestro');

/** What a test prints when it skips for want of helm. */
export const NO_HELM_MESSAGE = 'helm not found (HELM_BIN, $MAESTRO_TOOLS_CACHE/helm/helm, PATH): chart rendering tests SKIPPED; prepare it with `bash scripts/prepare-helm.sh`';

/**
 * The helm binary: HELM_BIN, else the cache scripts/prepare-helm.sh fills
 * (${MAESTRO_TOOLS_CACHE:-~/.cache/maestro-tools}/helm/helm), else `helm` on PATH; undefined when none
 * of them runs `helm version`.
 */
export function findHelm(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const cache = join(env.MAESTRO_TOOLS_CACHE || join(homedir(), '.cache', 'maestro-tools'), 'helm', 'helm');
  const candidates = [env.HELM_BIN, existsSync(cache) ? cache : undefined, 'helm'].filter((c): c is string => !!c);
  return candidates.find((bin) => spawnSync(bin, ['version', '--short'], { stdio: 'ignore' }).status === 0);
}

/** One rendered Kubernetes object (the fields the tests read are typed loosely on purpose). */
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [k: string]: any };

/** Result of `helm template`: exit status, stderr, and the objects of its YAML stream. */
export interface Rendered {
  status: number | null;
  stderr: string;
  objects: K8sObject[];
}

/**
 * `helm template <release> CHART --namespace <ns>` with `values` as a values file (JSON is YAML), so
 * no `--set` escaping; the objects are its YAML documents, empty ones dropped.
 */
export function helmTemplate(helm: string, values: object = {}, release = 'm', namespace = 'maestro'): Rendered {
  const dir = mkdtempSync(join(tmpdir(), 'maestro-helm-'));
  try {
    const file = join(dir, 'values.json');
    writeFileSync(file, JSON.stringify(values));
    const r = spawnSync(helm, ['template', release, CHART, '--namespace', namespace, '-f', file], { encoding: 'utf8' });
    const objects = r.status === 0 ? parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject).filter((o) => o) : [];
    return { status: r.status, stderr: r.stderr, objects };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `helm lint [--strict] CHART -f values`: exit status and output. */
export function helmLint(helm: string, values: object = {}, strict = true): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'maestro-helm-'));
  try {
    const file = join(dir, 'values.json');
    writeFileSync(file, JSON.stringify(values));
    const r = spawnSync(helm, ['lint', CHART, ...(strict ? ['--strict'] : []), '-f', file], { encoding: 'utf8' });
    return { status: r.status, output: r.stdout + r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Module of the kubernetes-models class for an apiVersion's group (undefined: a group not known here). */
function modelModule(apiVersion: string, kind: string): string | undefined {
  if (!/^[A-Za-z]+$/.test(kind)) return undefined;
  if (apiVersion === 'monitoring.coreos.com/v1') return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`;
  if (apiVersion === 'gateway.networking.k8s.io/v1') return `@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/${kind}`;
  if (/^(v1|(apps|batch|policy|autoscaling|networking\.k8s\.io|rbac\.authorization\.k8s\.io)\/v\d+)$/.test(apiVersion)) return `kubernetes-models/${apiVersion}/${kind}`;
  return undefined;
}

/**
 * Validates one object against the Kubernetes (or Prometheus Operator, Gateway API) JSON schema of its
 * apiVersion/kind, with the `kubernetes-models` classes' `.validate()`. Returns the problems, empty
 * when valid; an apiVersion/kind with no known model is a problem too (never passed unchecked). The
 * schemas allow unknown fields (as the API server's non-strict decoding does): types, enums and
 * required fields are what they check.
 */
export async function validateObject(o: K8sObject): Promise<string[]> {
  const where = `${o?.apiVersion}/${o?.kind} ${o?.metadata?.name}`;
  const mod = modelModule(String(o?.apiVersion), String(o?.kind));
  if (!mod) return [`${where}: no schema known for this apiVersion/kind`];
  let Model: new (data: unknown) => { validate(): void };
  try {
    Model = (await import(mod))[o.kind];
  } catch {
    return [`${where}: no schema known for this apiVersion/kind (${mod})`];
  }
  if (typeof Model !== 'function') return [`${where}: no schema known for this kind`];
  try {
    new Model(o).validate();
    return [];
  } catch (err) {
    return [`${where}: ${(err as Error).message}`];
  }
}
