/**
 * Node address autodetection (calico/node `IP_AUTODETECTION_METHOD`, calico-notes §4):
 *   first-found            first global address on an interface not excluded by default
 *   interface=REGEX        first address on an interface whose name matches (comma list of regexes)
 *   skip-interface=REGEX   like first-found, skipping matching interfaces
 *   can-reach=DEST         the source address the kernel would use towards DEST
 *   cidr=LIST              first address inside one of the comma-separated CIDRs
 * Results keep their prefix length (`198.18.0.1/24`), as Node `spec.bgp.ipv4Address` does.
 */
import { cidrContainsIP, parseCIDR, parseIP } from '../../lib/ip.ts';
import { ErrorCodes, WeftError } from '../../lib/errors.ts';
import type { CommandRunner, LinkInfo } from '../netlink/index.ts';

/** calico/node's DEFAULT_INTERFACES_TO_EXCLUDE (autodetection/filtered.go), plus Weft's own prefixes. */
export const DEFAULT_EXCLUDED_INTERFACES = [
  '^docker.*', '^cbr.*', '^dummy.*', '^virbr.*', '^lxcbr.*', '^veth.*', '^lo$', '^cali.*', '^tunl.*',
  '^flannel.*', '^kube-ipvs.*', '^cni.*', '^vxlan.calico.*', '^vxlan-v6.calico.*', '^wireguard.cali.*',
  '^wg-v6.cali.*', '^tap.*',
];

export type AutodetectMethod =
  | { kind: 'first-found' }
  | { kind: 'interface'; patterns: RegExp[] }
  | { kind: 'skip-interface'; patterns: RegExp[] }
  | { kind: 'can-reach'; dest: string }
  | { kind: 'cidr'; cidrs: string[] };

export function parseAutodetectMethod(s: string | undefined): AutodetectMethod {
  const text = (s ?? 'first-found').trim();
  if (text === '' || text === 'first-found') return { kind: 'first-found' };
  const eq = text.indexOf('=');
  const key = eq === -1 ? text : text.slice(0, eq);
  const val = eq === -1 ? '' : text.slice(eq + 1);
  const list = val.split(',').map((v) => v.trim()).filter((v) => v !== '');
  const regexes = (): RegExp[] => list.map((p) => {
    try {
      return new RegExp(p);
    } catch (e) {
      throw new WeftError(ErrorCodes.USAGE, `invalid regex ${JSON.stringify(p)} in ${text}`, { cause: e });
    }
  });
  switch (key) {
    case 'interface': if (list.length > 0) return { kind: 'interface', patterns: regexes() }; break;
    case 'skip-interface': if (list.length > 0) return { kind: 'skip-interface', patterns: regexes() }; break;
    case 'can-reach': if (val !== '') return { kind: 'can-reach', dest: val }; break;
    case 'cidr':
      if (list.length > 0 && list.every((c) => parseCIDR(c, { allowBare: true }) !== undefined)) return { kind: 'cidr', cidrs: list };
      break;
  }
  throw new WeftError(ErrorCodes.USAGE, `invalid IP autodetection method ${JSON.stringify(text)}`, {
    hint: 'use first-found, interface=REGEX, skip-interface=REGEX, can-reach=DEST or cidr=CIDR[,CIDR…]',
  });
}

function usable(addr: string, version: 4 | 6): boolean {
  const ip = parseIP(addr.split('/')[0]!);
  if (ip === undefined || ip.version !== version) return false;
  const text = addr.toLowerCase();
  // Link-local and loopback addresses cannot identify a node.
  if (version === 6) return !text.startsWith('fe80') && text.split('/')[0] !== '::1';
  return !text.startsWith('127.') && !text.startsWith('169.254.');
}

/** Pure part: picks an address from the interface list (can-reach is resolved by the caller). */
export function selectAddress(links: readonly LinkInfo[], version: 4 | 6, method: AutodetectMethod): string | undefined {
  const excluded = DEFAULT_EXCLUDED_INTERFACES.map((p) => new RegExp(p));
  const candidates = (filter: (name: string) => boolean): string[] =>
    links.filter((l) => filter(l.name)).flatMap((l) => l.addresses.filter((a) => usable(a, version)));
  switch (method.kind) {
    case 'first-found':
      return candidates((n) => !excluded.some((r) => r.test(n)))[0];
    case 'interface':
      return candidates((n) => method.patterns.some((r) => r.test(n)))[0];
    case 'skip-interface':
      return candidates((n) => !excluded.some((r) => r.test(n)) && !method.patterns.some((r) => r.test(n)))[0];
    case 'cidr': {
      const nets = method.cidrs.map((c) => parseCIDR(c, { allowBare: true })!).filter((c) => c.version === version);
      return candidates(() => true).find((a) => nets.some((n) => cidrContainsIP(n, parseIP(a.split('/')[0]!)!)));
    }
    case 'can-reach':
      return undefined;
  }
}

/** Full autodetection, using the kernel's route lookup for can-reach. */
export async function autodetectAddress(runner: CommandRunner, links: readonly LinkInfo[], version: 4 | 6, method: AutodetectMethod): Promise<string | undefined> {
  if (method.kind !== 'can-reach') return selectAddress(links, version, method);
  const destIp = parseIP(method.dest) ? method.dest : undefined;
  if (destIp === undefined) throw new WeftError(ErrorCodes.USAGE, `can-reach needs an IP address, got ${method.dest}`);
  if (parseIP(destIp)!.version !== version) return undefined;
  const r = await runner.run(['ip', '-json', `-${version}`, 'route', 'get', destIp], { allowFail: true });
  if (r.code !== 0) return undefined;
  const src = (JSON.parse(r.stdout) as { prefsrc?: string }[])[0]?.prefsrc;
  if (src === undefined) return undefined;
  // Report it with the prefix length it is configured with.
  for (const l of links) for (const a of l.addresses) if (a.split('/')[0] === src) return a;
  return `${src}/${version === 4 ? 32 : 128}`;
}
