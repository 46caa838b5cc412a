/**
 * Interop launchers: our speaker in a child process, and BIRD 2 / GoBGP / FRR bgpd, each inside a
 * namespace of a `Lab`, configured from text written to a temp dir. Fail fast with "not found on
 * PATH" when a daemon is missing.
 */
import { mkdtempSync, writeFileSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Lab } from './netns.ts';
import type { PeerOptions, PeerStatus, SpeakerOptions } from '../../src/bgp/index.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = fileURLToPath(new URL('./bgp-speaker-child.ts', import.meta.url));

export async function until<T>(f: () => T | undefined | false, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = f();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `weft-${tag}-`));
}

// ---------------------------------------------------------------- Weft child

export class WeftChild {
  readonly proc: ChildProcess;
  readonly routes = new Map<string, string>();
  readonly events: Record<string, unknown>[] = [];
  states: PeerStatus[] = [];
  stderr = '';
  private waiters: ((e: Record<string, unknown>) => void)[] = [];

  constructor(lab: Lab, ns: string, cfg: { speaker: SpeakerOptions; peers: PeerOptions[]; announce?: string[]; quiet?: boolean; expect?: number; generate?: number }) {
    this.proc = lab.spawn(ns, join(ROOT, 'scripts/node'), [CHILD, JSON.stringify(cfg)], { stdin: true, env: { ...process.env, WEFT_LOG_LEVEL: process.env.WEFT_LOG_LEVEL ?? 'warn' } });
    this.proc.stderr?.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-8000); });
    const rl = createInterface({ input: this.proc.stdout as NodeJS.ReadableStream });
    rl.on('line', (l) => {
      let e: Record<string, unknown>;
      try { e = JSON.parse(l) as Record<string, unknown>; } catch { return; }
      this.events.push(e);
      if (e.event === 'routeAdded') this.routes.set(e.prefix as string, e.nextHop as string);
      else if (e.event === 'routeRemoved') this.routes.delete(e.prefix as string);
      else if (e.event === 'states') this.states = e.states as PeerStatus[];
      for (const w of this.waiters) w(e);
    });
  }

  get pid(): number {
    return this.proc.pid ?? 0;
  }

  send(cmd: Record<string, unknown>): void {
    this.proc.stdin?.write(JSON.stringify(cmd) + '\n');
  }

  lastPeerState(address: string): PeerStatus | undefined {
    for (let i = this.events.length - 1; i >= 0; i--) {
      const e = this.events[i];
      if (e.event === 'peerState' && (e.state as PeerStatus).address === address) return e.state as PeerStatus;
    }
    return undefined;
  }

  async peerStates(): Promise<PeerStatus[]> {
    const got = new Promise<PeerStatus[]>((resolve) => {
      const w = (e: Record<string, unknown>): void => {
        if (e.event !== 'states') return;
        this.waiters = this.waiters.filter((x) => x !== w);
        resolve(e.states as PeerStatus[]);
      };
      this.waiters.push(w);
    });
    this.send({ cmd: 'states' });
    return got;
  }

  async waitEvent(pred: (e: Record<string, unknown>) => boolean, what: string, ms = 30_000): Promise<Record<string, unknown>> {
    const seen = this.events.find(pred);
    if (seen) return seen;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}; stderr: ${this.stderr}`)), ms);
      const w = (e: Record<string, unknown>): void => {
        if (!pred(e)) return;
        clearTimeout(t);
        this.waiters = this.waiters.filter((x) => x !== w);
        resolve(e);
      };
      this.waiters.push(w);
    });
  }

  async established(peer: string, ms = 30_000): Promise<void> {
    await this.waitEvent((e) => e.event === 'peerState' && (e.state as PeerStatus).address === peer && (e.state as PeerStatus).state === 'established', `session with ${peer}`, ms);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.proc.pid && this.proc.exitCode === null) process.kill(this.proc.pid, signal);
  }

  async exited(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    await new Promise((r) => this.proc.once('exit', r));
  }
}

// ---------------------------------------------------------------- BIRD 2

export class Bird {
  readonly dir: string;
  readonly sock: string;
  private readonly lab: Lab;
  private readonly ns: string;

  constructor(lab: Lab, ns: string, config: string) {
    this.lab = lab;
    this.ns = ns;
    this.dir = tempDir('bird');
    this.sock = join(this.dir, 'bird.ctl');
    const conf = join(this.dir, 'bird.conf');
    writeFileSync(conf, config);
    // -f: stay in the foreground so we own the PID.
    const c = lab.spawn(ns, 'bird', ['-f', '-c', conf, '-s', this.sock, '-P', join(this.dir, 'bird.pid')]);
    c.stderr?.on('data', (d: Buffer) => { this.log += d.toString(); });
  }

  log = '';

  async ready(): Promise<void> {
    await until(() => existsSync(this.sock) && this.birdc('show status').includes('Daemon is up'), `bird up (${this.log})`, 10_000);
  }

  birdc(cmd: string): string {
    return this.lab.exec(this.ns, 'birdc', ['-s', this.sock, ...cmd.split(' ')]);
  }

  configure(config: string): void {
    writeFileSync(join(this.dir, 'bird.conf'), config);
    this.birdc('configure');
  }

  /** Prefixes in BIRD's table learned from protocol `proto`. */
  routesFrom(proto: string): string[] {
    const t = this.birdc(`show route protocol ${proto}`);
    return [...t.matchAll(/^([0-9a-f.:]+\/\d+)\s/gm)].map((m) => m[1]);
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- GoBGP

export class GoBgp {
  readonly dir: string;
  readonly apiPort: number;
  readonly proc: ChildProcess;
  private readonly lab: Lab;
  private readonly ns: string;
  log = '';

  constructor(lab: Lab, ns: string, toml: string, apiPort = 50051) {
    this.lab = lab;
    this.ns = ns;
    this.apiPort = apiPort;
    this.dir = tempDir('gobgp');
    const f = join(this.dir, 'gobgpd.toml');
    writeFileSync(f, toml);
    // The API listens on 127.0.0.1 inside the namespace, so a fixed port never collides.
    this.proc = lab.spawn(ns, 'gobgpd', ['-f', f, '--api-hosts', `127.0.0.1:${apiPort}`, '--pprof-disable', '-l', 'warn']);
    this.proc.stderr?.on('data', (d: Buffer) => { this.log = (this.log + d.toString()).slice(-4000); });
    this.proc.stdout?.on('data', (d: Buffer) => { this.log = (this.log + d.toString()).slice(-4000); });
  }

  gobgp(args: string[]): string {
    return this.lab.exec(this.ns, 'gobgp', ['-u', '127.0.0.1', '-p', String(this.apiPort), ...args]);
  }

  async ready(): Promise<void> {
    await until(() => { this.gobgp(['global']); return true; }, `gobgpd up (${this.log})`, 10_000);
  }

  /** Prefixes in the global RIB for family `-a ipv4|ipv6`. */
  rib(family: 'ipv4' | 'ipv6'): Map<string, string> {
    const j = JSON.parse(this.gobgp(['-j', 'global', 'rib', '-a', family]) || '{}') as Record<string, { attrs?: { type: number; nexthop?: string; value?: unknown }[] }[]>;
    const m = new Map<string, string>();
    for (const [p, paths] of Object.entries(j)) {
      const nh = paths[0]?.attrs?.find((a) => a.type === 3 || a.type === 14) as { nexthop?: string } | undefined;
      m.set(p, nh?.nexthop ?? '');
    }
    return m;
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- FRR bgpd (no zebra)

export class Frr {
  readonly dir: string;
  private readonly lab: Lab;
  private readonly ns: string;
  readonly proc: ChildProcess;
  log = '';

  constructor(lab: Lab, ns: string, listen: string, config: string) {
    this.lab = lab;
    this.ns = ns;
    this.dir = tempDir('frr');
    const conf = join(this.dir, 'bgpd.conf');
    writeFileSync(conf, config);
    // -Z no zebra, -S no user switch, -P 0 no TCP vty, private vty socket dir (peers-notes §3.3).
    this.proc = lab.spawn(ns, '/usr/lib/frr/bgpd', ['-S', '-Z', '-n', '-l', listen, '-f', conf, '-i', join(this.dir, 'bgpd.pid'), '--vty_socket', this.dir, '-P', '0', '--log', 'stdout', '--log-level', 'critical']);
    this.proc.stderr?.on('data', (d: Buffer) => { this.log = (this.log + d.toString()).slice(-4000); });
    this.proc.stdout?.on('data', (d: Buffer) => { this.log = (this.log + d.toString()).slice(-4000); });
  }

  vtysh(cmd: string): string {
    return this.lab.exec(this.ns, 'vtysh', ['--vty_socket', this.dir, '-c', cmd]);
  }

  async ready(): Promise<void> {
    await until(() => existsSync(join(this.dir, 'bgpd.vty')) && this.vtysh('show bgp summary') !== undefined, `bgpd up (${this.log})`, 10_000);
  }

  /** prefix → next hop of the selected route, per family. */
  rib(family: 'ipv4' | 'ipv6'): Map<string, string> {
    const j = JSON.parse(this.vtysh(`show bgp ${family} unicast json`)) as { routes?: Record<string, { bestpath?: boolean; nexthops?: { ip: string }[] }[]> };
    const m = new Map<string, string>();
    for (const [p, paths] of Object.entries(j.routes ?? {})) {
      const best = paths.find((x) => x.bestpath) ?? paths[0];
      m.set(p, best?.nexthops?.[0]?.ip ?? '');
    }
    return m;
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function readText(f: string): string {
  return readFileSync(f, 'utf8');
}
