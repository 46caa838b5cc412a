/**
 * Issue 11: every command that can fail exits non-zero, through `run()` exactly as bin/weft calls
 * it. Each failing case sits beside a succeeding one of the same command, so a `run()` that
 * always returns 0 (the bug) or always 1 fails this file.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { Command } from 'commander';
import { run } from '../../src/cli/main.ts';
import { setExitStatus, exitStatusOf } from '../../src/lib/exit-status.ts';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('exit statuses', () => {
  let dir = '';
  let ds = '';
  const out: string[] = [];
  const io = (env: NodeJS.ProcessEnv = {}): Parameters<typeof run>[1] => ({ out: { write: (s: string) => void out.push(s) }, err: { write: (s: string) => void out.push(s) }, env });
  const weft = (args: string[], env?: NodeJS.ProcessEnv): Promise<number> => run(['--datastore', ds, ...args], io(env));

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'weft-exit-'));
    ds = `sqlite:${join(dir, 'weft.db')}`;
    writeFileSync(join(dir, 'pool.yaml'), 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p1}\nspec: {cidr: 198.51.100.0/24}\n');
    writeFileSync(join(dir, 'bad.yaml'), 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p2}\nspec: {cidr: 198.51.100.0/33}\n');
    writeFileSync(join(dir, 'garbage.yaml'), 'kind: [unclosed\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a status an action records is what run() returns (the issue 11 bug returned 0)', async () => {
    const p = new Command('x');
    const sub = p.command('y');
    assert.equal(exitStatusOf(p), undefined);
    setExitStatus(sub, 3);
    assert.equal(exitStatusOf(p), 3);
    assert.throws(() => setExitStatus(sub, 256), RangeError);
  });

  test('usage errors exit 2; help and version 0', async () => {
    assert.equal(await run([], io()), 2);
    assert.equal(await run(['no-such-command'], io()), 2);
    assert.equal(await run(['get'], io()), 2);
    assert.equal(await run(['--help'], io()), 0);
    assert.equal(await run(['version', '--client'], io()), 0);
  });

  test('resource commands: refused operations exit 1, successes 0', async () => {
    assert.equal(await weft(['apply', '-f', join(dir, 'pool.yaml')]), 0);
    assert.equal(await weft(['create', '-f', join(dir, 'pool.yaml')]), 1, 'create of an existing resource');
    assert.equal(await weft(['apply', '-f', join(dir, 'bad.yaml')]), 1, 'invalid manifest');
    assert.equal(await weft(['apply', '-f', join(dir, 'garbage.yaml')]), 1, 'malformed YAML');
    assert.equal(await weft(['apply', '-f', join(dir, 'missing.yaml')]), 2, 'missing file: usage');
    assert.equal(await weft(['get', 'ippool', 'p1']), 0);
    assert.equal(await weft(['get', 'ippool', 'nope']), 1);
    assert.equal(await weft(['get', 'nosuchkind']), 2, 'unknown kind is a usage error');
    assert.equal(await weft(['patch', 'ippool', 'nope', '-p', '{"spec":{"disabled":true}}']), 1);
    assert.equal(await weft(['label', 'ippool', 'nope', 'a=b']), 1);
    assert.equal(await weft(['delete', 'ippool', 'nope']), 1);
    assert.equal(await weft(['validate', '-f', join(dir, 'pool.yaml')]), 0);
    assert.equal(await weft(['validate', '-f', join(dir, 'bad.yaml')]), 1);
    assert.equal(await weft(['convert', '-f', join(dir, 'garbage.yaml')]), 1);
    assert.equal(await weft(['delete', 'ippool', 'p1']), 0);
  });

  test('ipam and policy commands', async () => {
    assert.equal(await weft(['ipam', 'show']), 0);
    assert.equal(await weft(['ipam', 'release', '--ip', 'not-an-ip']), 1);
    assert.equal(await weft(['ipam', 'assign', '--host', 'h1', '--ip', '203.0.113.7']), 1, 'no pool covers it');
    assert.equal(await weft(['policy', 'trace', '--from', 'no-such-workload', '--to', '192.0.2.9']), 1);
  });

  test('datastore unreachable or not configured', async () => {
    const port = await freePort();
    assert.equal(await run(['--datastore', `etcd://127.0.0.1:${port}`, 'get', 'ippools'], io()), 1);
    assert.equal(await run(['version'], io({ DATASTORE_TYPE: 'etcdv3' })), 1, 'no etcd endpoints specified');
  });

  test('node status without an agent, checksystem with a broken datastore, lab exec without a lab', async () => {
    const port = await freePort();
    assert.equal(await weft(['node', 'status', '--health-port', String(port)]), 1);
    assert.equal(await run(['node', 'checksystem', '--name', 'nobody'], io({ DATASTORE_TYPE: 'etcdv3' })), 1);
    assert.equal(await run(['lab', 'exec', '--state-root', join(dir, 'labs'), 'w1', '--', 'true'], io()), 2, 'no lab is up: usage');
  });
});
