// The gateway replaces secrets with [REDACTED] when it stores a payload: shown as a badge.

import { h } from "../dom.js";

const MARK = "[REDACTED]";

export function redactable(text) {
  if (typeof text !== "string" || !text.includes(MARK)) return text;
  const parts = text.split(MARK);
  const out = [];
  parts.forEach((part, index) => {
    if (index) out.push(h("span", { class: "redacted", title: "Redacted by the gateway: the secret was never stored" }, "redacted"));
    if (part) out.push(part);
  });
  return h("span", {}, out);
}
