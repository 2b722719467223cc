// RFC 8785 (JCS) canonical JSON. JCS serialises strings and numbers exactly as ECMAScript's
// JSON.stringify does (RFC 8785 §3.2.2) and sorts object members by their UTF-16 code units
// (§3.2.3), which is the default order of Array.prototype.sort on strings.

import { ConsoleError } from "./encoding.js";

export function canonicalize(value) {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError("JCS has no form for NaN or Infinity");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return "[" + value.map(canonicalize).join(",") + "]";
  if (typeof value === "object") {
    const names = Object.keys(value).sort();
    return "{" + names.map((name) => JSON.stringify(name) + ":" + canonicalize(value[name])).join(",") + "}";
  }
  throw new TypeError(`JCS has no form for a ${typeof value}`);
}

/**
 * The parsed order document, once its text is safe to sign: one JSON object, exactly in canonical
 * form, about `orderId` (what `gateway review approve` checks). A text with a duplicate member
 * re-serialises without it, so it fails the canonical comparison too: what is shown (parsed) and
 * what is signed (the bytes) cannot differ.
 */
export function checkedDocument(text, orderId) {
  const refuse = (why) => new ConsoleError("DOCUMENT_REFUSED", `The document of order ${orderId} ${why}; the console will not sign it.`,
    "Do not approve. Tell the gateway's operator: a gateway must return the exact RFC 8785 text of the order.");
  if (typeof text !== "string") throw refuse("is missing");
  let document;
  try {
    document = JSON.parse(text);
  } catch {
    throw refuse("is not JSON");
  }
  if (document === null || typeof document !== "object" || Array.isArray(document)) throw refuse("is not a JSON object");
  if (canonicalize(document) !== text) throw refuse("is not in RFC 8785 canonical form");
  if (document.order_id !== orderId) throw refuse("names another order");
  return document;
}
