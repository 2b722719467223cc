// How values read on the page. Everything here is about requests and orders; nothing about a
// subject but its opaque gateway id ever reaches the console.

import { h } from "./dom.js";

// One label per OffenseCategory wire name, in schema order (tests/e2e/test_console.py holds the
// names to client/wire.py, which tests/client/test_wire_names.py holds to schema.graphql).
export const CATEGORY = {
  TERRORISM: "Terrorism", CHILD_EXPLOITATION: "Child exploitation", DRUG_TRAFFICKING: "Drug trafficking",
  FRAUD: "Fraud", CYBERCRIME: "Cybercrime", VIOLENT_CRIME: "Violent crime", OTHER: "Other",
};
const FIELD = { phoneNumber: "Phone number", ipAddresses: "IP addresses", devices: "Devices", usernameHistory: "Username history" };
const STATUS_CLASS = { PENDING: "warn", PENDING_APPROVAL: "warn", ACTIVE: "good", GRANTED: "good", REJECTED: "bad",
  REVOKED: "bad", EXPIRED: "muted", EXHAUSTED: "muted", NEEDS_CLARIFICATION: "warn", WITHDRAWN: "muted" };

/**
 * An offense category as the console shows it everywhere: its one label and its wire name (enum
 * OffenseCategory of schema.graphql). An order document spells the same value in lower case
 * (PROTOCOL §3), so both spellings read the same; a value the console does not know is shown as sent.
 */
export function category(value) {
  const wire = typeof value === "string" ? value.toUpperCase() : "";
  return Object.hasOwn(CATEGORY, wire) ? `${CATEGORY[wire]} (${wire})` : String(value);
}
export const fieldName = (value) => FIELD[value] ? `${FIELD[value]} (${value})` : value;
export const status = (value) => h("span", { class: `badge ${STATUS_CLASS[value] || ""}` }, value.replaceAll("_", " "));
export const emergency = (flag) => (flag ? h("span", { class: "badge bad" }, "EMERGENCY") : "no");
export const windowText = (w) => (w ? `${w.from} → ${w.until} (until exclusive)` : "(none)");

/** An RFC 3339 UTC time with a Z, to the second, as the gateway expects (PROTOCOL §1). */
export function rfc3339(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}
