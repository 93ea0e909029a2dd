// The API key: taken from the URL fragment (#key=gw_…) once, kept in sessionStorage, and
// removed from the address bar. It is only ever sent in the Authorization header.

const STORE = "integration-view.key";
const ROLE = "integration-view.role";

export function takeKeyFromFragment() {
  const hash = location.hash.replace(/^#/, "");
  if (!/(^|&)key=/.test(hash)) return false;
  const params = new URLSearchParams(hash);
  const key = (params.get("key") || "").trim();
  // The key never stays in the address bar or in the history.
  history.replaceState(null, "", `${location.pathname}${location.search}#/flows`);
  if (key) saveKey(key);
  return true;
}

export function currentKey() {
  return sessionStorage.getItem(STORE) || "";
}

export function saveKey(key) {
  sessionStorage.setItem(STORE, key);
  sessionStorage.removeItem(ROLE);
}

export function forgetKey() {
  sessionStorage.removeItem(STORE);
  sessionStorage.removeItem(ROLE);
}

export function savedRole() {
  return sessionStorage.getItem(ROLE) || "";
}

export function saveRole(role) {
  sessionStorage.setItem(ROLE, role);
}
