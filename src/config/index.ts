/**
 * Which datastore a command talks to, and where that choice came from.
 *
 * Precedence (first that is set wins):
 *   1. `--datastore sqlite:PATH | etcd://H:P[,H:P…]` flag
 *   2. `-c/--config FILE` given explicitly (Weft YAML, or calicoctl's CalicoAPIConfig/calicoApiConfig)
 *   3. `WEFT_DATASTORE` environment variable
 *   4. calicoctl's variables: `DATASTORE_TYPE=etcdv3` + `ETCD_ENDPOINTS`, `ETCD_CA_CERT_FILE`,
 *      `ETCD_CERT_FILE`, `ETCD_KEY_FILE`, `ETCD_USERNAME`, `ETCD_PASSWORD` (also when only
 *      `ETCD_ENDPOINTS` is set: calicoctl picks etcdv3 then too)
 *   5. `/etc/weft/weft.yaml`, then calicoctl's `/etc/calico/calicoctl.cfg`
 *   6. the embedded default `sqlite:/var/lib/weft/weft.db`
 *
 * The provenance travels with the spec so "cannot reach" errors can say which setting to fix
 * (Calico users lose hours to "no etcd endpoints specified" with no word on where it looked).
 */
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ErrorCodes, WeftError } from '../lib/errors.ts';
import type { DatastoreSpec } from '../datastore/index.ts';
import { DEFAULT_SQLITE_PATH } from '../lib/defaults.ts';

export { DEFAULT_SQLITE_PATH, type DatastoreSpec };
export const DEFAULT_CONFIG_FILES = ['/etc/weft/weft.yaml', '/etc/calico/calicoctl.cfg'];

export interface ResolvedDatastore {
  spec: DatastoreSpec;
  /** Where the choice came from, e.g. `--datastore flag`, `ETCD_ENDPOINTS`, `/etc/weft/weft.yaml`. */
  source: string;
}

export interface ResolveInput {
  flag?: string;
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Files probed when nothing else is set (tests override). */
  defaultFiles?: string[];
}

function configError(message: string, source: string, hint: string): WeftError {
  return new WeftError(ErrorCodes.DATASTORE_CONFIG, `${message} (from ${source})`, { hint, details: { source } });
}

/** Normalises `h:p`, `http://h:p`, `https://h:p` to a URL etcd3 accepts. */
function normaliseEndpoint(ep: string, tls: boolean): string {
  const e = ep.trim();
  if (/^https?:\/\//.test(e)) return e.replace(/\/+$/, '');
  return `${tls ? 'https' : 'http'}://${e}`;
}

function splitEndpoints(list: string, tls: boolean, source: string): string[] {
  const eps = list.split(',').map((s) => s.trim()).filter(Boolean).map((e) => normaliseEndpoint(e, tls));
  if (eps.length === 0) {
    throw configError('no etcd endpoints specified', source,
      'give at least one endpoint, e.g. --datastore etcd://127.0.0.1:2379 or ETCD_ENDPOINTS=http://127.0.0.1:2379');
  }
  for (const e of eps) {
    let u: URL;
    try { u = new URL(e); } catch { throw configError(`"${e}" is not an etcd endpoint`, source, 'use host:port or http(s)://host:port'); }
    if (!u.hostname || !u.port) {
      throw configError(`etcd endpoint "${e}" needs a host and a port`, source, 'etcd listens on 2379 by default: host:2379');
    }
  }
  return eps;
}

/** Parses `sqlite:PATH`, `sqlite://PATH`, `etcd://H:P[,H:P]`, `etcds://…` (TLS). */
export function parseDatastoreURL(text: string, source: string): DatastoreSpec {
  const t = text.trim();
  const m = /^([a-z0-9]+):(?:\/\/)?(.*)$/i.exec(t);
  if (!m) {
    throw configError(`"${text}" is not a datastore address`, source, 'use sqlite:/path/to/weft.db or etcd://host:2379[,host:2379]');
  }
  const scheme = m[1].toLowerCase();
  const rest = m[2];
  if (scheme === 'sqlite') {
    if (!rest) throw configError('sqlite datastore needs a file path', source, 'e.g. sqlite:/var/lib/weft/weft.db');
    // `sqlite:///abs` and `sqlite:/abs` both mean /abs; `sqlite:rel` is relative to cwd.
    return { type: 'sqlite', path: t.startsWith('sqlite://') && !rest.startsWith('/') ? `/${rest}` : rest };
  }
  if (scheme === 'etcd' || scheme === 'etcdv3' || scheme === 'etcds') {
    return { type: 'etcd', endpoints: splitEndpoints(rest, scheme === 'etcds', source) };
  }
  throw configError(`unknown datastore type "${scheme}"`, source, 'Weft supports sqlite:PATH (default) and etcd://host:port');
}

interface FileConfig {
  datastore?: string;
  etcd?: { endpoints?: string | string[]; caCertFile?: string; certFile?: string; keyFile?: string; username?: string; password?: string };
}

function readConfigFile(path: string): DatastoreSpec {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (e) {
    throw configError(`cannot read config: ${(e as Error).message}`, path, 'fix the YAML or remove the file');
  }
  if (doc === null || typeof doc !== 'object') throw configError('config is empty or not a mapping', path, 'see README "Deployment with etcd"');
  const d = doc as Record<string, unknown>;
  // calicoctl's format: CalicoAPIConfig (v3) or calicoApiConfig (v1, seeds 002).
  if (typeof d.kind === 'string' && d.kind.toLowerCase() === 'calicoapiconfig') {
    const spec = (d.spec ?? {}) as Record<string, string | undefined>;
    const type = (spec.datastoreType ?? 'etcdv3').toLowerCase();
    if (type === 'kubernetes') {
      throw configError('datastoreType kubernetes is not supported', path, 'Weft stores data in SQLite or etcd v3: set datastoreType: etcdv3');
    }
    const tls = Boolean(spec.etcdCACertFile || spec.etcdCertFile);
    return {
      type: 'etcd',
      endpoints: splitEndpoints(spec.etcdEndpoints ?? '', tls, path),
      ...(spec.etcdCACertFile ? { caFile: spec.etcdCACertFile } : {}),
      ...(spec.etcdCertFile ? { certFile: spec.etcdCertFile } : {}),
      ...(spec.etcdKeyFile ? { keyFile: spec.etcdKeyFile } : {}),
      ...(spec.etcdUsername ? { username: spec.etcdUsername } : {}),
      ...(spec.etcdPassword ? { password: spec.etcdPassword } : {}),
    };
  }
  const c = d as FileConfig;
  if (c.etcd?.endpoints !== undefined) {
    const list = Array.isArray(c.etcd.endpoints) ? c.etcd.endpoints.join(',') : c.etcd.endpoints;
    const tls = Boolean(c.etcd.caCertFile || c.etcd.certFile);
    return {
      type: 'etcd',
      endpoints: splitEndpoints(list, tls, path),
      ...(c.etcd.caCertFile ? { caFile: c.etcd.caCertFile } : {}),
      ...(c.etcd.certFile ? { certFile: c.etcd.certFile } : {}),
      ...(c.etcd.keyFile ? { keyFile: c.etcd.keyFile } : {}),
      ...(c.etcd.username ? { username: c.etcd.username } : {}),
      ...(c.etcd.password ? { password: c.etcd.password } : {}),
    };
  }
  if (typeof c.datastore === 'string') return withEtcdExtras(parseDatastoreURL(c.datastore, path), c.etcd);
  throw configError('config names no datastore', path, 'add `datastore: sqlite:/var/lib/weft/weft.db` or `datastore: etcd://host:2379`');
}

function withEtcdExtras(spec: DatastoreSpec, extra: FileConfig['etcd'] | undefined): DatastoreSpec {
  if (spec.type !== 'etcd' || !extra) return spec;
  return {
    ...spec,
    ...(extra.caCertFile ? { caFile: extra.caCertFile } : {}),
    ...(extra.certFile ? { certFile: extra.certFile } : {}),
    ...(extra.keyFile ? { keyFile: extra.keyFile } : {}),
    ...(extra.username ? { username: extra.username } : {}),
    ...(extra.password ? { password: extra.password } : {}),
  };
}

function fromCalicoEnv(env: NodeJS.ProcessEnv): ResolvedDatastore | undefined {
  const type = env.DATASTORE_TYPE?.toLowerCase();
  const eps = env.ETCD_ENDPOINTS;
  if (type === undefined && eps === undefined) return undefined;
  if (type === 'kubernetes') {
    throw configError('DATASTORE_TYPE=kubernetes is not supported', 'DATASTORE_TYPE',
      'Weft stores data in SQLite or etcd v3: unset DATASTORE_TYPE, or set DATASTORE_TYPE=etcdv3 and ETCD_ENDPOINTS');
  }
  if (type !== undefined && type !== 'etcdv3' && type !== 'etcdv2' && type !== 'etcd') {
    throw configError(`unknown DATASTORE_TYPE "${env.DATASTORE_TYPE}"`, 'DATASTORE_TYPE', 'use DATASTORE_TYPE=etcdv3');
  }
  const source = eps !== undefined ? 'ETCD_ENDPOINTS' : 'DATASTORE_TYPE';
  const tls = Boolean(env.ETCD_CA_CERT_FILE || env.ETCD_CERT_FILE);
  const spec: DatastoreSpec = {
    type: 'etcd',
    endpoints: splitEndpoints(eps ?? '', tls, source),
    ...(env.ETCD_CA_CERT_FILE ? { caFile: env.ETCD_CA_CERT_FILE } : {}),
    ...(env.ETCD_CERT_FILE ? { certFile: env.ETCD_CERT_FILE } : {}),
    ...(env.ETCD_KEY_FILE ? { keyFile: env.ETCD_KEY_FILE } : {}),
    ...(env.ETCD_USERNAME ? { username: env.ETCD_USERNAME } : {}),
    ...(env.ETCD_PASSWORD ? { password: env.ETCD_PASSWORD } : {}),
  };
  return { spec, source };
}

export function resolveDatastore(input: ResolveInput = {}): ResolvedDatastore {
  const env = input.env ?? process.env;
  if (input.flag !== undefined) return { spec: parseDatastoreURL(input.flag, '--datastore flag'), source: '--datastore flag' };
  if (input.configFile !== undefined) {
    if (!existsSync(input.configFile)) {
      throw configError(`config file ${input.configFile} does not exist`, '-c/--config flag', 'check the path given to -c');
    }
    return { spec: readConfigFile(input.configFile), source: input.configFile };
  }
  if (env.WEFT_DATASTORE) return { spec: parseDatastoreURL(env.WEFT_DATASTORE, 'WEFT_DATASTORE'), source: 'WEFT_DATASTORE' };
  const calico = fromCalicoEnv(env);
  if (calico) return calico;
  for (const f of input.defaultFiles ?? DEFAULT_CONFIG_FILES) {
    if (existsSync(f)) return { spec: readConfigFile(f), source: f };
  }
  return { spec: { type: 'sqlite', path: DEFAULT_SQLITE_PATH }, source: 'default' };
}

/** One-line description for messages: `etcd://127.0.0.1:2379 (from ETCD_ENDPOINTS)`. */
export function describeDatastore(r: ResolvedDatastore): string {
  const addr = r.spec.type === 'sqlite' ? `sqlite:${r.spec.path}` : `etcd ${r.spec.endpoints.join(',')}`;
  return `${addr} (from ${r.source})`;
}
