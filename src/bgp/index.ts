/**
 * Weft's BGP-4 speaker. Layers (lower never imports upper): packet → fsm → rib → server.
 * The agent uses `BgpSpeaker`; the lower layers are exported for tools and tests.
 */
export { BgpSpeaker } from './server/index.ts';
export type { SpeakerOptions, PeerOptions, PeerStatus, SpeakerEvents, RouteInfo, AddressFamily } from './server/index.ts';
export { BgpMessageError, isBgpMessageError, canonicalPrefix } from './packet/index.ts';
export type { Prefix, PathAttributes } from './packet/index.ts';
export type { FsmState, StateReason } from './fsm/index.ts';
