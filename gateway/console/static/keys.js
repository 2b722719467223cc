// The reviewer's Ed25519 key, held by WebCrypto as a non-extractable key (docs/PROTOCOL.md §1).
// It signs request tokens and approvals here, in the browser, and is never sent anywhere: only
// its public half and kid are shown, so the operator can register a key generated here.

import { ConsoleError, base64ToBytes, bytesToBase64, bytesToHex, base64urlToBytes, sha256 } from "./encoding.js";

const ED25519 = { name: "Ed25519" };
export const SIGNING_KIND = "ed25519-signing";
const KEY_FILE_FIELDS = ["key", "kid", "kind"];
// PKCS #8 PrivateKeyInfo for Ed25519 (RFC 8410 §7) up to the 32-byte seed that follows.
const PKCS8_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
const MAX_KEY_FILE_BYTES = 4096;

/** The kid of a raw public key: lowercase hex of the first 8 bytes of its SHA-256 (PROTOCOL §1). */
export async function keyId(publicRaw) {
  return bytesToHex((await sha256(publicRaw)).slice(0, 8));
}

function keyFileError(message) {
  return new ConsoleError("KEY_FILE_INVALID", message,
    "Choose the PREFIX.sign.key file that `gateway keygen --out PREFIX` wrote, unchanged.");
}

/** The seed and kid of a `gateway keygen` signing key file, checked as crypto/keys.py reads one. */
export function parseKeyFile(text) {
  if (text.length > MAX_KEY_FILE_BYTES) throw keyFileError("That file is too large to be a key file.");
  let document;
  try {
    document = JSON.parse(text);
  } catch {
    throw keyFileError("That file is not a key file: it is not JSON.");
  }
  if (document === null || typeof document !== "object" || Array.isArray(document)) {
    throw keyFileError("That file is not a key file: it is not a JSON object.");
  }
  if (document.kind === "x25519-sealing") {
    throw keyFileError("That is a sealing key (PREFIX.seal.key); reviewers sign with PREFIX.sign.key.");
  }
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
  return { seed, kid: document.kid };
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

/** A reviewer key from a key file's text, its kid checked against the key (never trusted). */
export async function keyFromFile(text) {
  const { seed, kid } = parseKeyFile(text);
  const { privateKey, publicRaw } = await importSeed(seed);
  if ((await keyId(publicRaw)) !== kid) throw keyFileError("That key file's kid does not match its key: it was edited or mixed up.");
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
