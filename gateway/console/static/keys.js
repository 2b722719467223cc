// The reviewer's Ed25519 key, held by WebCrypto as a non-extractable key (docs/PROTOCOL.md §1),
// read from any of the signing key files `gateway keygen` writes (its own JSON, a PKCS #8 PEM or
// a JWK). It signs request tokens and approvals here, in the browser, and is never sent anywhere:
// only its public half and kid are shown, so the operator can register a key generated here.

import { ConsoleError, base64ToBytes, bytesToBase64, bytesToBase64url, bytesToHex, base64urlToBytes, sha256 } from "./encoding.js";

const ED25519 = { name: "Ed25519" };
export const SIGNING_KIND = "ed25519-signing";
const KEY_FILE_FIELDS = ["key", "kid", "kind"];
// PKCS #8 PrivateKeyInfo for Ed25519 (RFC 8410 §7) up to the 32-byte seed that follows; the
// X25519 one differs in the OID's last byte (1.3.101.110), so a sealing key can be named as such.
const PKCS8_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
const X25519_PKCS8_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20];
const PEM_BEGIN = "-----BEGIN PRIVATE KEY-----";
const PEM_END = "-----END PRIVATE KEY-----";
const PEM_ARMOUR = /^-----BEGIN ([A-Z0-9 ]+)-----/;
const MAX_KEY_FILE_BYTES = 4096;
const SEALING_KEY = "That is a sealing key (PREFIX.seal.key); reviewers sign with PREFIX.sign.key.";

/** The kid of a raw public key: lowercase hex of the first 8 bytes of its SHA-256 (PROTOCOL §1). */
export async function keyId(publicRaw) {
  return bytesToHex((await sha256(publicRaw)).slice(0, 8));
}

function keyFileError(message) {
  return new ConsoleError("KEY_FILE_INVALID", message,
    "Choose the PREFIX.sign.key file that `gateway keygen --out PREFIX` wrote, unchanged: in its own JSON, "
    + "as a PEM (--format pem) or as a JWK (--format jwk).");
}

const startsWith = (bytes, prefix) => prefix.every((byte, i) => bytes[i] === byte);

/** A PKCS #8 PEM (RFC 8410 §7) of an Ed25519 private key, as `gateway keygen --format pem` writes it. */
function parsePem(text) {
  if (!text.startsWith(PEM_BEGIN)) {
    const armour = PEM_ARMOUR.exec(text)?.[1] || "something else";
    const kind = armour.includes("PUBLIC KEY") ? "a public key, which cannot sign"
      : armour.includes("ENCRYPTED") ? "an encrypted private key, which the console cannot open" : `a "${armour}" block`;
    throw keyFileError(`That PEM file holds ${kind}; the console reads an unencrypted PKCS #8 PEM (${PEM_BEGIN}).`);
  }
  if (!text.endsWith(PEM_END)) throw keyFileError(`That PEM file does not end with ${PEM_END}.`);
  let der;
  try {
    der = base64ToBytes(text.slice(PEM_BEGIN.length, -PEM_END.length).replace(/\s+/g, ""));
  } catch {
    throw keyFileError("That PEM file's body is not base64.");
  }
  try {
    if (der.length === X25519_PKCS8_PREFIX.length + 32 && startsWith(der, X25519_PKCS8_PREFIX)) throw keyFileError(SEALING_KEY);
    if (der.length !== PKCS8_PREFIX.length + 32 || !startsWith(der, PKCS8_PREFIX)) {
      throw keyFileError("That PEM file is not a PKCS #8 (RFC 8410) Ed25519 private key.");
    }
    return { format: "pem", seed: der.slice(PKCS8_PREFIX.length) };
  } finally {
    der.fill(0); // the seed's copy goes on to importSeed, which zeroes it
  }
}

/** A private OKP JWK of curve Ed25519 (RFC 8037 §2), as `gateway keygen --format jwk` writes it. */
function parseJwk(document) {
  if (document.kty !== "OKP") throw keyFileError("That JWK is not an OKP key (RFC 8037), so it is no Ed25519 key.");
  if (document.crv === "X25519") throw keyFileError(SEALING_KEY);
  if (document.crv !== "Ed25519") throw keyFileError("That JWK's curve is not Ed25519.");
  if (document.d === undefined) throw keyFileError("That JWK holds only a public key (no d), which cannot sign.");
  if (typeof document.d !== "string" || typeof document.x !== "string") {
    throw keyFileError("A private JWK needs the strings d and x (RFC 8037).");
  }
  let seed, x;
  try {
    seed = base64urlToBytes(document.d);
    x = base64urlToBytes(document.x);
  } catch {
    throw keyFileError("That JWK's d or x is not base64url.");
  }
  // Unpadded and canonical, as crypto/encoding.py's b64url_decode reads them.
  if (bytesToBase64url(seed) !== document.d || bytesToBase64url(x) !== document.x) {
    throw keyFileError("That JWK's d or x is not unpadded base64url.");
  }
  if (seed.length !== 32) throw keyFileError("That JWK's d is not 32 bytes.");
  return { format: "jwk", seed, x };
}

/** The gateway's own JSON key file: exactly kind, key and kid. */
function parseGatewayFile(document) {
  if (document.kind === "x25519-sealing") throw keyFileError(SEALING_KEY);
  if (document.kind !== SIGNING_KIND) throw keyFileError(`That file holds no ${SIGNING_KIND} key.`);
  if (Object.keys(document).sort().join() !== KEY_FILE_FIELDS.join()) {
    throw keyFileError("That key file must hold exactly the fields kind, key and kid.");
  }
  let seed;
  try {
    seed = base64ToBytes(document.key);
  } catch {
    throw keyFileError("That key file's key is not base64.");
  }
  if (seed.length !== 32) throw keyFileError("That key file's key is not 32 bytes.");
  return { format: "gateway", seed, kid: document.kid };
}

/**
 * The seed of a `gateway keygen` signing key file in any of its three formats, told apart by
 * content as crypto/keys.py tells them: a PEM, a JWK (it has `kty`), or the gateway's own JSON.
 * What checks the seed against its file (`kid`, or a JWK's `x`) comes with it; anything else is refused.
 */
export function parseKeyFile(text) {
  if (typeof text !== "string" || text.length > MAX_KEY_FILE_BYTES) throw keyFileError("That file is too large to be a key file.");
  const trimmed = text.trim();
  if (trimmed.startsWith("-----BEGIN ")) return parsePem(trimmed);
  let document;
  try {
    document = JSON.parse(trimmed);
  } catch {
    throw keyFileError("That file is not a key file: it is neither a PEM nor JSON.");
  }
  if (document === null || typeof document !== "object" || Array.isArray(document)) {
    throw keyFileError("That file is not a key file: it is not a JSON object.");
  }
  return "kty" in document ? parseJwk(document) : parseGatewayFile(document);
}

/**
 * Import a 32-byte Ed25519 seed as a non-extractable signing key; return it with its public half.
 *
 * WebCrypto derives no public key from a private one, and a JWK import needs `x`. So the seed is
 * imported once as extractable only to read `x`, then imported for use as non-extractable; both
 * the seed and the PKCS #8 buffer are zeroed before this returns.
 */
export async function importSeed(seed) {
  const pkcs8 = new Uint8Array(PKCS8_PREFIX.length + 32);
  pkcs8.set(PKCS8_PREFIX);
  pkcs8.set(seed, PKCS8_PREFIX.length);
  try {
    const transient = await crypto.subtle.importKey("pkcs8", pkcs8, ED25519, true, ["sign"]);
    const publicRaw = base64urlToBytes((await crypto.subtle.exportKey("jwk", transient)).x);
    const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, ED25519, false, ["sign"]);
    return { privateKey, publicRaw };
  } finally {
    pkcs8.fill(0);
    seed.fill(0);
  }
}

/** A reviewer key from a key file's text, checked against what the file says of its public half (never trusted). */
export async function keyFromFile(text) {
  const parsed = parseKeyFile(text);
  const { privateKey, publicRaw } = await importSeed(parsed.seed);
  const kid = await keyId(publicRaw);
  if (parsed.format === "gateway" && parsed.kid !== kid) {
    throw keyFileError("That key file's kid does not match its key: it was edited or mixed up.");
  }
  if (parsed.format === "jwk" && bytesToBase64(parsed.x) !== bytesToBase64(publicRaw)) {
    throw keyFileError("That JWK's x is not the public half of its d: it was edited or mixed up.");
  }
  return { privateKey, publicKey: bytesToBase64(publicRaw), kid };
}

/** A new key made here; its private half can never leave WebCrypto, not even to a file. */
export async function generateKey() {
  const pair = await crypto.subtle.generateKey(ED25519, false, ["sign", "verify"]);
  const publicRaw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return { privateKey: pair.privateKey, publicKey: bytesToBase64(publicRaw), kid: await keyId(publicRaw) };
}

export async function sign(privateKey, bytes) {
  return new Uint8Array(await crypto.subtle.sign(ED25519, privateKey, bytes));
}

// -- kept across visits: IndexedDB stores the CryptoKey object itself, still non-extractable ------

const DB_NAME = "disclosure-gateway-console";
const STORE = "keys";
const RECORD = "reviewer";

function openDatabase() {
  return new Promise((resolve, reject) => {
    const opening = indexedDB.open(DB_NAME, 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore(STORE);
    opening.onsuccess = () => resolve(opening.result);
    opening.onerror = () => reject(opening.error);
  });
}

async function transact(mode, work) {
  const db = await openDatabase();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** Keep `{principalId, kid, publicKey, privateKey}`; only `privateKey` is secret, and it is a CryptoKey. */
export function saveKey(identity) {
  const record = { principalId: identity.principalId, kid: identity.kid, publicKey: identity.publicKey,
    privateKey: identity.privateKey };
  return transact("readwrite", (store) => store.put(record, RECORD));
}

export async function loadSavedKey() {
  const found = await transact("readonly", (store) => store.get(RECORD));
  return found && found.privateKey instanceof CryptoKey ? found : null;
}

export function forgetSavedKey() {
  return transact("readwrite", (store) => store.delete(RECORD));
}
