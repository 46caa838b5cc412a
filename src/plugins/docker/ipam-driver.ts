/**
 * libnetwork IpamDriver backed by Weft IPAM (calico-notes §13, libnetwork-trace.md).
 *
 * - Pools are Weft IPPools: `--subnet` must equal a pool's CIDR (PoolID = pool name); no `--subnet`
 *   means every pool of the family (PoolID WeftPoolIPv4/6, Pool 0.0.0.0/0 or ::/0).
 * - RequestPool hands Docker a dummy gateway (`0.0.0.0/0`) in its Data, so Docker never asks for a
 *   gateway address: a Weft workload's gateway is 169.254.1.1, answered by the host (proxy ARP).
 * - Addresses are /32 (/128): the workload has no on-link subnet, everything goes via the host.
 * - One IPAM handle per address, `libnetwork.<host>.<random>`; ReleaseAddress frees an address
 *   only when it is held by such a handle of this host.
 */
import { ErrorCodes, WeftError, isWeftError } from '../../lib/errors.ts';
import { canonicalCIDR, cidrContainsIP, parseCIDR, parseIP } from '../../lib/ip.ts';
import {
  ALL_POOLS_V4,
  ALL_POOLS_V6,
  GLOBAL_ADDRESS_SPACE,
  LOCAL_ADDRESS_SPACE,
  OPT_GATEWAY,
  OPT_REQUEST_ADDRESS_TYPE,
  ReleaseAddressRequest,
  ReleasePoolRequest,
  RequestAddressRequest,
  RequestPoolRequest,
} from './protocol.ts';
import { WEP_NAMESPACE, handlePrefix, newHandle } from './naming.ts';
import { parseBody } from './validate.ts';
import { KeyedMutex } from './mutex.ts';

/** What the plugin needs from a pool (a subset of ipam's PoolInfo). */
export interface PluginPool {
  name: string;
  cidr: string;
  disabled: boolean;
}

/** The subset of Weft IPAM (`src/ipam` Ipam) the plugin uses; Ipam satisfies it structurally. */
export interface PluginIpam {
  pools(): Promise<PluginPool[]>;
  autoAssign(req: {
    host: string;
    handle: string;
    num4?: number;
    num6?: number;
    attrs?: Record<string, string>;
    pools4?: string[];
    pools6?: string[];
  }): Promise<{ ipv4: { ip: string }[]; ipv6: { ip: string }[] }>;
  assignIP(req: { ip: string; host: string; handle: string; attrs?: Record<string, string> }): Promise<{ ip: string }>;
  getAssignment(ip: string): Promise<{ handle: string | null } | undefined>;
  releaseByHandle(handle: string): Promise<unknown>;
}

export interface IpamDriverOptions {
  ipam: PluginIpam;
  host: string;
  /** Source of handle suffixes (tests inject a deterministic one). */
  random?: () => string;
}

function refuse(message: string, hint?: string): WeftError {
  return new WeftError(ErrorCodes.VALIDATION, message, hint === undefined ? {} : { hint });
}

function describePools(pools: PluginPool[]): string {
  if (pools.length === 0) return 'no IP pools exist (create one with `weft create -f pool.yaml`)';
  return 'existing pools: ' + pools.map((p) => `${p.name} (${p.cidr}${p.disabled ? ', disabled' : ''})`).join(', ');
}

function familyOfCidr(cidr: string): 4 | 6 | undefined {
  return parseCIDR(cidr, { strict: false })?.version;
}

export class IpamDriver {
  readonly #ipam: PluginIpam;
  readonly #host: string;
  readonly #random: (() => string) | undefined;
  /**
   * Host-wide IPAM lock (Calico CNI: `flock /var/run/calico/ipam.lock`): concurrent `docker run`s
   * on one host would otherwise collide on the same affine block and burn CAS retries with backoff.
   * Other hosts still race through compare-and-swap.
   */
  readonly #lock = new KeyedMutex();

  constructor(opts: IpamDriverOptions) {
    this.#ipam = opts.ipam;
    this.#host = opts.host;
    this.#random = opts.random;
  }

  getCapabilities(): object {
    // No MAC needed; no replay: Weft IPAM is the source of truth and survives a daemon restart.
    return { RequiresMACAddress: false, RequiresRequestReplay: false };
  }

  getDefaultAddressSpaces(): object {
    return { LocalDefaultAddressSpace: LOCAL_ADDRESS_SPACE, GlobalDefaultAddressSpace: GLOBAL_ADDRESS_SPACE };
  }

  async requestPool(body: unknown): Promise<object> {
    const req = parseBody(RequestPoolRequest, body, 'RequestPool');
    if (req.AddressSpace !== LOCAL_ADDRESS_SPACE && req.AddressSpace !== GLOBAL_ADDRESS_SPACE) {
      throw refuse(`unknown address space ${JSON.stringify(req.AddressSpace)} (this driver has ${LOCAL_ADDRESS_SPACE} and ${GLOBAL_ADDRESS_SPACE})`);
    }
    if (req.SubPool !== '') {
      throw refuse(`--ip-range (${req.SubPool}) is not supported: addresses come from the whole IP pool's blocks`, 'drop --ip-range, or create an IPPool for that range');
    }
    const opts = Object.keys(req.Options);
    if (opts.length > 0) throw refuse(`the weft IPAM driver does not support the option(s) ${opts.map((k) => `--ipam-opt ${k}`).join(', ')}`);
    const version = req.V6 ? 6 : 4;
    const gateway = version === 4 ? '0.0.0.0/0' : '::/0';
    const pools = await this.#ipam.pools();
    const family = pools.filter((p) => familyOfCidr(p.cidr) === version);
    if (req.Pool === '') {
      if (family.filter((p) => !p.disabled).length === 0) {
        throw refuse(`no enabled IPv${version} IP pool exists; ${describePools(pools)}`, 'create an IPPool first, then the network');
      }
      return { PoolID: version === 4 ? ALL_POOLS_V4 : ALL_POOLS_V6, Pool: gateway, Data: { [OPT_GATEWAY]: gateway } };
    }
    const want = canonicalCIDR(req.Pool);
    if (want === undefined) throw refuse(`--subnet ${JSON.stringify(req.Pool)} is not a CIDR`);
    if (familyOfCidr(want) !== version) throw refuse(`--subnet ${req.Pool} is not an IPv${version} subnet`);
    const pool = family.find((p) => canonicalCIDR(p.cidr) === want);
    if (pool === undefined) {
      throw refuse(`--subnet ${want} does not match any IP pool; ${describePools(pools)}`, '--subnet must be exactly the CIDR of an existing IPPool, or omit it to use every pool');
    }
    if (pool.disabled) throw refuse(`IP pool ${pool.name} (${pool.cidr}) is disabled`);
    return { PoolID: pool.name, Pool: want, Data: { [OPT_GATEWAY]: gateway } };
  }

  async releasePool(body: unknown): Promise<object> {
    parseBody(ReleasePoolRequest, body, 'ReleasePool');
    // Pools are IPPools, owned by the administrator, not by Docker: nothing to release.
    return {};
  }

  /** Resolves a PoolID to the pool CIDRs it may allocate from and its family. */
  async #poolsFor(poolId: string): Promise<{ version: 4 | 6; cidrs: string[] | undefined; name: string }> {
    if (poolId === ALL_POOLS_V4) return { version: 4, cidrs: undefined, name: 'all IPv4 pools' };
    if (poolId === ALL_POOLS_V6) return { version: 6, cidrs: undefined, name: 'all IPv6 pools' };
    const pools = await this.#ipam.pools();
    const p = pools.find((x) => x.name === poolId);
    const v = p === undefined ? undefined : familyOfCidr(p.cidr);
    if (p === undefined || v === undefined) {
      throw refuse(`pool ${JSON.stringify(poolId)} no longer exists; ${describePools(pools)}`, 'recreate the IPPool or the Docker network');
    }
    return { version: v, cidrs: [p.cidr], name: `pool ${p.name} (${p.cidr})` };
  }

  async requestAddress(body: unknown): Promise<object> {
    const req = parseBody(RequestAddressRequest, body, 'RequestAddress');
    const { version, cidrs, name } = await this.#poolsFor(req.PoolID);
    const extra = Object.keys(req.Options).filter((k) => k !== OPT_REQUEST_ADDRESS_TYPE);
    if (extra.length > 0) throw refuse(`RequestAddress: unsupported option(s) ${extra.join(', ')}`);
    const type = req.Options[OPT_REQUEST_ADDRESS_TYPE];
    if (type !== undefined && type !== OPT_GATEWAY) throw refuse(`RequestAddress: unsupported ${OPT_REQUEST_ADDRESS_TYPE} ${JSON.stringify(type)}`);
    const hostBits = version === 4 ? 32 : 128;
    if (type === OPT_GATEWAY) {
      if (req.Address !== '') {
        throw refuse(`the weft IPAM driver does not support specifying a gateway (--gateway ${req.Address})`, `Weft workloads always use ${version === 4 ? '169.254.1.1' : 'the host side of their veth'} as gateway; drop --gateway`);
      }
      // Placeholder, no allocation: the real gateway is the host (169.254.1.1 via proxy ARP).
      return { Address: version === 4 ? '0.0.0.0/0' : '::/0', Data: {} };
    }
    const attrs = { namespace: WEP_NAMESPACE, node: this.#host, 'weft.io/docker-pool': req.PoolID };
    const handle = newHandle(this.#host, this.#random);
    if (req.Address !== '') {
      const a = parseIP(req.Address);
      if (a === undefined) throw refuse(`--ip ${JSON.stringify(req.Address)} is not an IP address`);
      if (a.version !== version) throw refuse(`--ip ${req.Address} is not an IPv${version} address (${name})`);
      if (cidrs !== undefined && !cidrs.some((c) => { const p = parseCIDR(c, { strict: false }); return p !== undefined && cidrContainsIP(p, a); })) {
        throw refuse(`--ip ${req.Address} is outside ${name}`);
      }
      try {
        const got = await this.#lock.run('ipam', () => this.#ipam.assignIP({ ip: req.Address, host: this.#host, handle, attrs }));
        return { Address: `${got.ip}/${hostBits}`, Data: {} };
      } catch (e) {
        if (isWeftError(e, ErrorCodes.IPAM_IN_USE)) throw refuse(`--ip ${req.Address} is already in use: ${e.message}`);
        throw e;
      }
    }
    const res = await this.#lock.run('ipam', () =>
      this.#ipam.autoAssign({
        host: this.#host,
        handle,
        attrs,
        ...(version === 4 ? { num4: 1, ...(cidrs === undefined ? {} : { pools4: cidrs }) } : { num6: 1, ...(cidrs === undefined ? {} : { pools6: cidrs }) }),
      }),
    );
    const got = (version === 4 ? res.ipv4 : res.ipv6)[0];
    if (got === undefined) throw new WeftError(ErrorCodes.IPAM_EXHAUSTED, `no free address in ${name}`);
    return { Address: `${got.ip}/${hostBits}`, Data: {} };
  }

  async releaseAddress(body: unknown): Promise<object> {
    const req = parseBody(ReleaseAddressRequest, body, 'ReleaseAddress');
    const a = parseIP(req.Address);
    if (a === undefined) throw refuse(`ReleaseAddress: ${JSON.stringify(req.Address)} is not an IP address`);
    // The dummy gateway of RequestPool: never allocated.
    if (a.value === 0n) return {};
    await this.releaseIP(req.Address);
    return {};
  }

  /** Frees `ip` when this host's plugin holds it; idempotent. Returns whether something was released. */
  async releaseIP(ip: string): Promise<boolean> {
    return this.#lock.run('ipam', async () => {
      const cur = await this.#ipam.getAssignment(ip);
      if (cur?.handle == null || !cur.handle.startsWith(handlePrefix(this.#host))) return false;
      await this.#ipam.releaseByHandle(cur.handle);
      return true;
    });
  }
}
