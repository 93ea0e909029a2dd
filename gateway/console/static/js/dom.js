// Building the DOM from data: text always goes through textContent, never HTML.

/** h("button", {class: "x", onclick: fn, "aria-label": "…"}, child, "text", [more]) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** Only http(s) links from data are made clickable (never javascript: or data:). */
export function safeUrl(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch {
    return null;
  }
}

export function externalLink(url, text, attrs = {}) {
  const href = safeUrl(url);
  if (!href) return h("span", {}, text);
  return h("a", { href, target: "_blank", rel: "noopener noreferrer", ...attrs }, text);
}

let toastTimer = 0;
export function toast(message) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.classList.add("shown");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove("shown"), 4000);
}

/** Copy text; when the clipboard is refused, show it selected so it can be copied by hand. */
export async function copyText(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    toast(`${what} copied`);
  } catch {
    const field = h("textarea", { readonly: true, "aria-label": what, class: "copy-field" });
    field.value = text;
    const { openDialog } = await import("./ui/dialog.js");
    openDialog({ title: `Copy ${what.toLowerCase()}`, body: field, onOpen: () => field.select() });
  }
}
