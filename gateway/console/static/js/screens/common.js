// Pieces several screens share: the page heading with its breadcrumbs, and facts lists.

import { h } from "../dom.js";
import { link } from "../route.js";

export function heading(title, crumbs = [], extra = null) {
  return h(
    "div",
    { class: "heading" },
    h(
      "nav",
      { "aria-label": "Breadcrumb", class: "crumbs" },
      h("ol", {}, [h("li", {}, h("a", { href: link.flows() }, "Flows")), ...crumbs.map(([text, href]) => h("li", {}, href ? h("a", { href }, text) : text))]),
    ),
    h("h1", {}, title),
    extra,
  );
}

/** A definition list of label → value for the facts at the top of a screen. */
export function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(Boolean).map(([label, value]) => h("div", {}, h("dt", {}, label), h("dd", {}, value))),
  );
}

export function notFound(what, id) {
  const error = new Error(`No ${what} ${id} in this account.`);
  error.code = "NOT_FOUND";
  return error;
}

export function tabs(current, flowId) {
  const items = [
    ["integrations", "Integrations", link.integrations(flowId)],
    ["runs", "All runs", link.flowRuns(flowId)],
    ["endUsers", "End-users", link.endUsers(flowId)],
  ];
  return h(
    "nav",
    { class: "tabs-nav", "aria-label": "Flow views" },
    items.map(([name, text, href]) => h("a", { href, "aria-current": name === current ? "page" : null }, text)),
  );
}
