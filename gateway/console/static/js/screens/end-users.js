// End-users of a flow: tasks consumed, limit, remaining, period reset and status; admins set a
// task limit. Looking one end-user up by userId uses endUser(userId) instead of the list.

import { h, toast } from "../dom.js";
import { badge, number, time } from "../format.js";
import { link } from "../route.js";
import { facts, heading, notFound, tabs } from "./common.js";
import { table } from "../ui/table.js";
import { pager } from "../ui/pager.js";
import { searchForm } from "../ui/filters.js";
import { openDialog } from "../ui/dialog.js";
import { errorBox } from "../ui/error.js";

const FIELDS = "userId tasksConsumed taskLimit limitPeriodDays limitResetsAt tasksConsumedInPeriod tasksRemaining status";
const SIZES = [10, 25, 50, 100];

const LIST = `query ConsoleEndUsers($flowId: String!, $first: Int, $after: String) {
  flow(flowId: $flowId) {
    flowId name status
    endUsers(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { ${FIELDS} }
    }
  }
}`;

const ONE = `query ConsoleEndUser($flowId: String!, $userId: String!) {
  flow(flowId: $flowId) { flowId name status }
  endUser(userId: $userId) { ${FIELDS} }
}`;

const SET_LIMIT = `mutation ConsoleSetTaskLimit($userId: String!, $limit: Int, $periodDays: Int) {
  setTaskLimit(userId: $userId, limit: $limit, periodDays: $periodDays) { userId taskLimit }
}`;

function size(params) {
  return SIZES.includes(Number(params.get("size"))) ? Number(params.get("size")) : SIZES[0];
}

export async function load(route, { query }) {
  const userId = route.params.get("search");
  if (userId) {
    const data = await query(ONE, { flowId: route.flowId, userId });
    if (!data.flow) throw notFound("flow", route.flowId);
    const nodes = data.endUser ? [data.endUser] : [];
    const pageInfo = { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null };
    return { flow: data.flow, endUsers: { totalCount: nodes.length, pageInfo, nodes } };
  }
  // Flow.endUsers pages forward only (first/after), so "back" is the first page.
  const data = await query(LIST, { flowId: route.flowId, first: size(route.params), after: route.params.get("after") || null });
  if (!data.flow) throw notFound("flow", route.flowId);
  return { flow: data.flow, endUsers: data.flow.endUsers };
}

function setLimit(ctx, user) {
  const limitInput = h("input", { id: "limit-value", type: "number", min: "0", step: "1", value: user.taskLimit ?? "", placeholder: "No limit" });
  const periodInput = h("input", { id: "limit-period", type: "number", min: "1", step: "1", value: user.limitPeriodDays ?? 30 });
  const problem = h("div", { "aria-live": "assertive" });
  openDialog({
    title: `Task limit of ${user.userId}`,
    body: h(
      "form",
      { class: "stack", onsubmit: (event) => event.preventDefault() },
      h("p", {}, "Leave the limit empty to remove it. When the limit is reached, the end-user's integrations pause (billing) until the period ends."),
      h("span", { class: "field" }, h("label", { for: "limit-value" }, "Tasks per period"), limitInput),
      h("span", { class: "field" }, h("label", { for: "limit-period" }, "Period (days)"), periodInput),
      problem,
    ),
    actions: [
      { label: "Cancel", onclick: (close) => close() },
      {
        label: "Set limit",
        kind: "primary",
        onclick: async (close) => {
          const limit = limitInput.value === "" ? null : Number(limitInput.value);
          const periodDays = periodInput.value === "" ? null : Number(periodInput.value);
          try {
            await ctx.query(SET_LIMIT, { userId: user.userId, limit, periodDays });
          } catch (error) {
            problem.replaceChildren(errorBox(error, { title: "The limit was not set" }));
            return;
          }
          close();
          toast(limit === null ? `Task limit of ${user.userId} removed` : `Task limit of ${user.userId} set to ${limit}`);
          ctx.refresh();
        },
      },
    ],
    onOpen: () => limitInput.focus(),
  });
}

export function view(route, data, ctx) {
  const { flow, endUsers } = data;
  const admin = ctx.role === "ADMIN";
  const rows = endUsers.nodes.map((user) => ({
    dataset: { userId: user.userId },
    cells: [
      h("a", { href: link.integrations(flow.flowId, { search: user.userId }) }, user.userId),
      number(user.tasksConsumed),
      user.taskLimit === null ? h("span", { class: "muted" }, "No limit") : `${number(user.taskLimit)} / ${user.limitPeriodDays} d`,
      user.taskLimit === null ? "—" : number(user.tasksConsumedInPeriod),
      user.tasksRemaining === null ? "—" : number(user.tasksRemaining),
      time(user.limitResetsAt),
      badge(user.status),
      ...(admin ? [h("button", { type: "button", onclick: () => setLimit(ctx, user), "aria-label": `Set task limit of ${user.userId}` }, "Set limit")] : []),
    ],
  }));
  return h(
    "section",
    {},
    heading(`End-users of ${flow.name}`, [[flow.name, link.integrations(flow.flowId)], ["End-users", null]], facts([["Flow ID", h("code", {}, flow.flowId)], ["Status", badge(flow.status)]])),
    tabs("endUsers", flow.flowId),
    h("div", { class: "toolbar" }, searchForm(route, { label: "User ID", placeholder: "Exact user ID" })),
    table({
      caption: `End-users of ${flow.name}`,
      columns: [
        { label: "User ID" },
        { label: "Tasks consumed", className: "num" },
        { label: "Limit" },
        { label: "Used this period", className: "num" },
        { label: "Remaining", className: "num" },
        { label: "Period resets" },
        { label: "Status" },
        ...(admin ? [{ label: "Actions", className: "menu-col" }] : []),
      ],
      rows,
      empty: route.params.get("search") ? `No end-user ${route.params.get("search")}.` : "No end-users yet.",
    }),
    pager(route, endUsers, size(route.params), { what: "end-users", backward: false }),
  );
}

const CHANGES = `subscription ConsoleLiveEndUsers($flowId: String, $after: String) {
  runStatusChanged(flowId: $flowId, after: $after) { cursor }
}`;
const INTEGRATION_CHANGES = `subscription ConsoleLiveEndUserIntegrations($flowId: String, $after: String) {
  integrationStatusChanged(flowId: $flowId, after: $after) { cursor }
}`;

/** Runs consume tasks and integrations change status: the counts are read again (quietly). */
export function live(route, data, ctx) {
  return [() => ctx.refreshSoon(), () => ctx.refreshSoon()];
}

export function subscriptions(route) {
  return [
    { query: CHANGES, variables: { flowId: route.flowId } },
    { query: INTEGRATION_CHANGES, variables: { flowId: route.flowId } },
  ];
}
