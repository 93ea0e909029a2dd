// Tables that stay usable on a phone: they scroll sideways inside a focusable region.

import { h } from "../dom.js";

/**
 * columns: [{label, className?, sort?: {direction: "ascending"|"descending", href, hint}}]
 * rows: arrays of cells (Nodes or text), or {cells, className}.
 */
export function table({ caption, columns, rows, empty }) {
  const head = h(
    "tr",
    {},
    columns.map((column) =>
      h(
        "th",
        { scope: "col", class: column.className || null, "aria-sort": column.sort && column.sort.direction ? column.sort.direction : null },
        column.sort
          ? h("a", { href: column.sort.href, class: "sort", title: column.sort.hint }, column.label,
              h("span", { "aria-hidden": "true" }, column.sort.direction === "ascending" ? " ▲" : column.sort.direction ? " ▼" : " ↕"))
          : column.label,
      ),
    ),
  );
  const body = rows.length
    ? rows.map((row) => {
        const cells = Array.isArray(row) ? row : row.cells;
        return h(
          "tr",
          { class: Array.isArray(row) ? null : row.className || null, dataset: Array.isArray(row) ? null : row.dataset },
          cells.map((cell, index) => h("td", { class: columns[index].className || null, "data-label": typeof columns[index].label === "string" ? columns[index].label : null }, cell)),
        );
      })
    : [h("tr", { class: "empty" }, h("td", { colspan: columns.length }, empty))];
  return h(
    "div",
    { class: "table-scroll", tabindex: "0", role: "region", "aria-label": caption },
    h("table", {}, h("caption", { class: "visually-hidden" }, caption), h("thead", {}, head), h("tbody", {}, body)),
  );
}
