// The console's graphql-transport-ws client against a scripted socket and timers: prints what
// it saw as JSON for tests/test_console_assets.py to compare. Usage: node live_protocol.mjs URL
const { LiveClient, backoffDelay, closeAction, socketUrl } = await import(process.argv[2]);

const sockets = [];
class FakeSocket {
  constructor(url, protocol) {
    Object.assign(this, { url, protocol, readyState: 0, sent: [] });
    sockets.push(this);
  }
  send(text) { this.sent.push(JSON.parse(text)); }
  close(code) { this.readyState = 3; this.onclose({ code, reason: "" }); }
  open() { this.readyState = 1; this.onopen(); }
  serve(message) { this.onmessage({ data: JSON.stringify(message) }); }
  drop(code) { this.readyState = 3; this.onclose({ code, reason: "" }); }
}
const pending = [];
const timers = {
  setTimeout: (fn, ms) => pending.push({ fn, ms }) ,
  clearTimeout: () => {},
  setInterval: () => 0,
  clearInterval: () => {},
};
const states = [];
const events = [];
let resyncs = 0;
let authFailures = 0;
const client = new LiveClient({
  url: "ws://127.0.0.1/graphql", key: "gw_k", WebSocketImpl: FakeSocket, timers, random: () => 0.5,
  onState: (state) => states.push(state), onAuthFailure: () => authFailures++,
});
const id = client.subscribe("subscription { runStatusChanged { cursor } }", { flowId: "f" }, {
  next: (data) => events.push(data.runStatusChanged.cursor), resync: () => resyncs++,
});
const first = sockets[0];
first.open();
const init = first.sent[0];
first.serve({ type: "connection_ack" });
const subscribe = first.sent[1];
first.serve({ id, type: "next", payload: { data: { runStatusChanged: { cursor: "c1" } } } });
first.serve({ type: "ping" });
const pong = first.sent[2];
first.drop(1006);
const delay = pending.at(-1).ms;
pending.pop().fn();
const second = sockets[1];
second.open();
second.serve({ type: "connection_ack" });
const resumed = second.sent[1];
// A cursor too old to resume from: the client asks the screen to re-read its view.
second.serve({ id, type: "error", payload: [{ message: "too old", extensions: { code: "BAD_USER_INPUT" } }] });
const other = client.subscribe("subscription { x }", {}, { next: () => {} });
client.unsubscribe(other);
const completed = second.sent.at(-1);
client.subscribe("subscription { y }", {}, { next: () => {} });
second.drop(4403);
console.log(JSON.stringify({
  backoff: [backoffDelay(0, { random: () => 0 }), backoffDelay(0, { random: () => 1 }), backoffDelay(3, { random: () => 1 }), backoffDelay(30, { random: () => 0 }), backoffDelay(30, { random: () => 1 })],
  close: [4403, 4400, 1000, 4401, 4408, 4409, 4429, 1006, 1012].map(closeAction),
  urls: [socketUrl("http://127.0.0.1:8000/graphql"), socketUrl("https://gw.example/x/graphql#k")],
  protocol: first.protocol, init, subscribe, pong, delay, resumed, events, resyncs, completed,
  authFailures, reconnectsAfterAuth: sockets.length, states,
}));
