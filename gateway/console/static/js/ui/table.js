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
  const body = rows.length ? rows.map((row) => tableRow(columns, row)) : [h("tr", { class: "empty" }, h("td", { colspan: columns.length }, empty))];
  return h(
    "div",
    { class: "table-scroll", tabindex: "0", role: "region", "aria-label": caption },
    h("table", {}, h("caption", { class: "visually-hidden" }, caption), h("thead", {}, head), h("tbody", {}, body)),
  );
}

/** One body row of a table with these columns (live updates replace or insert rows with it). */
export function tableRow(columns, row) {
  const cells = Array.isArray(row) ? row : row.cells;
  return h(
    "tr",
    { class: Array.isArray(row) ? null : row.className || null, dataset: Array.isArray(row) ? null : row.dataset },
    cells.map((cell, index) => h("td", { class: columns[index].className || null, "data-label": typeof columns[index].label === "string" ? columns[index].label : null }, cell)),
  );
}

/** Puts a row in place of the row with the same data attribute, or returns false. */
export function replaceRow(container, attribute, value, fresh) {
  const current = [...container.querySelectorAll(`tbody tr[data-${attribute}]`)].find((row) => row.getAttribute(`data-${attribute}`) === value);
  if (!current) return false;
  // A menu or control inside the row keeps the keyboard where it was.
  const focused = current.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
  current.replaceWith(fresh);
  if (focused) {
    const again = [...fresh.querySelectorAll("[aria-label]")].find((el) => el.getAttribute("aria-label") === focused);
    if (again) again.focus();
  }
  return true;
}
