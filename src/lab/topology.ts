/**
 * Lab topology files (YAML):
 *
 *   name: demo
 *   datastore: sqlite                 # or etcd (started by the lab in its underlay namespace)
 *   bgp: true                         # default: agents speak BGP (mesh unless resources say otherwise);
 *                                     # false: flat mode, routes via node addresses without BGP
 *   ipv6: true                        # dual stack: IPv6 underlay (2001:db8:ffff::/64), agents get --ip6,
 *                                     # every workload one IPv4 and one IPv6 address (default: true when
 *                                     # `pools`, the resources or a workload's `ip6` bring IPv6, else false)
 *   hosts: [{name: h1, asNumber: 64512, labels: {rack: a}}, {name: h2}]
 *   pools: [{cidr: 192.0.2.0/24, blockSize: 26, natOutgoing: false}]
 *   routers: [{name: tor1, kind: bird, as: 65001}]   # external BGP daemons (bird | frr | gobgp)
 *   resources: [policies.yaml, {kind: Profile, …}]   # files (relative to the topology) or inline
 *   workloads:
 *     - {name: w1, host: h1, ip: 192.0.2.2, labels: {role: web}, profiles: [p1]}
 *     - {name: w2, host: h2}           # address from IPAM; no profiles → the lab's allow-all profile
 *     - {name: w3, host: h2, ip6: 2001:db8:1::3}   # fixed IPv6 (dual stack: IPv4 from IPAM)
 *
 * Every address a lab uses comes from the documentation ranges (RFC 5737 / RFC 3849) or the
 * benchmarking underlay 198.18.0.0/15 (RFC 2544): a lab can never collide with a real network.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { cidrContains, cidrOverlaps, parseCIDR } from '../lib/ip.ts';
import { ErrorCodes, WeftError } from '../lib/errors.ts';
import { ROUTER_KINDS } from './routers.ts';

/** Workload and pool addresses a lab may use. */
export const LAB_WORKLOAD_RANGES = ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '2001:db8::/32'];

/**
 * Underlay addressing. Every lab has its own underlay bridge in its own namespace, so labs never
 * see each other's underlay and all use the same addresses (as for IPv4): host i is
 * 198.18.0.<i+1>/24 and, in a dual-stack lab, 2001:db8:ffff::<i+1>/64 (the same digits, read as
 * hex), the bridge (default gateway) .254 / ::254. The IPv6 underlay prefix is kept out of pools
 * and workload addresses.
 */
export const LAB_UNDERLAY4 = '198.18.0.0/24';
export const LAB_UNDERLAY6 = '2001:db8:ffff::/64';
export const LAB_GATEWAY4 = '198.18.0.254';
export const LAB_GATEWAY6 = '2001:db8:ffff::254';
export const hostAddress4 = (i: number): string => `198.18.0.${i + 1}`;
export const hostAddress6 = (i: number): string => `2001:db8:ffff::${i + 1}`;
/** Pools the lab creates when neither `pools` nor the resources bring one of that family. */
export const LAB_DEFAULT_POOL4 = { cidr: '192.0.2.0/24', blockSize: 26 };
export const LAB_DEFAULT_POOL6 = { cidr: '2001:db8:1::/112', blockSize: 122 };

const dnsName = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?$/, 'lowercase letters, digits and -, at most 16 characters');
const labels = z.record(z.string(), z.string());

function inLabRanges(s: string): boolean {
  const c = parseCIDR(s, { allowBare: true });
  return c !== undefined && LAB_WORKLOAD_RANGES.some((r) => cidrContains(parseCIDR(r)!, c));
}

function outsideUnderlay(s: string): boolean {
  const c = parseCIDR(s, { allowBare: true });
  return c === undefined || !cidrOverlaps(c, parseCIDR(LAB_UNDERLAY6)!);
}

const ipVersion = (s: string): number | undefined => parseCIDR(s, { allowBare: true })?.version;

const labAddress = z.string()
  .refine(inLabRanges, { message: `must lie inside ${LAB_WORKLOAD_RANGES.join(', ')}` })
  .refine(outsideUnderlay, { message: `must not overlap the lab's IPv6 underlay ${LAB_UNDERLAY6}` });

export const TopologySchema = z.strictObject({
  // No '-' in lab names: namespaces are `weft-<lab>-…`, and cleanup by that prefix must never
  // reach another lab's namespaces (lab `a` vs lab `a-b`).
  name: z.string().regex(/^[a-z0-9]{1,12}$/, 'lowercase letters and digits, at most 12 characters'),
  datastore: z.enum(['sqlite', 'etcd']).default('sqlite'),
  bgp: z.boolean().default(true),
  ipv6: z.boolean().optional(),
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
    ip: labAddress.refine((a) => ipVersion(a) === 4, { message: 'must be an IPv4 address (IPv6: ip6)' }).optional(),
    ip6: labAddress.refine((a) => ipVersion(a) === 6, { message: 'must be an IPv6 address' }).optional(),
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
