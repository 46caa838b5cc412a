/** agent/bgp: resources → BGP peers and exports for Weft's speaker (what confd + BIRD do in calico/node). */
export { BgpAgent, nodeFromResource, peerFromResource, configFromResource, type BgpAgentOptions, type BgpStatus, type BgpPeerStatusOut, type SpeakerLike } from './agent.ts';
export {
  computeBgpPlan, compareAddresses, durationSeconds, splitPeerIP, samePeer, sameSpeaker, PeerTypes, DEFAULT_AS, DEFAULT_BGP_PORT, DEFAULT_RESTART_TIME,
  type BgpNode, type BgpPeerResource, type BgpGlobalConfig, type BgpPlan, type DesiredPeer, type SpeakerConfig, type PeerType,
} from './peers.ts';
export { computeExports, type ExportPool } from './exports.ts';
export { formatNodeStatus } from './status.ts';
