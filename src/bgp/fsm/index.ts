/** bgp/fsm: per-peer RFC 4271 §8 session state machine over injected transport and clock. */
export { BgpFsm, FsmState } from './fsm.ts';
export type { FsmConfig, FsmEvents, Session, StateReason, Transition, Family } from './fsm.ts';
export { FakeClock, Timer, systemClock } from './clock.ts';
export type { Clock } from './clock.ts';
export { memoryPair, MemoryTransport } from './transport.ts';
export type { Transport, TransportHandlers } from './transport.ts';
