// Building the page from values: every value becomes a text node or an attribute, never markup
// (the CSP's Trusted Types rule makes an HTML string sink throw anyway).

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
}

/** A description list of [term, value] rows; a value may be a node or a list of lines. */
export function facts(rows, attributes = {}) {
  return h("dl", { class: "facts", ...attributes }, rows.map(([term, value]) => [
    h("dt", {}, term),
    h("dd", {}, Array.isArray(value) ? (value.length ? value.map((line) => h("div", {}, line)) : "(none)") : value),
  ]));
}

let serial = 0;
export const uniqueId = (prefix) => `${prefix}-${++serial}`;

/** A labelled control: the label is tied to the control by id, a hint by aria-describedby. */
export function field(label, control, hint) {
  const id = control.id || uniqueId("field");
  control.id = id;
  const parts = [h("label", { for: id }, label), control];
  if (hint) {
    const hintId = `${id}-hint`;
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("p", { class: "hint", id: hintId }, hint));
  }
  return h("div", { class: "field" }, parts);
}
