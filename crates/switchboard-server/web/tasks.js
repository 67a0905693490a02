// The task explorer, over the REST API with an API key (roles TasksReadonly or TasksManage):
//   GET /v2.0/tasks?service=&state=&externalId=&customer=   live and recently finished tasks
//   GET /v2.0/tasks/{id}/timeline                            every stored event about one task
//   GET /v2.0/tasks/{id}/explanation                         who could take it now, and why not the others
//   GET /v2.0/events (Server-Sent Events, type=Tasks)        refreshes what is shown as tasks change
// Services and users are named with GET /v2.0/services and /v2.0/users when the key may read them.

import { Rest, RestError, followEvents } from "/web/rest.js";
import { h, fill, dateTime, tabStore, startHeader, showStatus, banner } from "/web/ui.js";

const view = document.getElementById("view");
const statusPill = document.getElementById("status");
const who = document.getElementById("who");
const signOutButton = document.getElementById("signout");
const bannerBox = document.getElementById("banner");

let rest = null;
let stopEvents = null;
let services = []; // [{Id, Name}] when the key may read services
let users = new Map(); // user id -> name
let selected = null; // the open task's id
let filters = {};
let refreshSoon = null;
let retryTimer = null;

startHeader();
const savedKey = tabStore.get("tasks");
if (savedKey) open(savedKey); else showSignIn();

function showSignIn(message) {
  stopEvents?.();
  stopEvents = null;
  who.textContent = "";
  signOutButton.hidden = true;
  showStatus(statusPill, "closed", "Not signed in");
  banner(bannerBox, "warn", message);
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { id: "key-form" },
    h("div", { class: "field" },
      h("label", { for: "apikey" }, "API key ", h("span", { class: "hint" }, "(role TasksReadonly or TasksManage)")),
      h("input", { id: "apikey", name: "apikey", type: "password", autocomplete: "off", required: true })),
    h("button", { class: "primary", type: "submit" }, "Open the explorer"),
    error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const key = form.apikey.value.trim();
    try {
      await new Rest(key).get("/v2.0/tasks", { pageSize: 1, finished: "false" });
      tabStore.set("tasks", key);
      open(key);
    } catch (failure) {
      error.textContent = failure.kind === "unauthorized" ? `The key was refused: ${failure.message}` : failure.message;
    }
  });
  fill(view, h("section", { class: "panel signin" },
    h("h1", {}, "Task explorer"),
    h("p", { class: "lead" }, "Find live and recent tasks, follow their timeline and see why a waiting task waits."),
    form));
  form.apikey.focus();
}

function signOut(message) {
  tabStore.remove("tasks");
  selected = null;
  showSignIn(message);
}

signOutButton.addEventListener("click", () => signOut());

/** Shows a failed call: a refused key signs out, an unreachable server retries by itself. */
function failed(error, retry) {
  if (error instanceof RestError && error.kind === "unauthorized") {
    signOut(`The API key was refused: ${error.message}`);
    return;
  }
  if (error instanceof RestError && error.kind === "unreachable") {
    showStatus(statusPill, "reconnecting", "Server unreachable");
    banner(bannerBox, "error", "The server cannot be reached. Retrying every 5 seconds…");
    clearTimeout(retryTimer);
    retryTimer = setTimeout(retry, 5000);
    return;
  }
  banner(bannerBox, "error", error.message);
}

async function open(key) {
  rest = new Rest(key);
  who.textContent = "API key";
  signOutButton.hidden = false;
  banner(bannerBox);
  const serviceField = h("div", { class: "field", id: "service-field" },
    h("label", { for: "f-service" }, "Service"),
    h("input", { id: "f-service", name: "service", placeholder: "id or SIP URI" }));
  const form = h("form", { id: "search-form", class: "panel" },
    h("div", { class: "row" },
      serviceField,
      h("div", { class: "field" }, h("label", { for: "f-state" }, "State"),
        h("select", { id: "f-state", name: "state" },
          h("option", { value: "" }, "Any"),
          ["InQueue", "Pending", "Distributed", "Established", "OnHold", "Terminated"].map((s) => h("option", { value: s }, s)))),
      h("div", { class: "field" }, h("label", { for: "f-external" }, "External id"),
        h("input", { id: "f-external", name: "externalId" })),
      h("div", { class: "field" }, h("label", { for: "f-customer" }, "Customer"),
        h("input", { id: "f-customer", name: "customer", placeholder: "part of the identifier" })),
      h("button", { class: "primary", type: "submit" }, "Search")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    filters = {
      service: form.service.value.trim(),
      state: form.state.value,
      externalId: form.externalId.value.trim(),
      customer: form.customer.value.trim(),
    };
    search();
  });
  fill(view, form, h("div", { class: "explorer" },
    h("section", { class: "panel results", "aria-labelledby": "results-title" },
      h("div", { class: "panel-head" }, h("h2", { id: "results-title" }, "Tasks"), h("span", { class: "note", id: "results-note" })),
      h("div", { id: "results" }, h("p", { class: "empty" }, "Searching…"))),
    h("section", { class: "panel", id: "detail", "aria-labelledby": "detail-title", "aria-live": "polite" },
      h("h2", { id: "detail-title" }, "Task"),
      h("p", { class: "empty" }, "Choose a task to see its timeline."))));
  // Names for services and users, when the key may read them (else ids are shown).
  try {
    services = (await rest.get("/v2.0/services", { pageSize: 1000 })).Items;
    const select = h("select", { id: "f-service", name: "service" },
      h("option", { value: "" }, "Any"), services.map((s) => h("option", { value: s.Id }, s.Name)));
    fill(serviceField, h("label", { for: "f-service" }, "Service"), select);
  } catch { /* the key may not read services: the text field stays */ }
  try {
    const page = await rest.get("/v2.0/users", { pageSize: 1000 });
    users = new Map(page.Items.map((u) => [u.Id, u.DisplayName || `${u.FirstName || ""} ${u.LastName || ""}`.trim() || u.Id]));
  } catch { /* ids only */ }
  search();
  stopEvents?.();
  stopEvents = followEvents(key, { type: "Tasks" }, {
    onEvent: (event) => {
      if (selected && event.TaskId === selected) showTask(selected, false);
      scheduleSearch();
    },
    onStatus: (state, text) => {
      showStatus(statusPill, state, state === "open" ? "Live" : text);
      if (state === "reconnecting") banner(bannerBox, "error", `${text}. What is shown may be out of date.`);
      else if (state === "open") banner(bannerBox);
    },
    onUnauthorized: () => signOut("The API key was refused."),
  });
}

/** Tasks changed: search again, at most once a second. */
function scheduleSearch() {
  if (refreshSoon) return;
  refreshSoon = setTimeout(() => { refreshSoon = null; search(); }, 1000);
}

async function search() {
  let page;
  try {
    page = await rest.get("/v2.0/tasks", { ...filters, pageSize: 200 });
  } catch (error) {
    failed(error, search);
    return;
  }
  const box = document.getElementById("results");
  if (!box) return;
  document.getElementById("results-note").textContent =
    page.TotalCount > page.Items.length ? `${page.Items.length} of ${page.TotalCount}` : `${page.TotalCount} found`;
  if (page.Items.length === 0) {
    fill(box, h("p", { class: "empty" }, "No task matches."));
    return;
  }
  fill(box, h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Created"), h("th", { scope: "col" }, "State"), h("th", { scope: "col" }, "Service"),
      h("th", { scope: "col" }, "Customer"), h("th", { scope: "col" }, "External id"), h("th", { scope: "col" }, "Agent"))),
    h("tbody", {}, page.Items.map((task) => h("tr", { class: task.Id === selected ? "selected" : "", "data-task": task.Id },
      h("td", {}, h("button", { class: "link", type: "button", onclick: () => showTask(task.Id, true) }, dateTime(task.Created))),
      h("td", {}, h("span", { class: `badge ${task.State}` }, task.State), task.QueuePosition ? h("span", { class: "hint" }, ` #${task.QueuePosition}`) : null),
      h("td", {}, task.ServiceName || task.ServiceId),
      h("td", {}, task.CustomerIdentifier || "—"),
      h("td", { class: "mono" }, task.ExternalTaskId || "—"),
      h("td", {}, task.UserName || "—")))))));
}

function userName(id) {
  return id ? users.get(id) || `${id.slice(0, 8)}…` : "";
}

/** What an event's Data says, in one line. */
function describe(event) {
  const data = event.Data || {};
  const parts = [];
  if (event.UserId) parts.push(userName(event.UserId));
  for (const [name, value] of Object.entries(data)) {
    if (value === null || value === undefined || typeof value === "object") continue;
    if (["ExternalTaskId", "Number", "Created", "Connected", "Terminated"].includes(name)) continue;
    parts.push(`${name}: ${value}`);
  }
  return parts.join(" · ");
}

async function showTask(id, userChose) {
  selected = id;
  for (const row of document.querySelectorAll("#results tr[data-task]")) {
    row.classList.toggle("selected", row.dataset.task === id);
  }
  let timeline;
  let explanation = null;
  try {
    timeline = await rest.get(`/v2.0/tasks/${encodeURIComponent(id)}/timeline`);
    if (timeline.State !== "Terminated") {
      try {
        explanation = await rest.get(`/v2.0/tasks/${encodeURIComponent(id)}/explanation`);
      } catch (error) {
        if (!(error instanceof RestError && error.code === "TaskFinished")) throw error;
      }
    }
  } catch (error) {
    failed(error, () => showTask(id, false));
    return;
  }
  if (selected !== id) return;
  const detail = document.getElementById("detail");
  const items = timeline.Items;
  const created = items.find((e) => e.Type === "TaskCreated");
  const parts = [
    h("div", { class: "panel-head" },
      h("h2", { id: "detail-title" }, "Task"),
      h("span", { class: `badge ${timeline.State}`, id: "detail-state" }, timeline.State),
      h("span", { class: "note mono" }, id)),
  ];
  if (explanation) {
    const waiting = explanation.State === "InQueue";
    parts.push(h("h3", { class: "sub" }, waiting ? `Why it waits${explanation.QueuePosition ? ` (#${explanation.QueuePosition} in the queue)` : ""}` : "Routing"));
    if (explanation.Eligible.length) {
      parts.push(h("p", { class: "hint" }, "Could take it now, in the order routing picks:"),
        h("ol", { class: "eligible", id: "eligible" }, explanation.Eligible.map((a) => h("li", {}, a.Name, h("span", { class: "hint" }, ` (penalty ${a.Penalty})`)))));
    } else if (waiting) {
      parts.push(h("p", { id: "eligible-none" }, h("strong", {}, "No agent can take it now.")));
    }
    if (explanation.Ineligible.length) {
      parts.push(h("div", { class: "table-wrap" }, h("table", { id: "ineligible" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Agent"), h("th", { scope: "col" }, "Why not"))),
        h("tbody", {}, explanation.Ineligible.map((a) => h("tr", {}, h("td", {}, a.Name), h("td", { title: a.Reason }, a.Detail)))))));
    } else if (!explanation.Eligible.length) {
      parts.push(h("p", { class: "hint" }, "The service has no member and the task names no agent."));
    }
  }
  parts.push(h("h3", { class: "sub" }, `Timeline (${items.length} events)`));
  if (!timeline.Complete) {
    parts.push(h("p", { class: "hint" }, "Older events of this task are no longer kept or were not read."));
  }
  parts.push(h("div", { class: "table-wrap" }, h("table", { class: "timeline", id: "timeline" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Time"), h("th", { scope: "col" }, "Event"), h("th", { scope: "col" }, "Details"))),
    h("tbody", {}, items.map((event) => h("tr", { "data-type": event.Type },
      h("td", { class: "mono" }, dateTime(event.Time)),
      h("td", { class: "type" }, event.Type),
      h("td", { class: "data" }, describe(event))))))));
  if (created) parts.push(h("p", { class: "hint" }, `Sequence ${created.Sequence} to ${items[items.length - 1].Sequence}`));
  fill(detail, parts);
  if (userChose) detail.scrollIntoView({ block: "nearest" });
}
