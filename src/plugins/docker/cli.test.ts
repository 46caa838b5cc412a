import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerDockerPluginCommand } from './index.ts';

test('weft docker-plugin: registered with its flags', () => {
  const program = new Command('weft');
  registerDockerPluginCommand(program, () => Promise.reject(new Error('not opened in this test')));
  const cmd = program.commands.find((c) => c.name() === 'docker-plugin');
  assert.ok(cmd);
  const flags = cmd.options.map((o) => o.long);
  for (const f of ['--plugin-dir', '--socket-dir', '--docker-host', '--calico-aliases', '--label-prefix', '--netns', '--network-driver', '--ipam-driver']) {
    assert.ok(flags.includes(f), f);
  }
  assert.equal(cmd.getOptionValue('pluginDir'), '/etc/docker/plugins');
});

function activate(socket: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: '/Plugin.Activate', method: 'POST' }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c.toString()));
      res.on('end', () => resolve(b));
    });
    req.on('error', reject);
    req.end();
  });
}

test('weft docker-plugin: serves until SIGTERM, then removes its sockets and spec files', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wdc-'));
  const weft = new URL('../../../bin/weft', import.meta.url).pathname;
  const child = spawn(weft, ['--datastore', `sqlite:${join(dir, 'weft.db')}`, 'docker-plugin', '--name', 'host1',
    '--plugin-dir', join(dir, 'plugins'), '--socket-dir', join(dir, 'run'), '--docker-host', 'none', '--calico-aliases'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    const spec = join(dir, 'plugins', 'calico-ipam.spec');
    const deadline = Date.now() + 30_000;
    while (!existsSync(spec)) {
      if (Date.now() > deadline || child.exitCode !== null) assert.fail(`plugin did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(readFileSync(spec, 'utf8'), `unix://${join(dir, 'run', 'weft-ipam.sock')}\n`);
    assert.deepEqual(JSON.parse(await activate(join(dir, 'run', 'weft.sock'))), { Implements: ['NetworkDriver'] });
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.equal(existsSync(spec), false);
    assert.equal(existsSync(join(dir, 'run', 'weft.sock')), false);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
