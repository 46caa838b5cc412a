/**
 * Lab topology files (YAML):
 *
 *   name: demo
 *   datastore: sqlite                 # or etcd (started by the lab in its underlay namespace)
 *   bgp: true                         # default: agents speak BGP (mesh unless resources say otherwise);
 *                                     # false: flat mode, routes via node addresses without BGP
 *   hosts: [{name: h1, asNumber: 64512, labels: {rack: a}}, {name: h2}]
 *   pools: [{cidr: 192.0.2.0/24, blockSize: 26, natOutgoing: false}]
 *   routers: [{name: tor1, kind: bird, as: 65001}]   # external BGP daemons (bird | frr | gobgp)
 *   resources: [policies.yaml, {kind: Profile, …}]   # files (relative to the topology) or inline
 *   workloads:
 *     - {name: w1, host: h1, ip: 192.0.2.2, labels: {role: web}, profiles: [p1]}
 *     - {name: w2, host: h2}           # address from IPAM; no profiles → the lab's allow-all profile
 *
 * Every address a lab uses comes from the documentation ranges (RFC 5737 / RFC 3849) or the
 * benchmarking underlay 198.18.0.0/15 (RFC 2544): a lab can never collide with a real network.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { cidrContains, parseCIDR } from '../lib/ip.ts';
import { ErrorCodes, WeftError } from '../lib/errors.ts';
import { ROUTER_KINDS } from './routers.ts';

/** Workload and pool addresses a lab may use. */
export const LAB_WORKLOAD_RANGES = ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '2001:db8::/32'];

const dnsName = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?$/, 'lowercase letters, digits and -, at most 16 characters');
const labels = z.record(z.string(), z.string());

function inLabRanges(s: string): boolean {
  const c = parseCIDR(s, { allowBare: true });
  return c !== undefined && LAB_WORKLOAD_RANGES.some((r) => cidrContains(parseCIDR(r)!, c));
}

const labAddress = z.string().refine(inLabRanges, { message: `must lie inside ${LAB_WORKLOAD_RANGES.join(', ')}` });

export const TopologySchema = z.strictObject({
  // No '-' in lab names: namespaces are `weft-<lab>-…`, and cleanup by that prefix must never
  // reach another lab's namespaces (lab `a` vs lab `a-b`).
  name: z.string().regex(/^[a-z0-9]{1,12}$/, 'lowercase letters and digits, at most 12 characters'),
  datastore: z.enum(['sqlite', 'etcd']).default('sqlite'),
  bgp: z.boolean().default(true),
  hosts: z.array(z.strictObject({ name: dnsName, asNumber: z.number().int().min(1).max(4294967295).optional(), labels: labels.optional() })).min(1).max(200),
  pools: z.array(z.strictObject({
    name: z.string().optional(),
    cidr: labAddress,
    blockSize: z.number().int().optional(),
    natOutgoing: z.boolean().optional(),
  })).optional(),
  routers: z.array(z.strictObject({
    name: dnsName,
    kind: z.enum(ROUTER_KINDS),
    as: z.number().int().min(1).max(4294967295),
  })).max(20).default([]),
  resources: z.array(z.union([z.string(), z.record(z.string(), z.unknown())])).optional(),
  workloads: z.array(z.strictObject({
    name: dnsName,
    host: dnsName,
    ip: labAddress.optional(),
    ip6: labAddress.optional(),
    labels: labels.optional(),
    profiles: z.array(z.string()).optional(),
  })).default([]),
}).superRefine((t, ctx) => {
  const hosts = new Set<string>();
  t.hosts.forEach((h, i) => {
    if (hosts.has(h.name)) ctx.addIssue({ code: 'custom', path: ['hosts', i, 'name'], message: `duplicate host ${h.name}` });
    hosts.add(h.name);
  });
  const routers = new Set<string>();
  t.routers.forEach((r, i) => {
    if (hosts.has(r.name) || routers.has(r.name)) ctx.addIssue({ code: 'custom', path: ['routers', i, 'name'], message: `duplicate name ${r.name}` });
    routers.add(r.name);
  });
  const wls = new Set<string>();
  t.workloads.forEach((w, i) => {
    if (wls.has(w.name) || hosts.has(w.name) || routers.has(w.name)) ctx.addIssue({ code: 'custom', path: ['workloads', i, 'name'], message: `duplicate name ${w.name}` });
    wls.add(w.name);
    if (!hosts.has(w.host)) ctx.addIssue({ code: 'custom', path: ['workloads', i, 'host'], message: `unknown host ${w.host}` });
  });
});

export type Topology = z.infer<typeof TopologySchema>;

export interface LoadedTopology {
  topology: Topology;
  /** Resource documents (YAML text) in apply order, with where they came from. */
  manifests: { text: string; source: string }[];
}

export function parseTopology(text: string, source = 'topology'): Topology {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new WeftError(ErrorCodes.PARSE, `${source}: ${(e as Error).message}`, { cause: e });
  }
  const r = TopologySchema.safeParse(raw);
  if (!r.success) {
    const msg = r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new WeftError(ErrorCodes.VALIDATION, `${source}: ${msg}`);
  }
  return r.data;
}

/** Reads a topology file and the manifest files it names (relative to it). */
export function loadTopology(file: string): LoadedTopology {
  return loadTopologyText(readFileSync(file, 'utf8'), file, dirname(resolve(file)));
}

/** A topology from text; manifest file names resolve against `baseDir`, inline resources are kept. */
export function loadTopologyText(text: string, source = 'topology', baseDir = process.cwd()): LoadedTopology {
  const topology = parseTopology(text, source);
  const manifests = (topology.resources ?? []).map((r, i) =>
    typeof r === 'string'
      ? { text: readFileSync(resolve(baseDir, r), 'utf8'), source: r }
      : { text: JSON.stringify(r), source: `${source}: resources[${i}]` });
  return { topology, manifests };
}
