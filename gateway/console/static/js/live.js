// Live updates: a graphql-transport-ws client, one WebSocket per page multiplexing the open
// screen's subscriptions. It reconnects with exponential backoff and jitter, and resumes each
// subscription with `after:` the cursor of the last event it received, so nothing is missed.
//
// The pure parts (backoff, what a close code means, a message's checks) need no DOM or socket
// and are exported for tests; `LiveClient` takes its WebSocket constructor, timers and random
// source as options for the same reason.

export const PROTOCOL = "graphql-transport-ws";
const PING_EVERY_MS = 25_000;
const PONG_WITHIN_MS = 10_000;

/** The delay before reconnect attempt `attempt` (0, 1, …): half fixed, half random, capped. */
export function backoffDelay(attempt, { baseMs = 500, capMs = 30_000, random = Math.random } = {}) {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * What a close means for the client:
 *   "auth"    the key is missing, unknown or revoked (4403): ask for a key, do not retry;
 *   "stop"    the client broke the protocol (4400) or closed the socket itself (1000);
 *             retrying would repeat it;
 *   "retry"   anything else: the network, a restart (1001, 1006, 1011, 1012, 1013), a slow
 *             init (4408), a message before the ack (4401), a reused operation ID (4409), a
 *             second init (4429) — a new connection starts clean.
 */
export function closeAction(code) {
  if (code === 4403) return "auth";
  if (code === 4400 || code === 1000) return "stop";
  return "retry";
}

/** The WebSocket URL of the GraphQL endpoint of a page: same host, ws: or wss:. */
export function socketUrl(endpoint) {
  const url = new URL(endpoint);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.hash = "";
  return url.href;
}

/** The event's cursor: the one field of a subscription's `data` holds the event. */
export function cursorOf(data) {
  if (!data || typeof data !== "object") return null;
  const event = Object.values(data)[0];
  return event && typeof event.cursor === "string" ? event.cursor : null;
}

/** A parsed server message, or null when it is not one of the protocol's. */
export function parseMessage(text) {
  let message;
  try {
    message = JSON.parse(text);
  } catch {
    return null;
  }
  if (!message || typeof message !== "object" || typeof message.type !== "string") return null;
  return message;
}

function firstError(errors) {
  const first = (Array.isArray(errors) && errors[0]) || { message: "The subscription failed." };
  const extensions = first.extensions || {};
  return { message: first.message, code: extensions.code || "INTERNAL", lastCursor: extensions.lastCursor || null };
}

/**
 * One socket for the page. `subscribe(query, variables, handlers)` starts an operation (the
 * socket opens on the first one); handlers: next(data), error({message, code}), resync() when
 * its cursor is too old to resume from (re-read the view). `stopAll()` completes every one.
 *
 * onState(state, detail): "connecting" | "connected" | "reconnecting" | "offline" | "idle".
 * onAuthFailure(): the gateway refused the key (close 4403 or an UNAUTHENTICATED error).
 */
export class LiveClient {
  constructor({ url, key, onState = () => {}, onAuthFailure = () => {}, WebSocketImpl = globalThis.WebSocket, timers = globalThis, random = Math.random }) {
    this.url = url;
    this.key = key;
    this.onState = onState;
    this.onAuthFailure = onAuthFailure;
    this.WebSocketImpl = WebSocketImpl;
    this.timers = timers;
    this.random = random;
    this.socket = null;
    this.acked = false;
    this.attempt = 0;
    this.retryTimer = 0;
    this.pingTimer = 0;
    this.pongTimer = 0;
    this.nextId = 1;
    this.operations = new Map(); // id → {query, variables, handlers, cursor}
    this.state = "idle";
  }

  setState(state, detail = "") {
    this.state = state;
    this.onState(state, detail);
  }

  subscribe(query, variables, handlers) {
    const id = String(this.nextId++);
    this.operations.set(id, { query, variables, handlers, cursor: null });
    if (!this.socket) this.connect();
    else if (this.acked) this.send(id);
    return id;
  }

  unsubscribe(id) {
    if (!this.operations.delete(id)) return;
    if (this.acked) this.write({ id, type: "complete" });
  }

  stopAll() {
    for (const id of [...this.operations.keys()]) this.unsubscribe(id);
  }

  /** Closes the socket for good (a new key, or signing out). */
  close() {
    this.operations.clear();
    this.timers.clearTimeout(this.retryTimer);
    this.stopPinging();
    const socket = this.socket;
    this.socket = null;
    this.acked = false;
    if (socket) socket.close(1000, "Closed by the console");
    this.setState("idle");
  }

  connect() {
    this.timers.clearTimeout(this.retryTimer);
    this.setState(this.attempt ? "reconnecting" : "connecting");
    let socket;
    try {
      socket = new this.WebSocketImpl(this.url, PROTOCOL);
    } catch (error) {
      this.setState("offline", error.message);
      return;
    }
    this.socket = socket;
    this.acked = false;
    socket.onopen = () => this.write({ type: "connection_init", payload: { Authorization: `Bearer ${this.key}` } });
    socket.onmessage = (event) => this.receive(parseMessage(event.data));
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.acked = false;
      this.stopPinging();
      this.closed(event.code, event.reason);
    };
  }

  closed(code, reason) {
    const action = closeAction(code);
    if (action === "auth") {
      this.operations.clear();
      this.setState("offline", "the gateway refused the key");
      this.onAuthFailure();
      return;
    }
    if (action === "stop") {
      this.setState("offline", reason || `closed (${code})`);
      return;
    }
    if (!this.operations.size) {
      this.setState("idle");
      return;
    }
    const delay = backoffDelay(this.attempt++, { random: this.random });
    // A few quick retries read as reconnecting; a gateway gone for longer as offline.
    this.setState(this.attempt > 3 ? "offline" : "reconnecting", `retrying in ${Math.ceil(delay / 1000)} s`);
    this.retryTimer = this.timers.setTimeout(() => this.connect(), delay);
  }

  write(message) {
    if (this.socket && this.socket.readyState === 1) this.socket.send(JSON.stringify(message));
  }

  /** Starts an operation; a resumed one asks for what came after its last event. */
  send(id) {
    const operation = this.operations.get(id);
    const variables = operation.cursor ? { ...operation.variables, after: operation.cursor } : operation.variables;
    this.write({ id, type: "subscribe", payload: { query: operation.query, variables } });
  }

  receive(message) {
    if (!message) return;
    switch (message.type) {
      case "connection_ack":
        this.acked = true;
        this.attempt = 0;
        this.setState("connected");
        for (const id of this.operations.keys()) this.send(id);
        this.startPinging();
        return;
      case "ping":
        this.write({ type: "pong" });
        return;
      case "pong":
        this.timers.clearTimeout(this.pongTimer);
        return;
      case "next": {
        const operation = this.operations.get(message.id);
        if (!operation) return;
        const payload = message.payload || {};
        if (payload.errors && payload.errors.length) {
          this.failed(message.id, operation, firstError(payload.errors));
          return;
        }
        const cursor = cursorOf(payload.data);
        if (cursor) operation.cursor = cursor;
        operation.handlers.next(payload.data);
        return;
      }
      case "error": {
        const operation = this.operations.get(message.id);
        if (operation) this.failed(message.id, operation, firstError(message.payload));
        return;
      }
      case "complete":
        // The server ended it (after an error, handled there); nothing more will come.
        return;
      default:
        return;
    }
  }

  failed(id, operation, error) {
    if (error.code === "UNAUTHENTICATED") {
      this.operations.delete(id);
      this.onAuthFailure();
      return;
    }
    if (error.code === "SERVICE_UNAVAILABLE") {
      // Dropped by the broker: resume after the last event sent, after a pause.
      if (error.lastCursor) operation.cursor = error.lastCursor;
      const delay = backoffDelay(0, { random: this.random });
      this.timers.setTimeout(() => {
        if (this.operations.get(id) === operation && this.acked) this.send(id);
      }, delay);
      return;
    }
    if (error.code === "BAD_USER_INPUT" && operation.cursor) {
      // The cursor is too old (or too far behind) to resume from: re-read the view.
      this.operations.delete(id);
      if (operation.handlers.resync) operation.handlers.resync();
      return;
    }
    this.operations.delete(id);
    if (operation.handlers.error) operation.handlers.error(error);
  }

  startPinging() {
    this.stopPinging();
    this.pingTimer = this.timers.setInterval(() => {
      this.write({ type: "ping" });
      this.timers.clearTimeout(this.pongTimer);
      const socket = this.socket;
      // No pong in time: the connection is dead without having said so.
      this.pongTimer = this.timers.setTimeout(() => {
        if (socket && this.socket === socket) socket.close(4000, "No pong");
      }, PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  stopPinging() {
    this.timers.clearInterval(this.pingTimer);
    this.timers.clearTimeout(this.pongTimer);
  }
}
