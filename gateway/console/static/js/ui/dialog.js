// Modal dialogs on <dialog>: focus moves in, Escape closes, focus returns where it was.

import { h } from "../dom.js";

let counter = 0;

export function openDialog({ title, body, actions = [], onOpen = null, wide = false }) {
  const id = `dialog-title-${++counter}`;
  const returnTo = document.activeElement;
  const close = () => dialog.close();
  const buttons = actions.map((action) =>
    h(
      "button",
      {
        type: "button",
        class: action.kind === "danger" ? "danger" : action.kind === "primary" ? "primary" : "",
        onclick: () => action.onclick(close),
      },
      action.label,
    ),
  );
  const dialog = h(
    "dialog",
    { "aria-labelledby": id, class: wide ? "wide" : "" },
    h(
      "div",
      { class: "dialog-head" },
      h("h2", { id }, title),
      h("button", { type: "button", class: "icon", "aria-label": "Close", onclick: close }, "×"),
    ),
    h("div", { class: "dialog-body" }, body),
    buttons.length ? h("div", { class: "dialog-actions" }, buttons) : null,
  );
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (returnTo && returnTo.isConnected) returnTo.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  if (onOpen) onOpen(dialog);
  return { dialog, close };
}

/** Resolves true when confirmed; the safe choice (Cancel) has the focus first. */
export function confirmDialog({ title, message, confirmLabel, danger = false }) {
  return new Promise((resolve) => {
    let answer = false;
    const { dialog } = openDialog({
      title,
      body: Array.isArray(message) ? message.map((line) => h("p", {}, line)) : h("p", {}, message),
      actions: [
        { label: "Cancel", onclick: (close) => close() },
        {
          label: confirmLabel,
          kind: danger ? "danger" : "primary",
          onclick: (close) => {
            answer = true;
            close();
          },
        },
      ],
      onOpen: (el) => el.querySelector(".dialog-actions button").focus(),
    });
    dialog.addEventListener("close", () => resolve(answer));
  });
}
