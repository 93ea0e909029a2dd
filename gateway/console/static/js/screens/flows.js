// Flows: name, ID, status and integration stats, one query.

import { h } from "../dom.js";
import { badge, number, time, word } from "../format.js";
import { link, pageArgs, withChanges, list } from "../route.js";
import { heading } from "./common.js";
import { table } from "../ui/table.js";
import { pager } from "../ui/pager.js";
import { menu } from "../ui/menu.js";
import { searchForm } from "../ui/filters.js";

const QUERY = `query ConsoleFlows($first: Int, $after: String, $last: Int, $before: String, $filter: FlowFilter) {
  viewer { accountId name }
  flows(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes {
      flowId name status createdAt
      stats { integrationCount failingCount runsLast24h failedRunsLast24h tasksConsumed statusCounts { status count } }
    }
  }
}`;

export async function load(route, { query }) {
  const { vars } = pageArgs(route.params);
  const [status] = list(route.params, "status");
  const filter = { nameContains: route.params.get("search") || null, status: status || null };
  return query(QUERY, { ...vars, filter });
}

function stats(flow) {
  const s = flow.stats;
  const summary = [
    h("span", { class: "stat" }, h("strong", {}, number(s.integrationCount)), " integrations"),
    h("span", { class: "stat" }, h("strong", {}, number(s.runsLast24h)), " runs in 24 h"),
    s.failedRunsLast24h ? h("span", { class: "stat bad" }, h("strong", {}, number(s.failedRunsLast24h)), " failed") : null,
    s.failingCount ? h("span", { class: "stat bad" }, h("strong", {}, number(s.failingCount)), " failing") : null,
  ];
  const detail = s.statusCounts.map((c) => `${word(c.status)} ${c.count}`).join(" · ");
  if (!s.integrationCount) {
    return h(
      "span",
      { class: "stats stats-none", title: "No integrations to see", "aria-disabled": "true", tabindex: "0" },
      summary,
      h("span", { class: "hover-hint" }, "No integrations to see"),
    );
  }
  return h(
    "a",
    { class: "stats", href: link.integrations(flow.flowId), title: detail ? `View Integrations — ${detail}` : "View Integrations" },
    summary,
    h("span", { class: "hover-hint" }, "View Integrations"),
  );
}

export function view(route, data) {
  const flows = data.flows;
  const { size } = pageArgs(route.params);
  const [status] = list(route.params, "status");
  const statusFilter = h(
    "nav",
    { class: "chips", "aria-label": "Flow status" },
    [["", "All"], ["PUBLISHED", "Published"], ["DRAFT", "Draft"]].map(([value, text]) =>
      h("a", { href: withChanges(route, { status: value || null }), "aria-current": (status || "") === value ? "true" : null }, text),
    ),
  );
  const rows = flows.nodes.map((flow) => [
    h("div", {}, h("span", { class: "name" }, flow.name), h("code", { class: "id" }, flow.flowId)),
    badge(flow.status),
    stats(flow),
    number(flow.stats.tasksConsumed),
    time(flow.createdAt),
    menu(`Actions for flow ${flow.name}`, [
      flow.stats.integrationCount
        ? { label: "All Integrations", onselect: () => (location.hash = link.integrations(flow.flowId)) }
        : { label: "All Integrations (none yet)", disabled: true, onselect: () => {} },
      { label: "All runs", onselect: () => (location.hash = link.flowRuns(flow.flowId)) },
      { label: "End-users", onselect: () => (location.hash = link.endUsers(flow.flowId)) },
    ]),
  ]);
  return h(
    "section",
    {},
    heading(`Flows of ${data.viewer.name}`),
    h("div", { class: "toolbar" }, searchForm(route, { label: "Flow name", placeholder: "Part of a name" }), statusFilter),
    table({
      caption: "Flows",
      columns: [{ label: "Flow" }, { label: "Status" }, { label: "Integrations" }, { label: "Tasks", className: "num" }, { label: "Created" }, { label: "Actions", className: "menu-col" }],
      rows,
      empty: "No flows match.",
    }),
    pager(route, flows, size, { what: "flows" }),
  );
}

const CHANGES = `subscription ConsoleLiveFlows($after: String) {
  runStatusChanged(after: $after) { cursor }
}`;
const INTEGRATION_CHANGES = `subscription ConsoleLiveFlowIntegrations($after: String) {
  integrationStatusChanged(after: $after) { cursor }
}`;

/** Runs and integration statuses change the stats: they are read again (quietly). */
export function live(route, data, ctx) {
  return [() => ctx.refreshSoon(), () => ctx.refreshSoon()];
}

export function subscriptions() {
  return [
    { query: CHANGES, variables: {} },
    { query: INTEGRATION_CHANGES, variables: {} },
  ];
}
