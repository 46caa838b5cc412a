/**
 * Workload plumbing for Join/Leave: the veth pair in dockerd's namespace, the host side configured
 * as Calico's CNI plugin and Felix do (calico-notes §2.7) and the host route to each address.
 *
 * Coded against the netlink shims (`LinkOps`); when the agent's plumbing library lands this file
 * becomes a thin adapter. The host routes are written without Weft's route protocol so the agent's
 * route manager (which owns only its protocol) never fights them; `ip route replace` by the agent
 * simply takes them over.
 */
import type { LinkOps } from '../../agent/netlink/index.ts';
import { applyWorkloadSysctls } from '../../agent/dataplane/index.ts';
import { parseCIDR } from '../../lib/ip.ts';

/**
 * Link-local address put on the host side when the endpoint has IPv6: the container's v6 gateway.
 * Not the agent plumbing's EUI-64 of ee:ee:ee:ee:ee:ee: with Docker it is the *container* side
 * that carries that MAC (CreateEndpoint hands it back, as Calico's libnetwork plugin does), so
 * that link-local address belongs to the container.
 */
export const GATEWAY_V6 = 'fe80::1';

export interface VethRequest {
  hostIf: string;
  tempIf: string;
  /** The workload's addresses as CIDRs (`192.0.2.2/32`, `2001:db8::5/128`). */
  addresses: string[];
  mtu?: number;
}

export interface WorkloadPlumbing {
  /** Creates and configures the pair. All or nothing: on failure the pair is removed again. */
  setUp(req: VethRequest): Promise<void>;
  /** Removes the pair (the peer goes with it). A missing link is not an error. */
  tearDown(hostIf: string): Promise<void>;
  exists(hostIf: string): Promise<boolean>;
}

export class LinkPlumbing implements WorkloadPlumbing {
  readonly #links: LinkOps;

  constructor(links: LinkOps) {
    this.#links = links;
  }

  async setUp(req: VethRequest): Promise<void> {
    const l = this.#links;
    // A leftover from an interrupted Join/Leave would make `ip link add` fail: start clean.
    if ((await l.getLink(req.hostIf)) !== undefined) await l.deleteLink(req.hostIf);
    await l.createVeth(req.hostIf, req.tempIf, undefined, req.mtu);
    try {
      const h = req.hostIf;
      const v6 = req.addresses.some((a) => a.includes(':'));
      // Proxy ARP answers the workload's ARP for 169.254.1.1 with the host's MAC; no address is
      // needed on the host side. The very sysctls the agent applies (Felix
      // configureProcSysForInterface), so the two never disagree.
      if (v6) await l.sysctl(`net/ipv6/conf/${h}/disable_ipv6`, '0');
      await applyWorkloadSysctls(l, h, v6);
      await l.setUp(h);
      if (v6) await l.addAddress(h, `${GATEWAY_V6}/64`, { nodad: true });
      for (const a of req.addresses) {
        const c = parseCIDR(a, { allowBare: true });
        if (c === undefined) continue;
        if (c.version === 4) await l.routeReplace([a, 'dev', h, 'scope', 'link']);
        else await l.routeReplace([a, 'dev', h]);
      }
    } catch (e) {
      await l.deleteLink(req.hostIf).catch(() => undefined);
      throw e;
    }
  }

  async tearDown(hostIf: string): Promise<void> {
    await this.#links.deleteLink(hostIf);
  }

  async exists(hostIf: string): Promise<boolean> {
    return (await this.#links.getLink(hostIf)) !== undefined;
  }
}
