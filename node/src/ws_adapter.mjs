// A WebSocket factory for DbConnectionBuilder.withWSFn(...) that does two things the
// official client cannot do on its own under Node 20:
//
// - offer a chosen list of subprotocols (e.g. only v2.bsatn.spacetimedb, to test a v2 peer;
//   the package always offers v3 then v2);
// - accept Brotli frames: Node 20's DecompressionStream has no Brotli, so the package refuses
//   withCompression('brotli'). Here every server frame is inflated with node:zlib, and the
//   client gets the bare payload, exactly what the package's own decompressing adapter hands it.
//
// Example:
//   builder.withWSFn(makeSocketFactory({ protocols: ['v2.bsatn.spacetimedb'], compression: 'brotli' }))

import { brotliDecompressSync, gunzipSync } from 'node:zlib';

export const V2_PROTOCOL = 'v2.bsatn.spacetimedb';
export const V3_PROTOCOL = 'v3.bsatn.spacetimedb';

const SHORT_PROTOCOL_NAMES = { v2: V2_PROTOCOL, v3: V3_PROTOCOL };
const COMPRESSION_QUERY = { none: 'None', gzip: 'Gzip', brotli: 'Brotli' };

/**
 * Parses "v3,v2" (or full names) into the subprotocol list to offer, in order.
 * Example: protocolList('v2') → ['v2.bsatn.spacetimedb'].
 */
export function protocolList(text) {
  const names = text
    .split(',')
    .map(s => s.trim())
    .filter(Boolean)
    .map(s => SHORT_PROTOCOL_NAMES[s] ?? s);
  if (names.length === 0) throw new Error(`no subprotocol in ${JSON.stringify(text)}`);
  for (const name of names) {
    if (name !== V2_PROTOCOL && name !== V3_PROTOCOL) {
      throw new Error(
        `unknown subprotocol ${JSON.stringify(name)}; use v3, v2 or their full names`,
      );
    }
  }
  return names;
}

/**
 * Strips a server frame's compression tag and inflates its payload.
 * Example: inflateFrame(Uint8Array.of(0, 7)) → Uint8Array [7].
 */
export function inflateFrame(frame) {
  if (frame.length === 0) throw new Error('empty server frame: no compression tag');
  const body = frame.subarray(1);
  switch (frame[0]) {
    case 0:
      return body;
    case 1:
      return new Uint8Array(brotliDecompressSync(body));
    case 2:
      return new Uint8Array(gunzipSync(body));
    default:
      throw new Error(`unknown compression tag ${frame[0]} in server frame`);
  }
}

async function webSocketClass() {
  if (typeof globalThis.WebSocket !== 'undefined') return globalThis.WebSocket;
  // Node 20 has no global WebSocket without a flag; undici@6 (pinned in package.json) has one.
  const { WebSocket } = await import('undici');
  return WebSocket;
}

// Mirrors the official client's handshake: swap a long-lived token for a short-lived one,
// so the long-lived token never appears in a URL.
async function shortLivedToken(url, token) {
  const tokenUrl = new URL('v1/identity/websocket-token', url);
  tokenUrl.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  const response = await fetch(tokenUrl, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}` },
  });
  if (!response.ok) {
    throw new Error(`POST ${tokenUrl} failed: ${response.status} ${response.statusText}`);
  }
  return (await response.json()).token;
}

async function subscribeUrl(args, compression) {
  const url = new URL(`v1/database/${args.nameOrAddress}/subscribe`, args.url);
  if (args.authToken)
    url.searchParams.set('token', await shortLivedToken(args.url, args.authToken));
  url.searchParams.set('compression', COMPRESSION_QUERY[compression]);
  if (args.lightMode) url.searchParams.set('light', 'true');
  if (args.confirmedReads !== undefined) {
    url.searchParams.set('confirmed', String(args.confirmedReads));
  }
  return url;
}

/** The socket the client sees: the real one, with frames already inflated. */
export class InflatingSocket {
  #ws;
  #onInflateError;

  constructor(ws, onInflateError = () => {}) {
    this.#ws = ws;
    this.#onInflateError = onInflateError;
  }

  get protocol() {
    return this.#ws.protocol;
  }

  get readyState() {
    return this.#ws.readyState;
  }

  set onopen(handler) {
    this.#ws.onopen = handler;
  }

  set onclose(handler) {
    this.#ws.onclose = handler;
  }

  set onerror(handler) {
    this.#ws.onerror = handler;
  }

  set onmessage(handler) {
    this.#ws.onmessage = event => {
      let data;
      try {
        data = inflateFrame(new Uint8Array(event.data));
      } catch (error) {
        // A frame we cannot read ends the connection, so the client reaches onDisconnect.
        this.#onInflateError(error);
        this.#ws.close();
        return;
      }
      handler({ data });
    };
  }

  send(message) {
    this.#ws.send(message);
  }

  close() {
    this.#ws.close();
  }
}

/**
 * A factory for withWSFn. `protocols` overrides the offered subprotocols; `compression`
 * overrides what the URL asks for (the builder cannot be told 'brotli' on Node 20).
 */
export function makeSocketFactory({ protocols, compression, onInflateError }) {
  if (!(compression in COMPRESSION_QUERY)) {
    throw new Error(`unknown compression ${JSON.stringify(compression)}; use none, gzip or brotli`);
  }
  return async args => {
    const WebSocketImpl = await webSocketClass();
    const url = await subscribeUrl(args, compression);
    const ws = new WebSocketImpl(url.toString(), protocols ?? args.wsProtocol);
    ws.binaryType = 'arraybuffer';
    return new InflatingSocket(ws, onInflateError);
  };
}
