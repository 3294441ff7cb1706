/** Longlink wire protocol v1: frames, codecs, close codes, identifier rules and the handshake query. Pure: safe for browsers, Node and k6. */
export * from './frames.js';
export * from './codec.js';
export * from './close-codes.js';
export * from './varint.js';
export * from './identifiers.js';
export * from './handshake-query.js';
