// An approval (docs/PROTOCOL.md §3): an Ed25519 signature, in base64, over
// "disclosure-gateway/order/v1" || 0x00 || the exact JCS text of the order document.

import { bytesToBase64, utf8 } from "./encoding.js";
import { sign } from "./keys.js";

export const ORDER_DOMAIN = "disclosure-gateway/order/v1";

export function approvalMessage(documentText) {
  const domain = utf8(ORDER_DOMAIN);
  const text = utf8(documentText);
  const message = new Uint8Array(domain.length + 1 + text.length);
  message.set(domain);
  message.set(text, domain.length + 1); // the byte between stays 0x00
  return message;
}

export async function approvalSignature(privateKey, documentText) {
  return bytesToBase64(await sign(privateKey, approvalMessage(documentText)));
}
