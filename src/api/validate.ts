/**
 * Resource validation: dispatch on kind to the zod schema, turn zod issues into
 * `{path, message}` issues, and build the one error message format every caller shows:
 *
 *   document 2 (IPPool "pool-a"): spec.cidr: "192.0.2.0/33" is not a CIDR
 */
import type { z } from 'zod';
import { ErrorCodes, WeftError } from '../lib/errors.ts';
import { API_VERSION, KINDS, isKind, isNamespacedKind, lookupKind, type Kind } from './kinds.ts';
import { q } from './schemas/common.ts';
import { ClusterInformationSchema, FelixConfigurationSchema } from './schemas/config.ts';
import {
  GlobalNetworkSetSchema,
  IPAMConfigurationSchema,
  IPPoolSchema,
  IPReservationSchema,
  NetworkSetSchema,
} from './schemas/network.ts';
import { BGPConfigurationSchema, BGPPeerSchema, HostEndpointSchema, NodeSchema, WorkloadEndpointSchema } from './schemas/nodes.ts';
import { GlobalNetworkPolicySchema, NetworkPolicySchema, ProfileSchema, TierSchema } from './schemas/policy.ts';

/** The zod schema of every kind (input: a v3 object; output: the validated, defaulted object). */
export const SCHEMAS = {
  IPPool: IPPoolSchema,
  IPReservation: IPReservationSchema,
  Node: NodeSchema,
  BGPPeer: BGPPeerSchema,
  BGPConfiguration: BGPConfigurationSchema,
  Profile: ProfileSchema,
  NetworkPolicy: NetworkPolicySchema,
  GlobalNetworkPolicy: GlobalNetworkPolicySchema,
  NetworkSet: NetworkSetSchema,
  GlobalNetworkSet: GlobalNetworkSetSchema,
  WorkloadEndpoint: WorkloadEndpointSchema,
  HostEndpoint: HostEndpointSchema,
  FelixConfiguration: FelixConfigurationSchema,
  ClusterInformation: ClusterInformationSchema,
  Tier: TierSchema,
  IPAMConfiguration: IPAMConfigurationSchema,
} as const satisfies Record<Kind, z.ZodType>;

/** The validated object of kind K. */
export type ResourceOf<K extends Kind> = z.output<(typeof SCHEMAS)[K]>;

export type IPPool = ResourceOf<'IPPool'>;
export type IPReservation = ResourceOf<'IPReservation'>;
export type Node = ResourceOf<'Node'>;
export type BGPPeer = ResourceOf<'BGPPeer'>;
export type BGPConfiguration = ResourceOf<'BGPConfiguration'>;
export type Profile = ResourceOf<'Profile'>;
export type NetworkPolicy = ResourceOf<'NetworkPolicy'>;
export type GlobalNetworkPolicy = ResourceOf<'GlobalNetworkPolicy'>;
export type NetworkSet = ResourceOf<'NetworkSet'>;
export type GlobalNetworkSet = ResourceOf<'GlobalNetworkSet'>;
export type WorkloadEndpoint = ResourceOf<'WorkloadEndpoint'>;
export type HostEndpoint = ResourceOf<'HostEndpoint'>;
export type FelixConfiguration = ResourceOf<'FelixConfiguration'>;
export type ClusterInformation = ResourceOf<'ClusterInformation'>;
export type Tier = ResourceOf<'Tier'>;
export type IPAMConfiguration = ResourceOf<'IPAMConfiguration'>;

/** Any validated v3 resource; discriminated on `kind`. */
export type Resource = { [K in Kind]: ResourceOf<K> }[Kind];

/** One problem in a document: dotted field path (`spec.ingress[0].action`, '' = the document). */
export interface ValidationIssue {
  path: string;
  message: string;
}

/** What `document N (Kind "name")` refers to. */
export interface DocumentRef {
  /** 1-based position in the manifest (after expanding lists); undefined for a lone object. */
  document?: number;
  source?: string;
  kind?: string;
  name?: string;
  namespace?: string;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `string ${q(v)}`;
  return `${typeof v} ${q(v)}`;
}

const EXPECTED: Record<string, string> = {
  object: 'an object',
  array: 'a list',
  record: 'a map',
  int: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
};

/** Per-parse zod error map: short, user-facing messages; schema-level custom messages win. */
function errorMap(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'required';
      return `expected ${EXPECTED[iss.expected] ?? iss.expected}, got ${describe(iss.input)}`;
    case 'invalid_value':
      if (iss.values.length === 1) return `must be ${q(iss.values[0])}, got ${describe(iss.input)}`;
      return `${q(iss.input)} is not one of ${iss.values.filter((v) => v !== '').map((v) => String(v)).join(', ')}`;
    case 'too_small':
      if (iss.origin === 'array') return `must have at least ${iss.minimum} entries`;
      if (iss.origin === 'string') return iss.minimum === 1 ? 'must not be empty' : `must be at least ${iss.minimum} characters`;
      return `${q(iss.input)} is too small: must be ${iss.inclusive ? '≥' : '>'} ${iss.minimum}`;
    case 'too_big':
      if (iss.origin === 'array') return `must have at most ${iss.maximum} entries`;
      if (iss.origin === 'string') return `must be at most ${iss.maximum} characters`;
      return `${q(iss.input)} is too large: must be ${iss.inclusive ? '≤' : '<'} ${iss.maximum}`;
    case 'invalid_union':
      return `${q(iss.input)} is not valid here`;
    case 'invalid_format':
      return `${q(iss.input)} is not a valid ${iss.format}`;
    default:
      return undefined;
  }
}

/** Options for every safeParse of a resource schema: the user-facing error map. */
export const PARSE_OPTIONS = { error: errorMap } as const;

// ---------------------------------------------------------------------------------------------
// "Did you mean" for unknown fields: walk the schema to the object the field was found in.

interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  valueType?: z.ZodType;
  options?: z.ZodType[];
}

const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Field names of the object schema(s) reached by `path` from `schema` (input side of pipes). */
function fieldsAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const out = new Set<string>();
  const walk = (s: z.ZodType | undefined, i: number, depth: number): void => {
    if (s === undefined || depth > 64) return;
    const d = defOf(s);
    switch (d.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'catch':
      case 'readonly':
      case 'nonoptional':
        return walk(d.innerType, i, depth + 1);
      case 'pipe':
        return walk(d.in, i, depth + 1);
      case 'union':
        for (const o of d.options ?? []) walk(o, i, depth + 1);
        return;
      case 'object':
        if (i === path.length) {
          for (const k of Object.keys(d.shape ?? {})) out.add(k);
          return;
        }
        return walk(d.shape?.[String(path[i])], i + 1, depth + 1);
      case 'array':
        return i < path.length ? walk(d.element, i + 1, depth + 1) : undefined;
      case 'record':
        return i < path.length ? walk(d.valueType, i + 1, depth + 1) : undefined;
      default:
        return;
    }
  };
  walk(schema, 0, 0);
  return [...out];
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}

/** v1 spellings that show up in v3 documents. */
const V1_FIELD_HINTS: Record<string, string> = {
  ipip: 'ipipMode (Never, Always, CrossSubnet)',
  'nat-outgoing': 'natOutgoing',
  tag: 'a selector such as "<tag> == \'\'"',
  notTag: 'notSelector',
  net: 'nets',
  notNet: 'notNets',
  tags: 'labels / labelsToApply',
};

function unknownFieldMessage(key: string, known: readonly string[]): string {
  const v1 = V1_FIELD_HINTS[key];
  if (v1 !== undefined && !known.includes(key)) return `unknown field (the v1 field ${q(key)} is ${v1} in v3)`;
  const lower = key.toLowerCase();
  const best = known
    .map((k) => ({ k, d: k.toLowerCase() === lower ? 0 : editDistance(lower, k.toLowerCase()) }))
    .filter((x) => x.d <= Math.max(1, Math.min(3, Math.floor(key.length / 3))))
    .sort((a, b) => a.d - b.d)[0];
  return best !== undefined ? `unknown field: did you mean ${q(best.k)}?` : 'unknown field';
}

/**
 * Flattens zod issues (one per unknown field, with a suggestion when `schema` is given; union
 * branches folded) into ValidationIssues.
 */
export function zodIssues(err: z.ZodError, schema?: z.ZodType): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  for (const i of err.issues) {
    if (i.code === 'unrecognized_keys') {
      const known = schema !== undefined ? fieldsAt(schema, i.path) : [];
      for (const k of i.keys) out.push({ path: formatPath([...i.path, k]), message: unknownFieldMessage(k, known) });
    } else if (i.code === 'invalid_union' && i.errors.length > 0) {
      // Report the branch that got furthest (the one with the longest issue path).
      const best = i.errors.map((e) => e.flat()).sort((a, b) => (b[0]?.path.length ?? 0) - (a[0]?.path.length ?? 0))[0];
      if (best !== undefined && best.length > 0 && best[0].code !== 'invalid_type') {
        for (const b of best) out.push({ path: formatPath([...i.path, ...b.path]), message: b.message });
      } else {
        out.push({ path: formatPath(i.path), message: i.message });
      }
    } else {
      out.push({ path: formatPath(i.path), message: i.message });
    }
  }
  return out;
}

/** `document 2 (IPPool "pool-a")`, `IPPool "pool-a"`, or `document 3`. */
export function describeRef(ref: DocumentRef): string {
  const what =
    ref.kind !== undefined
      ? `${ref.kind}${ref.name !== undefined ? ` ${q(ref.name)}` : ''}${ref.namespace !== undefined ? ` in namespace ${q(ref.namespace)}` : ''}`
      : undefined;
  if (ref.document !== undefined) return what !== undefined ? `document ${ref.document} (${what})` : `document ${ref.document}`;
  return what ?? 'resource';
}

/** `spec.cidr: "x" is not a CIDR; spec.blockSize: …` */
export function formatIssues(issues: readonly ValidationIssue[]): string {
  return issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)).join('; ');
}

/** Outcome of validating one document. */
export type ValidationResult = { ok: true; resource: Resource } | { ok: false; ref: DocumentRef; issues: ValidationIssue[] };

export interface ValidateOptions {
  /** Namespace for namespaced kinds whose metadata has none (the CLI's `-n`). Default `default`. */
  defaultNamespace?: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Go semantics for `null`: a field set to null (YAML `labels:` with nothing after it) is the
 * same as an absent field, as when Calico unmarshals JSON into structs. Object keys with null
 * values are dropped, recursively; nulls inside lists are kept (and then refused).
 */
export function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (!isObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = dropNulls(x);
  return out;
}

/** Best-effort kind/name for messages, before validation. */
export function refOf(doc: unknown): DocumentRef {
  if (!isObject(doc)) return {};
  const md = isObject(doc.metadata) ? doc.metadata : {};
  const kind = typeof doc.kind === 'string' ? doc.kind : undefined;
  const name = typeof md.name === 'string' ? md.name : typeof md.cidr === 'string' ? md.cidr : undefined;
  return { kind, name };
}

/**
 * Validates one v3 document (apiVersion `projectcalico.org/v3`). Never throws for bad input:
 * the result lists every issue found.
 */
export function checkV3(raw: unknown, opts: ValidateOptions = {}): ValidationResult {
  const doc = dropNulls(raw);
  const ref = refOf(doc);
  if (!isObject(doc)) return { ok: false, ref, issues: [{ path: '', message: `expected a resource object, got ${describe(doc)}` }] };
  const issues: ValidationIssue[] = [];
  if (doc.apiVersion === undefined) issues.push({ path: 'apiVersion', message: `required (use ${q(API_VERSION)})` });
  else if (doc.apiVersion !== API_VERSION) {
    issues.push({ path: 'apiVersion', message: `${q(doc.apiVersion)} is not supported (use ${q(API_VERSION)}, or "v1" for Calico v1 manifests)` });
  }
  const kind = doc.kind;
  if (kind === undefined) issues.push({ path: 'kind', message: 'required' });
  else if (!isKind(kind)) {
    const guess = typeof kind === 'string' ? lookupKind(kind) : undefined;
    issues.push({
      path: 'kind',
      message: `${q(kind)} is not a known kind${guess !== undefined ? `: did you mean ${q(guess)}?` : ` (known: ${KINDS.join(', ')})`}`,
    });
  }
  if (issues.length > 0 || !isKind(kind)) return { ok: false, ref, issues };
  let input: Record<string, unknown> = doc;
  if (isNamespacedKind(kind) && opts.defaultNamespace !== undefined && isObject(doc.metadata) && doc.metadata.namespace === undefined) {
    input = { ...doc, metadata: { ...doc.metadata, namespace: opts.defaultNamespace } };
  }
  const r = (SCHEMAS[kind] as z.ZodType).safeParse(input, PARSE_OPTIONS);
  if (r.success) return { ok: true, resource: r.data as Resource };
  const ns = isObject(doc.metadata) && typeof doc.metadata.namespace === 'string' ? doc.metadata.namespace : undefined;
  return { ok: false, ref: { ...ref, namespace: isNamespacedKind(kind) ? ns : undefined }, issues: zodIssues(r.error, SCHEMAS[kind]) };
}

/** The WeftError(ERR_VALIDATION) for one document's issues. */
export function validationError(ref: DocumentRef, issues: ValidationIssue[]): WeftError {
  return new WeftError(ErrorCodes.VALIDATION, `${describeRef(ref)}: ${formatIssues(issues)}`, {
    details: { document: ref.document, source: ref.source, kind: ref.kind, name: ref.name, namespace: ref.namespace, issues },
  });
}
