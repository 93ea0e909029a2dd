// A row's action menu: a button that opens a list of menu items (WAI-ARIA menu button).
// Enter, Space or ArrowDown open it; arrows move; Escape closes and returns to the button.

import { h } from "../dom.js";

let open = null;

function closeOpen(focusButton = false) {
  if (!open) return;
  const { list, button } = open;
  list.hidden = true;
  button.setAttribute("aria-expanded", "false");
  open = null;
  if (focusButton) button.focus();
}

document.addEventListener("click", (event) => {
  if (open && !open.wrap.contains(event.target)) closeOpen();
});

export function menu(label, items) {
  const enabled = items.filter(Boolean);
  const button = h(
    "button",
    { type: "button", class: "icon menu-button", "aria-haspopup": "menu", "aria-expanded": "false", "aria-label": label },
    "⋯",
  );
  const entries = enabled.map((item) =>
    h(
      "button",
      {
        type: "button",
        role: "menuitem",
        tabindex: "-1",
        class: item.danger ? "danger-text" : "",
        disabled: item.disabled || false,
        onclick: () => {
          closeOpen(true);
          item.onselect();
        },
      },
      item.label,
    ),
  );
  const list = h("div", { role: "menu", class: "menu", "aria-label": label, hidden: true }, entries);
  const wrap = h("div", { class: "menu-wrap" }, button, list);
  const focusable = () => entries.filter((entry) => !entry.disabled);

  const show = (index) => {
    if (open && open.list !== list) closeOpen();
    list.hidden = false;
    button.setAttribute("aria-expanded", "true");
    open = { list, button, wrap };
    const items = focusable();
    if (items.length) items[(index + items.length) % items.length].focus();
  };

  button.addEventListener("click", (event) => {
    event.stopPropagation();
    if (open && open.list === list) closeOpen();
    else show(0);
  });
  button.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") {
      event.preventDefault();
      show(0);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      show(-1);
    }
  });
  list.addEventListener("keydown", (event) => {
    const items = focusable();
    const at = items.indexOf(document.activeElement);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      items[(at + step + items.length) % items.length].focus();
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      items[event.key === "Home" ? 0 : items.length - 1].focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      closeOpen(true);
    } else if (event.key === "Tab") {
      closeOpen();
    }
  });
  return wrap;
}
