/**
 * `make demo` is one of the two commands a new user runs: this runs the same script
 * (scripts/demo-docker.ts: two-host lab, a dockerd per host, the Weft Docker plugin, the seeds'
 * commands verbatim) under its own lab name and checks it succeeds and leaves nothing behind.
 * A change that breaks the demo (a lab default, a CLI message the transcript relies on) fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { listNetns } from '../helpers/netns.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LAB = `demot${process.pid.toString(36)}`;

test('make demo: the seeds\' Docker scenario runs to the end and cleans up', { timeout: 300_000 }, async () => {
  const child = spawn(`${ROOT}scripts/node`, ['scripts/demo-docker.ts'], {
    cwd: ROOT, env: { ...process.env, WEFT_DEMO_LAB: LAB }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
  try {
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 0, `demo failed:\n${out.slice(-4000)}`);
    assert.match(out, /left behind: nothing/);
    assert.match(out, /# done in [\d.]+ s/);
    // The transcript shows the seed's commands and a working cross-host ping.
    assert.match(out, /docker network create/);
    assert.match(out, /first cross-host ping: \d+ ms/);
    assert.deepEqual(listNetns(`weft-${LAB}-`), [], 'no lab namespace left');
  } finally {
    if (child.exitCode === null && child.pid !== undefined) {
      // The demo cleans up on SIGINT (Ctrl-C) itself; give it the chance before the hard kill.
      child.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 15_000));
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }
});
