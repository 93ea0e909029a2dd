// Run detail: the runs of one integration (or of every integration of a flow), searched by run
// ID or trigger app, filtered by start time, status and network code, in one query.

import { copyText, h, safeUrl } from "../dom.js";
import { badge, duration, networkCode, number, time, word } from "../format.js";
import { absolute, link, list, pageArgs, withChanges } from "../route.js";
import { facts, heading, notFound, tabs } from "./common.js";
import { replaceRow, table, tableRow } from "../ui/table.js";
import { pager } from "../ui/pager.js";
import { menu } from "../ui/menu.js";
import { checks, filterPanel, range, searchForm, textField } from "../ui/filters.js";
import { showHistory } from "./integrations.js";

const STATUSES = ["OK", "FAILED", "RUNNING"];
const CLASSES = ["C2XX", "C3XX", "C4XX", "C5XX"];
const CLASS_LABELS = { C2XX: "2xx", C3XX: "3xx", C4XX: "4xx", C5XX: "5xx" };
const FILTERS = ["status", "code", "codeClass", "startedAfter", "startedBefore"];

const RUN_NODE = `runId triggerName triggerType startTime duration status networkCode networkCodeText tasksConsumed logsUrl
        triggerApp { appId name }
        integration { integrationId }`;
const RUN_FIELDS = `totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { ${RUN_NODE} }`;
const INTEGRATION_FIELDS = "integrationId userId userAuth status pausedReason createdAt lastRunStatus tasksConsumed";
const RUN_ARGS = `first: $first, after: $after, last: $last, before: $before, search: $search, filter: $filter, orderBy: $orderBy`;
const VARS = `$first: Int, $after: String, $last: Int, $before: String, $search: String, $filter: RunFilter, $orderBy: RunOrder`;

const INTEGRATION_QUERY = `query ConsoleIntegrationRuns($integrationId: String!, ${VARS}) {
  integration(integrationId: $integrationId) {
    ${INTEGRATION_FIELDS}
    flow { flowId name status }
    runs(${RUN_ARGS}) { ${RUN_FIELDS} }
  }
}`;

const FLOW_QUERY = `query ConsoleFlowRuns($flowId: String!, ${VARS}) {
  flow(flowId: $flowId) {
    flowId name status
    runs(${RUN_ARGS}) { ${RUN_FIELDS} }
  }
}`;

const RUN_EVENTS = `subscription ConsoleLiveRuns($flowId: String, $integrationId: String, $after: String) {
  runStatusChanged(flowId: $flowId, integrationId: $integrationId, after: $after) {
    cursor previousStatus status run { ${RUN_NODE} }
  }
}`;

const INTEGRATION_EVENTS = `subscription ConsoleLiveIntegration($flowId: String, $after: String) {
  integrationStatusChanged(flowId: $flowId, after: $after) {
    cursor status integration { ${INTEGRATION_FIELDS} }
  }
}`;

/** "404, 500" → [404, 500]; anything that is not a 3-digit code is refused before asking. */
function codes(text) {
  const parts = (text || "").split(/[\s,]+/).filter(Boolean);
  const bad = parts.filter((part) => !/^[1-5]\d\d$/.test(part));
  if (bad.length) {
    const error = new Error(`Network code filter: ${bad.join(", ")} is not an HTTP status code (100–599).`);
    error.code = "BAD_USER_INPUT";
    throw error;
  }
  return parts.map(Number);
}

export async function load(route, { query }) {
  const p = route.params;
  const { vars } = pageArgs(p);
  const filter = {
    status: list(p, "status"),
    networkCode: codes(p.get("code")),
    networkCodeClass: list(p, "codeClass"),
    startedAfter: p.get("startedAfter") || null,
    startedBefore: p.get("startedBefore") || null,
  };
  const [field, direction] = (p.get("sort") || "start-desc").split("-");
  const orderBy = { field: field === "duration" ? "DURATION" : "START_TIME", direction: direction === "asc" ? "ASC" : "DESC" };
  const common = { ...vars, search: p.get("search") || null, filter, orderBy };
  if (route.integrationId) {
    const data = await query(INTEGRATION_QUERY, { integrationId: route.integrationId, ...common });
    if (!data.integration) throw notFound("integration", route.integrationId);
    return { flow: data.integration.flow, integration: data.integration, runs: data.integration.runs };
  }
  const data = await query(FLOW_QUERY, { flowId: route.flowId, ...common });
  if (!data.flow) throw notFound("flow", route.flowId);
  return { flow: data.flow, integration: null, runs: data.flow.runs };
}

function sortable(route, label, field) {
  const [current, direction] = (route.params.get("sort") || "start-desc").split("-");
  const active = current === field;
  const next = active && direction === "desc" ? `${field}-asc` : `${field}-desc`;
  return {
    label,
    sort: {
      direction: active ? (direction === "asc" ? "ascending" : "descending") : null,
      href: withChanges(route, { sort: next === "start-desc" ? null : next }),
      hint: active ? `Sorted by ${label.toLowerCase()}; reverse` : `Sort by ${label.toLowerCase()}`,
    },
  };
}

// What view() built, for the live updates of the same screen.
const shown = new WeakMap();

function runRow(flow, integration, run) {
  const integrationId = run.integration.integrationId;
  const stepsHref = link.steps(flow.flowId, integrationId, run.runId);
  const logs = safeUrl(run.logsUrl);
  return {
    dataset: { runId: run.runId },
    cells: [
      h("a", { href: stepsHref, class: "id" }, run.runId),
      ...(integration ? [] : [h("a", { href: link.runs(flow.flowId, integrationId), class: "id" }, integrationId)]),
      run.triggerApp.name,
      run.triggerName,
      word(run.triggerType),
      time(run.startTime),
      duration(run.duration),
      badge(run.status),
      networkCode(run.networkCode, run.networkCodeText),
      menu(`Actions for run ${run.runId}`, [
        { label: "View steps", onselect: () => (location.hash = stepsHref) },
        { label: "Copy link", onselect: () => copyText(absolute(stepsHref), "Run link") },
        logs ? { label: "Open logs", onselect: () => window.open(logs, "_blank", "noopener,noreferrer") } : { label: "Open logs (none configured)", disabled: true, onselect: () => {} },
      ]),
    ],
  };
}

function integrationStatus(ctx, integration) {
  return h(
    "button",
    { type: "button", class: "link-button", "aria-label": `${word(integration.status)}: status history`, onclick: () => showHistory(ctx, integration.integrationId) },
    badge(integration.status, integration.pausedReason ? ` (${word(integration.pausedReason)})` : ""),
  );
}

/** Whether a run not on the page may go on top of it: the first page, newest first, its filters. */
export function belongsOnTop(params, run) {
  if (params.get("after") || params.get("before")) return false;
  if ((params.get("sort") || "start-desc") !== "start-desc") return false;
  const statuses = list(params, "status");
  if (statuses.length && !statuses.includes(run.status)) return false;
  const search = params.get("search");
  if (search && search !== run.runId && search.toLowerCase() !== (run.triggerApp.name || "").toLowerCase()) return false;
  const exact = (params.get("code") || "").split(/[\s,]+/).filter(Boolean).map(Number);
  const classes = list(params, "codeClass").map((name) => Number(name.charAt(1)));
  if (exact.length || classes.length) {
    const code = run.networkCode;
    if (code === null || code === undefined) return false;
    if (!exact.includes(code) && !classes.includes(Math.floor(code / 100))) return false;
  }
  const start = Date.parse(run.startTime);
  if (params.get("startedAfter") && start < Date.parse(params.get("startedAfter"))) return false;
  if (params.get("startedBefore") && start >= Date.parse(params.get("startedBefore"))) return false;
  return true;
}

/** The handlers of subscriptions(route)'s events, in its order, once the screen is shown: runs
 * change status in place; new runs that match the page's filters appear at the top. */
export function live(route, data, ctx, node) {
  const { flow, integration } = data;
  const built = shown.get(node);
  const { size } = pageArgs(route.params);
  let total = data.runs.totalCount;
  const onRun = (event) => {
    const { run } = event.runStatusChanged;
    if (integration && run.integration.integrationId !== integration.integrationId) return;
    const fresh = tableRow(built.columns, runRow(flow, integration, run));
    if (replaceRow(node, "run-id", run.runId, fresh)) return;
    if (!belongsOnTop(route.params, run)) return;
    const body = node.querySelector("tbody");
    // Newest first: a run not shown that started before the top row belongs on a later page.
    const top = body.querySelector("tr[data-run-id] time");
    if (top && Date.parse(run.startTime) < Date.parse(top.getAttribute("datetime"))) return;
    const empty = body.querySelector("tr.empty");
    if (empty) empty.remove();
    fresh.classList.add("live-new");
    body.prepend(fresh);
    // The page keeps its size: the oldest row moves on to the next page.
    const rows = body.querySelectorAll("tr[data-run-id]");
    if (rows.length > size) rows[rows.length - 1].remove();
    total += 1;
    const count = node.querySelector(".pager .count");
    if (count) count.textContent = `${Math.min(rows.length, size)} shown of ${total.toLocaleString()}`;
  };
  const onIntegration = (event) => {
    const changed = event.integrationStatusChanged.integration;
    if (!integration || changed.integrationId !== integration.integrationId) return;
    const holder = node.querySelector("[data-live='integration-status']");
    if (holder) holder.replaceChildren(integrationStatus(ctx, changed));
  };
  return [onRun, onIntegration];
}

/** What the screen follows (asked before its query, so no change falls in between). */
export function subscriptions(route) {
  return [
    { query: RUN_EVENTS, variables: { flowId: route.flowId, integrationId: route.integrationId || null } },
    route.integrationId ? { query: INTEGRATION_EVENTS, variables: { flowId: route.flowId } } : null,
  ];
}

export function view(route, data, ctx) {
  const { flow, integration, runs } = data;
  const { size } = pageArgs(route.params);
  const rows = runs.nodes.map((run) => runRow(flow, integration, run));
  const columns = [
    { label: "Run ID" },
    ...(integration ? [] : [{ label: "Integration ID" }]),
    { label: "Trigger App" },
    { label: "Trigger Name" },
    { label: "Trigger Type" },
    sortable(route, "Start Time", "start"),
    sortable(route, "Duration", "duration"),
    { label: "Status" },
    { label: "Network Code" },
    { label: "Actions", className: "menu-col" },
  ];
  const top = integration
    ? facts([
        ["Flow", h("a", { href: link.integrations(flow.flowId) }, flow.name)],
        ["Integration ID", h("code", {}, integration.integrationId)],
        ["User ID", integration.userId],
        ["User Auth", integration.userAuth || "—"],
        ["Created", time(integration.createdAt)],
        ["Status", h("span", { "data-live": "integration-status" }, integrationStatus(ctx, integration))],
        ["Tasks consumed", number(integration.tasksConsumed)],
      ])
    : facts([["Flow ID", h("code", {}, flow.flowId)], ["Status", badge(flow.status)]]);
  const crumbs = integration
    ? [[flow.name, link.integrations(flow.flowId)], [integration.integrationId, null]]
    : [[flow.name, link.integrations(flow.flowId)], ["All runs", null]];
  const node = h(
    "section",
    {},
    heading(integration ? `Runs of ${integration.integrationId}` : `Runs of ${flow.name}`, crumbs, top),
    integration ? null : tabs("runs", flow.flowId),
    h("div", { class: "toolbar" }, searchForm(route, { label: "Search", placeholder: "Run ID or trigger app" })),
    filterPanel(route, FILTERS, [
      range(route, "Start time", "startedAfter", "startedBefore"),
      checks(route, "Status", "status", STATUSES),
      textField(route, "Network code", "code", { placeholder: "404, 500", hint: "Exact codes" }),
      checks(route, "Network code class", "codeClass", CLASSES, CLASS_LABELS),
    ]),
    table({ caption: "Runs", columns, rows, empty: "No runs match." }),
    pager(route, runs, size, { what: "runs" }),
  );
  shown.set(node, { columns });
  return node;
}
