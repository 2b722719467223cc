// What a reviewer can do about each refusal (docs/PROTOCOL.md §6 codes) and each failure on
// the console's own side. The code is always shown as sent, so it can be quoted to the operator.

const ADVICE = {
  BAD_REQUEST: "The gateway refused the values sent; its message says which. Correct them and try again.",
  GRAPHQL_PARSE_FAILED: "The console sent an operation the gateway could not parse. Reload the console; if it persists, tell the operator.",
  GRAPHQL_VALIDATION_FAILED: "This console does not match the gateway's schema. Reload the console; if it persists, tell the operator.",
  QUERY_TOO_COMPLEX: "The operation is over the gateway's size limits. Tell the operator.",
  UNAUTHENTICATED: "No token was sent. Load your key again on the Key page.",
  TOKEN_INVALID: "The gateway could not verify your token: is this key registered, and is your reviewer id typed exactly? Check both on the Key page, and that this computer's clock is right.",
  TOKEN_EXPIRED: "Your token had expired on arrival. Check that this computer's clock is right, then try again.",
  TOKEN_LIFETIME_TOO_LONG: "The gateway accepts shorter tokens than the console made. Reload the console to read its limits again.",
  TOKEN_REPLAYED: "The gateway had seen this token before. Try again: each attempt signs a new token.",
  TOKEN_BODY_MISMATCH: "The body arrived changed on the way. Something between you and the gateway alters requests; tell the operator.",
  TOKEN_AUDIENCE_MISMATCH: "The token was made for another gateway. Reload the console so it reads this gateway's id again.",
  UNKNOWN_PRINCIPAL: "The gateway has no active principal with this id. Check your reviewer id, or ask the operator to register or reinstate you.",
  FORBIDDEN_ROLE: "This key does not belong to a reviewer. Load a reviewer's key on the Key page.",
  ORDER_NOT_FOUND: "The gateway has no such order. Go back to the queue.",
  ORDER_NOT_ACTIVE: "The order is not active. Open it to see its status.",
  ORDER_EXPIRED: "The order has expired. Draft a new order from its request if one is still needed.",
  ORDER_REVOKED: "The order was revoked; nothing more can be done with it.",
  ORDER_EXHAUSTED: "The order has no queries left. Draft a new order if more are justified.",
  FIELD_NOT_PERMITTED: "That field is not permitted here.",
  SUBJECT_NOT_PERMITTED: "That subject is not permitted here.",
  METHOD_NOT_ALLOWED: "The request did not reach the gateway as a POST. Something in between changes requests; tell the operator.",
  PAYLOAD_TOO_LARGE: "The request is over the gateway's size limit. Shorten the text you entered.",
  UNSUPPORTED_MEDIA_TYPE: "The request arrived without its JSON type. Something in between changes requests; tell the operator.",
  RATE_LIMITED: "Too many refused requests came from your address. Wait a minute, then try again.",
  AUDIT_UNAVAILABLE: "The gateway could not record the action in its audit log, so nothing was done. Try again later and tell the operator.",
  INTERNAL_ERROR: "The gateway failed to answer; nothing was done. Try again, and tell the operator if it persists.",
};

export function adviceFor(code) {
  return ADVICE[code] || "Tell the gateway's operator the code and message shown here.";
}
