// "View Payload": what a step sent and received. Response is selected first; its body is
// shown raw and, when it is JSON, as a collapsible tree. Redacted secrets stay visibly redacted.

import { copyText, externalLink, h } from "../dom.js";
import { networkCode, number } from "../format.js";
import { openDialog } from "../ui/dialog.js";
import { errorBox } from "../ui/error.js";
import { jsonTree } from "../ui/json-tree.js";
import { redactable } from "../ui/redacted.js";

const QUERY = `query ConsoleStepPayload($stepId: String!) {
  step(stepId: $stepId) {
    stepId name status networkCode networkCodeText errorDocsUrl
    app { name docsUrl }
    payload {
      request { method url headers { name value } body bodyJson sizeBytes truncated }
      response { statusCode headers { name value } bodyRaw bodyJson sizeBytes truncated }
      objects { key value }
    }
  }
}`;

const TABS = ["request", "response", "object"];

function headersTable(headers, caption) {
  if (!headers.length) return h("p", { class: "muted" }, "No headers.");
  return h(
    "table",
    { class: "kv" },
    h("caption", {}, caption),
    h("tbody", {}, headers.map((header) => h("tr", {}, h("th", { scope: "row" }, header.name), h("td", {}, redactable(header.value))))),
  );
}

function body(raw, parsed, { sizeBytes, truncated }, what) {
  if (raw === null || raw === undefined) return h("p", { class: "muted" }, "No body.");
  return h(
    "div",
    { class: "body" },
    h("p", { class: "muted" }, `${number(sizeBytes)} bytes${truncated ? " — truncated when stored" : ""}`),
    parsed !== null && parsed !== undefined ? h("div", {}, h("h4", {}, "Parsed JSON"), jsonTree(parsed, `${what} body as JSON`)) : null,
    h("h4", {}, "Raw"),
    h("pre", { class: "raw", tabindex: "0", "aria-label": `${what} body, raw` }, redactable(raw)),
  );
}

function panels(step) {
  const payload = step.payload;
  const request = payload.request;
  const response = payload.response;
  const requestPanel = h(
    "div",
    {},
    h("p", { class: "request-line" }, h("strong", {}, request.method), " ", h("code", {}, redactable(request.url))),
    h("h3", {}, "Headers"),
    headersTable(request.headers, "Request headers"),
    h("h3", {}, "Body"),
    body(request.body, request.bodyJson, request, "Request"),
  );
  const responsePanel = response
    ? h(
        "div",
        {},
        h(
          "p",
          { class: "response-line" },
          "Status ",
          networkCode(response.statusCode, step.networkCodeText || String(response.statusCode)),
          response.statusCode >= 400 && response.bodyRaw
            ? h("button", { type: "button", onclick: () => copyText(response.bodyRaw, "Error response") }, "Copy error response")
            : null,
          step.errorDocsUrl ? externalLink(step.errorDocsUrl, `${step.app.name} API and error docs`) : null,
        ),
        h("h3", {}, "Headers"),
        headersTable(response.headers, "Response headers"),
        h("h3", {}, "Body"),
        body(response.bodyRaw, response.bodyJson, response, "Response"),
      )
    : h("p", { class: "muted" }, "No response: the call got no answer (a timeout or a refused connection).");
  const objectPanel = payload.objects.length
    ? h(
        "table",
        { class: "kv" },
        h("caption", {}, "Objects the engine stored"),
        h("tbody", {}, payload.objects.map((object) => h("tr", {}, h("th", { scope: "row" }, object.key), h("td", {}, object.value !== null && typeof object.value === "object" ? jsonTree(object.value, object.key) : redactable(JSON.stringify(object.value)))))),
      )
    : h("p", { class: "muted" }, "No objects.");
  return { request: requestPanel, response: responsePanel, object: objectPanel };
}

function tabbed(contents, selected) {
  const names = { request: "Request", response: "Response", object: "Object" };
  const buttons = [];
  const regions = [];
  const select = (name, focus) => {
    TABS.forEach((tab, index) => {
      const on = tab === name;
      buttons[index].setAttribute("aria-selected", String(on));
      buttons[index].tabIndex = on ? 0 : -1;
      regions[index].hidden = !on;
    });
    if (focus) buttons[TABS.indexOf(name)].focus();
  };
  TABS.forEach((tab) => {
    buttons.push(h("button", { type: "button", role: "tab", id: `tab-${tab}`, "aria-controls": `panel-${tab}`, onclick: () => select(tab, false) }, names[tab]));
    regions.push(h("div", { role: "tabpanel", id: `panel-${tab}`, "aria-labelledby": `tab-${tab}`, tabindex: "0", class: "tabpanel" }, contents[tab]));
  });
  const list = h("div", { role: "tablist", "aria-label": "Payload", class: "tablist" }, buttons);
  list.addEventListener("keydown", (event) => {
    const at = buttons.indexOf(document.activeElement);
    if (at < 0) return;
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      event.preventDefault();
      select(TABS[(at + (event.key === "ArrowRight" ? 1 : -1) + TABS.length) % TABS.length], true);
    }
  });
  select(TABS.includes(selected) ? selected : "response", false);
  return h("div", {}, list, regions);
}

export async function openPayload(ctx, stepId, tab, onClose) {
  const content = h("div", {}, h("p", { class: "loading" }, "Loading…"));
  const { dialog } = openDialog({ title: `Payload of step ${stepId}`, body: content, wide: true });
  if (onClose) dialog.addEventListener("close", onClose);
  let data;
  try {
    data = await ctx.query(QUERY, { stepId });
  } catch (error) {
    content.replaceChildren(errorBox(error));
    return;
  }
  const step = data.step;
  if (!step) {
    content.replaceChildren(errorBox({ message: `No step ${stepId} in this account.`, code: "NOT_FOUND" }));
    return;
  }
  if (!step.payload) {
    content.replaceChildren(h("p", { class: "muted" }, "This step stored no payload (it was skipped, or is still running)."));
    return;
  }
  content.replaceChildren(h("p", { class: "muted" }, `${step.app.name} · ${step.name}`), tabbed(panels(step), tab));
  dialog.querySelector('[role="tab"][aria-selected="true"]').focus();
}
