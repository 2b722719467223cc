// The queue: every request, pending first (emergencies first among them, then the longest
// waiting), filtered here by status, jurisdiction and emergency without asking the gateway again.

import { field, h, replace } from "./dom.js";
import { category, emergency, status } from "./format.js";
import { REQUESTS } from "./operations.js";

const RANK = { PENDING: 0, NEEDS_CLARIFICATION: 1, GRANTED: 2, REJECTED: 3, WITHDRAWN: 4 };

export function queueOrder(a, b) {
  return (RANK[a.status] ?? 9) - (RANK[b.status] ?? 9)
    || Number(b.emergency) - Number(a.emergency)
    || (a.status === "PENDING" ? a.createdAt.localeCompare(b.createdAt) : b.createdAt.localeCompare(a.createdAt));
}

const filters = { status: "", jurisdiction: "", emergencyOnly: false };

function select(id, options, value) {
  const element = h("select", { id, name: id });
  for (const [optionValue, label] of options) {
    element.append(h("option", { value: optionValue, selected: optionValue === value }, label));
  }
  return element;
}

export async function queueView(app, view) {
  const { requests } = await app.load("Load requests", REQUESTS).catch(() => ({ requests: null }));
  if (requests === null) {
    replace(view, h("h1", {}, "Requests"), h("p", {}, "The queue could not be loaded."));
    return;
  }
  const jurisdictions = [...new Set(requests.map((r) => r.jurisdiction))].sort();
  const statusSelect = select("filter-status", [["", "All"], ["PENDING", "Pending"],
    ["NEEDS_CLARIFICATION", "Needs clarification"], ["GRANTED", "Granted"], ["REJECTED", "Rejected"], ["WITHDRAWN", "Withdrawn"]], filters.status);
  const jurisdictionSelect = select("filter-jurisdiction", [["", "All"], ...jurisdictions.map((j) => [j, j])], filters.jurisdiction);
  const emergencyBox = h("input", { type: "checkbox", id: "filter-emergency", checked: filters.emergencyOnly });
  const refresh = h("button", { type: "button", id: "refresh", class: "secondary" }, "Refresh");
  const count = h("p", { id: "queue-count", role: "status" });
  const body = h("tbody");

  const render = () => {
    filters.status = statusSelect.value;
    filters.jurisdiction = jurisdictionSelect.value;
    filters.emergencyOnly = emergencyBox.checked;
    const shown = requests
      .filter((r) => !filters.status || r.status === filters.status)
      .filter((r) => !filters.jurisdiction || r.jurisdiction === filters.jurisdiction)
      .filter((r) => !filters.emergencyOnly || r.emergency)
      .sort(queueOrder);
    replace(count, `${shown.length} of ${requests.length} requests shown.`);
    replace(body, shown.map((r) => h("tr", { "data-request": r.id },
      h("th", { scope: "row", "data-label": "Case" }, h("a", { href: `#/request/${encodeURIComponent(r.id)}` }, r.caseReference)),
      h("td", { "data-label": "Status" }, h("span", { class: "badges" }, status(r.status), r.emergency ? emergency(true) : null)),
      h("td", { "data-label": "Jurisdiction" }, r.jurisdiction),
      h("td", { "data-label": "Offense" }, category(r.offenseCategory)),
      h("td", { "data-label": "Authority" }, r.authorityId),
      h("td", { "data-label": "Received" }, r.createdAt),
      h("td", { "data-label": "Selectors resolved / not", class: "num", title: "selectors that resolved to a subject / that did not" }, `${r.resolvedSubjectIds.length} / ${r.unresolvedSelectors}`))));
  };
  for (const control of [statusSelect, jurisdictionSelect, emergencyBox]) control.addEventListener("change", render);
  refresh.addEventListener("click", () => app.act(refresh, () => queueView(app, view)));

  replace(view,
    h("h1", {}, "Requests"),
    h("form", { class: "filters", role: "search", "aria-label": "Filter requests", onsubmit: (e) => e.preventDefault() },
      field("Status", statusSelect), field("Jurisdiction", jurisdictionSelect),
      h("div", { class: "check" }, emergencyBox, h("label", { for: "filter-emergency" }, "Emergency only")),
      h("div", { class: "actions" }, refresh)),
    count,
    h("div", { class: "table-wrap" }, h("table", { class: "stack", id: "queue" },
      h("caption", {}, "Legal requests, pending first"),
      h("thead", {}, h("tr", {}, ["Case reference", "Status", "Jurisdiction", "Offense", "Authority", "Received", "Resolved / not"]
        .map((title) => h("th", { scope: "col" }, title)))),
      body)));
  render();
}
