// Search boxes and filter panels that write their values into the URL (and so into links).

import { h } from "../dom.js";
import { withChanges, list } from "../route.js";
import { word, localInputValue, isoFromLocalInput } from "../format.js";

let counter = 0;
const uid = (name) => `${name}-${++counter}`;

export function searchForm(route, { label, placeholder, param = "search" }) {
  const id = uid("search");
  const input = h("input", { id, type: "search", name: param, placeholder, value: route.params.get(param) || "", autocomplete: "off" });
  return h(
    "form",
    {
      class: "search",
      role: "search",
      onsubmit: (event) => {
        event.preventDefault();
        location.hash = withChanges(route, { [param]: input.value.trim() });
      },
    },
    h("label", { for: id }, label),
    input,
    h("button", { type: "submit" }, "Search"),
    route.params.get(param) ? h("a", { class: "button", href: withChanges(route, { [param]: null }) }, "Clear") : null,
  );
}

/** A group of checkboxes for one list parameter (status=A,B). */
export function checks(route, legend, param, values, labels = {}) {
  const chosen = new Set(list(route.params, param));
  return h(
    "fieldset",
    { dataset: { param } },
    h("legend", {}, legend),
    values.map((value) => {
      const id = uid(`${param}-${value}`);
      return h(
        "span",
        { class: "check" },
        h("input", { type: "checkbox", id, name: param, value, checked: chosen.has(value) }),
        h("label", { for: id }, labels[value] || word(value)),
      );
    }),
  );
}

/** A range of two datetime-local inputs; the URL holds UTC (…Z) so links mean the same instant. */
export function range(route, legend, afterParam, beforeParam) {
  const field = (param, text) => {
    const id = uid(param);
    return h(
      "span",
      { class: "field" },
      h("label", { for: id }, text),
      h("input", { id, type: "datetime-local", name: param, value: localInputValue(route.params.get(param)), dataset: { time: "1" } }),
    );
  };
  return h("fieldset", {}, h("legend", {}, legend), field(afterParam, "From"), field(beforeParam, "Until"));
}

export function textField(route, label, param, { placeholder = "", hint = "" } = {}) {
  const id = uid(param);
  return h(
    "fieldset",
    {},
    h("legend", {}, label),
    h("span", { class: "field" }, h("label", { for: id }, hint || label), h("input", { id, name: param, value: route.params.get(param) || "", placeholder, autocomplete: "off" })),
  );
}

/** The panel: open while a filter is set; Apply writes every field into the URL. */
export function filterPanel(route, params, fields) {
  const active = params.filter((param) => route.params.get(param)).length;
  const form = h(
    "form",
    {
      class: "filter-form",
      onsubmit: (event) => {
        event.preventDefault();
        const changes = {};
        for (const param of params) {
          const inputs = [...form.querySelectorAll(`[name="${param}"]`)];
          if (inputs.length && inputs[0].type === "checkbox") {
            changes[param] = inputs.filter((input) => input.checked).map((input) => input.value);
          } else if (inputs.length) {
            const input = inputs[0];
            changes[param] = input.dataset.time ? isoFromLocalInput(input.value) : input.value.trim();
          }
        }
        location.hash = withChanges(route, changes);
      },
    },
    fields,
    h(
      "div",
      { class: "filter-actions" },
      h("button", { type: "submit", class: "primary" }, "Apply filters"),
      active ? h("a", { class: "button", href: withChanges(route, Object.fromEntries(params.map((p) => [p, null]))) }, "Clear filters") : null,
    ),
  );
  return h(
    "details",
    { class: "filters", open: active > 0 },
    h("summary", {}, active ? `Filters (${active} set)` : "Filters"),
    form,
  );
}
