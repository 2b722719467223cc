// Request tokens (docs/PROTOCOL.md §2): a compact EdDSA JWT bound to one exact request body,
// made as crypto/tokens.py's create_token makes it.

import { bytesToBase64url, bytesToHex, sha256, utf8 } from "./encoding.js";
import { sign } from "./keys.js";

export const TOKEN_LIFETIME_S = 60; // as the CLI: room for a slow link, far inside the 300 s cap

const segment = (value) => bytesToBase64url(utf8(JSON.stringify(value)));

/** A fresh jti: 24 random bytes as 32 base64url characters, as `secrets.token_urlsafe(24)`. */
export function newJti() {
  return bytesToBase64url(crypto.getRandomValues(new Uint8Array(24)));
}

/**
 * The token for one request whose HTTP body is exactly `body` (bytes). `now` is Unix seconds,
 * passed in so the clock is the caller's choice. The header is exactly {"alg","typ","kid"}.
 */
export async function createToken({ privateKey, kid, issuer, audience, body, now, lifetime = TOKEN_LIFETIME_S }) {
  const header = { alg: "EdDSA", typ: "JWT", kid };
  const claims = { iss: issuer, aud: audience, iat: now, exp: now + lifetime, jti: newJti(),
    body_sha256: bytesToHex(await sha256(body)) };
  const signingInput = `${segment(header)}.${segment(claims)}`;
  // RFC 7515 §5.1: the signature is over the ASCII of "header.payload" (RFC 8037 §3.1).
  const signature = await sign(privateKey, utf8(signingInput));
  return `${signingInput}.${bytesToBase64url(signature)}`;
}
