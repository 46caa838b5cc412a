/**
 * RFC 4271 §8 BGP finite state machine for one peer: Idle → Connect/Active → OpenSent →
 * OpenConfirm → Established, with ConnectRetry, Hold and Keepalive timers on an injected Clock,
 * connections on an injected Transport, connection collision detection (§6.8), and a recorded
 * reason on every transition (gobgp fsmStateReason).
 */
import {
  BgpFramer, BgpMessageError, CeaseSubcode, DEFAULT_CONTEXT, ErrorCode, FsmSubcode, OpenSubcode, AS_TRANS, BGP_VERSION,
  decodeMessage, encodeMessage, findCapability, isBgpMessageError, notificationName, openAsn,
} from '../packet/index.ts';
import type { BgpMessage, Capability, CodecContext, OpenMessage, UpdateMessage } from '../packet/index.ts';
import { Timer, systemClock, type Clock } from './clock.ts';
import type { Transport } from './transport.ts';

export const FsmState = {
  IDLE: 'idle',
  CONNECT: 'connect',
  ACTIVE: 'active',
  OPENSENT: 'opensent',
  OPENCONFIRM: 'openconfirm',
  ESTABLISHED: 'established',
} as const;
export type FsmState = (typeof FsmState)[keyof typeof FsmState];

export type StateReason =
  | 'start' | 'stop' | 'connect-retry-timer-expired' | 'tcp-connected' | 'tcp-accepted' | 'tcp-connect-failed'
  | 'connection-closed' | 'open-received' | 'keepalive-received' | 'hold-timer-expired' | 'notification-received'
  | 'bad-peer-as' | 'bad-bgp-identifier' | 'unsupported-version' | 'unacceptable-hold-time' | 'open-message-error'
  | 'message-error' | 'fsm-error' | 'collision-lost' | 'idle-hold-timer-expired';

export interface Transition {
  from: FsmState;
  to: FsmState;
  reason: StateReason;
  at: number;
  /** Extra text, e.g. the NOTIFICATION name. */
  info?: string;
}

export interface Family {
  afi: number;
  safi: number;
}

export interface FsmConfig {
  localAs: number;
  /** Expected peer AS (RFC 4271 §6.2 Bad Peer AS when it differs). */
  peerAs: number;
  routerId: string;
  /** Proposed hold time in seconds (0 = no keepalives), default 90. */
  holdTime?: number;
  /** Keepalive interval; default one third of the negotiated hold time (RFC 4271 §10). */
  keepaliveTime?: number;
  /** ConnectRetry, seconds, default 5 (Calico/BIRD use short retries: `connect retry time 3`). */
  connectRetryTime?: number;
  /** Delay before an automatic restart after an error (Idle → Connect/Active), default 1 s. */
  idleHoldTime?: number;
  /** Passive: never dial, wait for the peer (RFC 4271 §8.1.1 PassiveTcpEstablishment). */
  passive?: boolean;
  families?: Family[];
  /** Advertise graceful restart (RFC 4724) with this restart time; `restarting` sets the R bit. */
  gracefulRestart?: { restartTime: number; restarting?: boolean };
  /** Opens an outgoing connection; required unless passive. */
  dial?: () => Promise<Transport>;
  clock?: Clock;
}

/** What both sides agreed on at OPEN time. */
export interface Session {
  peerAs: number;
  peerId: string;
  holdTime: number;
  keepaliveTime: number;
  ctx: CodecContext;
  families: Family[];
  routeRefresh: boolean;
  /** The peer's graceful-restart capability, if it sent one. */
  peerGracefulRestart?: Extract<Capability, { code: 64 }>;
  localAddress: string;
  remoteAddress: string;
  open: OpenMessage;
}

export interface FsmEvents {
  stateChange?(t: Transition): void;
  established?(s: Session): void;
  update?(m: UpdateMessage, s: Session): void;
  routeRefresh?(afi: number, safi: number): void;
  /** Left Established. `graceful` when the peer may be restarting (TCP loss / hold expiry with GR). */
  down?(reason: StateReason, info: { graceful: boolean; notification?: string }): void;
  drain?(): void;
}

interface Conn {
  t: Transport;
  framer: BgpFramer;
  dir: 'in' | 'out';
  open?: OpenMessage;
}

const OPENSENT_HOLD = 240; // RFC 4271 §8.2.2: "large" hold timer in OpenSent, suggested 4 minutes.

function idNum(id: string): number {
  const p = id.split('.').map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}

export class BgpFsm {
  readonly config: FsmConfig;
  state: FsmState = 'idle';
  /** When the current state was entered (clock ms). */
  since: number;
  /** Last transitions, newest last (bounded). */
  readonly history: Transition[] = [];
  session: Session | undefined;
  /** Last error/notification text, for status output. */
  lastError: string | undefined;

  private events: FsmEvents = {};
  private readonly clock: Clock;
  private conn: Conn | undefined;
  private alt: Conn | undefined;
  private dialing = 0;
  private stopped = true;
  private readonly connectRetry: Timer;
  private readonly hold: Timer;
  private readonly keepalive: Timer;
  private readonly idleHold: Timer;
  private ctx: CodecContext = DEFAULT_CONTEXT;

  constructor(config: FsmConfig, events: FsmEvents = {}) {
    this.config = config;
    this.events = events;
    this.clock = config.clock ?? systemClock;
    this.since = this.clock.now();
    this.connectRetry = new Timer(this.clock, () => this.onConnectRetry());
    this.hold = new Timer(this.clock, () => this.onHoldExpired());
    this.keepalive = new Timer(this.clock, () => this.onKeepaliveTimer());
    this.idleHold = new Timer(this.clock, () => {
      if (!this.stopped && this.state === 'idle') this.begin('idle-hold-timer-expired');
    });
  }

  setEvents(e: FsmEvents): void {
    this.events = e;
  }

  // ---------------------------------------------------------------- control

  /** ManualStart (RFC 4271 §8.1.2 event 1, or event 5 when passive). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.begin('start');
  }

  /** ManualStop: Cease/Administrative Shutdown to an open connection, then Idle with no restart. */
  stop(subcode: number = CeaseSubcode.ADMINISTRATIVE_SHUTDOWN): void {
    this.stopped = true;
    this.idleHold.stop();
    this.connectRetry.stop();
    this.toIdle('stop', { code: ErrorCode.CEASE, subcode });
  }

  /** Sends an already-encoded UPDATE (or other message) on the Established connection. */
  send(bytes: Uint8Array): boolean {
    if (this.state !== 'established' || !this.conn) return false;
    const ok = this.conn.t.send(bytes);
    // Any sent message is as good as a KEEPALIVE for the peer's hold timer (RFC 4271 §4.4).
    if (this.session && this.session.keepaliveTime > 0) this.keepalive.start(this.session.keepaliveTime);
    return ok;
  }

  sendMessage(m: BgpMessage): boolean {
    return this.send(encodeMessage(m, this.ctx));
  }

  /** An incoming TCP connection from this peer's address (RFC 4271 §8.2.1 event 16/17). */
  accept(t: Transport): void {
    if (this.stopped) {
      this.notifyAndClose(t, ErrorCode.CEASE, CeaseSubcode.CONNECTION_REJECTED);
      return;
    }
    switch (this.state) {
      case 'idle':
        // Automatic restart is pending: take the connection now rather than refusing it.
        this.idleHold.stop();
        this.adopt(t, 'in', 'tcp-accepted');
        return;
      case 'connect':
      case 'active':
        // A dial still in flight is kept: if it completes it becomes a collision candidate (§6.8).
        this.connectRetry.stop();
        this.adopt(t, 'in', 'tcp-accepted');
        return;
      case 'opensent':
      case 'openconfirm':
        if (this.alt) {
          this.notifyAndClose(t, ErrorCode.CEASE, CeaseSubcode.CONNECTION_REJECTED);
          return;
        }
        // RFC 4271 §6.8: keep both until an OPEN tells us the peer's BGP Identifier.
        this.alt = this.wire(t, 'in');
        t.send(encodeMessage(this.buildOpen(), DEFAULT_CONTEXT));
        if (this.conn?.open) this.resolveCollision(this.conn.open);
        return;
      case 'established':
        // §6.8: a collision with an Established session always keeps the existing one.
        this.notifyAndClose(t, ErrorCode.CEASE, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION);
    }
  }

  // ---------------------------------------------------------------- transitions

  private transition(to: FsmState, reason: StateReason, info?: string): void {
    const from = this.state;
    if (from === to && reason !== 'collision-lost') return;
    const t: Transition = { from, to, reason, at: this.clock.now(), ...(info ? { info } : {}) };
    this.state = to;
    this.since = t.at;
    this.history.push(t);
    if (this.history.length > 64) this.history.shift();
    this.events.stateChange?.(t);
  }

  private begin(reason: StateReason): void {
    if (this.config.passive || !this.config.dial) {
      this.transition('active', reason);
      return;
    }
    this.transition('connect', reason);
    this.connectRetry.start(this.config.connectRetryTime ?? 5);
    this.dial();
  }

  private dial(): void {
    const attempt = ++this.dialing;
    const dial = this.config.dial;
    if (!dial) return;
    dial().then(
      (t) => {
        if (attempt !== this.dialing || this.stopped || (this.state !== 'connect' && this.state !== 'active')) {
          if ((this.state === 'opensent' || this.state === 'openconfirm') && !this.alt && attempt === this.dialing && !this.stopped) {
            // Our dial completed while an accepted connection is in OpenSent: a collision candidate.
            this.alt = this.wire(t, 'out');
            t.send(encodeMessage(this.buildOpen(), DEFAULT_CONTEXT));
            if (this.conn?.open) this.resolveCollision(this.conn.open);
            return;
          }
          if (this.state === 'established') this.notifyAndClose(t, ErrorCode.CEASE, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION);
          else t.close();
          return;
        }
        this.connectRetry.stop();
        this.adopt(t, 'out', 'tcp-connected');
      },
      (err: unknown) => {
        if (attempt !== this.dialing || this.stopped) return;
        if (this.state === 'connect') {
          // RFC 4271 §8.2.2 Connect, event 18: TCP fails → Active, ConnectRetry keeps running.
          this.lastError = `connect: ${err instanceof Error ? err.message : String(err)}`;
          this.transition('active', 'tcp-connect-failed', this.lastError);
          if (!this.connectRetry.running) this.connectRetry.start(this.config.connectRetryTime ?? 5);
        }
      },
    );
  }

  private onConnectRetry(): void {
    if (this.stopped) return;
    if (this.state === 'connect' || this.state === 'active') {
      if (this.config.passive || !this.config.dial) return;
      this.transition('connect', 'connect-retry-timer-expired');
      this.connectRetry.start(this.config.connectRetryTime ?? 5);
      this.dial();
    }
  }

  private wire(t: Transport, dir: 'in' | 'out'): Conn {
    const c: Conn = { t, framer: new BgpFramer(), dir };
    t.setHandlers({
      data: (chunk) => this.onData(c, chunk),
      close: (err) => this.onClose(c, err),
      drain: () => { if (c === this.conn) this.events.drain?.(); },
    });
    return c;
  }

  private adopt(t: Transport, dir: 'in' | 'out', reason: StateReason): void {
    this.conn = this.wire(t, dir);
    this.ctx = DEFAULT_CONTEXT;
    t.send(encodeMessage(this.buildOpen(), DEFAULT_CONTEXT));
    this.hold.start(OPENSENT_HOLD);
    this.transition('opensent', reason);
  }

  private buildOpen(): OpenMessage {
    const c = this.config;
    const caps: Capability[] = [];
    for (const f of c.families ?? [{ afi: 1, safi: 1 }]) caps.push({ code: 1, afi: f.afi, safi: f.safi });
    caps.push({ code: 2 });
    if (c.gracefulRestart) {
      caps.push({
        // RFC 4724 §3: Restart Time is a 12-bit field (BIRD refuses 4096 and above); clamp rather than wrap.
        code: 64, restartState: !!c.gracefulRestart.restarting, restartTime: Math.min(0xfff, Math.max(0, Math.round(c.gracefulRestart.restartTime))),
        families: (c.families ?? [{ afi: 1, safi: 1 }]).map((f) => ({ ...f, forwardingPreserved: !!c.gracefulRestart?.restarting })),
      });
    }
    caps.push({ code: 65, asn: c.localAs });
    return {
      type: 'open', version: BGP_VERSION, myAs: c.localAs > 0xffff ? AS_TRANS : c.localAs,
      holdTime: c.holdTime ?? 90, bgpId: c.routerId, capabilities: caps,
    };
  }

  // ---------------------------------------------------------------- input

  private onData(c: Conn, chunk: Uint8Array): void {
    if (c !== this.conn && c !== this.alt) return;
    let msgs: Uint8Array[];
    try {
      msgs = c.framer.push(chunk);
    } catch (e) {
      this.fail(c, e);
      return;
    }
    for (const raw of msgs) {
      if (c !== this.conn && c !== this.alt) return;
      let m: BgpMessage;
      try {
        m = decodeMessage(raw, c === this.conn ? this.ctx : DEFAULT_CONTEXT);
      } catch (e) {
        this.fail(c, e);
        return;
      }
      this.onMessage(c, m);
    }
  }

  private fail(c: Conn, e: unknown): void {
    const err = isBgpMessageError(e) ? e : new BgpMessageError(ErrorCode.CEASE, 0, String(e));
    this.lastError = err.message;
    if (c === this.alt) {
      this.notifyAndClose(c.t, err.code, err.subcode, err.data);
      this.alt = undefined;
      return;
    }
    const reason: StateReason = err.code === ErrorCode.OPEN_MESSAGE ? 'open-message-error' : err.code === ErrorCode.FSM ? 'fsm-error' : 'message-error';
    this.toIdle(reason, { code: err.code, subcode: err.subcode, data: err.data }, err.message);
  }

  private onMessage(c: Conn, m: BgpMessage): void {
    // Any message from the peer restarts the hold timer (RFC 4271 §8.2.2, Established events 26/27).
    if (c === this.conn && this.state === 'established' && this.session) this.hold.start(this.session.holdTime);
    if (m.type === 'notification') {
      const n = notificationName(m.code, m.subcode);
      this.lastError = `received ${n}`;
      if (c === this.alt) {
        c.t.close();
        this.alt = undefined;
        return;
      }
      this.toIdle('notification-received', undefined, n);
      return;
    }
    if (c === this.alt) {
      if (m.type === 'open') this.onOpen(c, m);
      return;
    }
    switch (this.state) {
      case 'opensent':
        if (m.type === 'open') this.onOpen(c, m);
        else this.fsmError(FsmSubcode.UNEXPECTED_MESSAGE_IN_OPENSENT);
        return;
      case 'openconfirm':
        if (m.type === 'keepalive') this.onEstablished();
        else if (m.type === 'open') this.onOpen(c, m);
        else this.fsmError(FsmSubcode.UNEXPECTED_MESSAGE_IN_OPENCONFIRM);
        return;
      case 'established':
        if (m.type === 'update') {
          if (this.session) this.events.update?.(m, this.session);
        } else if (m.type === 'route-refresh') this.events.routeRefresh?.(m.afi, m.safi);
        else if (m.type === 'open') this.fsmError(FsmSubcode.UNEXPECTED_MESSAGE_IN_ESTABLISHED);
        return;
      default:
    }
  }

  private fsmError(subcode: number): void {
    this.lastError = notificationName(ErrorCode.FSM, subcode);
    this.toIdle('fsm-error', { code: ErrorCode.FSM, subcode }, this.lastError);
  }

  /** Validates an OPEN (RFC 4271 §6.2) and resolves collisions (§6.8). */
  private onOpen(c: Conn, m: OpenMessage): void {
    const openFail = (subcode: number, reason: StateReason, text: string, data?: Uint8Array): void => {
      const err = new BgpMessageError(ErrorCode.OPEN_MESSAGE, subcode, text, { data });
      this.lastError = err.message;
      if (c === this.alt) {
        this.notifyAndClose(c.t, err.code, err.subcode, err.data);
        this.alt = undefined;
        return;
      }
      this.toIdle(reason, { code: err.code, subcode: err.subcode, data: err.data }, err.message);
    };
    if (m.version !== BGP_VERSION) {
      openFail(OpenSubcode.UNSUPPORTED_VERSION_NUMBER, 'unsupported-version', `version ${m.version}`, new Uint8Array([0, BGP_VERSION]));
      return;
    }
    const asn = openAsn(m);
    if (asn !== this.config.peerAs) {
      openFail(OpenSubcode.BAD_PEER_AS, 'bad-peer-as', `peer AS ${asn}, expected ${this.config.peerAs}`);
      return;
    }
    // RFC 6286 §2.2: the identifier must be non-zero; equal IDs within one AS cannot be told apart.
    if (m.bgpId === '0.0.0.0' || (m.bgpId === this.config.routerId && asn === this.config.localAs)) {
      openFail(OpenSubcode.BAD_BGP_IDENTIFIER, 'bad-bgp-identifier', `BGP identifier ${m.bgpId}`);
      return;
    }
    if (m.holdTime === 1 || m.holdTime === 2) {
      openFail(OpenSubcode.UNACCEPTABLE_HOLD_TIME, 'unacceptable-hold-time', `hold time ${m.holdTime}`);
      return;
    }
    c.open = m;
    const other = c === this.conn ? this.alt : this.conn;
    if (other) {
      if (!this.resolveCollision(m)) return;
    }
    if (c !== this.conn) return;
    this.negotiate(c, m);
  }

  /** RFC 4271 §6.8. Returns false when the connection that carried `m` was closed. */
  private resolveCollision(m: OpenMessage): boolean {
    const a = this.conn;
    const b = this.alt;
    if (!a || !b) return true;
    // Higher BGP Identifier keeps the connection it initiated.
    const keepDir = idNum(this.config.routerId) > idNum(m.bgpId) ? 'out' : 'in';
    const winner = a.dir === keepDir ? a : b;
    const loser = winner === a ? b : a;
    this.notifyAndClose(loser.t, ErrorCode.CEASE, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION);
    this.alt = undefined;
    const carried = (a.open === m ? a : b);
    if (winner !== a) {
      this.conn = winner;
      this.hold.start(OPENSENT_HOLD);
      this.keepalive.stop();
      this.transition('opensent', 'collision-lost');
    }
    return carried === winner;
  }

  private negotiate(c: Conn, m: OpenMessage): void {
    const local = this.config;
    const proposed = local.holdTime ?? 90;
    // RFC 4271 §4.2: the smaller of the two hold times; 0 disables hold and keepalive timers.
    const holdTime = Math.min(proposed, m.holdTime);
    const keepaliveTime = holdTime === 0 ? 0 : Math.max(1, Math.min(local.keepaliveTime ?? Math.floor(holdTime / 3), Math.floor(holdTime / 3) || 1));
    const mine = local.families ?? [{ afi: 1, safi: 1 }];
    const theirsMp = m.capabilities.filter((x): x is Extract<Capability, { code: 1 }> => x.code === 1 && 'afi' in x);
    // RFC 4760 §8: without any MP capability the peer speaks IPv4 unicast only.
    const theirs = theirsMp.length > 0 ? theirsMp : [{ afi: 1, safi: 1 }];
    const families = mine.filter((f) => theirs.some((t) => t.afi === f.afi && t.safi === f.safi));
    const fourOctet = findCapability(m.capabilities, 65) !== undefined;
    this.ctx = { fourOctetAs: fourOctet };
    this.session = {
      peerAs: openAsn(m), peerId: m.bgpId, holdTime, keepaliveTime, ctx: this.ctx, families,
      routeRefresh: findCapability(m.capabilities, 2) !== undefined,
      peerGracefulRestart: findCapability(m.capabilities, 64),
      localAddress: c.t.localAddress, remoteAddress: c.t.remoteAddress, open: m,
    };
    c.t.send(encodeMessage({ type: 'keepalive' }, this.ctx));
    if (holdTime > 0) {
      this.hold.start(holdTime);
      this.keepalive.start(keepaliveTime);
    } else {
      this.hold.stop();
      this.keepalive.stop();
    }
    this.transition('openconfirm', 'open-received');
  }

  private onEstablished(): void {
    this.transition('established', 'keepalive-received');
    this.lastError = undefined;
    if (this.session) this.events.established?.(this.session);
  }

  private onKeepaliveTimer(): void {
    if ((this.state === 'openconfirm' || this.state === 'established') && this.conn && this.session) {
      this.conn.t.send(encodeMessage({ type: 'keepalive' }, this.ctx));
      this.keepalive.start(this.session.keepaliveTime);
    }
  }

  private onHoldExpired(): void {
    if (!this.conn) return;
    this.lastError = 'hold timer expired';
    this.toIdle('hold-timer-expired', { code: ErrorCode.HOLD_TIMER_EXPIRED, subcode: 0 }, this.lastError);
  }

  private onClose(c: Conn, err?: Error): void {
    if (c === this.alt) {
      this.alt = undefined;
      return;
    }
    if (c !== this.conn) return;
    this.lastError = err ? `connection closed: ${err.message}` : 'connection closed';
    this.toIdle('connection-closed', undefined, this.lastError);
  }

  private notifyAndClose(t: Transport, code: number, subcode: number, data: Uint8Array = new Uint8Array(0)): void {
    t.send(encodeMessage({ type: 'notification', code, subcode, data }, DEFAULT_CONTEXT));
    t.close();
  }

  /** Leaves the current connection(s) and goes to Idle; schedules an automatic restart unless stopped. */
  private toIdle(reason: StateReason, notify?: { code: number; subcode: number; data?: Uint8Array }, info?: string): void {
    const wasEstablished = this.state === 'established';
    const conn = this.conn;
    const alt = this.alt;
    this.conn = undefined;
    this.alt = undefined;
    this.dialing++;
    this.hold.stop();
    this.keepalive.stop();
    this.connectRetry.stop();
    for (const c of [conn, alt]) {
      if (!c) continue;
      if (notify) this.notifyAndClose(c.t, notify.code, notify.subcode, notify.data);
      else c.t.close();
    }
    const session = this.session;
    this.transition('idle', reason, info);
    if (wasEstablished) {
      // RFC 4724 §4.2: the peer may be restarting when the session drops without a NOTIFICATION
      // exchange (TCP loss, or our hold timer expiring because it went away).
      const graceful = !!session?.peerGracefulRestart && (reason === 'connection-closed' || reason === 'hold-timer-expired');
      this.events.down?.(reason, { graceful, ...(info ? { notification: info } : {}) });
    }
    this.session = undefined;
    if (!this.stopped) this.idleHold.start(this.config.idleHoldTime ?? 1);
  }
}
