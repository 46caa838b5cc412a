/**
 * Docker e2e helpers. The dockerd launcher itself is product code (`src/lab/dockerd.ts`, also used
 * by `scripts/demo-docker.ts`): re-exported here so the tests keep one import; what stays here are
 * the bare-namespace helpers the one- and two-host docker tests use.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dockerdUnavailableReason } from '../../src/lab/index.ts';

import { skipUnlessAllowed } from './skip.ts';
export { BUSYBOX_IMAGE, DOCKER_CLI, startDockerd, type Dockerd } from '../../src/lab/index.ts';

export function dockerdSkipReason(): string | false {
  return skipUnlessAllowed(dockerdUnavailableReason());
}

// --- namespace helpers (own copy: the Docker e2e only needs these four) ---------------------------

let nsSeq = 0;

/** Creates `wdk<pid><n><tag>` with lo up; delete it with deleteNs in `after`/`finally`. */
export function createNs(tag: string): string {
  const name = `wdk${process.pid.toString(36)}${(nsSeq++).toString(36)}${tag}`.slice(0, 30);
  const r = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip netns add ${name}: ${r.stderr}`);
  nsExec(name, ['ip', 'link', 'set', 'lo', 'up']);
  return name;
}

export function deleteNs(name: string): void {
  spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  rmSync(`/etc/netns/${name}`, { recursive: true, force: true });
}

export function nsRun(ns: string, argv: readonly string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export function nsExec(ns: string, argv: readonly string[]): string {
  const r = nsRun(ns, argv);
  if (r.status !== 0) throw new Error(`[${ns}] ${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export function netnsSkipReason(): string | false {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return skipUnlessAllowed('needs root');
  return spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status === 0 ? false : skipUnlessAllowed('needs iproute2');
}
