// Signed GraphQL calls to the gateway that served this console, as `gateway review` makes them:
// the body is serialised once, and the token signs the SHA-256 of exactly those bytes.

import { ConsoleError, utf8 } from "./encoding.js";
import { adviceFor } from "./advice.js";
import { TOKEN_LIFETIME_S, createToken } from "./token.js";

// Relative to /console/, so a gateway behind a path prefix works as well.
const GRAPHQL_URL = new URL("../graphql", document.baseURI);
const DISCOVERY_URL = new URL("../.well-known/disclosure-gateway", document.baseURI);

/** A §6 refusal: the stable code, the gateway's message, the HTTP status and its audit receipt. */
export class GatewayRefused extends Error {
  constructor(code, message, status, audit) {
    super(message);
    this.name = "GatewayRefused";
    this.code = code;
    this.status = status;
    this.audit = audit;
    this.advice = adviceFor(code);
  }
}

const FETCH_OPTIONS = { credentials: "omit", cache: "no-store", redirect: "error", referrerPolicy: "no-referrer" };

function unreachable(url) {
  return new ConsoleError("GATEWAY_UNREACHABLE", `The gateway at ${url.origin} did not answer.`,
    "Check your connection and that the gateway is running, then try again. An action may have been done: open the order or request again before repeating it.");
}

function badResponse(url, status) {
  return new ConsoleError("BAD_RESPONSE", `${url.pathname} answered HTTP ${status} with a body that is not a gateway response.`,
    "Something between you and the gateway answered instead of it. Tell the operator.");
}

/** `GET /.well-known/disclosure-gateway` (PROTOCOL §8): the token audience and limits. */
export async function fetchDiscovery() {
  let response;
  try {
    response = await fetch(DISCOVERY_URL, { ...FETCH_OPTIONS, method: "GET" });
  } catch {
    throw unreachable(DISCOVERY_URL);
  }
  let document;
  try {
    document = await response.json();
  } catch {
    throw badResponse(DISCOVERY_URL, response.status);
  }
  if (!response.ok || typeof document?.gateway_id !== "string" || !document.gateway_id) {
    throw badResponse(DISCOVERY_URL, response.status);
  }
  return document;
}

function auditOf(document) {
  const audit = document?.extensions?.audit;
  if (audit && typeof audit.request_id === "string" && Number.isInteger(audit.index) && typeof audit.leaf_hash === "string") {
    return { requestId: audit.request_id, index: audit.index, leafHash: audit.leaf_hash };
  }
  return null;
}

export class Gateway {
  /** `clock` returns Unix seconds; `onReceipt(operation, audit)` sees every response's receipt. */
  constructor(discovery, { clock = () => Math.floor(Date.now() / 1000), onReceipt = () => {} } = {}) {
    this.discovery = discovery;
    this.clock = clock;
    this.onReceipt = onReceipt;
    const cap = Number.isInteger(discovery.max_token_lifetime_s) ? discovery.max_token_lifetime_s : TOKEN_LIFETIME_S;
    this.lifetime = Math.max(1, Math.min(TOKEN_LIFETIME_S, cap));
  }

  get id() {
    return this.discovery.gateway_id;
  }

  /** Run one operation as `identity` ({principalId, kid, privateKey}); return `{data, audit}` or throw. */
  async execute(identity, operation, query, variables) {
    const payload = variables === undefined ? { query } : { query, variables };
    const body = utf8(JSON.stringify(payload));
    const token = await createToken({ privateKey: identity.privateKey, kid: identity.kid, issuer: identity.principalId,
      audience: this.id, body, now: this.clock(), lifetime: this.lifetime });
    let response;
    try {
      response = await fetch(GRAPHQL_URL, { ...FETCH_OPTIONS, method: "POST", body,
        headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${token}` } });
    } catch {
      throw unreachable(GRAPHQL_URL);
    }
    let document;
    try {
      document = await response.json();
    } catch {
      throw badResponse(GRAPHQL_URL, response.status);
    }
    const audit = auditOf(document);
    this.onReceipt(operation, audit, response.status);
    const errors = document?.errors;
    if (Array.isArray(errors) && errors.length) {
      const first = errors[0] || {};
      const code = typeof first.extensions?.code === "string" && first.extensions.code ? first.extensions.code : "UNKNOWN";
      throw new GatewayRefused(code, typeof first.message === "string" ? first.message : "(no message)", response.status, audit);
    }
    if (!response.ok || document?.data === null || typeof document?.data !== "object") {
      throw badResponse(GRAPHQL_URL, response.status);
    }
    return { data: document.data, audit };
  }
}
