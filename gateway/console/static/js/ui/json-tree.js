// A JSON value as a collapsible tree of <details>: keyboard-operable with no script.

import { h } from "../dom.js";
import { redactable } from "./redacted.js";

function leaf(value) {
  if (value === null) return h("span", { class: "json-null" }, "null");
  if (typeof value === "string") return h("span", { class: "json-string" }, '"', redactable(value), '"');
  if (typeof value === "number") return h("span", { class: "json-number" }, String(value));
  return h("span", { class: "json-bool" }, String(value));
}

function label(name) {
  return name === null ? null : h("span", { class: "json-key" }, `${name}: `);
}

function node(name, value, depth) {
  if (value === null || typeof value !== "object") {
    return h("li", {}, label(name), leaf(value));
  }
  const isArray = Array.isArray(value);
  const entries = isArray ? value.map((item, index) => [index, item]) : Object.entries(value);
  const summary = isArray ? `[${entries.length}]` : `{${entries.length}}`;
  return h(
    "li",
    {},
    h(
      "details",
      { open: depth < 2 },
      h("summary", {}, label(name), h("span", { class: "json-summary" }, summary)),
      h("ul", {}, entries.map(([key, item]) => node(isArray ? key : key, item, depth + 1))),
    ),
  );
}

export function jsonTree(value, labelText) {
  return h("ul", { class: "json-tree", "aria-label": labelText }, node(null, value, 0));
}
