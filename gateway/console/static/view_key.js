// The Key page: load a `gateway keygen` signing key file (JSON, PEM or JWK), or generate a key here to be
// registered by the operator. Either way the private key becomes a non-extractable CryptoKey.

import { facts, field, h, replace } from "./dom.js";
import { ConsoleError } from "./encoding.js";
import { forgetSavedKey, generateKey, keyFromFile, saveKey } from "./keys.js";

const PRINCIPAL_ID = /^[A-Za-z0-9._-]{1,64}$/;

function principalId(input) {
  const value = input.value.trim();
  if (!PRINCIPAL_ID.test(value)) {
    input.focus();
    throw new ConsoleError("REVIEWER_ID_MISSING", "Type your reviewer id, as the operator registered it (e.g. legal-anna).",
      "Ask the operator for your principal id if you do not know it.");
  }
  return value;
}

function registration(identity) {
  const command = `gateway principals add --role reviewer --id ${identity.principalId} --name "<your name>" --signing-key ${identity.publicKey}`;
  return h("section", { class: "card", "aria-labelledby": "register-title" },
    h("h2", { id: "register-title" }, "Register this key"),
    h("p", {}, "Send the operator the public half below. It is safe to share; the private half never leaves this browser."),
    facts([
      ["Reviewer id", identity.principalId],
      ["Public key (base64)", h("code", { id: "generated-public-key", class: "wrap" }, identity.publicKey)],
      ["Key id (kid)", h("code", { id: "generated-kid" }, identity.kid)],
      ["Operator's command", h("code", { id: "register-command", class: "wrap" }, command)],
    ]));
}

export async function keyView(app, view) {
  const who = app.identity;
  const sections = [h("h1", {}, "Your signing key")];

  if (who) {
    const forget = h("button", { type: "button", id: "forget-key", class: "secondary" }, "Forget this key");
    const check = h("button", { type: "button", id: "check-key" }, "Check with the gateway");
    forget.addEventListener("click", () => app.act(forget, async () => {
      await forgetSavedKey();
      app.forget();
      app.notice("The key is forgotten: it is gone from this page and from this browser's storage.");
      await keyView(app, view);
    }));
    check.addEventListener("click", () => app.act(check, async () => {
      await app.adopt(app.identity);
      app.notice(`The gateway knows this key: you are ${app.identity.principalId}.`);
      app.resume();
    }));
    sections.push(h("section", { class: "card", "aria-labelledby": "loaded-title" },
      h("h2", { id: "loaded-title" }, who.verified ? "Loaded" : "Loaded, not yet accepted by the gateway"),
      facts([
        ["Reviewer id", who.principalId],
        ["Name", who.name || "—"],
        ["Key id (kid)", h("code", { id: "loaded-kid" }, who.kid)],
        ["Public key", h("code", { class: "wrap" }, who.publicKey)],
        ["Kept in this browser", who.kept ? "yes, as a non-extractable key in IndexedDB" : "no: only until this page is closed"],
      ]),
      who.verified ? null : h("p", {}, "If the operator has registered it since, check again."),
      h("div", { class: "actions" }, who.verified ? null : check, forget)));
    if (!who.verified) sections.push(registration(who));
  }

  const idInput = h("input", { id: "principal-id", name: "principal-id", type: "text", autocomplete: "username",
    spellcheck: "false", required: true, value: who?.principalId || "" });
  const fileInput = h("input", { id: "key-file", name: "key-file", type: "file", accept: ".key,.pem,.jwk,.json,application/json", required: true });
  const keep = h("input", { id: "keep-key", type: "checkbox", checked: true });
  const load = h("button", { type: "button", id: "load-key" }, "Use this key");
  load.addEventListener("click", () => app.act(load, async () => {
    const id = principalId(idInput);
    const file = fileInput.files[0];
    if (!file) {
      fileInput.focus();
      throw new ConsoleError("KEY_FILE_MISSING", "Choose your key file first.", "It is the PREFIX.sign.key file that `gateway keygen` wrote.");
    }
    const key = await keyFromFile(await file.text());
    fileInput.value = ""; // the page keeps no handle on the file
    try {
      await app.adopt({ ...key, principalId: id, kept: keep.checked });
    } catch (error) {
      app.forget(); // a key the gateway refused is not kept, here or in storage
      throw error;
    }
    if (keep.checked) await saveKey(app.identity);
    else await forgetSavedKey();
    app.notice(`Key ${key.kid} loaded: you are ${id}.`);
    app.resume();
  }));

  sections.push(h("section", { class: "card", "aria-labelledby": "load-title" },
    h("h2", { id: "load-title" }, "Load your key file"),
    h("p", {}, "The file is read here, in the browser. Its key is imported into the browser's WebCrypto as a key that cannot be read back, and is never sent anywhere."),
    field("Your reviewer id", idInput),
    field("Key file", fileInput, "PREFIX.sign.key, as written by gateway keygen --out PREFIX, in any --format: gateway, pem or jwk"),
    h("div", { class: "check" }, keep, h("label", { for: "keep-key" }, "Keep the key in this browser across visits (IndexedDB; it stays non-extractable)")),
    h("div", { class: "actions" }, load)));

  const newId = h("input", { id: "new-principal-id", type: "text", autocomplete: "username", spellcheck: "false", required: true });
  const generate = h("button", { type: "button", id: "generate-key", class: "secondary" }, "Generate a key in this browser");
  generate.addEventListener("click", () => app.act(generate, async () => {
    const id = principalId(newId);
    const key = await generateKey();
    // A generated key exists nowhere else, so it is always kept.
    const identity = { ...key, principalId: id, kept: true };
    await saveKey(identity);
    app.hold(identity); // not asked of the gateway yet: it cannot know a key made a moment ago
    app.notice(`Key ${key.kid} generated and kept in this browser. Send its public half to the operator to be registered.`);
    await keyView(app, view);
  }));
  sections.push(h("section", { class: "card", "aria-labelledby": "generate-title" },
    h("h2", { id: "generate-title" }, "Or generate a key here"),
    h("p", {}, "The browser makes the key and will never export its private half, not even to you: it lives only in this browser's storage, so losing that storage means registering a new key."),
    field("Reviewer id to register", newId),
    h("div", { class: "actions" }, generate)));

  replace(view, sections);
}
