// A request's page: what the authority asked for and why, how many of its selectors resolved,
// its clarification thread and what each amendment changed (PROTOCOL §17), and the reviewer's
// answers: ask for clarification, draft an order that narrows it, or reject it with a reason.

import { facts, field, h, replace, uniqueId } from "./dom.js";
import { ConsoleError } from "./encoding.js";
import { category, emergency, fieldName, rfc3339, status, windowText } from "./format.js";
import { DRAFT_ORDER, REJECT_REQUEST, REQUEST_BY_ID, REQUEST_CLARIFICATION } from "./operations.js";

const DEFAULT_VALID_DAYS = 30;
const DEFAULT_MAX_QUERIES = 10;

function checkboxes(legend, name, values, label) {
  const boxes = values.map((value) => h("input", { type: "checkbox", name, value, id: uniqueId(name), checked: true }));
  const element = h("fieldset", { class: "choices" }, h("legend", {}, legend),
    boxes.map((box) => h("div", { class: "check" }, box, h("label", { for: box.id }, label(box.value)))));
  return { element, chosen: () => boxes.filter((b) => b.checked).map((b) => b.value) };
}

function invalid(message, control) {
  control?.focus();
  return new ConsoleError("DRAFT_INVALID", message, "Correct the draft and send it again; nothing was sent.");
}

function draftForm(app, request) {
  const subjects = checkboxes("Subjects (gateway ids)", "subject", request.resolvedSubjectIds, (id) => id);
  const fields = checkboxes("Fields", "field", request.fields, fieldName);
  const from = h("input", { id: "draft-from", type: "text", value: request.dataWindow.from, spellcheck: "false", required: true });
  const until = h("input", { id: "draft-until", type: "text", value: request.dataWindow.until, spellcheck: "false", required: true });
  const validUntil = h("input", { id: "draft-valid-until", type: "text", spellcheck: "false", required: true,
    value: rfc3339(new Date(Date.now() + DEFAULT_VALID_DAYS * 86400_000)) });
  const maxQueries = h("input", { id: "draft-max-queries", type: "number", min: 1, max: 10000, step: 1, required: true,
    value: DEFAULT_MAX_QUERIES, inputmode: "numeric" });
  const submit = h("button", { type: "button", id: "draft-order" }, "Draft order");

  submit.addEventListener("click", () => app.act(submit, async () => {
    const subjectIds = subjects.chosen();
    const chosenFields = fields.chosen();
    const queries = Number(maxQueries.value);
    if (!subjectIds.length) throw invalid("Keep at least one subject.", subjects.element.querySelector("input"));
    if (!chosenFields.length) throw invalid("Keep at least one field.", fields.element.querySelector("input"));
    if (!Number.isInteger(queries) || queries < 1) throw invalid("Max queries must be a whole number of at least 1.", maxQueries);
    const input = { requestId: request.id, subjectIds, fields: chosenFields,
      dataWindow: { from: from.value.trim(), until: until.value.trim() }, validUntil: validUntil.value.trim(), maxQueries: queries };
    const { draftOrder } = await app.call("Draft order", DRAFT_ORDER, { input });
    app.notice(`Order ${draftOrder.id} drafted. Read its document, then approve it.`);
    app.navigate(`#/order/${draftOrder.id}`, { kind: "order", value: draftOrder });
  }));

  return h("section", { class: "card", "aria-labelledby": "draft-title" },
    h("h2", { id: "draft-title" }, "Draft an order"),
    h("p", {}, "An order may keep the request's subjects, fields and window, or narrow them; the gateway refuses anything wider. Drafting signs nothing: you read the exact order document before you approve it."),
    subjects.element, fields.element,
    h("fieldset", { class: "row" }, h("legend", {}, "Data window (RFC 3339, UTC)"),
      field("From", from), field("Until (exclusive)", until)),
    h("div", { class: "row" },
      field("Valid until", validUntil, "RFC 3339 UTC; at most 366 days from now"),
      field("Max queries", maxQueries, "Disclosing queries the order allows")),
    h("div", { class: "actions" }, submit));
}

function rejectForm(app, view, request) {
  const reason = h("textarea", { id: "reject-reason", rows: 3, maxlength: 2000, required: true });
  const submit = h("button", { type: "button", id: "reject-request", class: "danger" }, "Reject request");
  submit.addEventListener("click", () => app.act(submit, async () => {
    if (!reason.value.trim()) {
      reason.focus();
      throw new ConsoleError("REASON_MISSING", "Give the reason for rejecting.", "The authority is told it; write it for them.");
    }
    const { rejectRequest } = await app.call("Reject request", REJECT_REQUEST, { requestId: request.id, reason: reason.value.trim() });
    render(app, view, rejectRequest);
    app.notice(`Request ${rejectRequest.caseReference} rejected.`);
  }));
  return h("section", { class: "card", "aria-labelledby": "reject-title" },
    h("h2", { id: "reject-title" }, "Reject"),
    field("Reason (the authority sees it)", reason),
    h("div", { class: "actions" }, submit));
}

function thread(request) {
  const messages = request.clarifications.map((m) => h("li", { class: `message ${m.kind.toLowerCase()}` },
    h("div", { class: "meta" }, `${m.kind === "QUESTION" ? "Question" : "Answer"} by ${m.by}, ${m.at} (version ${m.version})`),
    h("p", { class: "prose" }, m.text)));
  return h("section", { class: "card", "aria-labelledby": "thread-title" },
    h("h2", { id: "thread-title" }, "Clarification"),
    messages.length ? h("ol", { id: "clarifications", class: "thread" }, messages) : h("p", {}, "No question asked."));
}

function amendments(request) {
  const later = request.versions.slice(1);
  if (!later.length) return null;
  const rows = later.map((v) => h("li", { "data-version": String(v.version) },
    h("div", { class: "meta" }, `Version ${v.version}, ${v.createdAt}`),
    h("ul", {}, [
      ...v.changes.map((c) => h("li", {}, h("code", {}, c.field), `: ${c.before ?? "(none)"} → ${c.after ?? "(none)"}`)),
      v.subjectsAdded.length ? h("li", {}, `Subjects added: ${v.subjectsAdded.join(", ")}`) : null,
      v.subjectsRemoved.length ? h("li", {}, `Subjects removed: ${v.subjectsRemoved.join(", ")}`) : null,
    ].filter(Boolean))));
  return h("section", { class: "card", "aria-labelledby": "amendments-title" },
    h("h2", { id: "amendments-title" }, "Amendments"),
    h("p", {}, "Orders drafted on an earlier version can no longer be approved (REQUEST_AMENDED): draft again."),
    h("ol", { id: "amendments" }, rows));
}

function clarifyForm(app, view, request) {
  const question = h("textarea", { id: "clarify-question", rows: 3, maxlength: 2000, required: true });
  const submit = h("button", { type: "button", id: "request-clarification", class: "secondary" }, "Ask for clarification");
  submit.addEventListener("click", () => app.act(submit, async () => {
    if (!question.value.trim()) {
      question.focus();
      throw new ConsoleError("QUESTION_MISSING", "Write the question first.", "The authority answers it; nothing was sent.");
    }
    const { requestClarification } = await app.call("Ask for clarification", REQUEST_CLARIFICATION,
      { requestId: request.id, question: question.value.trim() });
    render(app, view, requestClarification);
    app.notice(`Request ${requestClarification.caseReference} waits for its authority's answer.`);
  }));
  return h("section", { class: "card", "aria-labelledby": "clarify-title" },
    h("h2", { id: "clarify-title" }, "Ask the authority"),
    field("Question (the authority sees it)", question),
    h("div", { class: "actions" }, submit));
}

function render(app, view, request) {
  const unresolved = request.unresolvedSelectors;
  const resolved = request.resolvedSubjectIds.length;
  const orders = request.orderIds.map((id) => h("a", { href: `#/order/${encodeURIComponent(id)}` }, id));
  const sections = [
    h("h1", {}, `Request ${request.caseReference}`),
    facts([
      ["Status", status(request.status)],
      ["Emergency", emergency(request.emergency)],
      ["Case reference", request.caseReference],
      ["Authority", request.authorityId],
      ["Court", request.court],
      ["Jurisdiction", request.jurisdiction],
      ["Legal basis", request.legalBasis],
      ["Offense category", category(request.offenseCategory)],
      ["Court order (SHA-256)", h("code", { class: "wrap" }, request.courtOrderSha256)],
      ["Requested fields", request.fields.map(fieldName)],
      ["Requested window", windowText(request.dataWindow)],
      ["Selectors", h("span", { id: "selector-counts" }, `${resolved} resolved to subjects, ${unresolved} did not`)],
      ["Received", request.createdAt],
      ["Orders", orders.length ? orders.map((a) => h("div", {}, a)) : "(none yet)"],
      ["Version", String(request.version)],
      request.rejectionReason ? ["Rejected because", request.rejectionReason] : null,
      request.withdrawalReason ? ["Withdrawn because", h("span", { id: "withdrawal-reason" }, request.withdrawalReason)] : null,
    ].filter(Boolean), { id: "request-facts" }),
    h("section", { class: "card", "aria-labelledby": "justification-title" },
      h("h2", { id: "justification-title" }, "Justification"),
      h("p", { class: "prose", id: "justification" }, request.justification)),
    thread(request),
    amendments(request),
  ].filter(Boolean);
  if (request.status === "NEEDS_CLARIFICATION") {
    sections.push(h("p", { class: "card", id: "awaiting-answer" }, "Waiting for the authority's answer: orders are drafted and approved once the request is pending again."));
  } else if (request.status === "PENDING" || request.status === "GRANTED") {
    sections.push(resolved ? draftForm(app, request)
      : h("p", { class: "card" }, "No selector resolved to a subject, so there is nothing an order could cover. Reject the request, with that as the reason."));
  }
  if (request.status === "PENDING") sections.push(clarifyForm(app, view, request));
  if (request.status === "PENDING" || request.status === "NEEDS_CLARIFICATION") sections.push(rejectForm(app, view, request));
  replace(view, sections);
}

export async function requestView(app, view, id) {
  const request = await app.load("Load request", REQUEST_BY_ID, { id }).then((d) => d.requestById, () => null);
  if (!request) {
    replace(view, h("h1", {}, "Request"), h("p", {}, "This request could not be loaded."), h("p", {}, h("a", { href: "#/queue" }, "Back to the queue")));
    return;
  }
  render(app, view, request);
}
