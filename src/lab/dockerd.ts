/**
 * A private dockerd (Debian docker.io 20.10) inside a lab host's network namespace, for the Docker
 * e2e tests and `scripts/demo-docker.ts` (test-infrastructure.md §4). It never touches the root
 * namespace or the machine's own docker:
 *   - `--bridge=none --iptables=false --ip6tables=false --ip-masq=false`, vfs storage;
 *   - its own data-root, exec-root, pidfile and API socket under a temp dir;
 *   - started with `ip netns exec <ns>`, which gives it a private mount namespace: the cgroup-v1
 *     hierarchies are re-mounted there (ip netns exec hides them) and vanish with it;
 *   - per-namespace plugin discovery: `/etc/netns/<ns>/docker/plugins` is its /etc/docker/plugins.
 * `stop()` kills dockerd by PID, then any process still using its exec-root (containerd, shims),
 * and removes the temp dir, /etc/netns/<ns>/docker and /etc/netns/<ns> when that is then empty.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, WeftError } from '../lib/errors.ts';
import { isAlive as alive } from '../lib/process.ts';

/** The Debian 20.10 CLI (another docker CLI may be first on PATH). */
export const DOCKER_CLI = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
/** The image importBusybox() creates by default. */
export const BUSYBOX_IMAGE = 'weft-busybox:latest';

/** dockerd flags that keep it out of the host's networking (no bridge, no iptables, no NAT). */
export const DOCKERD_NETWORK_FLAGS = ['--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-masq=false'] as const;

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface DockerRunOptions {
  input?: Buffer | string;
  timeoutMs?: number;
}

export interface Dockerd {
  readonly netns: string;
  readonly dir: string;
  readonly socket: string;
  /** Give this to startDockerPlugin({ pluginDir }) or `weft docker-plugin --plugin-dir`. */
  readonly pluginDir: string;
  readonly pid: number;
  readonly logFile: string;
  /** The dockerd command line (for transcripts). */
  readonly argv: readonly string[];
  /**
   * Runs the docker CLI against this daemon. Asynchronous on purpose: a plugin served by the
   * calling process itself must keep answering while the CLI waits for dockerd.
   */
  docker(args: readonly string[], opts?: DockerRunOptions): Promise<DockerResult>;
  /** As docker() but throws with stderr on failure; returns trimmed stdout. */
  dockerOk(args: readonly string[], opts?: DockerRunOptions): Promise<string>;
  /**
   * Imports a busybox image built from the machine's busybox-static (no registry needed), tagged
   * `tag` (default BUSYBOX_IMAGE), with `CMD ["sh"]` so `docker run -tid <tag>` works as usual.
   */
  importBusybox(tag?: string): Promise<void>;
  /** Kills dockerd, containerd and shims by PID and removes everything it created. Idempotent. */
  stop(): Promise<void>;
}

export interface DockerdOptions {
  extraArgs?: string[];
  readyTimeoutMs?: number;
  /**
   * Start dockerd in its own process group, so a Ctrl-C at the terminal reaches only the caller,
   * which then stops it in order (containers first). Default false (tests).
   */
  detached?: boolean;
}

/** Why dockerd cannot be run here, or false. */
export function dockerdUnavailableReason(): string | false {
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


/** PIDs whose command line mentions `needle` (a private temp dir): containerd and shims of one dockerd. */
export function pidsMentioning(needle: string): number[] {
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

/** Runs the docker CLI against `socket`, asynchronously (see Dockerd.docker). */
export function runDocker(socket: string, configDir: string, args: readonly string[], o: DockerRunOptions = {}): Promise<DockerResult> {
  return new Promise((resolve) => {
    const c = spawn(DOCKER_CLI, ['-H', `unix://${socket}`, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, DOCKER_CONFIG: configDir },
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
}

export async function startDockerd(netns: string, opts: DockerdOptions = {}): Promise<Dockerd> {
  // Short path: unix socket paths are limited to 108 bytes.
  const dir = mkdtempSync(join(tmpdir(), 'wdk-'));
  const socket = join(dir, 'docker.sock');
  const etcNetns = `/etc/netns/${netns}`;
  const etcDocker = join(etcNetns, 'docker');
  const pluginDir = join(etcDocker, 'plugins');
  mkdirSync(pluginDir, { recursive: true });
  const logFile = join(dir, 'dockerd.log');
  const dockerdArgs = [
    '--data-root', join(dir, 'root'), '--exec-root', join(dir, 'exec'), '-H', `unix://${socket}`, '--pidfile', join(dir, 'dockerd.pid'),
    ...DOCKERD_NETWORK_FLAGS, '--storage-driver', 'vfs', '--log-level', 'info', ...(opts.extraArgs ?? []),
  ];
  const script = [
    // Only in this process's private mount namespace (ip netns exec unshares one).
    'mount -t tmpfs cgroup_root /sys/fs/cgroup',
    `for c in ${CGROUPS.join(' ')}; do mkdir -p /sys/fs/cgroup/$c && mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c; done`,
    'mkdir -p /sys/fs/cgroup/systemd && mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd',
    'exec dockerd "$@"',
  ].join('\n');
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn('ip', ['netns', 'exec', netns, 'sh', '-c', script, 'dockerd', ...dockerdArgs], {
      stdio: ['ignore', fd, fd],
      detached: opts.detached === true,
    });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new WeftError(ErrorCodes.INTERNAL, `cannot spawn dockerd in ${netns}`);
  if (opts.detached === true) child.unref();
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });

  const configDir = join(dir, 'cli');
  const run = (args: readonly string[], o: DockerRunOptions = {}): Promise<DockerResult> => runDocker(socket, configDir, args, o);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
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
        rmdirSync(etcNetns);
      } catch {
        // not empty (someone else's files) or already gone
      }
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // A mount still busy inside (should not happen once the mount namespace is gone).
      }
    })();
    return stopping;
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  while (!(await ping(socket))) {
    if (exited || Date.now() > deadline) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-3000) : '';
      await stop();
      throw new WeftError(ErrorCodes.TIMEOUT, `dockerd in ${netns} did not become ready${exited ? ' (exited)' : ''}:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    netns,
    dir,
    socket,
    pluginDir,
    pid,
    logFile,
    argv: ['dockerd', ...dockerdArgs],
    docker: run,
    async dockerOk(args, o) {
      const r = await run(args, o);
      if (r.code !== 0) throw new WeftError(ErrorCodes.INTERNAL, `docker ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
      return r.stdout.trim();
    },
    async importBusybox(tag = BUSYBOX_IMAGE) {
      const root = join(dir, 'bbroot');
      rmSync(root, { recursive: true, force: true });
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
      if (tar.status !== 0) throw new WeftError(ErrorCodes.INTERNAL, `tar failed: ${String(tar.stderr)}`);
      const r = await run(['import', '--change', 'CMD ["sh"]', '-', tag], { input: tar.stdout });
      if (r.code !== 0) throw new WeftError(ErrorCodes.INTERNAL, `docker import failed: ${r.stderr}`);
    },
    stop,
  };
}
