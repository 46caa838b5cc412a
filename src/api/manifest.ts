/**
 * Manifest files → documents: multi-document YAML (JSON is YAML too), a top-level YAML list of
 * resources (the seeds' v1 form), and `kind: List` / `kind: <Kind>List` objects with `items`.
 * Empty documents are skipped. Syntax errors carry line and column. Pure: no I/O.
 */
import YAML, { LineCounter, isScalar, isMap, isSeq, type Node as YamlNode } from 'yaml';
import { ErrorCodes, WeftError } from '../lib/errors.ts';

/** One resource document of a manifest. */
export interface ManifestDocument {
  /** 1-based position among the resources of the manifest (after expanding lists). */
  index: number;
  /** File name, or `-` for stdin. */
  source: string;
  /** 1-based line where the document (or list item) starts. */
  line: number;
  /** The plain JS value (objects, arrays, strings, numbers, booleans, null). */
  value: unknown;
}

/** Fields holding AS numbers, whose dotted form (`1.10`) YAML would otherwise read as a float. */
const AS_FIELDS = new Set(['asNumber', 'localASNumber']);

/**
 * Keeps the source text of a dotted AS number (`asNumber: 1.10` means 1*65536+10, not 1.1):
 * RFC 5396 asdot notation looks like a float to YAML.
 */
function keepAsDot(doc: YAML.Document.Parsed): void {
  YAML.visit(doc, {
    Pair(_k, pair) {
      if (!isScalar(pair.key) || !AS_FIELDS.has(String(pair.key.value))) return;
      const v = pair.value;
      if (isScalar(v) && typeof v.value === 'number' && typeof v.source === 'string' && /^\d+\.\d+$/.test(v.source)) {
        v.value = v.source;
      }
    },
  });
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses manifest text into resource documents.
 * @param text YAML or JSON (possibly several `---`-separated documents)
 * @param sourceName file name used in error messages (`-` for stdin)
 * @throws WeftError(ERR_PARSE) with `file: line L, column C: …` on a syntax error
 */
export function parseManifests(text: string, sourceName = '-'): ManifestDocument[] {
  const lc = new LineCounter();
  const src = text.startsWith('\ufeff') ? text.slice(1) : text;
  let docs: YAML.Document.Parsed[];
  try {
    const parsed = YAML.parseAllDocuments(src, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
    docs = Array.isArray(parsed) ? parsed : [];
  } catch (e) {
    throw new WeftError(ErrorCodes.PARSE, `${sourceName}: ${(e as Error).message}`, { cause: e, details: { source: sourceName } });
  }
  const out: ManifestDocument[] = [];
  const lineOf = (n: YamlNode | null | undefined, fallback: number): number =>
    n?.range ? lc.linePos(n.range[0]).line : fallback;
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err !== undefined) {
      const pos = lc.linePos(err.pos[0]);
      const msg = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
      throw new WeftError(ErrorCodes.PARSE, `${sourceName}: line ${pos.line}, column ${pos.col}: ${msg}`, {
        details: { source: sourceName, line: pos.line, column: pos.col, errors: doc.errors.map((e) => e.message.split('\n')[0]) },
        hint: 'fix the YAML/JSON syntax; nothing was applied',
      });
    }
    keepAsDot(doc);
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (e) {
      throw new WeftError(ErrorCodes.PARSE, `${sourceName}: ${(e as Error).message}`, { cause: e, details: { source: sourceName } });
    }
    const docLine = lineOf(doc.contents, 1);
    if (value === null || value === undefined) continue;
    const push = (v: unknown, line: number): void => {
      if (v === null || v === undefined) return;
      out.push({ index: out.length + 1, source: sourceName, line, value: v });
    };
    if (Array.isArray(value)) {
      // A top-level YAML list of resources (calicoctl accepted it; the seeds use it).
      const items = isSeq(doc.contents) ? doc.contents.items : [];
      value.forEach((v, i) => push(v, lineOf(items[i] as YamlNode | undefined, docLine)));
      continue;
    }
    if (isObj(value) && typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) {
      // `kind: List` or a typed list (`IPPoolList`, v1 `ipPoolList`): items may omit kind/apiVersion.
      const itemKind = value.kind === 'List' ? undefined : value.kind.slice(0, -'List'.length);
      const itemsNode = isMap(doc.contents) ? doc.contents.get('items', true) : undefined;
      const nodes = isSeq(itemsNode) ? itemsNode.items : [];
      value.items.forEach((it, i) => {
        let v = it;
        if (isObj(it) && itemKind !== undefined) {
          v = { ...(it.apiVersion === undefined && value.apiVersion !== undefined ? { apiVersion: value.apiVersion } : {}), ...(it.kind === undefined ? { kind: itemKind } : {}), ...it };
        }
        push(v, lineOf(nodes[i] as YamlNode | undefined, docLine));
      });
      continue;
    }
    push(value, docLine);
  }
  return out;
}
