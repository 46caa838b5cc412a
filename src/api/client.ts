/**
 * ResourceClient: Calico v3 resource semantics over a datastore Backend.
 *
 * Stored value = JSON of the full v3 object without `metadata.resourceVersion`; objects handed
 * out carry `metadata.resourceVersion` = the key's mod revision (as a string, as in Calico),
 * plus `creationTimestamp` and `uid` set on create and kept by replace/apply/patch/label.
 * Every write is validated first; multi-document operations validate (and pre-check existence
 * of) every document before writing anything.
 */
import { randomUUID } from 'node:crypto';
import YAML from 'yaml';
import { resourceKey, resourcePrefix, type Backend, type KVPair } from '../datastore/index.ts';
import { ErrorCodes, WeftError, isWeftError } from '../lib/errors.ts';
import { cidrOverlaps, parseCIDR } from '../lib/ip.ts';
import { API_VERSION, isNamespacedKind, type Kind } from './kinds.ts';
import type { ManifestDocument } from './manifest.ts';
import { batchValidationError, checkDocument, toV3, type InvalidDocument } from './resources.ts';
import { checkLabelKey, checkLabelValue, q } from './schemas/common.ts';
import { describeRef, validationError, type IPPool, type Resource, type ResourceOf, type ValidateOptions, type ValidationIssue } from './validate.ts';

/** Identifies one resource. `namespace` defaults to `default` for namespaced kinds. */
export interface ResourceRef<K extends Kind = Kind> {
  kind: K;
  name: string;
  namespace?: string;
}

export interface ResourceClientOptions {
  /** Clock for creationTimestamp (default: now). */
  now?: () => Date;
  /** uid generator (default: crypto.randomUUID). */
  newUid?: () => string;
  /** CAS retries for patch/label when another writer got there first (default 5). */
  casRetries?: number;
}

/** Name of Calico's built-in allow-all profile, present in every datastore (read-only). */
export const DEFAULT_ALLOW_PROFILE = 'projectcalico-default-allow';

/** The built-in profile as `get`/`list` show it when it is not stored. */
export function defaultAllowProfile(): ResourceOf<'Profile'> {
  return {
    apiVersion: API_VERSION,
    kind: 'Profile',
    metadata: { name: DEFAULT_ALLOW_PROFILE, resourceVersion: '0' },
    spec: { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] },
  };
}

function isBuiltin(ref: ResourceRef): boolean {
  return ref.kind === 'Profile' && ref.name === DEFAULT_ALLOW_PROFILE;
}

/** Label changes for ResourceClient.label. */
export interface LabelChange {
  /** Labels to set. An existing label with a different value needs `overwrite`. */
  set?: Record<string, string>;
  /** Label keys to remove (each must be present). */
  remove?: string[];
  overwrite?: boolean;
}

export type BatchOp = 'create' | 'apply' | 'replace' | 'delete';

export interface BatchOptions {
  /** create: skip documents whose resource already exists (calicoctl `--skip-exists`). */
  skipExists?: boolean;
  /** delete: skip documents whose resource does not exist (`--skip-not-exists`). */
  skipNotExists?: boolean;
  /** Namespace for namespaced documents without one (`-n`); a different explicit one is an error. */
  namespace?: string;
}

export interface BatchItem {
  document: number;
  source: string;
  kind: Kind;
  name: string;
  namespace?: string;
  status: 'created' | 'replaced' | 'deleted' | 'skipped';
  /** The stored (or deleted) object with its resourceVersion; absent when skipped. */
  resource?: Resource;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** JSON merge patch (RFC 7386 §2): objects merge recursively, null deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return patch;
  const out: Record<string, unknown> = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function refOfResource(r: Resource): ResourceRef {
  const md = r.metadata as { name: string; namespace?: string };
  return { kind: r.kind, name: md.name, namespace: md.namespace };
}

function describeResource(ref: ResourceRef): string {
  return `${ref.kind} ${q(ref.name)}${ref.namespace !== undefined && isNamespacedKind(ref.kind) ? ` in namespace ${q(ref.namespace)}` : ''}`;
}

function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class ResourceClient {
  readonly backend: Backend;
  readonly #now: () => Date;
  readonly #uid: () => string;
  readonly #retries: number;

  constructor(backend: Backend, opts: ResourceClientOptions = {}) {
    this.backend = backend;
    this.#now = opts.now ?? (() => new Date());
    this.#uid = opts.newUid ?? randomUUID;
    this.#retries = opts.casRetries ?? 5;
  }

  // -------------------------------------------------------------------------------------------
  // Keys and (de)serialisation

  #norm(ref: ResourceRef): ResourceRef {
    if (isNamespacedKind(ref.kind)) return { ...ref, namespace: ref.namespace ?? 'default' };
    return { kind: ref.kind, name: ref.name };
  }

  #key(ref: ResourceRef): string {
    const r = this.#norm(ref);
    try {
      return resourceKey({ kind: r.kind, name: r.name, namespace: r.namespace });
    } catch (e) {
      throw new WeftError(ErrorCodes.USAGE, `invalid resource identity for ${describeResource(r)}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Stored JSON → object with resourceVersion. */
  #decode(kv: KVPair): Resource {
    let v: unknown;
    try {
      v = JSON.parse(kv.value);
    } catch (e) {
      throw new WeftError(ErrorCodes.DATASTORE, `stored value at ${kv.key} is not JSON`, { cause: e, details: { key: kv.key } });
    }
    if (!isObj(v) || !isObj(v.metadata)) {
      throw new WeftError(ErrorCodes.DATASTORE, `stored value at ${kv.key} is not a resource object`, { details: { key: kv.key } });
    }
    return { ...v, metadata: { ...v.metadata, resourceVersion: String(kv.revision) } } as Resource;
  }

  /** Object → stored JSON (no resourceVersion). */
  #encode(r: Resource): string {
    const { resourceVersion: _rv, ...md } = r.metadata as Record<string, unknown>;
    return JSON.stringify({ ...r, metadata: md });
  }

  #stamp(r: Resource, prev?: Resource): Resource {
    const pm = prev?.metadata as { creationTimestamp?: string | null; uid?: string } | undefined;
    const { resourceVersion: _rv, ...md } = r.metadata as Record<string, unknown>;
    return {
      ...r,
      metadata: {
        ...md,
        creationTimestamp: pm?.creationTimestamp ?? rfc3339(this.#now()),
        uid: pm?.uid ?? this.#uid(),
      },
    } as Resource;
  }

  #notFound(ref: ResourceRef, cause?: unknown): WeftError {
    return new WeftError(ErrorCodes.NOT_FOUND, `${describeResource(this.#norm(ref))} not found`, {
      cause,
      details: { kind: ref.kind, name: ref.name, namespace: this.#norm(ref).namespace },
    });
  }

  #exists(ref: ResourceRef, cause?: unknown): WeftError {
    return new WeftError(ErrorCodes.ALREADY_EXISTS, `${describeResource(this.#norm(ref))} already exists`, {
      cause,
      hint: 'use apply or replace to change it, or --skip-exists',
      details: { kind: ref.kind, name: ref.name, namespace: this.#norm(ref).namespace },
    });
  }

  #conflict(ref: ResourceRef, expected: string, cause?: unknown): WeftError {
    return new WeftError(
      ErrorCodes.REVISION_CONFLICT,
      `${describeResource(this.#norm(ref))} was modified: resourceVersion ${expected} is not the current one`,
      { cause, hint: 'get the resource again and retry', details: { kind: ref.kind, name: ref.name, resourceVersion: expected } },
    );
  }

  #readOnly(ref: ResourceRef): WeftError {
    return new WeftError(ErrorCodes.UNSUPPORTED, `${describeResource(ref)} is built in and read-only`, { details: { kind: ref.kind, name: ref.name } });
  }

  #revisionOf(r: Resource): number | undefined {
    const rv = (r.metadata as { resourceVersion?: string }).resourceVersion;
    if (rv === undefined || rv === '') return undefined;
    const n = Number(rv);
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new WeftError(ErrorCodes.VALIDATION, `metadata.resourceVersion: ${q(rv)} is not a resource version`, {
        details: { issues: [{ path: 'metadata.resourceVersion', message: 'not a resource version' }] },
      });
    }
    return n;
  }

  // -------------------------------------------------------------------------------------------
  // Admission: checks that need the store (libcalico-go clientv3 ippool.go)

  /**
   * Issues for writing `r` over `prev` (undefined = create), given the other documents of the
   * same batch: an IPPool's cidr and blockSize cannot change, and pools may not overlap.
   */
  async #admissionIssues(r: Resource, prev: Resource | undefined, batch: readonly Resource[] = []): Promise<ValidationIssue[]> {
    if (r.kind !== 'IPPool') return [];
    const issues: ValidationIssue[] = [];
    if (prev !== undefined && prev.kind === 'IPPool') {
      if (prev.spec.cidr !== r.spec.cidr) issues.push({ path: 'spec.cidr', message: `cannot be changed (is ${prev.spec.cidr}); create a new pool instead` });
      if (prev.spec.blockSize !== undefined && prev.spec.blockSize !== r.spec.blockSize) {
        issues.push({ path: 'spec.blockSize', message: `cannot be changed (is ${prev.spec.blockSize})` });
      }
    }
    const mine = parseCIDR(r.spec.cidr);
    if (mine === undefined) return issues;
    const others = [...(await this.list('IPPool')), ...batch.filter((b): b is IPPool => b.kind === 'IPPool')];
    for (const o of others) {
      if (o.metadata.name === r.metadata.name) continue;
      const c = parseCIDR(o.spec.cidr);
      if (c !== undefined && cidrOverlaps(mine, c)) {
        issues.push({ path: 'spec.cidr', message: `${r.spec.cidr} overlaps IPPool ${q(o.metadata.name)} (${o.spec.cidr})` });
        break;
      }
    }
    return issues;
  }

  async #admit(r: Resource, prev: Resource | undefined): Promise<void> {
    const issues = await this.#admissionIssues(r, prev);
    if (issues.length > 0) throw validationError(refOfResource(r), issues);
  }

  // -------------------------------------------------------------------------------------------
  // Reads

  /** Raw stored pair, or undefined. */
  async #read(ref: ResourceRef): Promise<{ kv: KVPair; res: Resource } | undefined> {
    const kv = await this.backend.get(this.#key(ref));
    return kv === undefined ? undefined : { kv, res: this.#decode(kv) };
  }

  /**
   * One resource. Throws ERR_NOT_FOUND. The built-in Profile `projectcalico-default-allow` is
   * returned even when not stored.
   */
  async get<K extends Kind>(kind: K, name: string, namespace?: string): Promise<ResourceOf<K>> {
    const ref = { kind, name, namespace };
    const cur = await this.#read(ref);
    if (cur !== undefined) return cur.res as ResourceOf<K>;
    if (isBuiltin(ref)) return defaultAllowProfile() as ResourceOf<K>;
    throw this.#notFound(ref);
  }

  /**
   * All resources of a kind, sorted by (namespace, name). For namespaced kinds `namespace`
   * undefined means all namespaces (calicoctl `-A`; the CLI passes `default` when neither `-n`
   * nor `-A` is given). Profiles include the built-in allow profile.
   */
  async list<K extends Kind>(kind: K, opts: { namespace?: string } = {}): Promise<ResourceOf<K>[]> {
    return (await this.listWithRevision(kind, opts)).items;
  }

  /** As list, plus the store revision the list was read at (for a List's resourceVersion). */
  async listWithRevision<K extends Kind>(kind: K, opts: { namespace?: string } = {}): Promise<{ items: ResourceOf<K>[]; revision: number }> {
    const ns = isNamespacedKind(kind) ? opts.namespace : undefined;
    const { items, revision } = await this.backend.list(resourcePrefix(kind, ns));
    const out = items.map((kv) => this.#decode(kv) as ResourceOf<K>);
    if (kind === 'Profile' && !out.some((r) => r.metadata.name === DEFAULT_ALLOW_PROFILE)) {
      out.push(defaultAllowProfile() as ResourceOf<K>);
    }
    const key = (r: Resource): string => `${(r.metadata as { namespace?: string }).namespace ?? ''}\u0000${r.metadata.name}`;
    out.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    return { items: out, revision };
  }

  // -------------------------------------------------------------------------------------------
  // Single-object writes (documents may be v1 or v3; they are validated here)

  /** Creates; ERR_ALREADY_EXISTS when present. A given resourceVersion is ignored. */
  async create(doc: unknown, opts: ValidateOptions = {}): Promise<Resource> {
    return this.#create(toV3(doc, opts));
  }

  async #create(r: Resource): Promise<Resource> {
    const ref = refOfResource(r);
    if (isBuiltin(ref)) throw this.#exists(ref);
    await this.#admit(r, undefined);
    const obj = this.#stamp(r);
    try {
      const kv = await this.backend.create(this.#key(ref), this.#encode(obj));
      return this.#decode(kv);
    } catch (e) {
      if (isWeftError(e, ErrorCodes.ALREADY_EXISTS)) throw this.#exists(ref, e);
      throw e;
    }
  }

  /**
   * Replaces an existing resource (ERR_NOT_FOUND otherwise). With metadata.resourceVersion the
   * write is a compare-and-swap on it (ERR_REVISION_CONFLICT); without, on the revision just read.
   */
  async replace(doc: unknown, opts: ValidateOptions = {}): Promise<Resource> {
    return this.#replace(toV3(doc, opts));
  }

  async #replace(r: Resource): Promise<Resource> {
    const ref = refOfResource(r);
    if (isBuiltin(ref)) throw this.#readOnly(ref);
    const want = this.#revisionOf(r);
    const cur = await this.#read(ref);
    if (cur === undefined) throw this.#notFound(ref);
    const rev = want ?? cur.kv.revision;
    if (want !== undefined && want !== cur.kv.revision) throw this.#conflict(ref, String(want));
    await this.#admit(r, cur.res);
    return this.#update(ref, this.#stamp(r, cur.res), rev);
  }

  async #update(ref: ResourceRef, obj: Resource, revision: number): Promise<Resource> {
    try {
      const kv = await this.backend.update(this.#key(ref), this.#encode(obj), { revision });
      return this.#decode(kv);
    } catch (e) {
      if (isWeftError(e, ErrorCodes.REVISION_CONFLICT)) throw this.#conflict(ref, String(revision), e);
      if (isWeftError(e, ErrorCodes.NOT_FOUND)) throw this.#notFound(ref, e);
      throw e;
    }
  }

  /** Creates, or replaces when present (honouring a given resourceVersion as CAS). */
  async apply(doc: unknown, opts: ValidateOptions = {}): Promise<Resource> {
    return this.#apply(toV3(doc, opts));
  }

  async #apply(r: Resource): Promise<Resource> {
    for (let i = 0; ; i++) {
      try {
        if ((await this.#read(refOfResource(r))) === undefined) return await this.#create(r);
        return await this.#replace(r);
      } catch (e) {
        // Lost a race with another writer creating/deleting it: look again.
        const raced = isWeftError(e, ErrorCodes.ALREADY_EXISTS, ErrorCodes.NOT_FOUND) && !isBuiltin(refOfResource(r));
        if (!raced || i >= this.#retries) throw e;
      }
    }
  }

  /**
   * Deletes and returns the deleted object. With `resourceVersion` the delete is a CAS.
   * ERR_NOT_FOUND when absent.
   */
  async delete<K extends Kind>(ref: ResourceRef<K> & { resourceVersion?: string }): Promise<ResourceOf<K>> {
    if (isBuiltin(ref)) throw this.#readOnly(ref);
    const cur = await this.#read(ref);
    if (cur === undefined) throw this.#notFound(ref);
    const want = ref.resourceVersion === undefined || ref.resourceVersion === '' ? undefined : Number(ref.resourceVersion);
    if (want !== undefined && want !== cur.kv.revision) throw this.#conflict(ref, String(ref.resourceVersion));
    try {
      await this.backend.delete(this.#key(ref), { revision: want ?? cur.kv.revision });
    } catch (e) {
      if (isWeftError(e, ErrorCodes.REVISION_CONFLICT)) throw this.#conflict(ref, String(want ?? cur.kv.revision), e);
      if (isWeftError(e, ErrorCodes.NOT_FOUND)) throw this.#notFound(ref, e);
      throw e;
    }
    return cur.res as ResourceOf<K>;
  }

  /** Read-modify-write with CAS, retried when another writer changed the object meanwhile. */
  async #modify<K extends Kind>(ref: ResourceRef<K>, change: (cur: Resource) => unknown): Promise<ResourceOf<K>> {
    if (isBuiltin(ref)) throw this.#readOnly(ref);
    for (let i = 0; ; i++) {
      const cur = await this.#read(ref);
      if (cur === undefined) throw this.#notFound(ref);
      const { resourceVersion: _rv, ...md } = cur.res.metadata as Record<string, unknown>;
      const next = toV3(change({ ...cur.res, metadata: md } as Resource), { ref: { kind: ref.kind, name: ref.name } });
      await this.#admit(next, cur.res);
      try {
        return (await this.#update(ref, this.#stamp(next, cur.res), cur.kv.revision)) as ResourceOf<K>;
      } catch (e) {
        if (!isWeftError(e, ErrorCodes.REVISION_CONFLICT) || i >= this.#retries) throw e;
      }
    }
  }

  /**
   * JSON merge patch (RFC 7386) of `spec`, `metadata.labels` and `metadata.annotations`; the
   * result is validated again. `patch` is an object or JSON/YAML text.
   */
  async patch<K extends Kind>(ref: ResourceRef<K>, patch: unknown): Promise<ResourceOf<K>> {
    let p = patch;
    if (typeof p === 'string') {
      try {
        p = YAML.parse(p);
      } catch (e) {
        throw new WeftError(ErrorCodes.PARSE, `patch is not valid JSON or YAML: ${(e as Error).message}`, { cause: e });
      }
    }
    if (!isObj(p)) throw new WeftError(ErrorCodes.USAGE, 'patch must be an object such as {"spec": {…}}');
    for (const k of Object.keys(p)) {
      if (k !== 'spec' && k !== 'metadata') throw new WeftError(ErrorCodes.USAGE, `patch may only change spec and metadata.labels/annotations, not ${q(k)}`);
    }
    if (p.metadata !== undefined && p.metadata !== null) {
      if (!isObj(p.metadata)) throw new WeftError(ErrorCodes.USAGE, 'patch metadata must be an object');
      for (const k of Object.keys(p.metadata)) {
        if (k !== 'labels' && k !== 'annotations') {
          throw new WeftError(ErrorCodes.USAGE, `patch may only change metadata.labels and metadata.annotations, not metadata.${k}`);
        }
      }
    }
    const pp = p;
    return this.#modify<K>(ref, (cur) => {
      const c = cur as unknown as Record<string, unknown>;
      const out: Record<string, unknown> = { ...c };
      if (pp.spec !== undefined) out.spec = mergePatch(c.spec, pp.spec);
      if (isObj(pp.metadata)) {
        const md = { ...(c.metadata as Record<string, unknown>) };
        for (const f of ['labels', 'annotations'] as const) {
          if (pp.metadata[f] === undefined) continue;
          const merged = mergePatch(md[f], pp.metadata[f]);
          if (merged === null || (isObj(merged) && Object.keys(merged).length === 0)) delete md[f];
          else md[f] = merged;
        }
        out.metadata = md;
      }
      return out;
    });
  }

  /**
   * Sets and/or removes labels (calicoctl `label`). Setting a label that has a different value
   * needs `overwrite` (else ERR_ALREADY_EXISTS); removing a missing label is ERR_NOT_FOUND.
   */
  async label<K extends Kind>(ref: ResourceRef<K>, change: LabelChange): Promise<ResourceOf<K>> {
    for (const [k, v] of Object.entries(change.set ?? {})) {
      const e = checkLabelKey(k) ?? checkLabelValue(v);
      if (e !== undefined) throw new WeftError(ErrorCodes.VALIDATION, e, { details: { issues: [{ path: `metadata.labels.${k}`, message: e }] } });
    }
    return this.#modify<K>(ref, (cur) => {
      const md = cur.metadata as { labels?: Record<string, string> };
      const labels = { ...(md.labels ?? {}) };
      for (const [k, v] of Object.entries(change.set ?? {})) {
        if (Object.hasOwn(labels, k) && labels[k] !== v && !change.overwrite) {
          throw new WeftError(ErrorCodes.ALREADY_EXISTS, `${describeResource(this.#norm(ref))} already has label ${k}=${labels[k]}`, {
            hint: 'use --overwrite to change it',
            details: { kind: ref.kind, name: ref.name, label: k },
          });
        }
        labels[k] = v;
      }
      for (const k of change.remove ?? []) {
        if (!Object.hasOwn(labels, k)) {
          throw new WeftError(ErrorCodes.NOT_FOUND, `${describeResource(this.#norm(ref))} has no label ${q(k)}`, {
            details: { kind: ref.kind, name: ref.name, label: k },
          });
        }
        delete labels[k];
      }
      const { labels: _old, ...rest } = md;
      return { ...cur, metadata: Object.keys(labels).length > 0 ? { ...rest, labels } : rest };
    });
  }

  // -------------------------------------------------------------------------------------------
  // Multi-document operations

  /**
   * Runs `op` over manifest documents. Nothing is written unless every document is valid (and,
   * for create/replace/delete, unless every existence pre-check passes, within the skip flags).
   * Duplicated identities within one batch are refused. Writes then happen in document order;
   * if one fails (e.g. a concurrent writer), the error's details.done lists what was written.
   */
  async run(op: BatchOp, docs: readonly ManifestDocument[], opts: BatchOptions = {}): Promise<BatchItem[]> {
    // 1. Validate everything.
    const bad: InvalidDocument[] = [];
    const good: { doc: ManifestDocument; res: Resource; ref: ResourceRef }[] = [];
    const seen = new Map<string, number>();
    const vopts: ValidateOptions = opts.namespace !== undefined ? { defaultNamespace: opts.namespace } : {};
    for (const d of docs) {
      const r = checkDocument(d.value, vopts);
      if (!r.ok) {
        bad.push({ ref: { ...r.ref, document: d.index, source: d.source }, issues: r.issues });
        continue;
      }
      const ref = this.#norm(refOfResource(r.resource));
      const docRef = { document: d.index, source: d.source, kind: ref.kind, name: ref.name, namespace: ref.namespace };
      if (opts.namespace !== undefined && ref.namespace !== undefined && ref.namespace !== opts.namespace) {
        bad.push({ ref: docRef, issues: [{ path: 'metadata.namespace', message: `${q(ref.namespace)} does not match the requested namespace ${q(opts.namespace)}` }] });
        continue;
      }
      const key = this.#key(ref);
      const prev = seen.get(key);
      if (prev !== undefined) {
        bad.push({ ref: docRef, issues: [{ path: '', message: `same resource as document ${prev}` }] });
        continue;
      }
      seen.set(key, d.index);
      good.push({ doc: d, res: r.resource, ref });
    }
    if (bad.length > 0) throw batchValidationError(bad, docs.length);

    // 2. Existence and admission pre-checks, so a predictable failure writes nothing.
    const existing = await Promise.all(good.map(async (g) => (isBuiltin(g.ref) ? undefined : await this.#read(g.ref))));
    const present = good.map((g, i) => isBuiltin(g.ref) || existing[i] !== undefined);
    if (op !== 'delete') {
      const refused: InvalidDocument[] = [];
      for (const [i, g] of good.entries()) {
        if (op === 'create' && present[i]) continue; // reported (or skipped) below
        const others = good.filter((_, j) => j !== i).map((o) => o.res);
        const issues = await this.#admissionIssues(g.res, existing[i]?.res, others);
        if (issues.length > 0) refused.push({ ref: { document: g.doc.index, source: g.doc.source, kind: g.ref.kind, name: g.ref.name }, issues });
      }
      if (refused.length > 0) throw batchValidationError(refused, docs.length);
    }
    const problems: string[] = [];
    good.forEach((g, i) => {
      const where = describeRef({ document: g.doc.index, kind: g.ref.kind, name: g.ref.name, namespace: g.ref.namespace });
      if (op === 'create' && present[i] && !opts.skipExists) problems.push(`${where}: already exists`);
      if ((op === 'replace' || (op === 'delete' && !opts.skipNotExists)) && !present[i]) problems.push(`${where}: not found`);
      if ((op === 'replace' || op === 'delete' || op === 'apply') && isBuiltin(g.ref)) problems.push(`${where}: built in and read-only`);
    });
    if (problems.length > 0) {
      const code = op === 'create' ? ErrorCodes.ALREADY_EXISTS : problems.some((p) => p.endsWith('read-only')) ? ErrorCodes.UNSUPPORTED : ErrorCodes.NOT_FOUND;
      throw new WeftError(code, problems.length === 1 ? problems[0] : `${problems.length} documents cannot be ${op === 'apply' ? 'applied' : `${op}d`}:\n${problems.map((p) => `  ${p}`).join('\n')}`, {
        hint: op === 'create' ? 'nothing was written; use apply, or --skip-exists' : 'nothing was written',
        details: { problems },
      });
    }

    // 3. Write in order.
    const done: BatchItem[] = [];
    for (const [i, g] of good.entries()) {
      const base = { document: g.doc.index, source: g.doc.source, kind: g.ref.kind, name: g.ref.name, namespace: g.ref.namespace };
      try {
        if (op === 'create') {
          if (present[i]) done.push({ ...base, status: 'skipped' });
          else done.push({ ...base, status: 'created', resource: await this.#create(g.res) });
        } else if (op === 'apply') {
          const res = await this.#apply(g.res);
          done.push({ ...base, status: present[i] ? 'replaced' : 'created', resource: res });
        } else if (op === 'replace') {
          done.push({ ...base, status: 'replaced', resource: await this.#replace(g.res) });
        } else if (!present[i]) {
          done.push({ ...base, status: 'skipped' });
        } else {
          const rv = (g.res.metadata as { resourceVersion?: string }).resourceVersion;
          done.push({ ...base, status: 'deleted', resource: await this.delete({ ...g.ref, resourceVersion: rv }) });
        }
      } catch (e) {
        if (isWeftError(e)) {
          throw new WeftError(e.code, `${describeRef({ document: g.doc.index, kind: g.ref.kind, name: g.ref.name })}: ${e.message}`, {
            cause: e,
            hint: e.hint,
            details: { ...e.details, done },
          });
        }
        throw e;
      }
    }
    return done;
  }
}
