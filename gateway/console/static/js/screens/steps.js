// Step detail: one run's steps, and "View Payload" with its Request, Response and Object tabs.

import { copyText, externalLink, h } from "../dom.js";
import { badge, duration, networkCode, number, time, word } from "../format.js";
import { absolute, link, parse, withChanges } from "../route.js";
import { facts, heading, notFound } from "./common.js";
import { replaceRow, table, tableRow } from "../ui/table.js";
import { openPayload } from "./payload.js";

const STEP_FIELDS = "stepId position name startTime duration status networkCode networkCodeText errorDocsUrl app { appId name docsUrl }";
const RUN_LIVE_FIELDS = "runId duration status networkCode networkCodeText tasksConsumed";

const STEP_EVENTS = `subscription ConsoleLiveSteps($runId: String!, $after: String) {
  stepStatusChanged(runId: $runId, after: $after) { cursor status step { ${STEP_FIELDS} } }
}`;

const RUN_EVENTS = `subscription ConsoleLiveRun($integrationId: String, $after: String) {
  runStatusChanged(integrationId: $integrationId, after: $after) { cursor status run { ${RUN_LIVE_FIELDS} } }
}`;

const INTEGRATION_EVENTS = `subscription ConsoleLiveRunIntegration($flowId: String, $after: String) {
  integrationStatusChanged(flowId: $flowId, after: $after) { cursor status integration { integrationId status } }
}`;

const QUERY = `query ConsoleRunSteps($runId: String!) {
  run(runId: $runId) {
    runId triggerName triggerType startTime endTime duration status networkCode networkCodeText tasksConsumed logsUrl
    triggerApp { name }
    integration { integrationId userId userAuth status flow { flowId name } }
    steps(first: 100) {
      totalCount
      pageInfo { hasNextPage }
      nodes { ${STEP_FIELDS} }
    }
  }
}`;

export async function load(route, { query }) {
  const data = await query(QUERY, { runId: route.runId });
  if (!data.run) throw notFound("run", route.runId);
  return data;
}

// What view() built, for the live updates of the same screen.
const shown = new WeakMap();

/** Steps change status in place and new steps appear in position; so do the run's and the
 * integration's status. */
export function live(route, data, ctx, node) {
  const { columns, rowOf } = shown.get(node);
  const runId = data.run.runId;
  const onStep = (event) => {
    const { step } = event.stepStatusChanged;
    const fresh = tableRow(columns, rowOf(step));
    if (replaceRow(node, "step-id", step.stepId, fresh)) return;
    const body = node.querySelector("tbody");
    const empty = body.querySelector("tr.empty");
    if (empty) empty.remove();
    const later = [...body.querySelectorAll("tr[data-position]")].find((row) => Number(row.dataset.position) > step.position);
    fresh.classList.add("live-new");
    body.insertBefore(fresh, later || null);
  };
  const onRun = (event) => {
    const { run } = event.runStatusChanged;
    if (run.runId !== runId) return;
    const set = (name, value) => {
      const holder = node.querySelector(`[data-live='${name}']`);
      if (holder) holder.replaceChildren(value);
    };
    set("run-status", badge(run.status));
    set("run-duration", duration(run.duration));
    set("run-code", networkCode(run.networkCode, run.networkCodeText));
    set("run-tasks", number(run.tasksConsumed));
  };
  const onIntegration = (event) => {
    const changed = event.integrationStatusChanged.integration;
    if (changed.integrationId !== data.run.integration.integrationId) return;
    const holder = node.querySelector("[data-live='integration-status']");
    if (holder) holder.replaceChildren(badge(changed.status));
  };
  return [onStep, onRun, onIntegration];
}

/** What the screen follows (asked before its query, so no change falls in between). */
export function subscriptions(route) {
  return [
    { query: STEP_EVENTS, variables: { runId: route.runId } },
    { query: RUN_EVENTS, variables: { integrationId: route.integrationId } },
    { query: INTEGRATION_EVENTS, variables: { flowId: route.flowId } },
  ];
}

export function view(route, data, ctx) {
  const run = data.run;
  const integration = run.integration;
  const flow = integration.flow;
  const here = link.steps(flow.flowId, integration.integrationId, run.runId);
  const open = (stepId) => {
    // The open payload is part of the URL, so the link names the step too.
    history.replaceState(null, "", withChanges(route, { step: stepId, tab: null }));
    openPayload(ctx, stepId, route.params.get("step") === stepId ? route.params.get("tab") : null, () => {
      history.replaceState(null, "", withChanges(route, { step: null, tab: null }));
    });
  };
  const rowOf = (step) => ({
    dataset: { stepId: step.stepId, position: String(step.position) },
    cells: [
      h("code", { class: "id" }, step.stepId),
      step.app.name,
      step.name,
      time(step.startTime),
      duration(step.duration),
      badge(step.status),
      networkCode(step.networkCode, step.networkCodeText),
      h(
        "div",
        { class: "cell-actions" },
        h("button", { type: "button", onclick: () => open(step.stepId), "aria-label": `View payload of step ${step.stepId}` }, "View Payload"),
        step.errorDocsUrl ? externalLink(step.errorDocsUrl, "Docs", { "aria-label": `${step.app.name} API and error docs` }) : null,
      ),
    ],
  });
  const rows = run.steps.nodes.map(rowOf);
  const columns = [
    { label: "Step ID" },
    { label: "App" },
    { label: "Name" },
    { label: "Start Time" },
    { label: "Duration" },
    { label: "Status" },
    { label: "Network Code" },
    { label: "Payload", className: "menu-col" },
  ];
  const node = h(
    "section",
    {},
    heading(
      `Run ${run.runId}`,
      [[flow.name, link.integrations(flow.flowId)], [integration.integrationId, link.runs(flow.flowId, integration.integrationId)], [run.runId, null]],
      facts([
        ["Integration ID", h("a", { href: link.runs(flow.flowId, integration.integrationId) }, integration.integrationId)],
        ["User ID", integration.userId],
        ["Integration status", h("span", { "data-live": "integration-status" }, badge(integration.status))],
        ["Trigger", `${run.triggerApp.name} · ${run.triggerName} (${word(run.triggerType)})`],
        ["Start time", time(run.startTime)],
        ["Duration", h("span", { "data-live": "run-duration" }, duration(run.duration))],
        ["Status", h("span", { "data-live": "run-status" }, badge(run.status))],
        ["Network code", h("span", { "data-live": "run-code" }, networkCode(run.networkCode, run.networkCodeText))],
        ["Tasks", h("span", { "data-live": "run-tasks" }, number(run.tasksConsumed))],
      ]),
    ),
    h(
      "div",
      { class: "toolbar" },
      h("button", { type: "button", onclick: () => copyText(absolute(here), "Run link") }, "Copy link"),
      run.logsUrl ? externalLink(run.logsUrl, "Open logs", { class: "button" }) : null,
    ),
    table({
      caption: `Steps of run ${run.runId}`,
      columns,
      rows,
      empty: "This run has no steps yet.",
    }),
    run.steps.pageInfo.hasNextPage ? h("p", { class: "muted" }, `The first 100 of ${run.steps.totalCount} steps.`) : null,
  );
  shown.set(node, { columns, rowOf });
  // A link naming a step opens its payload; a refresh that was asked for while it was open
  // (the address still named it then) does not open it again, or once it was closed.
  const deepStep = route.params.get("step");
  if (deepStep) {
    queueMicrotask(() => {
      if (parse().params.get("step") !== deepStep || document.querySelector("dialog[open]")) return;
      openPayload(ctx, deepStep, route.params.get("tab"), () => history.replaceState(null, "", withChanges(route, { step: null, tab: null })));
    });
  }
  return node;
}
