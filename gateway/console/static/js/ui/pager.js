// Keyset paging: Previous asks for the last N before this page's first cursor, Next for the
// first N after its last one. Page size is part of the URL like everything else.

import { h } from "../dom.js";
import { withChanges } from "../route.js";

export const SIZES = [10, 25, 50, 100];

export function pager(route, connection, size, { what, sizes = SIZES, backward = true }) {
  const info = connection.pageInfo;
  const previous = backward
    ? info.hasPreviousPage && withChanges(route, { before: info.startCursor, after: null }, { keepPage: false })
    : route.params.get("after") && withChanges(route, { after: null });
  const next = info.hasNextPage && withChanges(route, { after: info.endCursor, before: null });
  const sizeId = `page-size-${what}`;
  const select = h(
    "select",
    {
      id: sizeId,
      onchange: (event) => {
        location.hash = withChanges(route, { size: event.target.value });
      },
    },
    sizes.map((value) => h("option", { value, selected: value === size }, String(value))),
  );
  const total = typeof connection.totalCount === "number" ? connection.totalCount : null;
  const shown = connection.nodes.length;
  return h(
    "nav",
    { class: "pager", "aria-label": `Pages of ${what}` },
    h(
      "p",
      { class: "count", "aria-live": "polite" },
      total === null ? `${shown} shown` : `${shown} shown of ${total.toLocaleString()}`,
    ),
    h("label", { for: sizeId }, "Per page"),
    select,
    previous
      ? h("a", { class: "button", href: previous, rel: "prev" }, backward ? "← Previous" : "← First page")
        : h("button", { type: "button", disabled: true }, "← Previous"),
    next
      ? h("a", { class: "button", href: next, rel: "next" }, "Next →")
      : h("button", { type: "button", disabled: true }, "Next →"),
  );
}
