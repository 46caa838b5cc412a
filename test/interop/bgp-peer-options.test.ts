/**
 * BGPPeer per-session options end to end: resources (validated by the API schema) → BgpAgent in a
 * namespace → sessions with FRR bgpd and BIRD 2.
 *
 *   Weft agent w 198.18.0.1 AS 64512 ── eBGP ── FRR f 198.18.0.3 AS 64513 (a "top-of-rack" router)
 *                                    └─ eBGP ── BIRD b 198.18.0.2 AS 64514
 *
 * - maxRestartTime: the Restart Time in our graceful-restart capability, per session, as the peer
 *   reports it (FRR `show bgp neighbors json`, BIRD `show protocols all`); changing it on one
 *   BGPPeer re-creates only that session.
 * - numAllowedLocalASNumbers: FRR passes on routes whose AS_PATH already holds 64512 (prepended by
 *   an outbound route-map, as if other hosts of AS 64512 sat behind it): dropped as loops with the
 *   default 0, one occurrence accepted with 1, two still dropped.
 */
import { skipUnlessAllowed } from '../helpers/skip.ts';
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Lab, canUseNetns, which } from '../helpers/netns.ts';
import { Bird, Frr, until } from '../helpers/bgp.ts';
import { toV3 } from '../../src/api/index.ts';
import type { SyncUpdate } from '../../src/datastore/index.ts';
import type { BgpStatus } from '../../src/agent/bgp/index.ts';

const skip = skipUnlessAllowed(canUseNetns() ?? (
  !existsSync('/usr/lib/frr/bgpd') || !which('vtysh') ? 'FRR bgpd not found (apt-get install frr)'
  : !which('bird') ? 'bird not found on PATH (apt-get install bird2)' : false));

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = fileURLToPath(new URL('./bgp-agent-child.ts', import.meta.url));
const KEYS = '/calico/resources/v3/projectcalico.org/';

const W = '198.18.0.1';
const B = '198.18.0.2';
const F = '198.18.0.3';
/** FRR's routes: a control without 64512 in its path, then one and two occurrences of it. */
const CLEAN = '198.51.100.0/25';
const ONE = '203.0.113.0/24';
const TWO = '198.51.100.128/25';

let rev = 1;
/** A manifest as the datastore would hold it: validated and defaulted by the API schema first. */
function resource(plural: string, doc: { kind: string; metadata: { name: string }; spec: Record<string, unknown> }): SyncUpdate {
  const r = toV3({ apiVersion: 'projectcalico.org/v3', ...doc });
  return { key: `${KEYS}${plural}/${doc.metadata.name}`, value: JSON.stringify(r), revision: rev++ };
}
const bgpPeer = (name: string, spec: Record<string, unknown>): SyncUpdate => resource('bgppeers', { kind: 'BGPPeer', metadata: { name }, spec });

/** The agent child (test/interop/bgp-agent-child.ts) and what it reports. */
class AgentChild {
  readonly proc: ChildProcess;
  routes = new Map<string, string>();
  stderr = '';
  private readonly waiters: ((e: Record<string, unknown>) => void)[] = [];

  constructor(lab: Lab, ns: string, cfg: { nodeName: string; listenAddress: string; updates: SyncUpdate[] }) {
    this.proc = lab.spawn(ns, join(ROOT, 'scripts/node'), [CHILD, JSON.stringify(cfg)], { stdin: true, env: { ...process.env, WEFT_LOG_LEVEL: process.env.WEFT_LOG_LEVEL ?? 'warn' } });
    this.proc.stderr?.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-8000); });
    createInterface({ input: this.proc.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      let e: Record<string, unknown>;
      try { e = JSON.parse(l) as Record<string, unknown>; } catch { return; }
      if (e.event === 'routes') this.routes = new Map((e.routes as { dst: string; gateway?: string }[]).map((r) => [r.dst, r.gateway ?? '']));
      for (const w of [...this.waiters]) w(e);
    });
  }

  private next(event: string, send?: Record<string, unknown>): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${event} from the agent; stderr: ${this.stderr}`)), 30_000);
      const w = (e: Record<string, unknown>): void => {
        if (e.event !== event) return;
        clearTimeout(t);
        this.waiters.splice(this.waiters.indexOf(w), 1);
        resolve(e);
      };
      this.waiters.push(w);
      if (send) this.proc.stdin?.write(JSON.stringify(send) + '\n');
    });
  }

  async status(): Promise<BgpStatus> {
    return (await this.next('status', { cmd: 'status' })).status as BgpStatus;
  }

  async apply(updates: SyncUpdate[]): Promise<void> {
    await this.next('applied', { cmd: 'updates', updates });
  }
}

function frrConf(): string {
  return `frr defaults traditional
hostname tor
ip prefix-list ONE seq 5 permit ${ONE}
ip prefix-list TWO seq 5 permit ${TWO}
route-map TO-WEFT permit 10
 match ip address prefix-list ONE
 set as-path prepend 64512
route-map TO-WEFT permit 20
 match ip address prefix-list TWO
 set as-path prepend 64512 64512
route-map TO-WEFT permit 30
router bgp 64513
 bgp router-id ${F}
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor ${W} remote-as 64512
 neighbor ${W} timers 3 9
 neighbor ${W} timers connect 1
 address-family ipv4 unicast
  network ${ONE}
  network ${TWO}
  neighbor ${W} route-map TO-WEFT out
 exit-address-family
line vty
`;
}

const BIRD_CONF = `
log stderr all;
router id ${B};
protocol device { scan time 10; }
protocol bgp weft {
  local ${B} as 64514;
  neighbor ${W} as 64512;
  hold time 9; keepalive time 3; connect retry time 1; connect delay time 0; error wait time 1, 5;
  graceful restart on;
  ipv4 { import all; export none; };
}
`;

/** Waits until `ok(get())`; a timeout names the last value seen. */
async function waitFor<T>(get: () => T, ok: (v: T) => boolean, what: string): Promise<void> {
  let last: T | undefined;
  try {
    await until(() => ok((last = get())), what);
  } catch (e) {
    throw new Error(`${(e as Error).message}; last seen: ${JSON.stringify(last)}`, { cause: e });
  }
}

interface FrrNeighbor {
  bgpState?: string;
  gracefulRestartInfo?: { timers?: { receivedRestartTimer?: number } };
}

describe('interop: BGPPeer maxRestartTime and numAllowedLocalASNumbers (FRR, BIRD)', { skip }, () => {
  test('per-session restart time and allow-local-AS from BGPPeer resources; a change re-creates only that session', async () => {
    const lab = new Lab('po');
    let frr: Frr | undefined;
    let bird: Bird | undefined;
    try {
      const wNs = lab.addNode('w', W);
      const bNs = lab.addNode('b', B);
      const fNs = lab.addNode('f', F);
      const f = (frr = new Frr(lab, fNs, F, frrConf()));
      const b = (bird = new Bird(lab, bNs, BIRD_CONF));
      await f.ready();
      await b.ready();
      const neighbor = (): FrrNeighbor => (JSON.parse(f.vtysh(`show bgp neighbors ${W} json`)) as Record<string, FrrNeighbor>)[W] ?? {};
      const advertised = (): string[] => Object.keys((JSON.parse(f.vtysh(`show bgp ipv4 unicast neighbors ${W} advertised-routes json`)) as { advertisedRoutes?: Record<string, unknown> }).advertisedRoutes ?? {});
      const birdRestartTime = (): number | undefined => {
        const m = /Neighbor capabilities[\s\S]*?Graceful restart[\s\S]*?Restart time:\s+(\d+)/.exec(b.birdc('show protocols all weft'));
        return m ? Number(m[1]) : undefined;
      };
      /**
       * The agent has processed everything FRR sent so far: FRR has handed ONE and TWO to the session,
       * then announces CLEAN afterwards; once CLEAN is installed, the earlier UPDATEs were processed.
       */
      const barrier = async (): Promise<void> => {
        await until(() => neighbor().bgpState === 'Established' && advertised().includes(ONE) && advertised().includes(TWO), 'FRR has sent ONE and TWO');
        f.vtysh(`configure terminal\nrouter bgp 64513\naddress-family ipv4 unicast\nnetwork ${CLEAN}`);
        await until(() => w.routes.get(CLEAN) === F, 'barrier route at Weft');
        f.vtysh(`configure terminal\nrouter bgp 64513\naddress-family ipv4 unicast\nno network ${CLEAN}`);
        await until(() => !w.routes.has(CLEAN), 'barrier route withdrawn at Weft');
      };

      const w = new AgentChild(lab, wNs, {
        nodeName: 'w', listenAddress: W,
        updates: [
          resource('nodes', { kind: 'Node', metadata: { name: 'w' }, spec: { bgp: { ipv4Address: `${W}/24` } } }),
          resource('bgpconfigurations', { kind: 'BGPConfiguration', metadata: { name: 'default' }, spec: { asNumber: 64512, nodeMeshMaxRestartTime: '300s' } }),
          bgpPeer('tor', { peerIP: F, asNumber: 64513, maxRestartTime: '77s' }),
          bgpPeer('bird', { peerIP: B, asNumber: 64514, maxRestartTime: '66s' }),
        ],
      });

      // Each peer sees the restart time of its own BGPPeer (not one speaker-wide value).
      await waitFor(() => neighbor().gracefulRestartInfo, (g) => g?.timers?.receivedRestartTimer === 77, 'FRR sees restart time 77');
      await waitFor(birdRestartTime, (t) => t === 66, 'BIRD sees restart time 66');

      // numAllowedLocalASNumbers unset (0): both routes carrying 64512 are loops.
      await barrier();
      assert.deepStrictEqual([...w.routes.keys()], [], 'nothing with 64512 in its AS_PATH accepted');

      const birdSince = (await w.status()).peers.find((p) => p.address === B)?.since;
      assert.ok(birdSince);

      // Change only the FRR BGPPeer: new restart time, one local AS allowed.
      await w.apply([bgpPeer('tor', { peerIP: F, asNumber: 64513, maxRestartTime: '95s', numAllowedLocalASNumbers: 1 })]);
      await waitFor(() => neighbor().gracefulRestartInfo, (g) => g?.timers?.receivedRestartTimer === 95, 'FRR sees restart time 95 after the change');
      await waitFor(() => [...w.routes.keys()], (r) => r.includes(ONE), 'route with one 64512 accepted');
      await barrier();
      assert.deepStrictEqual([...w.routes.keys()], [ONE], 'two occurrences of 64512 still a loop');

      // The BIRD session was left alone: same FSM state since, same advertised restart time.
      const st = await w.status();
      assert.equal(st.peers.find((p) => p.address === B)?.since, birdSince, 'BIRD session not re-created');
      assert.equal(st.peers.find((p) => p.address === B)?.state, 'established');
      assert.equal(birdRestartTime(), 66);
    } finally {
      await lab.cleanup();
      frr?.cleanup();
      bird?.cleanup();
    }
  });
});
