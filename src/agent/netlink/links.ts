/**
 * `LinkOps`: the handful of link operations workload plumbing needs, bound to one namespace
 * (the runner's). Names are validated before they reach a command line.
 */
import { ErrorCodes, WeftError } from '../../lib/errors.ts';
import type { CommandRunner } from './exec.ts';

export interface LinkInfo {
  name: string;
  mac?: string;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** Kernel operational state (`UP`, `DOWN`, `LOWERLAYERDOWN`, `UNKNOWN`…), when known. */
  oper?: string;
  /** Addresses as CIDRs. */
  addresses: string[];
}

export interface LinkOps {
  readonly netns: string | undefined;
  /** veth pair: `name` stays here, `peer` is created directly inside `peerNetns` (when given). */
  createVeth(name: string, peer: string, peerNetns?: string, mtu?: number): Promise<void>;
  deleteLink(name: string): Promise<void>;
  getLink(name: string): Promise<LinkInfo | undefined>;
  listLinks(): Promise<LinkInfo[]>;
  rename(name: string, newName: string): Promise<void>;
  setMac(name: string, mac: string): Promise<void>;
  setUp(name: string): Promise<void>;
  addAddress(name: string, cidr: string, opts?: { nodad?: boolean }): Promise<void>;
  /** `ip route replace <args>` without a protocol (used inside workloads, which Weft owns entirely). */
  routeReplace(args: readonly string[]): Promise<void>;
  /** Write e.g. `net.ipv4.conf.cali1.proxy_arp` = `1`. */
  sysctl(key: string, value: string): Promise<void>;
  readSysctl(key: string): Promise<string | undefined>;
  /** Several writes in one process (one spawn instead of one per key). */
  sysctls(entries: readonly (readonly [string, string])[]): Promise<void>;
}

const IFNAME = /^[A-Za-z0-9_.@-]{1,15}$/;
const SYSCTL_KEY = /^[A-Za-z0-9_.\-/]+$/;

export function checkIfName(name: string): string {
  if (!IFNAME.test(name)) throw new WeftError(ErrorCodes.VALIDATION, `invalid interface name ${JSON.stringify(name)} (1–15 chars)`);
  return name;
}

interface IpJsonLink {
  ifname: string;
  address?: string;
  flags?: string[];
  operstate?: string;
  addr_info?: { local?: string; prefixlen?: number }[];
}

export function parseIpAddr(text: string): LinkInfo[] {
  const rows = text.trim() === '' ? [] : (JSON.parse(text) as IpJsonLink[]);
  return rows.map((r) => {
    const l: LinkInfo = {
      name: r.ifname,
      up: r.flags?.includes('UP') === true,
      addresses: (r.addr_info ?? []).filter((a) => a.local !== undefined).map((a) => `${a.local}/${a.prefixlen ?? ''}`),
    };
    if (r.address !== undefined) l.mac = r.address;
    if (r.operstate !== undefined) l.oper = r.operstate;
    return l;
  });
}

export class IpLinkOps implements LinkOps {
  readonly #r: CommandRunner;

  constructor(runner: CommandRunner) {
    this.#r = runner;
  }

  get netns(): string | undefined {
    return this.#r.netns;
  }

  async createVeth(name: string, peer: string, peerNetns?: string, mtu?: number): Promise<void> {
    const argv = ['ip', 'link', 'add', checkIfName(name)];
    if (mtu !== undefined) argv.push('mtu', String(mtu));
    argv.push('type', 'veth', 'peer', 'name', checkIfName(peer));
    if (mtu !== undefined) argv.push('mtu', String(mtu));
    if (peerNetns !== undefined) argv.push('netns', peerNetns);
    await this.#r.run(argv);
  }

  async deleteLink(name: string): Promise<void> {
    const r = await this.#r.run(['ip', 'link', 'del', checkIfName(name)], { allowFail: true });
    if (r.code !== 0 && !/Cannot find device|does not exist/i.test(r.stderr)) {
      throw new WeftError(ErrorCodes.INTERNAL, `ip link del ${name}: ${r.stderr.trim()}`);
    }
  }

  async getLink(name: string): Promise<LinkInfo | undefined> {
    const r = await this.#r.run(['ip', '-json', 'addr', 'show', 'dev', checkIfName(name)], { allowFail: true });
    if (r.code !== 0) return undefined;
    return parseIpAddr(r.stdout)[0];
  }

  async listLinks(): Promise<LinkInfo[]> {
    const r = await this.#r.run(['ip', '-json', 'addr', 'show']);
    return parseIpAddr(r.stdout);
  }

  async rename(name: string, newName: string): Promise<void> {
    await this.#r.run(['ip', 'link', 'set', 'dev', checkIfName(name), 'name', checkIfName(newName)]);
  }

  async setMac(name: string, mac: string): Promise<void> {
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) throw new WeftError(ErrorCodes.VALIDATION, `invalid MAC ${mac}`);
    await this.#r.run(['ip', 'link', 'set', 'dev', checkIfName(name), 'address', mac]);
  }

  async setUp(name: string): Promise<void> {
    await this.#r.run(['ip', 'link', 'set', 'dev', checkIfName(name), 'up']);
  }

  async addAddress(name: string, cidr: string, opts: { nodad?: boolean } = {}): Promise<void> {
    const argv = ['ip', 'addr', 'replace', cidr, 'dev', checkIfName(name)];
    if (opts.nodad === true) argv.push('nodad');
    await this.#r.run(argv);
  }

  async routeReplace(args: readonly string[]): Promise<void> {
    const v6 = args.some((a) => a.includes(':'));
    await this.#r.run(['ip', v6 ? '-6' : '-4', 'route', 'replace', ...args]);
  }

  async sysctl(key: string, value: string): Promise<void> {
    if (!SYSCTL_KEY.test(key)) throw new WeftError(ErrorCodes.VALIDATION, `invalid sysctl key ${key}`);
    // Written through /proc/sys with `sh -c` so it lands in the runner's namespace (`ip netns exec`
    // remounts /proc/sys/net for the target namespace); interface names may contain dots, which
    // `sysctl -w` would misread as separators.
    const path = `/proc/sys/${key}`;
    await this.#r.run(['sh', '-c', 'printf %s "$1" > "$2"', 'sh', value, path]);
  }

  async readSysctl(key: string): Promise<string | undefined> {
    if (!SYSCTL_KEY.test(key)) throw new WeftError(ErrorCodes.VALIDATION, `invalid sysctl key ${key}`);
    const r = await this.#r.run(['cat', `/proc/sys/${key}`], { allowFail: true });
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  async sysctls(entries: readonly (readonly [string, string])[]): Promise<void> {
    if (entries.length === 0) return;
    for (const [k] of entries) if (!SYSCTL_KEY.test(k)) throw new WeftError(ErrorCodes.VALIDATION, `invalid sysctl key ${k}`);
    // Pairs of (value, path) as positional arguments: nothing is interpolated into the script.
    const script = 'while [ $# -gt 0 ]; do printf %s "$1" > "$2" || exit 1; shift 2; done';
    await this.#r.run(['sh', '-c', script, 'sh', ...entries.flatMap(([k, v]) => [v, `/proc/sys/${k}`])]);
  }
}

/** In-memory LinkOps for unit tests: records every call, keeps a tiny link table. */
export class FakeLinkOps implements LinkOps {
  readonly netns: string | undefined;
  readonly calls: string[] = [];
  readonly links = new Map<string, LinkInfo>();
  readonly sysctlValues = new Map<string, string>();
  readonly routes: string[] = [];
  /** Links created as peers in other namespaces, by namespace. */
  readonly peers = new Map<string, string[]>();

  constructor(netns?: string) {
    this.netns = netns;
  }

  createVeth(name: string, peer: string, peerNetns?: string): Promise<void> {
    checkIfName(name);
    checkIfName(peer);
    if (this.links.has(name)) return Promise.reject(new WeftError(ErrorCodes.ALREADY_EXISTS, `link ${name} exists`));
    this.calls.push(`createVeth ${name} ${peer} ${peerNetns ?? '-'}`);
    this.links.set(name, { name, up: false, addresses: [] });
    if (peerNetns === undefined) this.links.set(peer, { name: peer, up: false, addresses: [] });
    else this.peers.set(peerNetns, [...(this.peers.get(peerNetns) ?? []), peer]);
    return Promise.resolve();
  }

  deleteLink(name: string): Promise<void> {
    this.calls.push(`deleteLink ${name}`);
    this.links.delete(name);
    return Promise.resolve();
  }

  getLink(name: string): Promise<LinkInfo | undefined> {
    return Promise.resolve(this.links.get(name));
  }

  listLinks(): Promise<LinkInfo[]> {
    return Promise.resolve([...this.links.values()]);
  }

  rename(name: string, newName: string): Promise<void> {
    this.calls.push(`rename ${name} ${newName}`);
    const l = this.links.get(name);
    if (l !== undefined) {
      this.links.delete(name);
      this.links.set(newName, { ...l, name: newName });
    }
    return Promise.resolve();
  }

  setMac(name: string, mac: string): Promise<void> {
    this.calls.push(`setMac ${name} ${mac}`);
    const l = this.links.get(name);
    if (l !== undefined) l.mac = mac;
    return Promise.resolve();
  }

  setUp(name: string): Promise<void> {
    this.calls.push(`setUp ${name}`);
    const l = this.links.get(name);
    if (l !== undefined) l.up = true;
    return Promise.resolve();
  }

  addAddress(name: string, cidr: string): Promise<void> {
    this.calls.push(`addAddress ${name} ${cidr}`);
    this.links.get(name)?.addresses.push(cidr);
    return Promise.resolve();
  }

  routeReplace(args: readonly string[]): Promise<void> {
    this.calls.push(`route ${args.join(' ')}`);
    this.routes.push(args.join(' '));
    return Promise.resolve();
  }

  sysctl(key: string, value: string): Promise<void> {
    this.calls.push(`sysctl ${key}=${value}`);
    this.sysctlValues.set(key, value);
    return Promise.resolve();
  }

  readSysctl(key: string): Promise<string | undefined> {
    return Promise.resolve(this.sysctlValues.get(key));
  }

  sysctls(entries: readonly (readonly [string, string])[]): Promise<void> {
    for (const [k, v] of entries) {
      this.calls.push(`sysctl ${k}=${v}`);
      this.sysctlValues.set(k, v);
    }
    return Promise.resolve();
  }
}
