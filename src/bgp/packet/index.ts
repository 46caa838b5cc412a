/** bgp/packet: the BGP-4 wire codec. Pure (no I/O, no timers, no logging). */
export * from './constants.ts';
export * from './errors.ts';
export type * from './types.ts';
export { DEFAULT_CONTEXT } from './types.ts';
export { encodeMessage, decodeMessage, checkHeader } from './messages.ts';
export { BgpFramer } from './framer.ts';
export {
  openAsn, findCapability, asPathLength, asPathContains, firstAs, prependAs, toTwoOctet, fromTwoOctet,
  endOfRib, isEndOfRib, packAnnouncements, packWithdrawals,
} from './helpers.ts';
export { canonicalPrefix, parsePrefix, addressFamily, addressBytes, formatV4, formatV6 } from './prefix.ts';
