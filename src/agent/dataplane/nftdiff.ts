/**
 * Diff of desired vs observed table → one `nft -f` transaction.
 *
 * Observed state is a summary: chains as lists of rule-comment hashes, sets/maps as element
 * maps. It comes either from the kernel (`nft -j list table`, at start and on every resync) or
 * from the previous successful apply (the cache: incremental updates between resyncs).
 *
 * Transaction order, chosen so every reference resolves inside the batch:
 *   add table → declare new sets/maps/chains → set element deltas → rewrite changed chains
 *   (flush + add rules) → map element deltas → flush, then delete, removed chains → delete removed
 *   sets/maps. Objects in Weft's table that Weft did not render are swept (mark-and-sweep).
 */
import { canonicalElement, COMMENT_PREFIX, ruleHashes, type ChainDef, type SetDef, type TableDef } from './nftmodel.ts';
import type { NftJsonObject } from '../netlink/index.ts';

export interface ObservedChain {
  base: boolean;
  hashes: string[];
}

export interface ObservedSet {
  kind: 'set' | 'map';
  type: string;
  elements: Map<string, string>;
}

export interface ObservedTable {
  exists: boolean;
  chains: Map<string, ObservedChain>;
  sets: Map<string, ObservedSet>;
}

export function emptyObserved(): ObservedTable {
  return { exists: false, chains: new Map(), sets: new Map() };
}

export function observedFromDesired(t: TableDef): ObservedTable {
  const o: ObservedTable = { exists: true, chains: new Map(), sets: new Map() };
  for (const c of t.chains.values()) o.chains.set(c.name, { base: c.base !== undefined, hashes: [...ruleHashes(c)] });
  for (const s of t.sets.values()) o.sets.set(s.name, { kind: s.kind, type: s.type, elements: new Map(s.elements) });
  return o;
}

function typeText(t: unknown): string {
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) return t.map(String).join(' . ');
  return String(t);
}

function verdictText(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  for (const k of ['jump', 'goto'] as const) {
    const target = (o[k] as { target?: unknown } | undefined)?.target;
    if (typeof target === 'string') return `${k} ${target}`;
  }
  for (const k of ['accept', 'drop', 'return', 'continue'] as const) if (k in o) return k;
  return undefined;
}

function elementText(e: unknown): string | undefined {
  if (typeof e === 'string') return canonicalElement(e) ?? e;
  if (typeof e === 'number') return String(e);
  if (typeof e !== 'object' || e === null) return undefined;
  const o = e as Record<string, unknown>;
  const prefix = o.prefix as { addr?: unknown; len?: unknown } | undefined;
  if (prefix !== undefined) return canonicalElement(`${String(prefix.addr)}/${String(prefix.len)}`);
  const range = o.range as unknown[] | undefined;
  if (Array.isArray(range)) return `${String(range[0])}-${String(range[1])}`;
  const concat = o.concat as unknown[] | undefined;
  if (Array.isArray(concat)) return concat.map((c) => elementText(c) ?? String(c)).join(' . ');
  const elem = o.elem as { val?: unknown } | undefined;
  if (elem !== undefined) return elementText(elem.val);
  return undefined;
}

/** Parses `nft -j list table …` output (undefined = no table). */
export function observedFromJson(objs: readonly NftJsonObject[] | undefined, family: string, table: string): ObservedTable {
  const o = emptyObserved();
  if (objs === undefined) return o;
  o.exists = true;
  for (const item of objs) {
    if (item.chain !== undefined) {
      const c = item.chain;
      if (c.family !== family || c.table !== table) continue;
      o.chains.set(String(c.name), { base: c.hook !== undefined, hashes: [] });
    }
  }
  for (const item of objs) {
    if (item.rule !== undefined) {
      const r = item.rule;
      if (r.family !== family || r.table !== table) continue;
      const ch = o.chains.get(String(r.chain));
      if (ch === undefined) continue;
      const comment = typeof r.comment === 'string' ? r.comment : '';
      // A rule without Weft's comment (added by hand) gets a hash that can never match.
      ch.hashes.push(comment.startsWith(COMMENT_PREFIX) ? comment.slice(COMMENT_PREFIX.length) : `foreign:${String(r.handle)}`);
    } else if (item.set !== undefined || item.map !== undefined) {
      const isMap = item.map !== undefined;
      const s = (item.map ?? item.set)!;
      if (s.family !== family || s.table !== table) continue;
      const els = new Map<string, string>();
      for (const e of (s.elem as unknown[] | undefined) ?? []) {
        if (isMap && Array.isArray(e)) {
          const k = elementText(e[0]);
          const v = verdictText(e[1]);
          if (k !== undefined && v !== undefined) els.set(k, v);
        } else {
          const k = elementText(e);
          if (k !== undefined) els.set(k, k);
        }
      }
      const type = isMap ? `${typeText(s.type)} : ${typeText(s.map)}` : typeText(s.type);
      o.sets.set(String(s.name), { kind: isMap ? 'map' : 'set', type, elements: els });
    }
  }
  return o;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const q = (s: string): string => JSON.stringify(s);

function elementLiteral(s: SetDef, key: string): string {
  // Interface names are strings in nft syntax; addresses are bare.
  return s.type.startsWith('ifname') ? q(key) : key;
}

export interface DiffStats {
  chainsWritten: number;
  chainsDeleted: number;
  setsCreated: number;
  setsDeleted: number;
  elementsAdded: number;
  elementsDeleted: number;
}

export interface TableDiff {
  /** Empty string when nothing needs to change. */
  script: string;
  stats: DiffStats;
}

/** Elements per `add element` statement, to keep lines a sane length. */
const ELEMENT_CHUNK = 500;

export function diffTable(desired: TableDef, observed: ObservedTable): TableDiff {
  const T = `${desired.family} ${desired.name}`;
  const stats: DiffStats = { chainsWritten: 0, chainsDeleted: 0, setsCreated: 0, setsDeleted: 0, elementsAdded: 0, elementsDeleted: 0 };
  const declare: string[] = [];
  const setOps: string[] = [];
  const chainOps: string[] = [];
  const mapOps: string[] = [];
  const removeOps: string[] = [];
  const removeSetOps: string[] = [];

  const emitElements = (out: string[], verb: 'add' | 'delete', s: SetDef, items: string[]): void => {
    for (let i = 0; i < items.length; i += ELEMENT_CHUNK) {
      out.push(`${verb} element ${T} ${s.name} { ${items.slice(i, i + ELEMENT_CHUNK).join(', ')} }`);
    }
  };

  // Sets and maps.
  for (const s of desired.sets.values()) {
    const have = observed.sets.get(s.name);
    const out = s.kind === 'map' ? mapOps : setOps;
    let current = have?.elements;
    if (have === undefined || have.kind !== s.kind || have.type !== s.type) {
      if (have !== undefined) {
        // Type changed (never happens for Weft's own names): recreate in the same batch; if the
        // kernel refuses, the manager's rebuild path replaces the whole table atomically.
        declare.push(`delete ${have.kind} ${T} ${s.name}`);
      }
      const flags = s.flags.length > 0 ? ` flags ${s.flags.join(',')};` : '';
      declare.push(`add ${s.kind} ${T} ${s.name} { type ${s.type};${flags} }`);
      stats.setsCreated++;
      current = new Map();
    }
    const del: string[] = [];
    const add: string[] = [];
    for (const [k, v] of current ?? []) {
      const want = s.elements.get(k);
      if (want === undefined || want !== v) del.push(elementLiteral(s, k));
    }
    for (const [k, v] of s.elements) {
      if (current?.get(k) !== v) add.push(s.kind === 'map' ? `${elementLiteral(s, k)} : ${v}` : elementLiteral(s, k));
    }
    del.sort();
    add.sort();
    stats.elementsDeleted += del.length;
    stats.elementsAdded += add.length;
    emitElements(out, 'delete', s, del);
    emitElements(out, 'add', s, add);
  }
  for (const [name, have] of observed.sets) {
    if (desired.sets.has(name)) continue;
    removeSetOps.push(`delete ${have.kind} ${T} ${name}`);
    stats.setsDeleted++;
  }

  // Chains.
  for (const c of desired.chains.values()) {
    const have = observed.chains.get(c.name);
    const hashes = ruleHashes(c);
    if (have === undefined) {
      declare.push(`add chain ${T} ${c.name}${chainSpec(c)}`);
    } else if (sameList(have.hashes, hashes)) {
      continue;
    } else {
      chainOps.push(`flush chain ${T} ${c.name}`);
    }
    stats.chainsWritten++;
    c.rules.forEach((r, i) => chainOps.push(`add rule ${T} ${c.name} ${r} comment ${q(COMMENT_PREFIX + hashes[i]!)}`));
  }
  const removed = [...observed.chains.keys()].filter((n) => !desired.chains.has(n)).sort();
  for (const n of removed) removeOps.push(`flush chain ${T} ${n}`);
  for (const n of removed) removeOps.push(`delete chain ${T} ${n}`);
  stats.chainsDeleted = removed.length;

  const body = [...declare, ...setOps, ...chainOps, ...mapOps, ...removeOps, ...removeSetOps];
  if (body.length === 0 && observed.exists) return { script: '', stats };
  return { script: [`add table ${T}`, ...body].join('\n') + '\n', stats };
}

function chainSpec(c: ChainDef): string {
  if (c.base === undefined) return '';
  const b = c.base;
  return ` { type ${b.type} hook ${b.hook} priority ${b.priority}; policy ${b.policy}; }`;
}

/** The whole table as one script that replaces any previous content atomically (rebuild path). */
export function rebuildScript(desired: TableDef, tableExists: boolean): string {
  const T = `${desired.family} ${desired.name}`;
  const head = tableExists ? [`delete table ${T}`] : [];
  const { script } = diffTable(desired, emptyObserved());
  return [...head, script].join('\n');
}
