// The console's entry: the key, the router and the render of each screen (one query each).

import { ApiError, ENDPOINT, probeRole, query } from "./api.js";
import { clear, h } from "./dom.js";
import { currentKey, forgetKey, saveKey, savedRole, saveRole, takeKeyFromFragment } from "./key.js";
import { link, parse } from "./route.js";
import { errorBox } from "./ui/error.js";
import { LiveClient, socketUrl } from "./live.js";
import * as flows from "./screens/flows.js";
import * as integrations from "./screens/integrations.js";
import * as runs from "./screens/runs.js";
import * as steps from "./screens/steps.js";
import * as endUsers from "./screens/end-users.js";

const SCREENS = { flows, integrations, runs, steps, endUsers };
const TITLES = { flows: "Flows", integrations: "Integrations", runs: "Runs", steps: "Steps", endUsers: "End-users" };
const main = document.getElementById("main");
let generation = 0;
let firstScreen = true;
let signInProblem = null;
let renders = 0;
let live = null;

const LIVE_TEXT = {
  connecting: ["Connecting…", "Live updates: connecting"],
  connected: ["Live", "Live updates: connected"],
  reconnecting: ["Reconnecting…", "Live updates: reconnecting"],
  offline: ["Offline", "Live updates: offline"],
};

/** The header's live indicator: connected, reconnecting or offline, said in words too. */
function showLive(state, detail = "") {
  const el = document.getElementById("live");
  const text = LIVE_TEXT[state];
  el.hidden = !text;
  if (!text) return;
  el.dataset.state = state;
  el.textContent = text[0];
  el.setAttribute("aria-label", text[1]);
  el.title = detail ? `${text[1]} (${detail})` : text[1];
}

/** The page's one live connection, for the current key (a new key gets a new connection). */
function liveClient() {
  const key = currentKey();
  if (live && live.key === key) return live;
  if (live) live.close();
  live = new LiveClient({
    url: socketUrl(ENDPOINT),
    key,
    onState: showLive,
    onAuthFailure: () => {
      live = null;
      signedOut(new ApiError("The gateway refused this key for live updates (unknown or revoked).", "UNAUTHENTICATED"));
    },
  });
  return live;
}

function stopLive() {
  if (live) live.stopAll();
}

/** Marks the end of each render (a screen, an error or the key form) for tests and tools. */
function rendered() {
  document.body.dataset.renders = String(++renders);
}

const ctx = {
  role: "",
  query: async (document, variables) => {
    try {
      return await query(document, variables);
    } catch (error) {
      if (error.code === "UNAUTHENTICATED") signedOut(error);
      throw error;
    }
  },
  refresh: () => render(),
  refreshSoon: () => refreshSoon(),
  showError: (error, title) => {
    const box = errorBox(error, { title });
    box.classList.add("action-error");
    main.prepend(box);
    box.scrollIntoView({ block: "nearest" });
  },
};

function signedOut(error) {
  if (live) live.close();
  live = null;
  forgetKey();
  signInProblem = error;
  render();
}

function header() {
  const who = clear(document.getElementById("who"));
  if (!currentKey()) return;
  who.append(
    ctx.role ? h("span", { class: `role role-${ctx.role.toLowerCase()}`, title: "The API key's role" }, ctx.role === "ADMIN" ? "Admin" : "Viewer (read-only)") : null,
    h("button", { type: "button", onclick: () => { forgetKey(); ctx.role = ""; if (live) live.close(); live = null; render(); } }, "Sign out"),
  );
}

function keyForm() {
  const input = h("input", { id: "api-key", name: "key", type: "password", autocomplete: "off", spellcheck: "false", required: true, placeholder: "gw_…" });
  return h(
    "section",
    { class: "sign-in" },
    h("h1", {}, "Sign in with an API key"),
    signInProblem
      ? errorBox(signInProblem, {
          title: signInProblem.code === "UNAUTHENTICATED" ? "Not signed in: the gateway refused this key" : "Signing in failed",
        })
      : null,
    h(
      "form",
      {
        class: "stack",
        onsubmit: (event) => {
          event.preventDefault();
          const key = input.value.trim();
          if (!key) return;
          saveKey(key);
          signInProblem = null;
          render();
        },
      },
      h("span", { class: "field" }, h("label", { for: "api-key" }, "API key"), input),
      h("p", { class: "muted" }, "A viewer key reads; an admin key also acts. The key stays in this tab (sessionStorage) and is sent only in the Authorization header."),
      h("button", { type: "submit", class: "primary" }, "Sign in"),
    ),
  );
}

async function ensureRole() {
  if (ctx.role) return;
  const known = savedRole();
  if (known) {
    ctx.role = known;
    return;
  }
  ctx.role = await probeRole();
  saveRole(ctx.role);
}

let quietTimer = 0;

/**
 * For screens of counts (Flows, End-users): a change re-runs the screen's query, at most once
 * a second, without the busy state; it waits while the user is inside the screen (focus in a
 * control, a menu or dialog open) so nothing moves under the pointer or the keyboard.
 */
function refreshSoon() {
  if (quietTimer) return;
  quietTimer = setTimeout(() => {
    quietTimer = 0;
    const busy = document.querySelector("dialog[open], .menu:not([hidden])") || (main.contains(document.activeElement) && document.activeElement !== main);
    if (busy) refreshSoon();
    else render({ quiet: true });
  }, 1000);
}

async function render({ quiet = false } = {}) {
  const mine = ++generation;
  const route = parse();
  header();
  clearTimeout(quietTimer);
  quietTimer = 0;
  // The screen being left completes its subscriptions; the new one starts its own when shown.
  // A quiet refresh of the same screen keeps them.
  if (!quiet) stopLive();
  if (!currentKey()) {
    if (live) live.close();
    live = null;
    ctx.role = "";
    document.title = "Sign in · Integration View";
    main.replaceChildren(keyForm());
    main.querySelector("input").focus();
    rendered();
    return;
  }
  const screen = SCREENS[route.screen];
  if (!screen) {
    main.replaceChildren(errorBox(new ApiError(`Nothing is at ${location.hash}.`, "NOT_FOUND"), { title: "No such screen" }), h("p", {}, h("a", { href: link.flows() }, "Go to the flows")));
    rendered();
    return;
  }
  if (!quiet) {
    main.setAttribute("aria-busy", "true");
    main.classList.add("busy");
  }
  const following = quiet ? null : subscribeFor(screen, route);
  let data;
  try {
    performance.mark("console:asked");
    // The role (asked once per key) and the screen's query go out together.
    [, data] = await Promise.all([ensureRole(), screen.load(route, ctx)]);
    header();
  } catch (error) {
    if (mine !== generation) return;
    // A failed quiet refresh leaves the screen as it was; the next change tries again.
    if (quiet && error.code !== "UNAUTHENTICATED") return;
    stopLive();
    main.removeAttribute("aria-busy");
    main.classList.remove("busy");
    if (error.code === "UNAUTHENTICATED") {
      forgetKey();
      ctx.role = "";
      signInProblem = error;
      header();
      main.replaceChildren(keyForm());
      main.querySelector("input").focus();
      rendered();
      return;
    }
    main.replaceChildren(errorBox(error, { title: `The ${TITLES[route.screen].toLowerCase()} could not be loaded`, retry: () => render() }));
    rendered();
    return;
  }
  if (mine !== generation) return;
  performance.mark("console:answered");
  const node = screen.view(route, data, ctx);
  main.replaceChildren(node);
  if (following) following.start(data, node);
  main.removeAttribute("aria-busy");
  main.classList.remove("busy");
  performance.mark("console:rendered");
  performance.measure("console:render", "console:answered", "console:rendered");
  document.title = `${TITLES[route.screen]} · Integration View`;
  document.body.dataset.screen = route.screen;
  rendered();
  if (firstScreen) {
    firstScreen = false;
    performance.measure("console:first-screen", { start: 0, end: performance.now() });
  } else if (!quiet) {
    const heading = main.querySelector("h1");
    if (heading && !main.contains(document.activeElement)) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
  }
}

/**
 * The screen's subscriptions, on the page's one socket, asked before its query: what they
 * send until the screen is shown waits, then goes to the screen's handlers in order (each event
 * carries its object as it is, so the last one wins). A cursor too old re-reads the screen.
 */
function subscribeFor(screen, route) {
  if (!screen.subscriptions) return null;
  const waiting = [];
  const pending = { handlers: null, deliver: (index, data) => (pending.handlers ? pending.handlers[index](data) : waiting.push([index, data])) };
  const client = liveClient();
  screen.subscriptions(route).forEach((subscription, index) => {
    if (!subscription) return;
    client.subscribe(subscription.query, subscription.variables, {
      next: (data) => pending.deliver(index, data),
      resync: () => render(),
      error: (error) => showLive("offline", `${error.code}: ${error.message}`),
    });
  });
  pending.start = (data, node) => {
    pending.handlers = screen.live(route, data, ctx, node);
    for (const [index, event] of waiting.splice(0)) pending.handlers[index](event);
  };
  return pending;
}

document.getElementById("skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});
window.addEventListener("hashchange", () => {
  // A #key=… link pasted into an open tab signs in with that key too.
  if (takeKeyFromFragment()) ctx.role = "";
  render();
});
takeKeyFromFragment();
render();
