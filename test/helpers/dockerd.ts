/**
 * A private dockerd (Debian docker.io 20.10) inside a network namespace, for e2e tests
 * (test-infrastructure.md §4). It never touches the root namespace or the host's docker:
 *   - `--bridge=none --iptables=false --ip6tables=false --ip-masq=false`, vfs storage;
 *   - its own data-root, exec-root, pidfile and API socket under a temp dir;
 *   - started with `ip netns exec <ns>`, which gives it a private mount namespace: the cgroup-v1
 *     hierarchies are re-mounted there (ip netns exec hides them) and vanish with it;
 *   - per-namespace plugin discovery: `/etc/netns/<ns>/docker/plugins` is its /etc/docker/plugins.
 * `stop()` kills dockerd by PID, then any process still using its exec-root (containerd, shims),
 * and removes the temp dir and /etc/netns/<ns>/docker.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, copyFileSync, chmodSync, openSync, closeSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The Debian 20.10 CLI (another docker CLI may be first on PATH). */
export const DOCKER_CLI = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
export const BUSYBOX_IMAGE = 'weft-busybox:latest';

export interface Dockerd {
  readonly netns: string;
  readonly dir: string;
  readonly socket: string;
  /** Give this to startDockerPlugin({ pluginDir }). */
  readonly pluginDir: string;
  readonly pid: number;
  readonly logFile: string;
  /**
   * Runs the docker CLI against this daemon. Asynchronous on purpose: a plugin served by the test
   * process itself must keep answering while the CLI waits for dockerd.
   */
  docker(args: readonly string[], opts?: { input?: Buffer | string; timeoutMs?: number }): Promise<{ code: number; stdout: string; stderr: string }>;
  /** As docker() but throws with stderr on failure; returns trimmed stdout. */
  dockerOk(args: readonly string[], opts?: { input?: Buffer | string; timeoutMs?: number }): Promise<string>;
  /** Imports a busybox image (busybox-static) as BUSYBOX_IMAGE. */
  importBusybox(): Promise<void>;
  stop(): Promise<void>;
}

export function dockerdSkipReason(): string | false {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'needs root';
  if (spawnSync('dockerd', ['--version'], { stdio: 'ignore' }).status !== 0) return 'needs dockerd (Debian docker.io)';
  if (!existsSync('/bin/busybox') && !existsSync('/usr/bin/busybox')) return 'needs busybox-static';
  return false;
}

function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', method: 'GET', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** PIDs whose command line mentions `needle` (our temp dir): containerd and shims started by our dockerd. */
function pidsMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8');
      if (cmd.includes(needle)) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

async function waitGone(pids: number[], ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (pids.some(alive) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}

const CGROUPS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids'];

export async function startDockerd(netns: string, opts: { extraArgs?: string[]; readyTimeoutMs?: number } = {}): Promise<Dockerd> {
  // Short path: unix socket paths are limited to 108 bytes.
  const dir = mkdtempSync(join(tmpdir(), 'wdk-'));
  const socket = join(dir, 'docker.sock');
  const etcDocker = `/etc/netns/${netns}/docker`;
  const pluginDir = join(etcDocker, 'plugins');
  mkdirSync(pluginDir, { recursive: true });
  const logFile = join(dir, 'dockerd.log');
  const script = [
    // Only in this process's private mount namespace (ip netns exec unshares one).
    'mount -t tmpfs cgroup_root /sys/fs/cgroup',
    `for c in ${CGROUPS.join(' ')}; do mkdir -p /sys/fs/cgroup/$c && mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c; done`,
    'mkdir -p /sys/fs/cgroup/systemd && mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd',
    'D=$0',
    'exec dockerd --data-root "$D/root" --exec-root "$D/exec" -H "unix://$D/docker.sock" --pidfile "$D/dockerd.pid" ' +
      '--bridge=none --iptables=false --ip6tables=false --ip-masq=false --storage-driver vfs --log-level info "$@"',
  ].join('\n');
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn('ip', ['netns', 'exec', netns, 'sh', '-c', script, dir, ...(opts.extraArgs ?? [])], {
      stdio: ['ignore', fd, fd],
      detached: false,
    });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error('cannot spawn dockerd');
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });

  const run = (args: readonly string[], o: { input?: Buffer | string; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const c = spawn(DOCKER_CLI, ['-H', `unix://${socket}`, ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, DOCKER_CONFIG: join(dir, 'cli') },
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      c.stdout.on('data', (b: Buffer) => out.push(b));
      c.stderr.on('data', (b: Buffer) => err.push(b));
      const timer = setTimeout(() => c.kill('SIGKILL'), o.timeoutMs ?? 60_000);
      c.on('error', (e) => err.push(Buffer.from(String(e))));
      c.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
      c.stdin.on('error', () => undefined);
      c.stdin.end(o.input ?? '');
    });

  const stop = async (): Promise<void> => {
    if (alive(pid)) {
      process.kill(pid, 'SIGTERM');
      await waitGone([pid], 20_000);
      if (alive(pid)) process.kill(pid, 'SIGKILL');
      await waitGone([pid], 5_000);
    }
    // containerd and shims dockerd started: identified by our private directory in their argv.
    const rest = pidsMentioning(dir);
    for (const p of rest) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await waitGone(rest, 5_000);
    rmSync(etcDocker, { recursive: true, force: true });
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // A mount still busy inside (should not happen once the mount namespace is gone).
    }
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  while (!(await ping(socket))) {
    if (exited || Date.now() > deadline) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-3000) : '';
      await stop();
      throw new Error(`dockerd in ${netns} did not become ready${exited ? ' (exited)' : ''}:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const d: Dockerd = {
    netns,
    dir,
    socket,
    pluginDir,
    pid,
    logFile,
    docker: run,
    async dockerOk(args, o) {
      const r = await run(args, o);
      if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
      return r.stdout.trim();
    },
    async importBusybox() {
      const root = join(dir, 'bbroot');
      mkdirSync(join(root, 'bin'), { recursive: true });
      const bb = existsSync('/bin/busybox') ? '/bin/busybox' : '/usr/bin/busybox';
      copyFileSync(bb, join(root, 'bin', 'busybox'));
      chmodSync(join(root, 'bin', 'busybox'), 0o755);
      for (const a of ['sh', 'ip', 'ping', 'sleep', 'cat', 'ls', 'nc', 'wget', 'hostname', 'ifconfig', 'route', 'true', 'echo', 'httpd']) {
        symlinkSync('busybox', join(root, 'bin', a));
      }
      mkdirSync(join(root, 'etc'), { recursive: true });
      writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\n');
      const tar = spawnSync('tar', ['-C', root, '-cf', '-', '.'], { maxBuffer: 64 << 20 });
      if (tar.status !== 0) throw new Error(`tar failed: ${String(tar.stderr)}`);
      const r = await run(['import', '-', BUSYBOX_IMAGE], { input: tar.stdout });
      if (r.code !== 0) throw new Error(`docker import failed: ${r.stderr}`);
    },
    stop,
  };
  return d;
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
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'needs root';
  return spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status === 0 ? false : 'needs iproute2';
}
