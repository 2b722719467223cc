// The console's shell: discovery, the reviewer's identity, the router, receipts and errors.
// Views render from what the gateway returns; after an action they render the mutation's own
// answer, so each action is exactly one signed request and one audit entry.

import { h, replace } from "./dom.js";
import { ConsoleError } from "./encoding.js";
import { Gateway, GatewayRefused, fetchDiscovery } from "./gateway.js";
import { loadSavedKey } from "./keys.js";
import { WHOAMI } from "./operations.js";
import { keyView } from "./view_key.js";
import { ordersView, orderView } from "./view_order.js";
import { queueView } from "./view_queue.js";
import { requestView } from "./view_request.js";

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_RECEIPTS = 100;

const $ = (id) => document.getElementById(id);

class Console {
  constructor() {
    this.gateway = null;
    this.identity = null; // {principalId, kid, publicKey, privateKey, kept, verified, name}
    this.prefetched = null;
    this.keepMessages = false;
    this.lastAudit = null;
    this.afterKey = null;
    this.visit = null; // the AbortController of the view shown now
  }

  async start() {
    $("skip").addEventListener("click", (event) => {
      event.preventDefault();
      $("main").focus();
    });
    window.addEventListener("hashchange", () => this.route());
    if (!window.isSecureContext || !crypto.subtle) {
      this.showError(new ConsoleError("INSECURE_CONTEXT", "This page is not a secure context, so the browser offers no WebCrypto to sign with.",
        "Open the console over HTTPS, or on the gateway's own host at 127.0.0.1 or localhost, where plain HTTP counts as secure."));
      replace($("view"), h("p", {}, "The console cannot sign anything here."));
      return;
    }
    try {
      this.gateway = new Gateway(await fetchDiscovery(), { onReceipt: (op, audit, status) => this.receipt(op, audit, status) });
    } catch (error) {
      this.showError(error);
      replace($("view"), h("p", {}, "The console cannot work without the gateway's discovery document."));
      return;
    }
    const saved = await loadSavedKey().catch(() => null);
    if (saved) {
      await this.adopt({ ...saved, kept: true }).catch((error) => {
        if (!error?.shown) this.showError(error);
      });
    }
    this.keepMessages = true;
    this.route();
  }

  // -- identity -----------------------------------------------------------------------------

  /** Check `identity` with `whoami` and hold it; raises when the gateway does not accept it as a reviewer. */
  async adopt(identity) {
    this.identity = { ...identity, verified: false };
    try {
      const { whoami } = await this.call("Who am I", WHOAMI);
      if (whoami.role !== "reviewer") {
        throw new ConsoleError("NOT_A_REVIEWER", `${whoami.id} is registered as ${whoami.role}, not as a reviewer.`,
          "Load a reviewer's key: the console is for the platform's reviewers.");
      }
      this.identity = { ...this.identity, verified: true, name: whoami.name };
    } finally {
      this.renderWho();
    }
  }

  /** Hold a key the gateway has not accepted yet (one generated here, awaiting registration). */
  hold(identity) {
    this.identity = { ...identity, verified: false };
    this.renderWho();
  }

  forget() {
    this.identity = null;
    this.renderWho();
  }

  renderWho() {
    const who = this.identity;
    if (!who) replace($("who"), "No key loaded");
    else if (!who.verified) replace($("who"), `Key ${who.kid} for ${who.principalId}: not yet accepted by the gateway`);
    else replace($("who"), `Signed in as ${who.principalId}`, h("span", { class: "kid" }, ` · key ${who.kid}`));
  }

  // -- calls --------------------------------------------------------------------------------

  /**
   * One signed operation; on refusal the error panel shows the code and what to do, and it rethrows.
   * `visit` (an AbortSignal) is the view it loads for: once aborted, the failure is not shown.
   */
  async call(operation, query, variables, visit) {
    if (!this.identity) throw new ConsoleError("NO_KEY", "No key is loaded.", "Load your key on the Key page.");
    try {
      return (await this.gateway.execute(this.identity, operation, query, variables)).data;
    } catch (error) {
      if (!visit?.aborted) this.showError(error); // an abandoned view's failure is not the current one's
      throw error;
    }
  }

  /** Run an action from `button`: disabled while in flight, so a double click sends nothing twice. */
  async act(button, work) {
    button.disabled = true;
    $("main").setAttribute("aria-busy", "true");
    this.clearMessages();
    try {
      return await work();
    } catch (error) {
      if (!error?.shown) this.showError(error);
      return undefined;
    } finally {
      button.disabled = false;
      $("main").removeAttribute("aria-busy");
    }
  }

  receipt(operation, audit, status) {
    const list = $("receipts");
    const item = audit
      ? h("li", { "data-index": audit.index },
        h("span", { class: "receipt-op" }, operation), status === 200 ? "" : h("span", { class: "badge bad" }, `HTTP ${status}`),
        h("span", { class: "receipt-index" }, `entry #${audit.index}`),
        h("code", { class: "receipt-leaf", title: "leaf hash" }, audit.leafHash))
      : h("li", {}, h("span", { class: "receipt-op" }, operation), h("span", { class: "badge bad" }, "no receipt"));
    list.prepend(item);
    while (list.children.length > MAX_RECEIPTS) list.lastElementChild.remove();
    this.lastAudit = audit;
  }

  // -- messages -----------------------------------------------------------------------------

  clearMessages() {
    replace($("error"));
    replace($("notice"));
  }

  notice(text) {
    const audit = this.lastAudit;
    replace($("notice"), text, audit ? ` Audit entry #${audit.index}, leaf hash ${audit.leafHash}.` : "");
  }

  showError(error) {
    if (error && typeof error === "object") error.shown = true;
    if (error?.name === "NotSupportedError") {
      error = new ConsoleError("ED25519_UNSUPPORTED", "This browser's WebCrypto cannot sign with Ed25519.",
        "Use a current Chromium or Firefox.");
    }
    const code = error.code || "CONSOLE_ERROR";
    const refused = error instanceof GatewayRefused;
    const advice = error.advice || "Reload the console; if it happens again, tell the gateway's operator.";
    replace($("error"), h("section", { class: "error", "aria-labelledby": "error-title" },
      h("h2", { id: "error-title" }, refused ? `Refused: ${code}` : `Could not continue: ${code}`),
      h("p", { class: "error-message" }, error.message || String(error)),
      h("p", {}, h("strong", {}, "What to do: "), advice),
      refused && error.audit ? h("p", { class: "hint" }, `The refusal is logged as audit entry #${error.audit.index}.`) : null));
  }

  // -- routing ------------------------------------------------------------------------------

  /** Where the reviewer was going before the Key page interrupted, once: the queue otherwise. */
  resume() {
    const hash = this.afterKey || "#/queue";
    this.afterKey = null;
    this.navigate(hash);
  }

  /** Go to `hash`; `prefetched` is an object the view may render instead of fetching it again. */
  navigate(hash, prefetched = null) {
    this.prefetched = prefetched;
    this.keepMessages = true; // the notice of the action that led here stays
    if (location.hash === hash) this.route();
    else location.hash = hash;
  }

  takePrefetched(kind, id) {
    const found = this.prefetched;
    this.prefetched = null;
    return found && found.kind === kind && found.value.id === id ? found.value : null;
  }

  /**
   * Show the view `location.hash` names. Each navigation renders into a page element of its own,
   * put in place at once, and has its own token (`visit`, aborted by the next navigation): a view
   * that answers after the reviewer has moved on writes into a page no longer in the document, so
   * a late answer never shows over the current view, and its failure is not reported over it either.
   * The request itself is not cut off: the gateway has logged it, and its receipt is still listed.
   */
  async route() {
    const hash = location.hash || "#/queue";
    if (!hash.startsWith("#/")) return; // an in-page link, not a route
    const [name, id] = hash.slice(2).split("/");
    if (!this.keepMessages) this.clearMessages();
    this.keepMessages = false;
    for (const link of document.querySelectorAll("nav a")) {
      if (link.dataset.route === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    this.visit?.abort();
    const visit = new AbortController();
    this.visit = visit;
    const view = h("div", { class: "page" }, h("p", {}, "Loading…"));
    replace($("view"), view);
    if (name === "key" || !this.identity?.verified) {
      if (name !== "key") {
        this.afterKey = hash; // where to go once a key is loaded
        replace($("notice"), "Load your key first.");
      }
      await keyView(this, view);
    } else if (name === "orders") await ordersView(this, view);
    else if (name === "order" && ID.test(id || "")) await orderView(this, view, id);
    else if (name === "request" && ID.test(id || "")) await requestView(this, view, id);
    else await queueView(this, view);
    if (visit !== this.visit) return; // the reviewer has moved on; that view's title and focus win
    const heading = view.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: false });
    }
    document.title = `${heading ? heading.textContent + " · " : ""}Review console`;
  }

  /** A view's load: `call`, quiet about a failure once the reviewer has navigated away from the view. */
  load(operation, query, variables) {
    return this.call(operation, query, variables, this.visit?.signal);
  }
}

const app = new Console();
window.addEventListener("DOMContentLoaded", () => app.start(), { once: true });
