// How values read on the page. Everything here is about requests and orders; nothing about a
// subject but its opaque gateway id ever reaches the console.

import { h } from "./dom.js";

const CATEGORY = {
  TERRORISM: "Terrorism", CHILD_EXPLOITATION: "Child exploitation", DRUG_TRAFFICKING: "Drug trafficking",
  FRAUD: "Fraud", CYBERCRIME: "Cybercrime", VIOLENT_CRIME: "Violent crime", OTHER: "Other",
};
const FIELD = { phoneNumber: "Phone number", ipAddresses: "IP addresses", devices: "Devices", usernameHistory: "Username history" };
const STATUS_CLASS = { PENDING: "warn", PENDING_APPROVAL: "warn", ACTIVE: "good", GRANTED: "good", REJECTED: "bad",
  REVOKED: "bad", EXPIRED: "muted", EXHAUSTED: "muted" };

export const category = (value) => CATEGORY[value] || value;
export const fieldName = (value) => FIELD[value] ? `${FIELD[value]} (${value})` : value;
export const status = (value) => h("span", { class: `badge ${STATUS_CLASS[value] || ""}` }, value.replace("_", " "));
export const emergency = (flag) => (flag ? h("span", { class: "badge bad" }, "EMERGENCY") : "no");
export const windowText = (w) => (w ? `${w.from} → ${w.until} (until exclusive)` : "(none)");

/** An RFC 3339 UTC time with a Z, to the second, as the gateway expects (PROTOCOL §1). */
export function rfc3339(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}
