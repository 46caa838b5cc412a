/**
 * Workload plumbing (Linux), shared by the lab, the Docker driver and the CNI plugin — the
 * equivalent of calico's cni-plugin dataplane_linux.go (calico-notes §2.7):
 *
 *   host netns                                  workload netns
 *   <prefix><11 hex>  ◄──── veth ────►          eth0  192.0.2.2/32, 2001:db8::2/128
 *   mac ee:ee:ee:ee:ee:ee, no address           169.254.1.1 dev eth0 scope link
 *   proxy_arp=1 proxy_delay=0 forwarding=1      default via 169.254.1.1 dev eth0
 *   route_localnet=1 accept_ra=0 proxy_ndp=1    default via fe80::ecee:eeff:feee:eeee dev eth0 (v6)
 *   192.0.2.2 dev <iface> scope link proto weft
 *
 * The host never owns 169.254.1.1: it answers the workload's ARP for it by proxy ARP, which the
 * kernel only does when the host itself has a route covering the target (normally the default
 * route). Without one every packet is lost ("100 % packet loss", seed 001) — `weft node checksystem` detects it.
 */
import { createHash } from 'node:crypto';
import { canonicalCIDR, parseCIDR } from '../../lib/ip.ts';
import { ErrorCodes, WeftError } from '../../lib/errors.ts';
import { applyWorkloadSysctls } from '../dataplane/index.ts';
import type { CommandRunner, LinkOps, RouteTable } from '../netlink/index.ts';

export const HOST_SIDE_MAC = 'ee:ee:ee:ee:ee:ee';
export const GATEWAY_V4 = '169.254.1.1';
/** IPv6 link-local of a veth whose MAC is ee:ee:ee:ee:ee:ee (modified EUI-64, RFC 4291 App. A). */
export const GATEWAY_V6 = 'fe80::ecee:eeff:feee:eeee';
export const DEFAULT_INTERFACE_PREFIX = 'cali';

/**
 * Host-side interface name: prefix + 11 hex chars of sha1(workload id), cut so the whole name
 * fits IFNAMSIZ-1 = 15 characters (calico: `cali` + 11).
 */
export function hostInterfaceName(workloadId: string, prefix = DEFAULT_INTERFACE_PREFIX): string {
  if (!/^[A-Za-z0-9_-]{1,11}$/.test(prefix)) throw new WeftError(ErrorCodes.VALIDATION, `bad interface prefix ${prefix}`);
  const h = createHash('sha1').update(workloadId).digest('hex');
  return prefix + h.slice(0, 15 - prefix.length);
}

/** First prefix of FelixConfiguration interfacePrefix (a comma list, e.g. `cali,tap`). */
export function primaryPrefix(interfacePrefix: string | undefined): string {
  const first = (interfacePrefix ?? DEFAULT_INTERFACE_PREFIX).split(',').map((s) => s.trim()).find((s) => s !== '');
  return first ?? DEFAULT_INTERFACE_PREFIX;
}

export interface PlumbSpec {
  /** Stable workload identity (container id, `namespace.pod`, lab workload name): names the veth. */
  workloadId: string;
  /** Network namespace of the workload (a name under /run/netns). */
  netns: string;
  addresses: string[];
  interfacePrefix?: string;
  containerInterface?: string;
  mtu?: number;
}

export interface PlumbDeps {
  /** Link operations in the host namespace. */
  host: LinkOps;
  /** Link operations inside the workload namespace. */
  workload: LinkOps;
  /** Host routes with Weft's protocol; omitted = the agent programs them. */
  routes?: RouteTable;
}

export interface PlumbResult {
  hostInterface: string;
  containerInterface: string;
  /** Container-side MAC (for the WorkloadEndpoint's `mac`). */
  mac: string | undefined;
  ipv4Nets: string[];
  ipv6Nets: string[];
}

function hostNets(addrs: readonly string[]): { v4: string[]; v6: string[] } {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const a of addrs) {
    const c = parseCIDR(a, { allowBare: true });
    if (c === undefined) throw new WeftError(ErrorCodes.VALIDATION, `bad workload address ${a}`);
    // The workload always gets a host prefix: everything else is reached via the gateway.
    const full = canonicalCIDR(`${a.split('/')[0]}/${c.version === 4 ? 32 : 128}`)!;
    (c.version === 4 ? v4 : v6).push(full);
  }
  return { v4, v6 };
}

export async function plumbWorkload(deps: PlumbDeps, spec: PlumbSpec): Promise<PlumbResult> {
  const prefix = primaryPrefix(spec.interfacePrefix);
  const hostIf = hostInterfaceName(spec.workloadId, prefix);
  const ctrIf = spec.containerInterface ?? 'eth0';
  const { v4, v6 } = hostNets(spec.addresses);
  const { host, workload } = deps;

  await host.createVeth(hostIf, ctrIf, spec.netns, spec.mtu);
  try {
    // Host side: fixed MAC so every workload sees the same gateway MAC (and the v6 link-local is predictable).
    await host.setMac(hostIf, HOST_SIDE_MAC);
    if (v6.length > 0) {
      // Before the link comes up so the link-local next hop is usable without waiting for DAD.
      await host.sysctl(`net/ipv6/conf/${hostIf}/accept_dad`, '0').catch(() => undefined);
    }
    await applyWorkloadSysctls(host, hostIf, v6.length > 0);
    await host.setUp(hostIf);

    // Workload side. Addresses before the link comes up: the host side turns operationally UP
    // with it, and that is when the agent installs the host route (felix does the same), so the
    // host's first ARP for the workload must find the address there.
    if (v6.length > 0) {
      await workload.sysctl('net/ipv6/conf/all/disable_ipv6', '0');
      await workload.sysctl(`net/ipv6/conf/${ctrIf}/accept_dad`, '0');
    }
    for (const a of v4) await workload.addAddress(ctrIf, a);
    for (const a of v6) await workload.addAddress(ctrIf, a, { nodad: true });
    await workload.setUp(ctrIf);
    if (v4.length > 0) {
      await workload.routeReplace([GATEWAY_V4, 'dev', ctrIf, 'scope', 'link']);
      await workload.routeReplace(['default', 'via', GATEWAY_V4, 'dev', ctrIf]);
    }
    if (v6.length > 0) {
      await workload.routeReplace(['default', 'via', GATEWAY_V6, 'dev', ctrIf]);
    }
    if (deps.routes !== undefined) {
      for (const dst of [...v4, ...v6]) await deps.routes.replace({ dst, type: 'unicast', dev: hostIf, scope: 'link' });
    }
    const info = await workload.getLink(ctrIf);
    return { hostInterface: hostIf, containerInterface: ctrIf, mac: info?.mac, ipv4Nets: v4, ipv6Nets: v6 };
  } catch (e) {
    // Leave nothing half-built: deleting the host side removes the pair.
    await host.deleteLink(hostIf).catch(() => undefined);
    throw e;
  }
}

/** Removes a workload's veth (the kernel drops its routes with it). Missing is fine. */
export async function unplumbWorkload(deps: Pick<PlumbDeps, 'host' | 'routes'>, hostInterface: string, addresses: readonly string[] = []): Promise<void> {
  if (deps.routes !== undefined) {
    const { v4, v6 } = hostNets(addresses);
    for (const dst of [...v4, ...v6]) await deps.routes.del({ dst, type: 'unicast', dev: hostInterface, scope: 'link' }).catch(() => undefined);
  }
  await deps.host.deleteLink(hostInterface);
}

/** Host-wide settings a Weft host needs (felix IPForwarding=Enabled). */
export async function configureHost(host: LinkOps, opts: { ipv6?: boolean } = {}): Promise<void> {
  await host.sysctl('net/ipv4/ip_forward', '1');
  if (opts.ipv6 === true) await host.sysctl('net/ipv6/conf/all/forwarding', '1');
}


/**
 * Whether this namespace routes to the proxy-ARP gateway 169.254.1.1. It explains seed 001: with
 * no route covering it the host never answers the workload's ARP for its gateway → 100 % packet
 * loss. `weft node checksystem` reports it.
 */
export async function gatewayRouted(runner: CommandRunner): Promise<{ routed: boolean; evidence: string }> {
  const gw = await runner.run(['ip', '-4', 'route', 'get', GATEWAY_V4], { allowFail: true });
  const routed = gw.code === 0 && !/unreachable|prohibit|blackhole/.test(gw.stdout);
  return { routed, evidence: routed ? gw.stdout.trim().split('\n')[0]! : (gw.stderr || gw.stdout).trim() };
}
