/** bgp/rib: Loc-RIB + decision process, Adj-RIB-Out with export rules. Pure, synchronous. */
export { Rib } from './rib.ts';
export type { RibOptions, RibPeerConfig } from './rib.ts';
export { compare, selectBest } from './decision.ts';
export type { BestReason } from './decision.ts';
export type { Path, RibPeer, OutBatch, OutFamily } from './types.ts';
