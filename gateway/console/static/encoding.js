// Byte encodings as docs/PROTOCOL.md uses them: standard padded base64 for keys and signatures
// (RFC 4648 §4), unpadded base64url inside tokens (RFC 7515 §2), lowercase hex for key ids.

export class ConsoleError extends Error {
  // A failure on the reviewer's side, before or after the gateway: `code` is the console's own
  // (not a PROTOCOL §6 code), `advice` what to do about it.
  constructor(code, message, advice) {
    super(message);
    this.name = "ConsoleError";
    this.code = code;
    this.advice = advice;
  }
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function bytesToBase64(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function bytesToBase64url(bytes) {
  return bytesToBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function base64urlToBytes(text) {
  const standard = text.replace(/-/g, "+").replace(/_/g, "/");
  return base64ToBytes(standard + "=".repeat((4 - (standard.length % 4)) % 4));
}

/** Strict, canonical standard base64: what Python's `b64decode(validate=True)` and a re-encode accept. */
export function base64ToBytes(text) {
  if (typeof text !== "string" || !B64.test(text)) throw new TypeError("not standard padded base64");
  const binary = atob(text);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  // Unused trailing bits must be zero, so one key has exactly one text.
  if (bytesToBase64(bytes) !== text) throw new TypeError("not canonical base64");
  return bytes;
}

export function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export const utf8 = (text) => new TextEncoder().encode(text);

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}
