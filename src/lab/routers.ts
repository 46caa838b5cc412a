/**
 * External BGP routers in a lab (`routers: [{name: tor1, kind: bird|frr|gobgp, as: 65001}]`): a
 * top-of-rack stand-in, each in its own namespace `weft-<lab>--r-<name>` on the underlay bridge at
 * 198.18.0.(201+i), running the real daemon with a configuration the lab writes (test-infrastructure
 * §3 / peers-notes §3: the BIRD 2, FRR bgpd-without-zebra and GoBGP set-ups that work here).
 *
 * The router is configured for every lab host and stays passive: a session comes up once the user's
 * BGPPeer resources make the Weft side dial it (rehearsing ToR peering before touching switches).
 * Same AS as a host → iBGP with the host as route-reflector client (so hosts learn each other's
 * routes through the router); different AS → eBGP. BIRD also programs its kernel table and the
 * namespace forwards, so traffic can take the router's next hop (eBGP).
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, WeftError } from '../lib/errors.ts';

export const ROUTER_KINDS = ['bird', 'frr', 'gobgp'] as const;
export type RouterKind = (typeof ROUTER_KINDS)[number];

export interface RouterNeighbor {
  address: string;
  as: number;
  name: string;
}

export interface RouterConfigInput {
  name: string;
  as: number;
  /** Plain address of the router on the underlay. */
  address: string;
  neighbors: RouterNeighbor[];
}

export const routerAddress = (i: number): string => `198.18.0.${201 + i}`;

export function birdConfig(r: RouterConfigInput): string {
  const peers = r.neighbors.map((n) => `
protocol bgp ${n.name.replace(/[^a-zA-Z0-9_]/g, '_')} {
  local ${r.address} as ${r.as};
  neighbor ${n.address} as ${n.as};
  passive on;
  ${n.as === r.as ? 'rr client;' : ''}
  ipv4 { import all; export all; ${n.as === r.as ? '' : 'next hop self;'} };
}`).join('\n');
  return `# written by weft lab for router ${r.name}
router id ${r.address};
protocol device { }
protocol kernel { ipv4 { export all; }; }
${peers}
`;
}

export function frrConfig(r: RouterConfigInput): string {
  const lines = [
    `! written by weft lab for router ${r.name}`,
    `router bgp ${r.as}`,
    ` bgp router-id ${r.address}`,
    ' no bgp ebgp-requires-policy',
    ' no bgp network import-check',
  ];
  for (const n of r.neighbors) lines.push(` neighbor ${n.address} remote-as ${n.as}`, ` neighbor ${n.address} passive`);
  lines.push(' address-family ipv4 unicast');
  for (const n of r.neighbors) {
    lines.push(`  neighbor ${n.address} activate`);
    if (n.as === r.as) lines.push(`  neighbor ${n.address} route-reflector-client`);
  }
  lines.push(' exit-address-family', '!', '');
  return lines.join('\n');
}

export function gobgpConfig(r: RouterConfigInput): string {
  const out = [`# written by weft lab for router ${r.name}`, '[global.config]', `  as = ${r.as}`, `  router-id = "${r.address}"`, '  port = 179', `  local-address-list = ["${r.address}"]`, ''];
  for (const n of r.neighbors) {
    out.push('[[neighbors]]', '  [neighbors.config]', `    neighbor-address = "${n.address}"`, `    peer-as = ${n.as}`,
      '  [neighbors.transport.config]', '    passive-mode = true');
    if (n.as === r.as) out.push('  [neighbors.route-reflector.config]', '    route-reflector-client = true', `    route-reflector-cluster-id = "${r.address}"`);
    out.push('  [[neighbors.afi-safis]]', '    [neighbors.afi-safis.config]', '      afi-safi-name = "ipv4-unicast"', '');
  }
  return out.join('\n');
}

/** Writes the router's configuration under `dir` and starts its daemon inside `ns` (detached). */
export function startRouter(kind: RouterKind, ns: string, dir: string, cfg: RouterConfigInput): number {
  mkdirSync(dir, { recursive: true });
  let argv: string[];
  switch (kind) {
    case 'bird': {
      const f = join(dir, 'bird.conf');
      writeFileSync(f, birdConfig(cfg));
      argv = ['bird', '-f', '-c', f, '-s', join(dir, 'bird.ctl'), '-P', join(dir, 'bird.pid')];
      break;
    }
    case 'frr': {
      const f = join(dir, 'bgpd.conf');
      writeFileSync(f, frrConfig(cfg));
      // -Z no zebra, -S no user switch, -P 0 no TCP vty, private vty socket dir.
      argv = ['/usr/lib/frr/bgpd', '-S', '-Z', '-n', '-l', cfg.address, '-f', f, '-i', join(dir, 'bgpd.pid'), '--vty_socket', dir, '-P', '0', '--log', 'stdout', '--log-level', 'warnings'];
      break;
    }
    case 'gobgp': {
      const f = join(dir, 'gobgpd.toml');
      writeFileSync(f, gobgpConfig(cfg));
      argv = ['gobgpd', '-f', f, '--api-hosts', '127.0.0.1:50051', '--pprof-disable', '-l', 'warn'];
      break;
    }
  }
  const fd = openSync(join(dir, `${kind}.log`), 'a');
  try {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { detached: true, stdio: ['ignore', fd, fd] });
    child.unref();
    if (child.pid === undefined) throw new WeftError(ErrorCodes.INTERNAL, `could not start ${kind} for router ${cfg.name}`, { hint: `is ${argv[0]} installed?` });
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** The command that shows a router's BGP state (for `weft lab exec <router> -- …` and tests). */
export function routerShowCommand(kind: RouterKind, dir: string): string[] {
  switch (kind) {
    case 'bird': return ['birdc', '-s', join(dir, 'bird.ctl'), 'show', 'protocols'];
    case 'frr': return ['vtysh', '--vty_socket', dir, '-c', 'show bgp summary'];
    case 'gobgp': return ['gobgp', '-u', '127.0.0.1', '-p', '50051', 'neighbor'];
  }
}
