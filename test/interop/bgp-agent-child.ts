/**
 * Runs one BgpAgent (resources → sessions, as `weft node run` does) in this process; the interop
 * tests start it with `ip netns exec`. argv[2] = JSON { nodeName, listenAddress?, updates: SyncUpdate[] }.
 * Writes JSON lines to stdout: `{event: 'routes', routes}` whenever the learned routes change,
 * `{event: 'status', status}` on request. Reads JSON-line commands on stdin:
 * `{cmd: 'updates', updates}` (resource changes, as the syncer delivers them), `{cmd: 'status'}`.
 */
import { createInterface } from 'node:readline';
import { BgpAgent } from '../../src/agent/bgp/index.ts';
import type { SyncUpdate } from '../../src/datastore/index.ts';

interface ChildConfig {
  nodeName: string;
  listenAddress?: string;
  updates: SyncUpdate[];
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const out = (o: unknown): void => {
  process.stdout.write(JSON.stringify(o) + '\n');
};

const agent = new BgpAgent({
  nodeName: cfg.nodeName,
  ...(cfg.listenAddress !== undefined ? { listenAddress: cfg.listenAddress } : {}),
  setRoutes: (routes) => out({ event: 'routes', routes }),
});
agent.onUpdates(cfg.updates);
agent.start();
await agent.settled();
out({ event: 'ready' });

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const c = JSON.parse(line) as { cmd: string; updates?: SyncUpdate[] };
  switch (c.cmd) {
    case 'updates':
      agent.onUpdates(c.updates ?? []);
      void agent.settled().then(() => out({ event: 'applied' }));
      break;
    case 'status': out({ event: 'status', status: agent.status() }); break;
  }
});
rl.on('close', () => {
  void agent.stop().then(() => process.exit(0));
});
