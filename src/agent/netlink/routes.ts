/**
 * `RouteTable`: list / replace / delete routes of ONE route protocol number in the main table.
 * Ownership is the protocol (felix: route ownership by table/proto, calico-notes §2.4): Weft never
 * lists, changes or deletes a route with another protocol, so the host's own routes are safe.
 */
import { canonicalCIDR, parseCIDR } from '../../lib/ip.ts';
import { ErrorCodes, WeftError } from '../../lib/errors.ts';
import type { CommandRunner } from './exec.ts';

/** Route protocol Weft uses for the routes it programs (rtnetlink protocol; unassigned in /etc/iproute2/rt_protos). */
export const WEFT_ROUTE_PROTO = 80;

export type RouteType = 'unicast' | 'blackhole' | 'unreachable' | 'prohibit';

export interface KernelRoute {
  /** Canonical CIDR (`192.0.2.2/32`, `2001:db8::/64`). */
  dst: string;
  type: RouteType;
  dev?: string;
  gateway?: string;
  scope?: 'link' | 'global' | 'host';
  onlink?: boolean;
}

export interface RouteTable {
  readonly protocol: number;
  /** Routes with this table's protocol, one family. */
  list(family: 4 | 6): Promise<KernelRoute[]>;
  replace(r: KernelRoute): Promise<void>;
  /** Deletes; a route that is already gone is not an error. */
  del(r: KernelRoute): Promise<void>;
}

export function routeFamily(dst: string): 4 | 6 {
  const c = parseCIDR(dst, { allowBare: true });
  if (c === undefined) throw new WeftError(ErrorCodes.VALIDATION, `bad route destination ${dst}`);
  return c.version;
}

/** Stable identity of a route for diffing (everything that `ip route replace` would change). */
export function routeKey(r: KernelRoute): string {
  // IPv6 routes have no scope in rtnetlink dumps (`ip -j -6 route` never prints one), so it is not compared.
  const scope = r.dst.includes(':') ? '' : (r.scope ?? '');
  return [r.dst, r.type, r.dev ?? '', r.gateway ?? '', scope, r.onlink === true ? 'onlink' : ''].join('|');
}

export function routeArgs(r: KernelRoute): string[] {
  const a: string[] = [];
  if (r.type !== 'unicast') a.push(r.type);
  a.push(r.dst);
  if (r.gateway !== undefined) a.push('via', r.gateway);
  if (r.dev !== undefined) a.push('dev', r.dev);
  if (r.scope !== undefined) a.push('scope', r.scope);
  if (r.onlink === true) a.push('onlink');
  return a;
}

interface IpJsonRoute {
  type?: string;
  dst?: string;
  gateway?: string;
  dev?: string;
  scope?: string;
  flags?: string[];
}

export function parseIpRoutes(family: 4 | 6, text: string): KernelRoute[] {
  const rows = text.trim() === '' ? [] : (JSON.parse(text) as IpJsonRoute[]);
  const out: KernelRoute[] = [];
  for (const row of rows) {
    if (row.dst === undefined) continue;
    const dst = row.dst === 'default' ? (family === 4 ? '0.0.0.0/0' : '::/0') : canonicalCIDR(row.dst, { allowBare: true });
    if (dst === undefined) continue;
    const t = row.type ?? 'unicast';
    const r: KernelRoute = { dst, type: (['unicast', 'blackhole', 'unreachable', 'prohibit'].includes(t) ? t : 'unicast') as RouteType };
    if (row.gateway !== undefined) r.gateway = row.gateway;
    if (row.dev !== undefined) r.dev = row.dev;
    if (row.scope === 'link' || row.scope === 'host') r.scope = row.scope;
    if (row.flags?.includes('onlink') === true) r.onlink = true;
    out.push(r);
  }
  return out;
}

export class IpRouteTable implements RouteTable {
  readonly protocol: number;
  readonly #runner: CommandRunner;

  constructor(runner: CommandRunner, protocol = WEFT_ROUTE_PROTO) {
    this.#runner = runner;
    this.protocol = protocol;
  }

  async list(family: 4 | 6): Promise<KernelRoute[]> {
    const r = await this.#runner.run(['ip', '-json', `-${family}`, 'route', 'show', 'table', 'main', 'proto', String(this.protocol)]);
    return parseIpRoutes(family, r.stdout);
  }

  async replace(r: KernelRoute): Promise<void> {
    await this.#runner.run(['ip', `-${routeFamily(r.dst)}`, 'route', 'replace', ...routeArgs(r), 'proto', String(this.protocol)]);
  }

  async del(r: KernelRoute): Promise<void> {
    // Delete by destination + type + protocol only: the kernel picks our route and never another proto's.
    const a = r.type !== 'unicast' ? [r.type, r.dst] : [r.dst];
    const res = await this.#runner.run(['ip', `-${routeFamily(r.dst)}`, 'route', 'del', ...a, 'proto', String(this.protocol)], { allowFail: true });
    if (res.code !== 0 && !/No such process|not found/i.test(res.stderr)) {
      throw new WeftError(ErrorCodes.INTERNAL, `ip route del ${r.dst} failed: ${res.stderr.trim()}`);
    }
  }
}

/** In-memory route table for unit tests; records each mutation. */
export class FakeRouteTable implements RouteTable {
  readonly protocol: number;
  readonly routes = new Map<string, KernelRoute>();
  readonly ops: string[] = [];
  /** Devices that do not exist (yet): a route through one fails as `ip route` does (ENODEV). */
  readonly missingDevices = new Set<string>();

  constructor(protocol = WEFT_ROUTE_PROTO) {
    this.protocol = protocol;
  }

  list(family: 4 | 6): Promise<KernelRoute[]> {
    return Promise.resolve([...this.routes.values()].filter((r) => routeFamily(r.dst) === family).map((r) => ({ ...r })));
  }

  replace(r: KernelRoute): Promise<void> {
    if (r.dev !== undefined && this.missingDevices.has(r.dev)) return Promise.reject(new Error(`Cannot find device "${r.dev}"`));
    this.ops.push(`replace ${routeArgs(r).join(' ')}`);
    this.routes.set(r.dst, { ...r });
    return Promise.resolve();
  }

  del(r: KernelRoute): Promise<void> {
    this.ops.push(`del ${r.dst}`);
    this.routes.delete(r.dst);
    return Promise.resolve();
  }
}
