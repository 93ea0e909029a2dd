// Integration detail: the integrations of one flow, searched, filtered, sorted and paged in one
// query; admins act on them (disable, enable, delete, bulk disable) after a confirmation.

import { h, toast } from "../dom.js";
import { badge, number, time, word } from "../format.js";
import { link, list, pageArgs, withChanges } from "../route.js";
import { facts, heading, notFound, tabs } from "./common.js";
import { replaceRow, table, tableRow } from "../ui/table.js";
import { pager } from "../ui/pager.js";
import { menu } from "../ui/menu.js";
import { checks, filterPanel, range, searchForm } from "../ui/filters.js";
import { confirmDialog, openDialog } from "../ui/dialog.js";
import { errorBox } from "../ui/error.js";

const STATUSES = ["INITIALIZING", "ENABLED", "DISABLED", "PAUSED", "FAILED_TO_INITIALIZE", "DELETED"];
const LAST_RUN = ["OK", "FAILED", "RUNNING", "HASNT_RUN"];
const FILTERS = ["status", "lastRun", "createdAfter", "createdBefore"];

const ROW_FIELDS = "integrationId userId userAuth createdAt lastRunStart lastRunStatus status pausedReason tasksConsumed";

const QUERY = `query ConsoleIntegrations($flowId: String!, $first: Int, $after: String, $last: Int, $before: String,
    $search: String, $filter: IntegrationFilter, $orderBy: IntegrationOrder) {
  flow(flowId: $flowId) {
    flowId name status
    integrations(first: $first, after: $after, last: $last, before: $before, search: $search, filter: $filter, orderBy: $orderBy) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { ${ROW_FIELDS} }
    }
  }
}`;

const INTEGRATION_EVENTS = `subscription ConsoleLiveIntegrations($flowId: String, $after: String) {
  integrationStatusChanged(flowId: $flowId, after: $after) { cursor status integration { ${ROW_FIELDS} } }
}`;

// A run starting or finishing changes its integration's Last Run Start and Last Run Status.
const RUN_EVENTS = `subscription ConsoleLiveIntegrationRuns($flowId: String, $after: String) {
  runStatusChanged(flowId: $flowId, after: $after) { cursor status run { runId integration { ${ROW_FIELDS} } } }
}`;

const HISTORY = `query ConsoleStatusHistory($integrationId: String!) {
  integration(integrationId: $integrationId) {
    integrationId status pausedReason
    statusHistory(first: 50) { totalCount nodes { at from to reason actor actorKind actorRole } }
  }
}`;

const ACTIONS = {
  disable: ["disableIntegration", "Disable", "disabled"],
  enable: ["enableIntegration", "Enable", "enabled"],
  delete: ["deleteIntegration", "Delete", "deleted"],
};

export async function load(route, { query }) {
  const { vars } = pageArgs(route.params);
  const p = route.params;
  const filter = {
    status: list(p, "status"),
    lastRunStatus: list(p, "lastRun"),
    createdAfter: p.get("createdAfter") || null,
    createdBefore: p.get("createdBefore") || null,
  };
  const data = await query(QUERY, {
    flowId: route.flowId,
    ...vars,
    search: p.get("search") || null,
    filter,
    orderBy: { field: "CREATED_AT", direction: p.get("sort") === "oldest" ? "ASC" : "DESC" },
  });
  if (!data.flow) throw notFound("flow", route.flowId);
  return data;
}

async function act(ctx, action, integrationId) {
  const [field, verb, done] = ACTIONS[action];
  const message =
    action === "delete"
      ? [`Delete integration ${integrationId}?`, "Deleting is final: a deleted integration can never be enabled again, and its end-user's triggers stop."]
      : [`${verb} integration ${integrationId}?`];
  const confirmed = await confirmDialog({ title: `${verb} integration`, message, confirmLabel: verb, danger: action !== "enable" });
  if (!confirmed) return;
  try {
    await ctx.query(`mutation ConsoleAct($id: String!) { ${field}(integrationId: $id) { integrationId status } }`, { id: integrationId });
    toast(`Integration ${integrationId} ${done}`);
    ctx.refresh();
  } catch (error) {
    ctx.showError(error, `Could not ${verb.toLowerCase()} ${integrationId}`);
  }
}

async function bulkDisable(ctx, ids) {
  const confirmed = await confirmDialog({
    title: "Disable integrations",
    message: [`Disable ${ids.length} integration${ids.length === 1 ? "" : "s"}?`, ids.join(", ")],
    confirmLabel: `Disable ${ids.length}`,
    danger: true,
  });
  if (!confirmed) return;
  try {
    await ctx.query("mutation ConsoleBulkDisable($ids: [String!]!) { disableIntegrations(integrationIds: $ids) { integrationId status } }", { ids });
    toast(`${ids.length} integration${ids.length === 1 ? "" : "s"} disabled`);
    ctx.refresh();
  } catch (error) {
    ctx.showError(error, "Could not disable the selected integrations");
  }
}

export async function showHistory(ctx, integrationId) {
  const body = h("div", { class: "history" }, h("p", { class: "loading" }, "Loading…"));
  openDialog({ title: `Status history of ${integrationId}`, body, wide: true });
  let data;
  try {
    data = await ctx.query(HISTORY, { integrationId });
  } catch (error) {
    body.replaceChildren(errorBox(error));
    return;
  }
  if (!data.integration) {
    body.replaceChildren(errorBox(notFound("integration", integrationId)));
    return;
  }
  const history = data.integration.statusHistory;
  body.replaceChildren(
    table({
      caption: `Status changes of ${integrationId}, newest first`,
      columns: [{ label: "When" }, { label: "From" }, { label: "To" }, { label: "Why" }, { label: "Who" }],
      rows: history.nodes.map((change) => [
        time(change.at),
        change.from ? badge(change.from) : h("span", { class: "muted" }, "created"),
        badge(change.to),
        change.reason ? word(change.reason) : "—",
        h("span", {}, change.actor, change.actorRole ? h("span", { class: "muted" }, ` (${word(change.actorRole)} key)`) : h("span", { class: "muted" }, ` (${word(change.actorKind)})`)),
      ]),
      empty: "No status changes recorded.",
    }),
    history.totalCount > history.nodes.length ? h("p", { class: "muted" }, `The ${history.nodes.length} newest of ${history.totalCount} changes.`) : "",
  );
}

function statusCell(ctx, integration) {
  const reason = integration.pausedReason ? ` (${word(integration.pausedReason)})` : "";
  return h(
    "button",
    {
      type: "button",
      class: "link-button",
      title: "Status history",
      "aria-label": `${word(integration.status)}${reason}: status history of ${integration.integrationId}`,
      onclick: () => showHistory(ctx, integration.integrationId),
    },
    badge(integration.status, reason),
  );
}

// What view() built, for the live updates of the same screen.
const shown = new WeakMap();

export function view(route, data, ctx) {
  const flow = data.flow;
  const connection = flow.integrations;
  const { size } = pageArgs(route.params);
  const admin = ctx.role === "ADMIN";
  const oldest = route.params.get("sort") === "oldest";
  const selected = new Set();

  const bulkButton = h("button", { type: "button", class: "danger", disabled: true, onclick: () => bulkDisable(ctx, [...selected]) }, "Disable selected");
  const updateBulk = () => {
    bulkButton.disabled = selected.size === 0;
    bulkButton.textContent = selected.size ? `Disable selected (${selected.size})` : "Disable selected";
  };
  const selectable = connection.nodes.filter((i) => ["ENABLED", "PAUSED"].includes(i.status));
  const rowChecks = new Map(); // id → the checkbox of its row as shown now
  const selectAll = h("input", {
    type: "checkbox",
    "aria-label": "Select every integration on this page that can be disabled",
    disabled: selectable.length === 0,
    onchange: (event) => {
      for (const box of rowChecks.values()) {
        box.checked = event.target.checked;
        box.dispatchEvent(new Event("change"));
      }
    },
  });

  const rowOf = (integration) => {
    const id = integration.integrationId;
    const canDisable = ["ENABLED", "PAUSED"].includes(integration.status);
    const canEnable = ["DISABLED", "PAUSED"].includes(integration.status);
    const cells = [];
    if (admin) {
      const box = h("input", {
        type: "checkbox",
        "aria-label": `Select ${id}`,
        disabled: !canDisable,
        onchange: (event) => {
          if (event.target.checked) selected.add(id);
          else selected.delete(id);
          updateBulk();
        },
      });
      if (canDisable) rowChecks.set(id, box);
      else rowChecks.delete(id);
      // A row rebuilt by a live update keeps its selection while it can still be disabled.
      if (!canDisable && selected.delete(id)) updateBulk();
      if (canDisable && selected.has(id)) box.checked = true;
      cells.push(box);
    }
    cells.push(
      h("a", { href: link.runs(flow.flowId, id), class: "id" }, id),
      integration.userId,
      integration.userAuth || h("span", { class: "muted" }, "—"),
      time(integration.createdAt),
      time(integration.lastRunStart),
      badge(integration.lastRunStatus),
      statusCell(ctx, integration),
      h("span", { class: "num" }, number(integration.tasksConsumed)),
    );
    if (admin) {
      cells.push(
        menu(`Actions for ${id}`, [
          { label: "View runs", onselect: () => (location.hash = link.runs(flow.flowId, id)) },
          { label: "Status history", onselect: () => showHistory(ctx, id) },
          canDisable && { label: "Disable", onselect: () => act(ctx, "disable", id) },
          canEnable && { label: "Enable", onselect: () => act(ctx, "enable", id) },
          integration.status !== "DELETED" && { label: "Delete…", danger: true, onselect: () => act(ctx, "delete", id) },
        ]),
      );
    }
    return { cells, dataset: { integrationId: id } };
  };
  const rows = connection.nodes.map(rowOf);

  const columns = [
    ...(admin ? [{ label: selectAll, className: "select-col" }] : []),
    { label: "Integration ID" },
    { label: "User ID" },
    { label: "User Auth" },
    {
      label: "Date Created",
      sort: {
        direction: oldest ? "ascending" : "descending",
        href: withChanges(route, { sort: oldest ? null : "oldest" }),
        hint: oldest ? "Oldest first; sort newest first" : "Newest first; sort oldest first",
      },
    },
    { label: "Last Run Start" },
    { label: "Last Run Status" },
    { label: "Integration Status" },
    { label: "Tasks", className: "num" },
    ...(admin ? [{ label: "Actions", className: "menu-col" }] : []),
  ];

  const node = h(
    "section",
    {},
    heading(flow.name, [[flow.name, null]], facts([["Flow ID", h("code", {}, flow.flowId)], ["Status", badge(flow.status)]])),
    tabs("integrations", flow.flowId),
    h("div", { class: "toolbar" }, searchForm(route, { label: "Search", placeholder: "Integration ID, User ID or User Auth" }), admin ? bulkButton : null),
    filterPanel(route, FILTERS, [
      checks(route, "Integration status", "status", STATUSES),
      checks(route, "Last run status", "lastRun", LAST_RUN),
      range(route, "Date created", "createdAfter", "createdBefore"),
    ]),
    table({ caption: `Integrations of ${flow.name}`, columns, rows, empty: "No integrations match." }),
    pager(route, connection, size, { what: "integrations" }),
  );
  shown.set(node, { columns, rowOf });
  return node;
}

/** The rows on screen follow their integration's status and last run (and so do their menus). */
export function live(route, data, ctx, node) {
  const { columns, rowOf } = shown.get(node);
  const update = (integration) => replaceRow(node, "integration-id", integration.integrationId, tableRow(columns, rowOf(integration)));
  return [(event) => update(event.integrationStatusChanged.integration), (event) => update(event.runStatusChanged.run.integration)];
}

/** What the screen follows (asked before its query, so no change falls in between). */
export function subscriptions(route) {
  return [
    { query: INTEGRATION_EVENTS, variables: { flowId: route.flowId } },
    { query: RUN_EVENTS, variables: { flowId: route.flowId } },
  ];
}
