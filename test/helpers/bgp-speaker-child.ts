/**
 * Runs one BgpSpeaker in this process (the interop tests start it with `ip netns exec`).
 * argv[2] = JSON { speaker: SpeakerOptions, peers: PeerOptions[], announce?: string[], quiet?: boolean,
 * expect?: number }. Writes JSON lines (events) to stdout; reads JSON-line commands on stdin.
 */
import { createInterface } from 'node:readline';
import { BgpSpeaker } from '../../src/bgp/index.ts';
import type { PeerOptions, SpeakerOptions } from '../../src/bgp/index.ts';

interface ChildConfig {
  speaker: SpeakerOptions;
  peers: PeerOptions[];
  announce?: string[];
  quiet?: boolean;
  /** Print `reached` once this many learned routes are selected. */
  expect?: number;
  /** Originate this many IPv4 prefixes from 198.19.0.0/16 (/32s, then /31s, …), for send benchmarks. */
  generate?: number;
}

function* generated(n: number): Generator<string> {
  let k = 0;
  for (let l = 32; k < n && l > 16; l--) {
    for (let j = 0; j < 1 << (l - 16) && k < n; j++, k++) {
      const a = j << (32 - l);
      yield `198.19.${(a >>> 8) & 255}.${a & 255}/${l}`;
    }
  }
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const out = (o: unknown): void => {
  process.stdout.write(JSON.stringify(o) + '\n');
};

const sp = new BgpSpeaker(cfg.speaker);
let learned = 0;
let establishedAt = 0;
let reached = false;
sp.on('routeAdded', (prefix, nextHop, info) => {
  learned++;
  if (!cfg.quiet) out({ event: 'routeAdded', prefix, nextHop, info });
  if (cfg.expect !== undefined && !reached && sp.rib.loc.size >= cfg.expect) {
    reached = true;
    const m = process.memoryUsage();
    out({ event: 'reached', routes: sp.rib.loc.size, ms: performance.now() - establishedAt, rss: m.rss, heapUsed: m.heapUsed });
  }
});
sp.on('routeRemoved', (prefix, nextHop) => {
  learned--;
  if (!cfg.quiet) out({ event: 'routeRemoved', prefix, nextHop });
});
sp.on('peerState', (s) => {
  if (s.state === 'established' && establishedAt === 0) establishedAt = performance.now();
  out({ event: 'peerState', state: s });
});
for (const p of cfg.peers) sp.addPeer(p);
for (const p of cfg.announce ?? []) sp.announce(p);
for (const p of generated(cfg.generate ?? 0)) sp.announce(p);
await sp.start();
out({ event: 'ready', port: sp.port });

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const c = JSON.parse(line) as { cmd: string; prefix?: string };
  switch (c.cmd) {
    case 'announce': sp.announce(c.prefix ?? ''); break;
    case 'withdraw': sp.withdraw(c.prefix ?? ''); break;
    case 'states': out({ event: 'states', states: sp.peerStates() }); break;
    case 'routes': out({ event: 'routes', routes: sp.routes(), learned }); break;
    case 'exit':
      void sp.stop().then(() => process.exit(0));
      break;
  }
});
rl.on('close', () => {
  void sp.stop().then(() => process.exit(0));
});
