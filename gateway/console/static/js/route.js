// Deep links: the fragment names the screen, its flow, integration, run and step, the search,
// the filters and the page, so a copied link opens the same view with someone else's key.
//
//   #/flows                                                   Flows
//   #/flows/<flowId>                                          Integration detail
//   #/flows/<flowId>/runs                                     Run detail, every integration
//   #/flows/<flowId>/integrations/<integrationId>             Run detail
//   #/flows/<flowId>/integrations/<id>/runs/<runId>           Step detail (?step=…&tab=…)
//   #/flows/<flowId>/end-users                                End-users
// followed by ?search=…&status=A,B&…&size=25&after=<cursor> (or before=<cursor>).

const enc = encodeURIComponent;

export function parse(hash = location.hash) {
  const text = hash.replace(/^#/, "") || "/flows";
  const [path, search = ""] = text.split("?", 2);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(search);
  const [root, flowId, kind, id, sub, runId] = parts;
  if (root !== "flows") return { screen: "unknown", params };
  if (!flowId) return { screen: "flows", params };
  if (!kind) return { screen: "integrations", flowId, params };
  if (kind === "runs" && !id) return { screen: "runs", flowId, params };
  if (kind === "end-users" && !id) return { screen: "endUsers", flowId, params };
  if (kind === "integrations" && id && !sub) {
    return { screen: "runs", flowId, integrationId: id, params };
  }
  if (kind === "integrations" && id && sub === "runs" && runId && parts.length === 6) {
    return { screen: "steps", flowId, integrationId: id, runId, params };
  }
  return { screen: "unknown", params };
}

function withParams(path, params) {
  const entries = Object.entries(params || {}).filter(
    ([, value]) => value !== null && value !== undefined && value !== "" && !(Array.isArray(value) && !value.length),
  );
  if (!entries.length) return `#${path}`;
  const query = new URLSearchParams();
  for (const [name, value] of entries) query.set(name, Array.isArray(value) ? value.join(",") : String(value));
  return `#${path}?${query}`;
}

export const link = {
  flows: (params) => withParams("/flows", params),
  integrations: (flowId, params) => withParams(`/flows/${enc(flowId)}`, params),
  flowRuns: (flowId, params) => withParams(`/flows/${enc(flowId)}/runs`, params),
  runs: (flowId, integrationId, params) =>
    withParams(`/flows/${enc(flowId)}/integrations/${enc(integrationId)}`, params),
  steps: (flowId, integrationId, runId, params) =>
    withParams(`/flows/${enc(flowId)}/integrations/${enc(integrationId)}/runs/${enc(runId)}`, params),
  endUsers: (flowId, params) => withParams(`/flows/${enc(flowId)}/end-users`, params),
};

/** The same screen with some parameters changed (null removes one); paging restarts unless set. */
export function withChanges(route, changes, { keepPage = false } = {}) {
  const params = new URLSearchParams(route.params);
  if (!keepPage) {
    params.delete("after");
    params.delete("before");
  }
  for (const [name, value] of Object.entries(changes)) {
    const text = Array.isArray(value) ? value.join(",") : value;
    if (text === null || text === undefined || text === "") params.delete(name);
    else params.set(name, String(text));
  }
  const path = location.hash.replace(/^#/, "").split("?", 1)[0] || "/flows";
  const query = params.toString();
  return `#${path}${query ? `?${query}` : ""}`;
}

export function list(params, name) {
  const value = params.get(name);
  return value ? value.split(",").filter(Boolean) : [];
}

/** The page arguments of a connection from the URL: first/after, or last/before going back. */
export function pageArgs(params, sizes = [10, 25, 50, 100]) {
  const size = sizes.includes(Number(params.get("size"))) ? Number(params.get("size")) : sizes[0];
  const before = params.get("before");
  if (before) return { size, vars: { last: size, before } };
  return { size, vars: { first: size, after: params.get("after") || null } };
}

export function absolute(hash) {
  return `${location.origin}${location.pathname}${hash}`;
}
