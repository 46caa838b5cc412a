/**
 * e2e: the `lab` commands as a user runs them (`weft lab …` through src/cli/main.ts): up -f, status, exec <workload> -- ping, down.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listNetns, netnsSkipReason } from '../helpers/netns.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

function lab(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [MAIN, 'lab', ...args], { encoding: 'utf8', timeout: 180_000 });
  return { code: r.status ?? 1, out: r.stdout ?? '', err: r.stderr ?? '' };
}

describe('lab CLI', { skip: netnsSkipReason() }, () => {
  test('up, status, exec, down; a second up of the same lab is refused', { timeout: 300_000 }, () => {
    const name = `c${process.pid.toString(36)}`.slice(0, 12);
    const dir = mkdtempSync(join(tmpdir(), 'weft-lab-cli-'));
    const root = join(dir, 'state');
    const file = join(dir, 'topology.yaml');
    writeFileSync(join(dir, 'profiles.yaml'), 'apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {name: p1}\nspec: {ingress: [{action: Allow}], egress: [{action: Allow}]}\n');
    writeFileSync(file, `name: ${name}\nhosts: [{name: h1}]\nresources: [profiles.yaml]\nworkloads:\n  - {name: w1, host: h1, ip: 192.0.2.2, profiles: [p1]}\n  - {name: w2, host: h1, profiles: [p1]}\n`);
    try {
      const up = lab(['up', '-f', file, '--state-root', root]);
      assert.equal(up.code, 0, up.err);
      assert.match(up.out, new RegExp(`lab ${name} up: 1 host\\(s\\), 2 workload\\(s\\)`));
      const again = lab(['up', '-f', file, '--state-root', root]);
      assert.equal(again.code, 1);
      assert.match(again.err, /already exists/);

      const st = lab(['status', name, '--state-root', root, '-o', 'json']);
      assert.equal(st.code, 0, st.err);
      const status = JSON.parse(st.out) as { hosts: { agent: string }[]; workloads: { name: string; ips: string[] }[] };
      assert.equal(status.hosts[0]!.agent, 'running');
      const w2ip = status.workloads.find((w) => w.name === 'w2')!.ips[0]!.split('/')[0]!;

      let ok = false;
      for (let i = 0; i < 20 && !ok; i++) ok = lab(['exec', '--state-root', root, 'w1', '--', 'ping', '-c1', '-W1', w2ip]).code === 0;
      assert.ok(ok, 'w1 → w2 ping via lab exec');
      // The command's own status comes back (as ip netns exec / docker exec do): before issue 11
      // every one of these returned 0, so the ping loop above could not fail.
      assert.equal(lab(['exec', '--state-root', root, 'w1', '--', 'false']).code, 1);
      assert.equal(lab(['exec', '--state-root', root, 'w1', '--', 'sh', '-c', 'exit 3']).code, 3);
      assert.equal(lab(['exec', '--state-root', root, 'w1', '--', 'sh', '-c', 'kill -TERM $$']).code, 128 + 15);
      assert.notEqual(lab(['exec', '--state-root', root, 'w1', '--', 'ping', '-c1', '-W1', '192.0.2.200']).code, 0, 'ping to an address nobody has fails');
      assert.notEqual(lab(['exec', '--state-root', root, 'nope', '--', 'true']).code, 0);
    } finally {
      const down = lab(['down', name, '--state-root', root]);
      rmSync(dir, { recursive: true, force: true });
      assert.equal(down.code, 0, down.err);
      assert.deepEqual(listNetns(`weft-${name}-`), []);
    }
  });
});
