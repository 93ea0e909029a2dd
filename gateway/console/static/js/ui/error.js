// Every failure is shown with the API's message and code, never as an empty table.

import { h } from "../dom.js";

export function errorBox(error, { title = "The request failed", retry = null } = {}) {
  const code = error.code || "CLIENT_ERROR";
  return h(
    "div",
    { class: "error", role: "alert" },
    h("h2", {}, title),
    h("p", { class: "error-message" }, error.message || String(error)),
    h(
      "p",
      { class: "error-meta" },
      "Code ",
      h("code", { class: "error-code" }, code),
      error.path ? [" · at ", h("code", {}, error.path)] : null,
      error.requestId ? [" · request ", h("code", {}, error.requestId)] : null,
    ),
    retry ? h("button", { type: "button", onclick: retry }, "Try again") : null,
  );
}
