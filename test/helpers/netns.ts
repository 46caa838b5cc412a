/**
 * Throwaway network namespaces for interop tests: a hub namespace holding a bridge, and one
 * namespace per node with a veth into it. Underlay addresses come from 198.18.0.0/15 only. Never
 * touches the root namespace except to create/delete the namespaces and veths it names itself.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { skipUnlessAllowed } from './skip.ts';

let seq = 0;

export function canUseNetns(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return '`ip` not found on PATH';
  }
  return undefined;
}

export function which(bin: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export class Lab {
  readonly prefix: string;
  readonly hub: string;
  readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];
  private n = 0;

  constructor(tag: string) {
    // Short unique names: IFNAMSIZ is 16 and several test runs may share the machine.
    this.prefix = `wbgp-${tag}-${process.pid % 100000}-${seq++}`;
    this.hub = `${this.prefix}-hub`;
    ip('netns', 'add', this.hub);
    this.namespaces.push(this.hub);
    ip('-n', this.hub, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', this.hub, 'link', 'set', 'br0', 'up');
    ip('-n', this.hub, 'link', 'set', 'lo', 'up');
  }

  /** Adds a node namespace with `eth0` = `addr/24` on the shared bridge. Returns the netns name. */
  addNode(name: string, addr: string): string {
    const ns = `${this.prefix}-${name}`;
    ip('netns', 'add', ns);
    this.namespaces.push(ns);
    const i = this.n++;
    const hubSide = `wb${process.pid % 10000}x${seq}y${i}`.slice(0, 15);
    ip('-n', this.hub, 'link', 'add', hubSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ip('-n', this.hub, 'link', 'set', hubSide, 'master', 'br0');
    ip('-n', this.hub, 'link', 'set', hubSide, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    return ns;
  }

  /** Adds an IPv6 address (2001:db8::/32) to a node's eth0, for IPv6 next hops. */
  addAddress6(ns: string, addr: string): void {
    ip('-n', ns, 'addr', 'add', `${addr}/64`, 'dev', 'eth0', 'nodad');
  }

  exec(ns: string, cmd: string, args: string[], opts: { timeout?: number } = {}): string {
    return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: opts.timeout ?? 15000, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  spawn(ns: string, cmd: string, args: string[], opts: { stdin?: boolean; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
    const c = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
      stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
    });
    this.children.push(c);
    return c;
  }

  /** Registers a PID (e.g. of a self-daemonizing BIRD) to kill on cleanup. */
  private readonly pids: number[] = [];
  track(pid: number): void {
    this.pids.push(pid);
  }

  /** Kills what it started (by PID) and deletes its namespaces. Safe to call twice. */
  async cleanup(): Promise<void> {
    for (const c of this.children) {
      if (c.exitCode === null && c.pid) {
        try { process.kill(c.pid, 'SIGKILL'); } catch { /* already gone */ }
      }
    }
    for (const pid of this.pids) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    // Processes started with `ip netns exec` may have forked; kill anything left in our namespaces.
    for (const ns of this.namespaces) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split(/\s+/).filter(Boolean).map(Number);
        for (const pid of pids) {
          try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        }
      } catch { /* netns gone */ }
    }
    await new Promise((r) => setTimeout(r, 100));
    for (const ns of this.namespaces.reverse()) {
      try { ip('netns', 'del', ns); } catch { /* already deleted */ }
    }
    this.namespaces.length = 0;
  }
}

/**
 * A TCP/UDP echo-ish listener inside `ns` (a Node child: no nc/socat needed). Resolves once
 * listening; kill it with `.kill()` (tests do so in finally).
 */
export function startListener(ns: string, port: number, opts: { udp?: boolean; host?: string } = {}): Promise<ChildProcess> {
  const code = opts.udp === true
    ? `const s=require('node:dgram').createSocket(process.argv[2].includes(':')?'udp6':'udp4');s.on('message',(m,r)=>s.send('ok',r.port,r.address));s.bind(${port},process.argv[2],()=>console.log('listening'))`
    : `const s=require('node:net').createServer(c=>{c.end('ok')});s.listen(${port},process.argv[2],()=>console.log('listening'))`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', code, opts.host ?? (opts.udp === true ? '0.0.0.0' : '::')], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`listener in ${ns} exited (${code}): ${err}`)));
  });
}

/** One TCP connect (or UDP request/response) from inside `ns`; true when the peer answered "ok". */
export function probe(ns: string, dst: string, port: number, opts: { udp?: boolean; timeoutMs?: number; source?: string } = {}): boolean {
  const t = opts.timeoutMs ?? 1000;
  const code = opts.udp === true
    ? `const d=process.argv[1];const s=require('node:dgram').createSocket(d.includes(':')?'udp6':'udp4');const done=(ok)=>{console.log(ok?'ok':'no');process.exit(0)};setTimeout(()=>done(false),${t});s.on('message',()=>done(true));s.send('hi',${port},d)`
    : `const d=process.argv[1];const o={host:d,port:${port}};if(process.argv[2])o.localAddress=process.argv[2];const c=require('node:net').connect(o);const done=(ok)=>{console.log(ok?'ok':'no');process.exit(0)};setTimeout(()=>done(false),${t});c.on('data',()=>done(true));c.on('error',()=>done(false))`;
  const r = nsRun(ns, [process.execPath, '-e', code, dst, opts.source ?? '']);
  return r.stdout.trim() === 'ok';
}

// ---------------------------------------------------------------------------------------------
// Single-namespace helpers (dataplane/plumbing/lab root tests). Every namespace gets a unique
// name from `uniqueNetnsName(tag)` and is removed by `deleteNetns` in `after`/`finally`.

let nsCounter = 0;

/** Reason string for `describe(..., { skip })`; false when netns tests can run. */
export function netnsSkipReason(): string | false {
  return skipUnlessAllowed(canUseNetns());
}

/** A namespace name unique to this process: `wt<pid36><n><tag>`, at most 30 chars. */
export function uniqueNetnsName(tag = ''): string {
  nsCounter++;
  return `wt${process.pid.toString(36)}${nsCounter.toString(36)}${tag.replace(/[^a-z0-9-]/gi, '')}`.slice(0, 30);
}

export function createNetns(name: string): void {
  execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' });
  execFileSync('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up'], { stdio: 'pipe' });
}

/** Kills whatever still runs in the namespace, then deletes it; missing is fine. */
export function deleteNetns(name: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).stdout ?? '';
  for (const p of pids.split(/\s+/).filter(Boolean).map(Number)) {
    try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
  }
  spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
}

/** Runs a command inside a namespace synchronously; returns status and output. */
export function nsRun(ns: string, argv: readonly string[], input?: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', input: input ?? '' });
  return { status: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Like nsRun but throws on failure. */
export function nsExec(ns: string, argv: readonly string[], input?: string): string {
  const r = nsRun(ns, argv, input);
  if (r.status !== 0) throw new Error(`[${ns}] ${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Namespaces currently present whose name starts with `prefix`. */
export function listNetns(prefix = ''): string[] {
  const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  return out.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '' && n.startsWith(prefix));
}

/** One ICMP echo from inside `ns`; true when answered. */
export function ping(ns: string, dst: string, timeoutSec = 1): boolean {
  const v6 = dst.includes(':');
  return nsRun(ns, ['ping', ...(v6 ? ['-6'] : []), '-c', '1', '-W', String(timeoutSec), '-n', '-q', dst]).status === 0;
}
