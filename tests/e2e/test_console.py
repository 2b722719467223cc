"""The review console in a real browser against `gateway serve` on loopback (issue 18).

Chromium loads the console from the gateway, each reviewer's key file goes into its own browser
context, and everything is done by clicking: draft, approve twice, reject, revoke. The audit log
is read from the database after each action; the pages' every request is recorded, and one to
another origin is refused and fails the test. Screenshots go to $CONSOLE_SCREENSHOT_DIR (or a
temporary folder, printed).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Request, Route, expect, sync_playwright
from typer.testing import CliRunner

from gateway.audit.checkpoints import log_size
from gateway.cli.main import app as gateway_cli
from gateway.store.engine import Database
from gateway.store.tables import AuditEntry, LegalRequestRow, OrderRow
from gateway.subjects.synthetic import generate_subjects
from tests.support.browser import Watched, launch, screenshot_dir, watched
from tests.support.live import clean_env, free_port, serving
from tests.support.plaintext import leaks, secrets_of

pytestmark = pytest.mark.e2e

REVIEWERS = ("legal-anna", "legal-ben")
REQUEST_WINDOW = ("2026-02-01T00:00:00Z", "2026-10-01T00:00:00Z")
ORDER_WINDOW = ("2026-04-01T00:00:00Z", "2026-07-01T00:00:00Z")


@dataclass
class Site:
    root: Path
    url: str
    db: Database
    keys: dict[str, Path]
    subjects: list[dict[str, Any]]
    granted: str  # the request to be drafted, approved and revoked
    refused: str  # the request to be rejected
    shots: Path
    env: dict[str, str] = field(default_factory=dict)  # what the gateway's commands run with

    def audit_size(self) -> int:
        with self.db.engine.connect() as connection:
            return log_size(connection)

    def audit_entry(self, index: int) -> dict[str, Any]:
        with self.db.session() as session:
            row = session.get(AuditEntry, index)
            assert row is not None, f"no audit entry {index}"
            return dict(json.loads(row.entry))

    def order_document(self, order_id: str) -> str:
        with self.db.session() as session:
            return str(session.get(OrderRow, order_id).document)

    def request_row(self, request_id: str) -> LegalRequestRow:
        with self.db.session() as session:
            return session.get(LegalRequestRow, request_id)


def _cli(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(gateway_cli, list(args), env=env)
    assert result.exit_code == 0, f"gateway {' '.join(args)}\n{result.output}"
    return result.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A gateway with an authority, two reviewers and six subjects, two requests submitted; served."""
    root = tmp_path_factory.mktemp("console")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(GATEWAY_DATA_DIR=str(root / "var"), GATEWAY_ID="gateway.console", GATEWAY_URL=url,
                    GATEWAY_RATE_LIMIT_PER_MINUTE="100000")
    keys = {who: root / "keys" / who for who in ("bka-de", *REVIEWERS)}
    _cli(env, "init")
    public = {who: json.loads(_cli(env, "keygen", "--out", str(prefix))) for who, prefix in keys.items()}
    _cli(env, "principals", "add", "--role", "authority", "--id", "bka-de", "--name", "BKA", "--country", "DE",
         "--signing-key", public["bka-de"]["signing_key"], "--sealing-key", public["bka-de"]["sealing_key"])
    for reviewer in REVIEWERS:
        _cli(env, "principals", "add", "--role", "reviewer", "--id", reviewer, "--name", reviewer.title(),
             "--signing-key", public[reviewer]["signing_key"])
    subjects = list(generate_subjects(6, seed=18, ip_events=4))
    jsonl = root / "subjects.jsonl"
    jsonl.write_text("".join(json.dumps(s) + "\n" for s in subjects), encoding="utf-8")
    _cli(env, "subjects", "import", str(jsonl))
    court_order = root / "court-order.pdf"
    court_order.write_bytes(b"%PDF-1.7 Beschluss")
    log = root / "server.log"
    db = Database(f"sqlite:///{root / 'var' / 'gateway.db'}")
    with serving(env, root, port, log):
        authority = ["--id", "bka-de", "--key", str(keys["bka-de"])]

        def submit(reference: str, chosen: list[dict[str, Any]], *extra: str) -> str:
            selectors = [a for s in chosen for a in ("--phone", s["phone"])]
            return str(json.loads(_cli(
                env, "request", "submit", *authority, "--case-reference", reference, "--court", "AG Tiergarten",
                "--jurisdiction", "DE", "--legal-basis", "§ 100g StPO", "--offense-category", "fraud",
                "--court-order", str(court_order), *selectors, "--phone", "+4915123456789",
                "--fields", "phoneNumber,ipAddresses,usernameHistory", "--from", REQUEST_WINDOW[0],
                "--until", REQUEST_WINDOW[1], "--justification", "Investment fraud ring; accounts used to "
                "contact victims between February and September.", *extra, "--json"))["id"])

        granted = submit("AZ 4711/26", subjects[:3])
        refused = submit("AZ 0815/26", subjects[3:5], "--emergency", "--imminent-risk",
                         "a threat to a named victim's life, received today")
        yield Site(root, url, db, keys, subjects, granted, refused, screenshot_dir(), env)
    db.dispose()
    assert leaks([log.read_text(errors="replace")], secrets_of(subjects)) == [], "plaintext in the server log"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    expect.set_options(timeout=10_000)  # a loaded 2-core machine; a bound, not a wait
    with sync_playwright() as playwright:
        launched = launch(playwright)
        yield launched
        launched.close()


def load_key(page: Page, site: Site, who: str, *, keep: bool = True, at: str = "/console/#/key") -> None:
    """Open the console at ``at`` (any page shows the Key page until a key is loaded) and load ``who``'s key."""
    page.goto(at)
    page.get_by_label("Your reviewer id", exact=True).fill(who)
    page.get_by_label("Key file", exact=True).set_input_files(site.keys[who].with_suffix(".sign.key"))
    keep_box = page.get_by_label("Keep the key in this browser", exact=False)
    keep_box.check() if keep else keep_box.uncheck()
    page.get_by_role("button", name="Use this key").click()
    expect(page.locator("#who")).to_contain_text(f"Signed in as {who}")


def newest_receipt(page: Page) -> int:
    return int(page.locator("#receipts li").first.get_attribute("data-index") or "-1")


def act(site: Site, tab: Watched, principal: str, click: Any, *, done: Any) -> dict[str, Any]:
    """Do one action; assert it made exactly one request and one audit entry, the one the page shows."""
    before, posts = site.audit_size(), len(tab.graphql_posts())
    click()
    done()
    assert len(tab.graphql_posts()) == posts + 1, "an action is exactly one signed request"
    assert site.audit_size() == before + 1, "an action is exactly one audit entry"
    assert newest_receipt(tab.page) == before
    entry = site.audit_entry(before)
    assert (entry["principal"], entry["principal_verified"], entry["decision"]) == (principal, True, "served")
    leaf = tab.page.locator("#receipts li").first.locator(".receipt-leaf").inner_text()
    with site.db.session() as session:
        row = session.get(AuditEntry, before)
        assert row is not None and leaf == base64.b64encode(row.leaf_hash).decode()
    return entry


UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea, button")]
  .filter((c) => c.checkVisibility())
  .filter((c) => !(c.labels && c.labels.length) && !c.getAttribute("aria-label") && !c.textContent.trim())
  .map((c) => c.outerHTML)"""


def unlabelled(page: Page) -> list[str]:
    """The visible controls of the page that have no label a screen reader could announce."""
    return list(page.evaluate(UNLABELLED))


def shot(page: Page, site: Site, name: str, *, full_page: bool = False) -> None:
    page.screenshot(path=site.shots / f"{name}.png", full_page=full_page)


def test_two_reviewers_draft_approve_reject_and_revoke_in_the_browser(browser: Browser, site: Site) -> None:
    start = site.audit_size()
    guarded = secrets_of(site.subjects)
    seen_pages: list[str] = []
    with watched(browser, site.url) as anna, watched(browser, site.url) as ben:
        load_key(anna.page, site, "legal-anna")
        page = anna.page
        expect(page.locator("#queue tbody tr")).to_have_count(2)
        # Pending first; the emergency before the other.
        expect(page.locator("#queue tbody tr").first).to_contain_text("AZ 0815/26")
        expect(page.locator("#queue tbody tr").first).to_contain_text("EMERGENCY")
        page.get_by_label("Emergency only").check()
        expect(page.locator("#queue tbody tr")).to_have_count(1)
        page.get_by_label("Emergency only").uncheck()
        shot(page, site, "queue")
        seen_pages.append(page.content())
        assert unlabelled(page) == []

        page.get_by_role("link", name="AZ 4711/26").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Request AZ 4711/26")
        expect(page.locator("#selector-counts")).to_have_text("3 resolved to subjects, 1 did not")
        expect(page.locator("#request-facts")).to_contain_text("§ 100g StPO")
        expect(page.locator("#justification")).to_contain_text("Investment fraud ring")
        shot(page, site, "request", full_page=True)
        seen_pages.append(page.content())
        assert unlabelled(page) == []

        # Narrow: two of the three subjects, two of the three fields, a shorter window.
        subject_boxes = page.locator("fieldset", has_text="Subjects").get_by_role("checkbox")
        expect(subject_boxes).to_have_count(3)
        kept = [subject_boxes.nth(i).get_attribute("value") for i in (0, 1)]
        subject_boxes.nth(2).uncheck()
        page.get_by_label("Username history (usernameHistory)").uncheck()
        page.get_by_label("From", exact=True).fill(ORDER_WINDOW[0])
        page.get_by_label("Until (exclusive)").fill(ORDER_WINDOW[1])
        valid_until = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
        page.get_by_label("Valid until").fill(valid_until)
        page.get_by_label("Max queries").fill("5")
        act(site, anna, "legal-anna", page.get_by_role("button", name="Draft order").click,
            done=lambda: expect(page.locator("#order-status")).to_have_text("PENDING APPROVAL"))
        order_id = page.get_by_role("heading", level=1).inner_text().removeprefix("Order ")
        document = site.order_document(order_id)
        parsed = json.loads(document)
        assert (parsed["subjects"], parsed["fields"]) == (sorted(kept), ["ipAddresses", "phoneNumber"])
        assert (parsed["data_window"], parsed["max_queries"]) == (dict(zip(("from", "until"), ORDER_WINDOW,
                                                                           strict=True)), 5)
        expect(page.locator("#order-document")).to_have_text(document)

        page.get_by_role("button", name="Review and approve…").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        expect(dialog.locator("#approve-document")).to_have_text(document)
        expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
        shot(page, site, "approval-dialog")
        seen_pages.append(page.content())
        assert unlabelled(page) == []
        act(site, anna, "legal-anna", dialog.get_by_role("button", name="Sign and approve").click,
            done=lambda: expect(page.locator("#order-approvals")).to_have_text("1 of 2 required"))
        expect(page.locator("#order-status")).to_have_text("PENDING APPROVAL")

        # ben follows a link to the order: the console asks for his key first, then goes there.
        load_key(ben.page, site, "legal-ben", at=f"/console/#/order/{order_id}")
        expect(ben.page.get_by_role("heading", level=1)).to_have_text(f"Order {order_id}")
        assert unlabelled(ben.page) == []
        # By keyboard alone: open the dialog, leave Cancel (focused first) for Sign, press Enter.
        ben.page.get_by_role("button", name="Review and approve…").focus()
        ben.page.keyboard.press("Enter")
        expect(ben.page.locator("#approve-document")).to_have_text(document)
        expect(ben.page.get_by_role("button", name="Cancel")).to_be_focused()
        ben.page.keyboard.press("Tab")
        expect(ben.page.get_by_role("button", name="Sign and approve")).to_be_focused()
        act(site, ben, "legal-ben", lambda: ben.page.keyboard.press("Enter"),
            done=lambda: expect(ben.page.locator("#order-status")).to_have_text("ACTIVE"))
        expect(ben.page.locator("#order-approvals")).to_have_text("2 of 2 required")
        expect(ben.page.locator("#order-queries")).to_have_text("0 of 5")
        assert site.request_row(site.granted).status == "GRANTED"

        ben.page.goto(f"/console/#/request/{site.refused}")
        reason = "The court order does not cover these accounts."
        ben.page.get_by_label("Reason (the authority sees it)").fill(reason)
        act(site, ben, "legal-ben", ben.page.get_by_role("button", name="Reject request").click,
            done=lambda: expect(ben.page.locator("#request-facts")).to_contain_text("REJECTED"))
        expect(ben.page.locator("#request-facts")).to_contain_text(reason)
        assert (site.request_row(site.refused).status, site.request_row(site.refused).rejection_reason) == \
            ("REJECTED", reason)

        page.reload()  # anna's page had the order as it was before ben's approval
        expect(page.locator("#order-status")).to_have_text("ACTIVE")
        page.get_by_label("Reason (recorded with the order)").fill("The investigation was closed.")
        act(site, anna, "legal-anna", page.get_by_role("button", name="Revoke order").click,
            done=lambda: expect(page.locator("#order-status")).to_have_text("REVOKED"))
        seen_pages += [page.content(), ben.page.content()]

        posts = len(anna.graphql_posts()) + len(ben.graphql_posts())
        assert anna.foreign == ben.foreign == [], "a request left for another origin"
        assert {r.url.split("/console/")[0].split("/graphql")[0].split("/.well-known")[0]
                for r in anna.requests + ben.requests} == {site.url}
        assert anna.problems == ben.problems == []
    # Every request the consoles sent is logged once, and nothing else wrote to the log.
    assert site.audit_size() == start + posts
    assert leaks(seen_pages, guarded) == [], "subject data on a console page"
    print(f"console screenshots in {site.shots}")


def _seed_forms(key_file: Path) -> list[str]:
    """Every form in which the private key could travel or be stored."""
    text = key_file.read_text(encoding="utf-8")
    seed = base64.b64decode(json.loads(text)["key"])
    pkcs8 = bytes.fromhex("302e020100300506032b657004220420") + seed
    forms = [text.strip(), json.loads(text)["key"], seed.hex()]
    for raw in (seed, pkcs8):
        forms += [base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")]
    # A shorter run of each also counts: a form split across two values would hide the whole.
    return forms + [f[:24] for f in forms]


INSPECT_STORAGE = """async () => {
  const out = { local: {...localStorage}, session: {...sessionStorage}, cookie: document.cookie,
                caches: await caches.keys(), records: [], keys: [] };
  for (const info of await indexedDB.databases()) {
    const db = await new Promise((ok, fail) => { const r = indexedDB.open(info.name); r.onsuccess = () => ok(r.result);
                                                 r.onerror = () => fail(r.error); });
    for (const store of db.objectStoreNames) {
      const tx = db.transaction(store);
      const [values, keys] = await Promise.all(["getAll", "getAllKeys"].map((m) => new Promise((ok) => {
        const r = tx.objectStore(store)[m](); r.onsuccess = () => ok(r.result); })));
      for (let i = 0; i < values.length; i++) {
        const where = `${info.name}/${store}/${keys[i]}`;
        const found = [];
        const text = JSON.stringify(values[i], function (name, value) {
          if (value instanceof CryptoKey) { found.push([name, value]); return {cryptoKey: name}; }
          return value;
        });
        out.records.push([where, text]);
        for (const [name, key] of found) {
          const exports = [];
          for (const format of ["jwk", "pkcs8", "raw"]) {
            try { await crypto.subtle.exportKey(format, key); exports.push(`${format}: exported`); }
            catch (error) { exports.push(`${format}: ${error.name}`); }
          }
          out.keys.push({ where: `${where}.${name}`, type: key.type, extractable: key.extractable,
                          algorithm: key.algorithm.name, usages: key.usages, exports });
        }
      }
    }
    db.close();
  }
  return out;
}"""


def test_the_key_is_non_extractable_and_never_leaves_indexeddb(browser: Browser, site: Site) -> None:
    key_file = site.keys["legal-anna"].with_suffix(".sign.key")
    forms = _seed_forms(key_file)
    with watched(browser, site.url, width=390, height=844) as tab:  # a phone-sized window, too
        page = tab.page
        load_key(page, site, "legal-anna")
        expect(page.locator("#queue tbody tr").first).to_be_visible()
        shot(page, site, "queue-narrow")
        page.reload()  # a new visit: the key comes back from IndexedDB, still able to sign
        expect(page.locator("#who")).to_contain_text("Signed in as legal-anna")
        expect(page.locator("#queue tbody tr").first).to_be_visible()
        stored = page.evaluate(INSPECT_STORAGE)
        dom = page.content()
        sent = [r.url + json.dumps(r.all_headers()) + (r.post_data or "") for r in tab.requests]
        assert len(tab.graphql_posts()) >= 4
        assert tab.foreign == [] and tab.problems == []

    assert stored["keys"] == [{
        "where": "disclosure-gateway-console/keys/reviewer.privateKey", "type": "private", "extractable": False,
        "algorithm": "Ed25519", "usages": ["sign"],
        "exports": ["jwk: InvalidAccessError", "pkcs8: InvalidAccessError", "raw: InvalidAccessError"]}]
    record = json.loads(dict(stored["records"])["disclosure-gateway-console/keys/reviewer"])
    assert set(record) == {"principalId", "kid", "publicKey", "privateKey"}
    assert record["privateKey"] == {"cryptoKey": "privateKey"}
    elsewhere = [json.dumps(stored["local"]), json.dumps(stored["session"]), stored["cookie"],
                 json.dumps(stored["caches"]), *(text for _, text in stored["records"]), dom, *sent]
    assert [f for f in forms if any(f in text for text in elsewhere)] == []
    # The check can see a key: the key file's public half is stored and is found.
    assert record["kid"] == json.loads(key_file.read_text())["kid"]


def test_a_key_generated_in_the_browser_carries_the_gateways_kid_and_signs_once_registered(
        browser: Browser, site: Site) -> None:
    from crypto.keys import decode_signing_public_key, key_id

    with watched(browser, site.url) as tab:
        page = tab.page
        page.goto("/console/#/key")
        page.get_by_label("Reviewer id to register").fill("legal-cleo")
        page.get_by_role("button", name="Generate a key in this browser").click()
        public_key = page.locator("#generated-public-key").inner_text()
        kid = page.locator("#generated-kid").inner_text()
        assert kid == key_id(decode_signing_public_key(public_key))
        command = page.locator("#register-command").inner_text()
        assert f"--id legal-cleo --name \"<your name>\" --signing-key {public_key}" in command
        env = clean_env(GATEWAY_DATA_DIR=str(site.root / "var"), GATEWAY_ID="gateway.console")
        _cli(env, "principals", "add", "--role", "reviewer", "--id", "legal-cleo", "--name", "Cleo",
             "--signing-key", public_key)
        page.get_by_role("button", name="Check with the gateway").click()
        expect(page.locator("#who")).to_contain_text("Signed in as legal-cleo")
        stored = page.evaluate(INSPECT_STORAGE)
        assert [(k["extractable"], k["usages"]) for k in stored["keys"]] == [(False, ["sign"])]
        assert tab.foreign == [] and tab.problems == []


def test_a_refusal_shows_its_protocol_code_what_to_do_and_its_audit_entry(browser: Browser, site: Site) -> None:
    with watched(browser, site.url) as tab:
        page = tab.page
        page.goto("/console/#/key")
        page.get_by_label("Your reviewer id", exact=True).fill("legal-anna")
        # ben's key under anna's id: the gateway cannot verify the token with anna's key.
        page.get_by_label("Key file", exact=True).set_input_files(site.keys["legal-ben"].with_suffix(".sign.key"))
        before = site.audit_size()
        page.get_by_role("button", name="Use this key").click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("Refused: TOKEN_INVALID")
        expect(alert).to_contain_text("What to do: The gateway could not verify your token")
        expect(alert).to_contain_text(f"logged as audit entry #{before}")
        expect(page.locator("#who")).to_have_text("No key loaded")
        assert site.audit_entry(before)["code"] == "TOKEN_INVALID"

        page.get_by_label("Key file", exact=True).set_input_files(site.keys["legal-ben"].with_suffix(".seal.key"))
        page.get_by_role("button", name="Use this key").click()
        expect(alert).to_contain_text("KEY_FILE_INVALID")
        expect(alert).to_contain_text("That is a sealing key")
        assert site.audit_size() == before + 1, "a bad key file sends nothing"
        assert tab.foreign == []


INTEROP = """async ([keyText, body, documentText, samples]) => {
  const keys = await import("/console/keys.js");
  const token = await import("/console/token.js");
  const approval = await import("/console/approval.js");
  const canonical = await import("/console/canonical.js");
  const key = await keys.keyFromFile(keyText);
  const made = await token.createToken({ privateKey: key.privateKey, kid: key.kid, issuer: "legal-anna",
    audience: "gateway.console", body: new TextEncoder().encode(body), now: 1700000000 });
  const signature = await approval.approvalSignature(key.privateKey, documentText);
  const refusals = [];
  const parsed = JSON.parse(documentText);
  const orderId = parsed.order_id;
  for (const text of [documentText.replace('"v":1', '"v":1,"v":2'), JSON.stringify(parsed, null, 1),
                      documentText.replace(orderId, "ord_00000000000000000000")]) {
    try { canonical.checkedDocument(text, orderId); refusals.push("signed"); } catch (e) { refusals.push(e.code); }
  }
  return { token: made, signature, kid: key.kid, refusals,
           accepted: canonical.checkedDocument(documentText, orderId).order_id,
           canonical: samples.map((s) => canonical.canonicalize(JSON.parse(s))) };
}"""


def test_the_consoles_tokens_approvals_and_jcs_are_the_gateways_own(browser: Browser, site: Site) -> None:
    """The browser's modules against crypto/: the same token claims, signatures and RFC 8785 bytes."""
    from crypto.canonical import canonical_json
    from crypto.keys import read_signing_key
    from crypto.signing import ORDER_DOMAIN, verify_signature_over
    from crypto.tokens import peek_token, verify_token

    key_file = site.keys["legal-anna"].with_suffix(".sign.key")
    signing_key = read_signing_key(key_file)
    body = json.dumps({"query": "{ whoami { id } }", "variables": {"note": "§ 100g – ü 😀"}}, ensure_ascii=False)
    document = canonical_json({"v": 1, "order_id": "ord_0123456789abcdef0123", "legal_basis": "§ 100g StPO",
                               "subjects": ["sub_1", "sub_2"], "max_queries": 10}).decode()
    samples = [{"\u20ac": "Euro", "\r": "CR", "1": "One", "😀": "emoji", "a": [1, 1.5, 1e21, 1e-7, -0.0]},
               {"nested": {"z": None, "b": True, "a": "\u0000\u001f\"\\/"}, "": 0}]
    with watched(browser, site.url) as tab:
        tab.page.goto("/console/#/key")
        result = tab.page.evaluate(INTEROP, [key_file.read_text(), body, document, [json.dumps(s) for s in samples]])
        assert tab.foreign == [] and tab.problems == []

    claims = verify_token(result["token"], verify_key=signing_key.verify_key, audience="gateway.console",
                          body=body.encode(), now=1700000000)
    assert (claims.issuer, claims.issued_at, claims.expires_at, claims.order_id) == ("legal-anna", 1700000000,
                                                                                      1700000060, None)
    assert len(claims.jti) == 32 and peek_token(result["token"]) == ("legal-anna", result["kid"])
    header, payload, _ = result["token"].split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "EdDSA", "typ": "JWT", "kid": result["kid"]}
    assert set(json.loads(base64.urlsafe_b64decode(payload + "=="))) == {"iss", "aud", "iat", "exp", "jti",
                                                                         "body_sha256"}
    verify_signature_over(ORDER_DOMAIN, document.encode(), result["signature"], signing_key.verify_key)
    assert result["accepted"] == "ord_0123456789abcdef0123"
    assert result["refusals"] == ["DOCUMENT_REFUSED"] * 3  # a duplicate member, not canonical, another order
    assert result["canonical"] == [canonical_json(s).decode() for s in samples]


# -- the key files of every `gateway keygen --format`, categories, late answers ---------------------


def _env(site: Site) -> dict[str, str]:
    return clean_env(GATEWAY_DATA_DIR=str(site.root / "var"), GATEWAY_ID="gateway.console", GATEWAY_URL=site.url)


def _pending_order(site: Site, reference: str, subject: dict[str, Any]) -> tuple[str, str]:
    """A request for ``subject`` submitted by the authority and an order drafted from it by legal-anna
    (both by the command line): ``(request id, order id)``, the order awaiting approvals."""
    env = _env(site)
    request_id = str(json.loads(_cli(
        env, "request", "submit", "--id", "bka-de", "--key", str(site.keys["bka-de"]), "--case-reference", reference,
        "--court", "AG Tiergarten", "--jurisdiction", "DE", "--legal-basis", "§ 100g StPO", "--offense-category",
        "fraud", "--court-order", str(site.root / "court-order.pdf"), "--phone", subject["phone"],
        "--fields", "phoneNumber,ipAddresses", "--from", REQUEST_WINDOW[0], "--until", REQUEST_WINDOW[1],
        "--justification", "Investment fraud ring; one more account.", "--json"))["id"])
    valid_until = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    order_id = str(json.loads(_cli(
        env, "review", "draft", request_id, "--id", "legal-anna", "--key", str(site.keys["legal-anna"]),
        "--valid-until", valid_until, "--max-queries", "3", "--json"))["id"])
    return request_id, order_id


def _reviewer_with_key_format(site: Site, who: str, key_format: str) -> Path:
    """Register reviewer ``who`` with keys `gateway keygen --format key_format` wrote; its signing key file."""
    env = _env(site)
    prefix = site.root / "keys" / who
    public = json.loads(_cli(env, "keygen", "--out", str(prefix), "--format", key_format))
    _cli(env, "principals", "add", "--role", "reviewer", "--id", who, "--name", who.title(),
         "--signing-key", public["signing_key"])
    site.keys[who] = prefix
    return prefix.with_suffix(".sign.key")


CATEGORY_LABELS = """async () => Object.keys((await import("/console/format.js")).CATEGORY)"""
FRAUD = "Fraud (FRAUD)"  # the one way the console shows the category the demo and these tests use


def test_pem_and_jwk_key_files_load_and_two_reviewers_approve_with_them(browser: Browser, site: Site) -> None:
    from client.wire import OffenseCategory

    pem = _reviewer_with_key_format(site, "legal-pem", "pem")
    jwk = _reviewer_with_key_format(site, "legal-jwk", "jwk")
    assert pem.read_text().startswith("-----BEGIN PRIVATE KEY-----\n") and json.loads(jwk.read_text())["kty"] == "OKP"
    request_id, order_id = _pending_order(site, "AZ 1312/26", site.subjects[5])
    document = site.order_document(order_id)
    assert json.loads(document)["offense_category"] == "fraud"  # the document's own spelling (PROTOCOL §3)
    with watched(browser, site.url) as first, watched(browser, site.url) as second:
        for tab, who, approvals in ((first, "legal-pem", "1 of 2 required"), (second, "legal-jwk", "2 of 2 required")):
            page = tab.page
            load_key(page, site, who)
            # The offense category reads the same in the queue, on the request and in what is signed.
            expect(page.locator(f"#queue tbody tr[data-request='{request_id}']")).to_contain_text(FRAUD)
            page.goto(f"/console/#/request/{request_id}")
            expect(page.locator("#request-facts")).to_contain_text(f"Offense category{FRAUD}")
            page.goto(f"/console/#/order/{order_id}")
            page.get_by_role("button", name="Review and approve…").click()
            dialog = page.get_by_role("dialog")
            expect(dialog.locator("#approve-document")).to_have_text(document)
            expect(dialog.locator("#approve-rows")).to_contain_text(f"offense_category{FRAUD}")
            act(site, tab, who, dialog.get_by_role("button", name="Sign and approve").click,
                done=lambda page=page, approvals=approvals: expect(page.locator("#order-approvals")).to_have_text(
                    approvals))
            stored = page.evaluate(INSPECT_STORAGE)
            assert [(k["extractable"], k["usages"], k["exports"]) for k in stored["keys"]] == [
                (False, ["sign"], ["jwk: InvalidAccessError", "pkcs8: InvalidAccessError", "raw: InvalidAccessError"])]
            assert tab.foreign == [] and tab.problems == []
        expect(second.page.locator("#order-status")).to_have_text("ACTIVE")
        labels = first.page.evaluate(CATEGORY_LABELS)
    assert site.request_row(request_id).status == "GRANTED"  # the approval that made the order ACTIVE
    assert labels == [c.value for c in OffenseCategory]  # one label for each wire name, no other


def _jwk_without(jwk: dict[str, str], **changes: str | None) -> bytes:
    return json.dumps({k: v for k, v in (jwk | changes).items() if v is not None}).encode()


def test_a_key_file_in_no_format_keygen_writes_is_refused_and_sends_nothing(browser: Browser, site: Site) -> None:
    from nacl.signing import SigningKey

    from crypto.encoding import b64url_encode

    prefix = site.root / "keys" / "refused-formats"
    _cli(_env(site), "keygen", "--out", str(prefix / "pem"), "--format", "pem")
    _cli(_env(site), "keygen", "--out", str(prefix / "jwk"), "--format", "jwk")
    pem = (prefix / "pem.sign.key").read_text()
    jwk = json.loads((prefix / "jwk.sign.key").read_text())
    other = b64url_encode(bytes(SigningKey.generate().verify_key))
    body = pem.splitlines()[1]
    cases = {
        "pem sealing key": ((prefix / "pem.seal.key").read_bytes(), "That is a sealing key"),
        "jwk sealing key": ((prefix / "jwk.seal.key").read_bytes(), "That is a sealing key"),
        "public jwk": (_jwk_without(jwk, d=None), "only a public key"),
        "jwk of another key": (_jwk_without(jwk, x=other), "x is not the public half of its d"),
        "padded jwk": (_jwk_without(jwk, d=jwk["d"] + "="), "not unpadded base64url"),
        "jwk on another curve": (_jwk_without(jwk, crv="P-256"), "curve is not Ed25519"),
        "public pem": (f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n".encode(), "a public key"),
        "encrypted pem": (b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
                          "an encrypted private key"),
        "pem cut short": (pem.replace("-----END PRIVATE KEY-----", "").encode(), "does not end with"),
        "pem of another algorithm": (pem.replace(body, base64.b64encode(
            bytes.fromhex("302e020100300506032b657104220420") + bytes(32)).decode()).encode(), "not a PKCS #8"),
        "neither": (b"ssh-ed25519 AAAA", "neither a PEM nor JSON"),
    }
    with watched(browser, site.url) as tab:
        page = tab.page
        page.goto("/console/#/key")
        page.get_by_label("Your reviewer id", exact=True).fill("legal-anna")
        before = site.audit_size()
        shown: dict[str, str] = {}
        for name, (content, _) in cases.items():
            page.get_by_label("Key file", exact=True).set_input_files(
                {"name": "PREFIX.sign.key", "mimeType": "application/octet-stream", "buffer": content})
            page.get_by_role("button", name="Use this key").click()
            alert = page.get_by_role("alert")
            expect(alert).to_contain_text("KEY_FILE_INVALID")
            shown[name] = alert.inner_text()
            page.evaluate("() => document.getElementById('error').replaceChildren()")
        assert {name: expected in shown[name] for name, (_, expected) in cases.items()} == dict.fromkeys(cases, True)
        expect(page.locator("#who")).to_have_text("No key loaded")
        assert site.audit_size() == before, "a refused key file sends nothing"
        assert tab.graphql_posts() == [] and tab.foreign == []


def test_a_late_answer_for_the_previous_view_never_renders_over_the_current_one(browser: Browser, site: Site) -> None:
    _, order_id = _pending_order(site, "AZ 2024/26", site.subjects[0])
    held: list[Route] = []

    def hold_the_queue(route: Route) -> None:
        if "query Requests" in (route.request.post_data or ""):
            held.append(route)  # answered only when the test says so
        else:
            route.fallback()

    def is_queue_load(request: Request) -> bool:
        return request.method == "POST" and "query Requests" in (request.post_data or "")

    with watched(browser, site.url) as tab:
        page = tab.page
        load_key(page, site, "legal-anna")
        expect(page.locator("#queue tbody tr").first).to_be_visible()
        page.route("**/graphql", hold_the_queue)
        with page.expect_request(is_queue_load):
            page.reload()  # the kept key signs in again; the queue's answer is held
        page.evaluate(f"() => {{ location.hash = '#/order/{order_id}'; }}")
        heading = page.get_by_role("heading", level=1)
        expect(heading).to_have_text(f"Order {order_id}")
        assert len(held) == 1, "the queue's answer was still outstanding when the order was shown"
        held[0].fallback()  # now the queue answers, late
        expect(page.locator("#receipts .receipt-op", has_text="Load requests")).to_have_count(1)
        page.evaluate("() => new Promise((done) => setTimeout(done, 0))")  # a task after the answer's microtasks
        expect(heading).to_have_text(f"Order {order_id}")
        expect(page.locator("#queue")).to_have_count(0)
        expect(page.locator("#order-status")).to_have_text("PENDING APPROVAL")
        assert page.url.endswith(f"/console/#/order/{order_id}")
        assert page.title() == f"Order {order_id} · Review console"
        expect(page.locator("#error")).to_be_empty()
        assert tab.foreign == [] and tab.problems == []


def test_the_clarification_thread_amendments_and_a_withdrawal_show_in_the_browser(browser: Browser,
                                                                                   site: Site) -> None:
    """Docs/PROTOCOL.md §17 in the console: a reviewer asks by clicking; the authority answers with an
    amendment and later withdraws (its own commands); the page shows the thread, the diff and the
    withdrawal, and no audit entry holds the texts. Last in the module: it adds a request to the queue."""
    authority = ["--id", "bka-de", "--key", str(site.keys["bka-de"]), "--url", site.url]
    chosen = site.subjects[:2]
    request_id = str(json.loads(_cli(
        site.env, "request", "submit", *authority, "--case-reference", "AZ 1234/26", "--court", "AG Tiergarten",
        "--jurisdiction", "DE", "--legal-basis", "§ 100g StPO", "--offense-category", "fraud",
        "--court-order-sha256", "ab" * 32, *[a for s in chosen for a in ("--phone", s["phone"])],
        "--fields", "phoneNumber,ipAddresses", "--from", REQUEST_WINDOW[0], "--until", REQUEST_WINDOW[1],
        "--justification", "Phishing wave.", "--json"))["id"])
    question, answer, reason = "Which of the two numbers sent the lure?", "The first one only.", "Case closed."
    start = site.audit_size()
    with watched(browser, site.url) as anna:
        page = anna.page
        load_key(page, site, "legal-anna", at=f"/console/#/request/{request_id}")
        page.goto(f"/console/#/request/{request_id}")
        expect(page.get_by_role("heading", level=1)).to_have_text("Request AZ 1234/26")
        expect(page.locator("#clarifications")).to_have_count(0)
        page.get_by_label("Question (the authority sees it)").fill(question)
        act(site, anna, "legal-anna", page.get_by_role("button", name="Ask for clarification").click,
            done=lambda: expect(page.locator("#request-facts")).to_contain_text("NEEDS CLARIFICATION"))
        expect(page.locator("#clarifications")).to_contain_text(question)
        expect(page.locator("#awaiting-answer")).to_be_visible()
        assert page.get_by_role("button", name="Draft order").count() == 0
        assert unlabelled(page) == []

        _cli(site.env, "request", "clarify-answer", request_id, *authority, "--answer", answer,
             "--phone", chosen[0]["phone"], "--fields", "phoneNumber")
        page.reload()
        expect(page.locator("#clarifications li")).to_have_count(2)
        expect(page.locator("#clarifications")).to_contain_text(answer)
        expect(page.locator("#amendments")).to_contain_text("fields")
        expect(page.locator("#amendments")).to_contain_text("Subjects removed")
        expect(page.get_by_role("button", name="Draft order")).to_be_visible()
        shot(page, site, "clarification", full_page=True)

        _cli(site.env, "request", "withdraw", request_id, *authority, "--reason", reason)
        page.reload()
        expect(page.locator("#request-facts")).to_contain_text("WITHDRAWN")
        expect(page.locator("#withdrawal-reason")).to_have_text(reason)
        assert page.get_by_role("button", name="Draft order").count() == 0
        assert page.get_by_role("button", name="Reject request").count() == 0
        assert anna.foreign == []
    logged = json.dumps([site.audit_entry(i) for i in range(start, site.audit_size())])
    assert question not in logged and answer not in logged and reason not in logged
    assert '"clarification_requested"' in logged and '"request_withdrawn"' in logged
