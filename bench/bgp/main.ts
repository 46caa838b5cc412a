/**
 * bench/bgp: one feeder (BIRD 2 with N static routes, eBGP AS 65001) announces N prefixes to each
 * receiver in turn — Weft, BIRD 2, FRR bgpd, GoBGP — each in fresh network namespaces. Per receiver:
 * time from Established to all N received and selected, and peak RSS (VmHWM). Last line: JSON.
 *
 * A second mode, `weft-send`, turns it around: Weft originates N IPv4 prefixes and a BIRD receiver
 * is timed, next to the BIRD→BIRD figure.
 *
 * Usage (root): ./scripts/node bench/bgp/main.ts [N[,N…]=100000] [receivers=weft,bird,frr,gobgp,weft-send]
 * Prefixes stay inside the documentation/benchmark ranges: IPv4 from 198.19.0.0/16 (at most
 * 131071 prefixes); larger N switch to IPv6 /56s inside 2001:db8::/32 (the project allows no other
 * IPv4 space, so "1M IPv4" is measured as 1M IPv6).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, canUseNetns, which } from '../../test/helpers/netns.ts';
import { Bird, Frr, GoBgp, WeftChild, tempDir, until } from '../../test/helpers/bgp.ts';

const sizes = (process.argv[2] ?? '100000').split(',').map(Number);
const receivers = (process.argv[3] ?? 'weft,bird,frr,gobgp,weft-send').split(',');
let N = 0;
let family: 'ipv4' | 'ipv6' = 'ipv4';

function staticRoutes(n: number): string {
  const lines: string[] = [];
  if (family === 'ipv4') {
    // 198.19.0.0/16: all /32s, then /31s, /30s, … (test-infrastructure.md §3).
    let k = 0;
    for (let l = 32; k < n && l > 16; l--) {
      for (let j = 0; j < 1 << (l - 16) && k < n; j++, k++) {
        const a = j << (32 - l);
        lines.push(`route 198.19.${(a >>> 8) & 255}.${a & 255}/${l} blackhole;`);
      }
    }
  } else {
    for (let i = 0; i < n; i++) lines.push(`route 2001:db8:${((i >>> 8) & 0xffff).toString(16)}:${((i & 255) << 8).toString(16)}::/56 blackhole;`);
  }
  return lines.join('\n') + '\n';
}

function vmHwm(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function feederConf(include: string): string {
  return `
log stderr { error, fatal };
router id 198.18.0.2;
protocol device { scan time 10; }
protocol static feed {
  ${family};
  include "${include}";
}
protocol bgp target {
  local 198.18.0.2 as 65001; neighbor 198.18.0.1 as 64512;
  connect retry time 1; connect delay time 0; hold time 90;
  ${family} { import none; export all; ${family === 'ipv6' ? 'next hop address 2001:db8:ff::2;' : ''} };
}
`;
}

interface Result {
  receiver: string;
  /** Set when this receiver could not be measured (the run goes on with the others). */
  error?: string;
  family: string;
  ms: number;
  rssBytes: number;
  routes: number;
  /** Weft only: the interval as seen from this process (stdout lag makes it start late). */
  externalMs?: number;
  heapUsedBytes?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function poll(f: () => boolean, what: string, ms = 300_000, every = 20): Promise<number> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      if (f()) return performance.now();
    } catch { /* daemon busy or not up yet */ }
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(every);
  }
}

async function runOne(receiver: string, include: string): Promise<Result> {
  const lab = new Lab('bn');
  const cleanups: (() => void)[] = [];
  try {
    const rNs = lab.addNode('r', '198.18.0.1');
    const fNs = lab.addNode('f', '198.18.0.2');
    lab.addAddress6(rNs, '2001:db8:ff::1');
    lab.addAddress6(fNs, '2001:db8:ff::2');
    const feeder = new Bird(lab, fNs, feederConf(include));
    cleanups.push(() => feeder.cleanup());
    await feeder.ready();
    await until(() => feeder.birdc('show route count').includes(`${N} of ${N} routes`), 'feeder loaded', 120_000);
    let tEst = 0;
    let tDone = 0;
    let pid = 0;
    const extra: Partial<Result> = {};
    switch (receiver) {
      case 'weft': {
        const w = new WeftChild(lab, rNs, {
          speaker: { asn: 64512, routerId: '198.18.0.1', listen: false, holdTime: 90, connectRetryTime: 1, families: [family] },
          peers: [{ address: '198.18.0.2', asn: 65001, localAddress: '198.18.0.1' }],
          quiet: true, expect: N,
        });
        pid = w.pid;
        await w.established('198.18.0.2', 60_000);
        tEst = performance.now();
        const r = await w.waitEvent((e) => e.event === 'reached', 'weft received all', 600_000);
        tDone = performance.now();
        // Established → all N measured inside the speaker: the parent sees the Established line late
        // (stdout is async while the child is busy decoding), which would flatter Weft.
        extra.externalMs = Math.round(tDone - tEst);
        tDone = tEst + (r.ms as number);
        extra.heapUsedBytes = r.heapUsed as number;
        break;
      }
      case 'bird': {
        const b = new Bird(lab, rNs, `
log stderr { error, fatal };
router id 198.18.0.1;
protocol device { scan time 10; }
protocol bgp feeder { local 198.18.0.1 as 64512; neighbor 198.18.0.2 as 65001; connect retry time 1; connect delay time 0;
  ${family} { import all; export none; }; }
`);
        cleanups.push(() => b.cleanup());
        await b.ready();
        pid = Number(readFileSync(join(b.dir, 'bird.pid'), 'utf8').trim()) || 0;
        tEst = await poll(() => b.birdc('show protocols feeder').includes('Established'), 'bird established', 60_000, 10);
        tDone = await poll(() => b.birdc('show route count').includes(`${N} of ${N} routes`), 'bird received all');
        break;
      }
      case 'frr': {
        const f = new Frr(lab, rNs, '198.18.0.1', `frr defaults traditional
hostname recv
router bgp 64512
 bgp router-id 198.18.0.1
 no bgp ebgp-requires-policy
 neighbor 198.18.0.2 remote-as 65001
 neighbor 198.18.0.2 timers connect 1
 address-family ${family} unicast
  neighbor 198.18.0.2 activate
 exit-address-family
line vty
`);
        cleanups.push(() => f.cleanup());
        await f.ready();
        pid = f.proc.pid ?? 0;
        const key = family === 'ipv4' ? 'ipv4Unicast' : 'ipv6Unicast';
        const peer = (): { state?: string; pfxRcd?: number } => {
          const j = JSON.parse(f.vtysh('show bgp summary json')) as Record<string, { peers?: Record<string, { state?: string; pfxRcd?: number }> }>;
          return j[key]?.peers?.['198.18.0.2'] ?? {};
        };
        tEst = await poll(() => peer().state === 'Established', 'frr established', 60_000, 10);
        tDone = await poll(() => peer().pfxRcd === N, 'frr received all');
        break;
      }
      case 'gobgp': {
        const g = new GoBgp(lab, rNs, `
[global.config]
  as = 64512
  router-id = "198.18.0.1"
  port = 179
  local-address-list = ["198.18.0.1"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.18.0.2"
    peer-as = 65001
  [neighbors.timers.config]
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "${family}-unicast"
`);
        cleanups.push(() => g.cleanup());
        await g.ready();
        pid = g.proc.pid ?? 0;
        tEst = await poll(() => /"session_state":\s*"?(6|ESTABLISHED|established)/i.test(g.gobgp(['-j', 'neighbor'])), 'gobgp established', 60_000, 10);
        tDone = await poll(() => new RegExp(`Destination:\\s+${N},`).test(g.gobgp(['global', 'rib', 'summary', '-a', family])), 'gobgp received all', 600_000, 50);
        break;
      }
      default:
        throw new Error(`unknown receiver ${receiver}`);
    }
    const rssBytes = pid ? vmHwm(pid) : 0;
    return { receiver, family, ms: Math.round(tDone - tEst), rssBytes, routes: N, ...extra };
  } finally {
    await lab.cleanup();
    for (const c of cleanups) c();
  }
}

/** Weft originates N prefixes; a BIRD receiver is timed from Established to N routes. */
async function runSend(): Promise<Result> {
  const lab = new Lab('bs');
  let b: Bird | undefined;
  try {
    const rNs = lab.addNode('r', '198.18.0.1');
    const wNs = lab.addNode('w', '198.18.0.2');
    b = new Bird(lab, rNs, `
log stderr { error, fatal };
router id 198.18.0.1;
protocol device { scan time 10; }
protocol bgp feeder { local 198.18.0.1 as 64512; neighbor 198.18.0.2 as 65001; connect retry time 1; connect delay time 0;
  ipv4 { import all; export none; }; }
`);
    await b.ready();
    const bird = b;
    const w = new WeftChild(lab, wNs, {
      speaker: { asn: 65001, routerId: '198.18.0.2', listen: false, holdTime: 90, connectRetryTime: 1, families: ['ipv4'] },
      peers: [{ address: '198.18.0.1', asn: 64512, localAddress: '198.18.0.2' }],
      quiet: true, generate: N,
    });
    const tEst = await poll(() => bird.birdc('show protocols feeder').includes('Established'), 'bird established', 60_000, 10);
    const tDone = await poll(() => bird.birdc('show route count').includes(`${N} of ${N} routes`), 'bird received all from weft');
    return { receiver: 'weft-send(bird receives)', family: 'ipv4', ms: Math.round(tDone - tEst), rssBytes: vmHwm(w.pid), routes: N };
  } finally {
    await lab.cleanup();
    b?.cleanup();
  }
}

async function main(): Promise<void> {
  const why = canUseNetns();
  if (why) throw new Error(`bench/bgp ${why}`);
  const need: Record<string, string> = { weft: 'ip', bird: 'bird', frr: 'vtysh', gobgp: 'gobgpd' };
  if (!which('bird')) throw new Error('bird not found on PATH (feeder)');
  const runs: { n: number; family: string; results: Result[]; weftRatio: Record<string, { time: number; rss: number }> }[] = [];
  for (const n of sizes) {
    N = n;
    family = N > 131_071 ? 'ipv6' : 'ipv4';
    const dir = tempDir('bench');
    const include = join(dir, 'routes.conf');
    writeFileSync(include, staticRoutes(N));
    const results: Result[] = [];
    for (const r of receivers) {
      if (r === 'weft-send') {
        if (family !== 'ipv4') continue;
        const res = await runSend();
        console.error(`weft → bird: ${N} ipv4 routes in ${res.ms} ms, weft peak RSS ${(res.rssBytes / 1e6).toFixed(1)} MB`);
        results.push(res);
        continue;
      }
      if (!which(need[r] ?? r) || (r === 'frr' && !existsSync('/usr/lib/frr/bgpd'))) {
        console.error(`skipping ${r}: not installed`);
        continue;
      }
      let res: Result;
      try {
        res = await runOne(r, include);
      } catch (e) {
        console.error(`${r}: failed: ${String(e)}`);
        results.push({ receiver: r, family, ms: 0, rssBytes: 0, routes: N, error: String(e) });
        continue;
      }
      console.error(`${r}: ${N} ${family} routes in ${res.ms} ms${res.externalMs !== undefined ? ` (seen from outside: ${res.externalMs} ms)` : ''}, peak RSS ${(res.rssBytes / 1e6).toFixed(1)} MB`);
      results.push(res);
    }
    execFileSync('rm', ['-rf', dir]);
    const weft = results.find((x) => x.receiver === 'weft');
    const ratios: Record<string, { time: number; rss: number }> = {};
    if (weft) {
      for (const r of results) {
        if (r.receiver !== 'weft' && !r.receiver.startsWith('weft-send') && !r.error) ratios[r.receiver] = { time: +(weft.ms / r.ms).toFixed(2), rss: +(weft.rssBytes / r.rssBytes).toFixed(2) };
      }
    }
    runs.push({ n: N, family, results, weftRatio: ratios });
  }
  console.log(JSON.stringify({ bench: 'bgp-receive', runs }));
}

await main();
