// Times in the browser's time zone (the UTC value on hover), durations in words people read.

import { h } from "./dom.js";

const LOCAL = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

export function time(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const date = new Date(iso);
  return h("time", { datetime: iso, title: `${date.toISOString().replace(".000Z", "Z")} (UTC)` }, LOCAL.format(date));
}

/** 850 → "850 ms", 1234 → "1.2 s", 184000 → "3 min 4 s", 7500000 → "2 h 5 min". */
export function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${ms} ms`;
  // Below 59.95 s one decimal reads right; from there "60.0 s" would be "1 min".
  if (ms < 59_950) return `${(ms / 1000).toFixed(1).replace(/\.0$/, "")} s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) {
    const s = seconds % 60;
    return `${Math.floor(seconds / 60)} min${s ? ` ${s} s` : ""}`;
  }
  const minutes = Math.round(seconds / 60);
  const m = minutes % 60;
  return `${Math.floor(minutes / 60)} h${m ? ` ${m} min` : ""}`;
}

export function number(value) {
  return value === null || value === undefined ? "—" : value.toLocaleString();
}

const WORDS = {
  HASNT_RUN: "Hasn't run",
  FAILED_TO_INITIALIZE: "Failed to initialize",
  TOO_MANY_ERRORS: "too many errors",
  BILLING: "billing",
  AUTO_PAUSE: "auto-pause",
  TASK_LIMIT: "task limit",
};

export function word(value) {
  if (!value) return "";
  if (WORDS[value]) return WORDS[value];
  return value.charAt(0) + value.slice(1).toLowerCase().replaceAll("_", " ");
}

/** A status as a badge whose colour is its class (status-failed…); the text says it too. */
export function badge(value, extra = "") {
  return h("span", { class: `badge status-${value.toLowerCase()}` }, word(value), extra);
}

export function networkCode(code, text) {
  if (code === null || code === undefined) return h("span", { class: "muted" }, "—");
  const kind = code >= 500 ? "5xx" : code >= 400 ? "4xx" : code >= 300 ? "3xx" : "2xx";
  return h("span", { class: `code code-${kind}`, title: text || String(code) }, text || String(code));
}

/** datetime-local input value ↔ ISO UTC (URLs hold UTC, so a link means the same instant anywhere). */
export function localInputValue(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

export function isoFromLocalInput(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}
