import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { BgpFsm, FakeClock, memoryPair } from './index.ts';
import type { FsmConfig, MemoryTransport, Transport } from './index.ts';
import { decodeMessage, DEFAULT_CONTEXT } from '../packet/index.ts';
import type { NotificationMessage, OpenMessage } from '../packet/index.ts';

const settle = async (n = 10): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

function notifications(t: MemoryTransport): NotificationMessage[] {
  return t.sent.map((b) => decodeMessage(b, DEFAULT_CONTEXT)).filter((m): m is NotificationMessage => m.type === 'notification');
}

/** Two FSMs wired so that each one's dial reaches the other's accept. */
function pair(clock: FakeClock, a: Partial<FsmConfig> = {}, b: Partial<FsmConfig> = {}) {
  const wires: MemoryTransport[] = [];
  const dialTo = (target: () => BgpFsm | undefined, from: string, to: string) => async (): Promise<Transport> => {
    const [x, y] = memoryPair(from, to);
    wires.push(x, y);
    queueMicrotask(() => target()?.accept(y));
    return x;
  };
  const fa: BgpFsm = new BgpFsm({ localAs: 64512, peerAs: 64513, routerId: '198.18.0.1', clock, dial: dialTo(() => fb, '198.18.0.1', '198.18.0.2'), ...a });
  const fb: BgpFsm = new BgpFsm({ localAs: 64513, peerAs: 64512, routerId: '198.18.0.2', clock, dial: dialTo(() => fa, '198.18.0.2', '198.18.0.1'), ...b });
  return { a: fa, b: fb, wires };
}

describe('fsm', () => {
  test('active/passive pair reaches Established and stays up on keepalives', async () => {
    const clock = new FakeClock();
    const { a, b } = pair(clock, { holdTime: 9 }, { passive: true, holdTime: 30 });
    b.start();
    assert.equal(b.state, 'active');
    a.start();
    await settle();
    assert.equal(a.state, 'established');
    assert.equal(b.state, 'established');
    // Hold time negotiation: min(9, 30) on both sides, keepalive a third of it.
    assert.equal(a.session?.holdTime, 9);
    assert.equal(b.session?.holdTime, 9);
    assert.equal(b.session?.keepaliveTime, 3);
    assert.equal(a.session?.ctx.fourOctetAs, true);
    for (let i = 0; i < 10; i++) {
      clock.advance(3000);
      await settle();
    }
    assert.equal(a.state, 'established');
    assert.deepStrictEqual(a.history.map((t) => `${t.from}>${t.to}:${t.reason}`), [
      'idle>connect:start', 'connect>opensent:tcp-connected', 'opensent>openconfirm:open-received', 'openconfirm>established:keepalive-received',
    ]);
    a.stop();
    b.stop();
  });

  test('hold timer expiry sends 4/0 and records the reason', async () => {
    const clock = new FakeClock();
    const [x, y] = memoryPair();
    const a = new BgpFsm({ localAs: 64512, peerAs: 64513, routerId: '198.18.0.1', clock, passive: true, holdTime: 9 });
    a.start();
    a.accept(x);
    // The "peer" answers the OPEN by hand, then goes silent.
    const b = new BgpFsm({ localAs: 64513, peerAs: 64512, routerId: '198.18.0.2', clock, passive: true, holdTime: 9 });
    b.start();
    b.accept(y);
    await settle();
    assert.equal(a.state, 'established');
    b.stop = () => undefined;
    // Silence b by detaching its handlers from the wire.
    y.setHandlers({ data: () => undefined, close: () => undefined });
    y.send = () => true;
    let down: string | undefined;
    a.setEvents({ down: (r) => { down = r; } });
    clock.advance(9000);
    await settle();
    assert.equal(a.state, 'idle');
    assert.equal(down, 'hold-timer-expired');
    assert.equal(a.history.at(-1)?.reason, 'hold-timer-expired');
    const n = notifications(x);
    assert.equal(n.at(-1)?.code, 4);
    a.stop();
  });

  test('wrong peer AS → OPEN error 2/2 (Bad Peer AS) sent', async () => {
    const clock = new FakeClock();
    const { a, b, wires } = pair(clock, { peerAs: 65000 }, { passive: true });
    b.start();
    a.start();
    await settle();
    assert.notEqual(a.state, 'established');
    const n = wires.flatMap((w) => notifications(w));
    assert.ok(n.some((m) => m.code === 2 && m.subcode === 2), JSON.stringify(n));
    assert.ok(a.history.some((t) => t.reason === 'bad-peer-as'));
    a.stop();
    b.stop();
  });

  test('unacceptable hold time (1 s) → 2/6', async () => {
    const clock = new FakeClock();
    const { a, b, wires } = pair(clock, { holdTime: 1 }, { passive: true });
    b.start();
    a.start();
    await settle();
    assert.ok(wires.flatMap((w) => notifications(w)).some((m) => m.code === 2 && m.subcode === 6));
    a.stop();
    b.stop();
  });

  test('collision: both sides dial at once, one session survives (§6.8)', async () => {
    const clock = new FakeClock();
    const { a, b, wires } = pair(clock);
    a.start();
    b.start();
    await settle(30);
    assert.equal(a.state, 'established');
    assert.equal(b.state, 'established');
    const cease7 = wires.flatMap((w) => notifications(w)).filter((m) => m.code === 6 && m.subcode === 7);
    assert.ok(cease7.length >= 1);
    // The higher identifier (198.18.0.2 = b) keeps the connection it initiated.
    assert.ok([...a.history, ...b.history].some((t) => t.reason === 'collision-lost'));
    clock.advance(60_000);
    await settle();
    assert.equal(a.state, 'established');
    a.stop();
    b.stop();
  });

  test('connect failure → Active, ConnectRetry re-dials → Connect', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const a = new BgpFsm({
      localAs: 64512, peerAs: 64513, routerId: '198.18.0.1', clock, connectRetryTime: 3,
      dial: () => { calls++; return Promise.reject(new Error('ECONNREFUSED')); },
    });
    a.start();
    await settle();
    assert.equal(a.state, 'active');
    assert.match(a.lastError ?? '', /ECONNREFUSED/);
    clock.advance(3000);
    await settle();
    assert.equal(calls, 2);
    assert.deepStrictEqual(a.history.map((t) => t.reason), ['start', 'tcp-connect-failed', 'connect-retry-timer-expired', 'tcp-connect-failed']);
    a.stop();
  });

  test('session loss with graceful restart is reported as graceful; automatic restart follows', async () => {
    const clock = new FakeClock();
    const gr = { gracefulRestart: { restartTime: 120 } };
    const { a, b, wires } = pair(clock, gr, { ...gr, passive: true });
    b.start();
    a.start();
    await settle();
    assert.equal(b.state, 'established');
    let info: { graceful: boolean } | undefined;
    b.setEvents({ down: (_r, i) => { info = i; } });
    wires[0].close(); // a's side of the TCP connection vanishes
    await settle();
    assert.deepStrictEqual(info, { graceful: true, notification: 'connection closed' });
    assert.equal(b.state, 'idle');
    clock.advance(1000);
    await settle();
    assert.equal(b.state, 'established');
    assert.ok(b.history.some((t) => t.from === 'idle' && t.reason !== 'start'));
    a.stop();
    b.stop();
  });

  test('graceful restart capability carries the configured Restart Time (whole seconds, at most 4095)', async () => {
    const sentOpen = (restartTime: number): OpenMessage => {
      const [x] = memoryPair();
      const a = new BgpFsm({ localAs: 64512, peerAs: 64513, routerId: '198.18.0.1', passive: true, clock: new FakeClock(), gracefulRestart: { restartTime } });
      a.start();
      a.accept(x);
      a.stop();
      const m = decodeMessage(x.sent[0], DEFAULT_CONTEXT);
      assert.equal(m.type, 'open');
      return m as OpenMessage;
    };
    const gr = (restartTime: number) => sentOpen(restartTime).capabilities.find((c) => c.code === 64);
    assert.deepStrictEqual(gr(77), { code: 64, restartState: false, restartTime: 77, families: [{ afi: 1, safi: 1, forwardingPreserved: false }] });
    assert.equal((gr(12.6) as { restartTime: number }).restartTime, 13);
    assert.equal((gr(7200) as { restartTime: number }).restartTime, 4095); // clamped, not wrapped to 3104
    // Received side: the peer's restart time is what the helper waits for (RFC 4724 §4.2).
    const clock = new FakeClock();
    const { a, b } = pair(clock, { gracefulRestart: { restartTime: 33 } }, { passive: true, gracefulRestart: { restartTime: 44 } });
    b.start();
    a.start();
    await settle();
    assert.equal(a.session?.peerGracefulRestart?.restartTime, 44);
    assert.equal(b.session?.peerGracefulRestart?.restartTime, 33);
    a.stop();
    b.stop();
  });

  test('UPDATE before Established is an FSM error (RFC 6608 5/1)', async () => {
    const clock = new FakeClock();
    const [x, y] = memoryPair();
    const a = new BgpFsm({ localAs: 64512, peerAs: 64513, routerId: '198.18.0.1', clock, passive: true });
    a.start();
    a.accept(x);
    y.setHandlers({ data: () => undefined, close: () => undefined });
    y.send(Uint8Array.from([...new Array(16).fill(0xff), 0, 23, 2, 0, 0, 0, 0]));
    await settle();
    assert.equal(a.state, 'idle');
    assert.deepStrictEqual(notifications(x).map((n) => [n.code, n.subcode]), [[5, 1]]);
    a.stop();
  });

  test('hold time 0 on either side disables hold and keepalive timers (RFC 4271 §4.2)', async () => {
    const clock = new FakeClock();
    const { a, b } = pair(clock, { holdTime: 0 }, { passive: true, holdTime: 90 });
    b.start();
    a.start();
    await settle();
    assert.equal(a.state, 'established');
    assert.equal(b.session?.holdTime, 0);
    assert.equal(b.session?.keepaliveTime, 0);
    clock.advance(3_600_000);
    await settle();
    assert.equal(a.state, 'established');
    assert.equal(b.state, 'established');
    a.stop();
    b.stop();
  });

  test('a second connection while Established is refused with Cease/7 (§6.8)', async () => {
    const clock = new FakeClock();
    const { a, b } = pair(clock, {}, { passive: true });
    b.start();
    a.start();
    await settle();
    assert.equal(b.state, 'established');
    const [x, y] = memoryPair('198.18.0.1', '198.18.0.2');
    y.setHandlers({ data: () => undefined, close: () => undefined });
    b.accept(x);
    await settle();
    assert.deepStrictEqual(notifications(x).map((n) => [n.code, n.subcode]), [[6, 7]]);
    assert.equal(b.state, 'established');
    a.stop();
    b.stop();
  });

  test('stop() sends Cease/2 and does not restart', async () => {
    const clock = new FakeClock();
    const { a, b, wires } = pair(clock, {}, { passive: true });
    b.start();
    a.start();
    await settle();
    a.stop();
    await settle();
    assert.ok(wires.flatMap((w) => notifications(w)).some((n) => n.code === 6 && n.subcode === 2));
    assert.equal(b.history.at(-1)?.reason, 'notification-received');
    clock.advance(60_000);
    await settle();
    assert.equal(a.state, 'idle');
    b.stop();
  });
});
