/** bgp/server: the TCP speaker with the API the agent uses. */
export { BgpSpeaker } from './speaker.ts';
export type { SpeakerOptions, PeerOptions, PeerStatus, SpeakerEvents, RouteInfo, AddressFamily } from './speaker.ts';
export { SocketTransport, dial, plainAddress } from './socket.ts';
