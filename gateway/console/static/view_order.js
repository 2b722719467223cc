// An order's page (status, approvals, queries used, its exact document), the approval dialog
// that shows what is signed before signing it, revocation, and the list of all orders.

import { approvalSignature } from "./approval.js";
import { checkedDocument } from "./canonical.js";
import { facts, field, h, replace } from "./dom.js";
import { ConsoleError } from "./encoding.js";
import { category, fieldName, status, windowText } from "./format.js";
import { APPROVE_ORDER, ORDERS, ORDER_BY_ID, REVOKE_ORDER } from "./operations.js";

/** Every member of the document as a row: nothing is left out of what the reviewer signs. */
function documentRows(document) {
  return Object.entries(document).map(([name, value]) => {
    if (name === "offense_category") return [name, category(value)];
    if (Array.isArray(value)) return [name, value.map(String)];
    if (value && typeof value === "object" && "from" in value && "until" in value) return [name, windowText(value)];
    return [name, typeof value === "string" || typeof value === "number" ? String(value) : JSON.stringify(value)];
  });
}

function approveDialog(app, view, order) {
  const parsed = checkedDocument(order.document, order.id); // refuses before anything is shown
  const dialog = document.getElementById("approve-dialog");
  const sign = h("button", { type: "button", id: "sign-approve" }, "Sign and approve");
  const cancel = h("button", { type: "button", id: "cancel-approve", class: "secondary", autofocus: true }, "Cancel");
  cancel.addEventListener("click", () => dialog.close());
  sign.addEventListener("click", () => app.act(sign, async () => {
    const signature = await approvalSignature(app.identity.privateKey, order.document);
    dialog.close();
    const { approveOrder } = await app.call("Approve order", APPROVE_ORDER, { orderId: order.id, signature });
    render(app, view, approveOrder);
    app.notice(`You approved order ${order.id}: ${approveOrder.approvals} of ${approveOrder.approvalsRequired} approvals, now ${approveOrder.status}.`);
  }));
  replace(dialog,
    h("header", { class: "dialog-head" },
      h("h2", { id: "approve-title" }, `Approve order ${order.id}`),
      h("p", { id: "approve-intro" }, "This is exactly what you sign, with key ", h("code", {}, app.identity.kid),
        ` as ${app.identity.principalId}. Read it through.`)),
    h("div", { class: "dialog-body", tabindex: 0, role: "region", "aria-label": "The order document, field by field and as signed" },
      facts(documentRows(parsed), { id: "approve-rows" }),
      h("h3", {}, "The exact text signed"),
      h("pre", { id: "approve-document", class: "document" }, order.document)),
    h("footer", { class: "dialog-foot" },
      h("p", { class: "hint" }, "The signature covers \"disclosure-gateway/order/v1\", a zero byte, then this text in UTF-8 (PROTOCOL §3). Your key signs it here; only the signature is sent."),
      h("div", { class: "actions" }, cancel, sign)));
  dialog.showModal();
}

function revokeForm(app, view, order) {
  const reason = h("textarea", { id: "revoke-reason", rows: 3, maxlength: 2000, required: true });
  const submit = h("button", { type: "button", id: "revoke-order", class: "danger" }, "Revoke order");
  submit.addEventListener("click", () => app.act(submit, async () => {
    if (!reason.value.trim()) {
      reason.focus();
      throw new ConsoleError("REASON_MISSING", "Give the reason for revoking.", "It is recorded with the order.");
    }
    const { revokeOrder } = await app.call("Revoke order", REVOKE_ORDER, { orderId: order.id, reason: reason.value.trim() });
    render(app, view, revokeOrder);
    app.notice(`Order ${order.id} revoked; it takes effect on the authority's next request.`);
  }));
  return h("section", { class: "card", "aria-labelledby": "revoke-title" },
    h("h2", { id: "revoke-title" }, "Revoke"),
    field("Reason (recorded with the order)", reason),
    h("div", { class: "actions" }, submit));
}

function render(app, view, order) {
  const approve = h("button", { type: "button", id: "open-approve" }, "Review and approve…");
  approve.addEventListener("click", () => app.act(approve, async () => approveDialog(app, view, order)));
  const sections = [
    h("h1", {}, `Order ${order.id}`),
    facts([
      ["Status", h("span", { id: "order-status" }, status(order.status))],
      ["Approvals", h("span", { id: "order-approvals" }, `${order.approvals} of ${order.approvalsRequired} required`)],
      ["Queries used", h("span", { id: "order-queries" }, `${order.queriesUsed} of ${order.maxQueries}`)],
      ["Request", h("a", { href: `#/request/${encodeURIComponent(order.requestId)}` }, order.requestId)],
      ["Authority", order.authorityId],
      ["Subjects (gateway ids)", order.subjectIds],
      ["Fields", order.fields.map(fieldName)],
      ["Data window", windowText(order.dataWindow)],
      ["Valid until", order.validUntil],
      order.revokedReason ? ["Revoked because", order.revokedReason] : null,
    ].filter(Boolean), { id: "order-facts" }),
    h("section", { class: "card", "aria-labelledby": "document-title" },
      h("h2", { id: "document-title" }, "Order document"),
      h("p", { class: "hint" }, "The exact RFC 8785 text that approvals sign."),
      h("pre", { id: "order-document", class: "document", tabindex: 0, "aria-labelledby": "document-title" }, order.document),
      order.status === "PENDING_APPROVAL" ? h("div", { class: "actions" }, approve) : null),
  ];
  if (order.status !== "REVOKED") sections.push(revokeForm(app, view, order));
  replace(view, sections);
}

export async function orderView(app, view, id) {
  let order = app.takePrefetched("order", id);
  if (!order) order = await app.load("Load order", ORDER_BY_ID, { id }).then((d) => d.orderById, () => undefined);
  if (!order) {
    // view.isConnected: not when the reviewer has moved on meanwhile, so this is no longer their page.
    if (order === null && view.isConnected) app.showError(new ConsoleError("ORDER_NOT_FOUND", `The gateway has no order ${id}.`, "Go back to the queue."));
    replace(view, h("h1", {}, "Order"), h("p", {}, "This order could not be loaded."), h("p", {}, h("a", { href: "#/queue" }, "Back to the queue")));
    return;
  }
  render(app, view, order);
}

export async function ordersView(app, view) {
  const { orders } = await app.load("Load orders", ORDERS).catch(() => ({ orders: null }));
  if (orders === null) {
    replace(view, h("h1", {}, "Orders"), h("p", {}, "The orders could not be loaded."));
    return;
  }
  replace(view, h("h1", {}, "Orders"),
    orders.length ? h("div", { class: "table-wrap" }, h("table", { class: "stack", id: "orders" },
      h("caption", {}, "Every order, with its status now"),
      h("thead", {}, h("tr", {}, ["Order", "Status", "Approvals", "Queries used", "Authority", "Valid until"]
        .map((title) => h("th", { scope: "col" }, title)))),
      h("tbody", {}, orders.map((o) => h("tr", {},
        h("th", { scope: "row", "data-label": "Order" }, h("a", { href: `#/order/${encodeURIComponent(o.id)}` }, o.id)),
        h("td", { "data-label": "Status" }, status(o.status)),
        h("td", { "data-label": "Approvals" }, `${o.approvals} of ${o.approvalsRequired}`),
        h("td", { "data-label": "Queries used" }, `${o.queriesUsed} of ${o.maxQueries}`),
        h("td", { "data-label": "Authority" }, o.authorityId),
        h("td", { "data-label": "Valid until" }, o.validUntil))))))
      : h("p", {}, "No orders yet."));
}
