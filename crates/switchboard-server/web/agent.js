// The agent desktop, over the CTI websocket only (docs/cti.md):
//   agentLogin {agentphonenumber}   log in on a phone line (the user's own line when left empty)
//   Sheet + AgentStateEvent         an offer rings: its context and the seconds left before RONA
//   answer / decline / hangup       accept, refuse, end the task (then the service's wrap-up)
//   endWrapup, pauseAgent {reason}, unpauseAgent, agentLogout
//   getPauseReasons                 the tenant's configured reasons (an extension)
//   getCallbackLists ...            the callback lists: takeCallback, releaseCallback, startCallback,
//                                   updateCallbackTicket (close with a status, or reschedule)

import { CtiConnection, signIn } from "/web/cti.js";
import { h, fill, duration, tabStore, stateBadge, startHeader, showStatus, banner } from "/web/ui.js";

const view = document.getElementById("view");
const statusPill = document.getElementById("status");
const who = document.getElementById("who");
const signOutButton = document.getElementById("signout");
const bannerBox = document.getElementById("banner");

let connection = null;
let me = null; // {agentId, login, line}
let state = null; // the agent's own AgentStateEvent, with `since` in ms
let offer = null; // the ringing task's sheet
let lastSheet = null; // the sheet of the task being handled
let reasons = [];
let periods = [];
let lists = new Map(); // list uuid -> name
let callbacks = new Map(); // request uuid -> request
let started = new Set(); // requests this agent started (a ticket is open)
let closing = null; // {uuid, status}: the close form being shown

startHeader();
const saved = tabStore.get("agent");
if (saved) open(saved); else showSignIn();

// ----- sign-in ------------------------------------------------------------------------------------------

function showSignIn(message) {
  who.textContent = "";
  signOutButton.hidden = true;
  showStatus(statusPill, "closed", "Not signed in");
  banner(bannerBox, "warn", message);
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { id: "signin-form" },
    h("div", { class: "field" },
      h("label", { for: "login" }, "Login"),
      h("input", { id: "login", name: "login", autocomplete: "username", required: true })),
    h("div", { class: "field" },
      h("label", { for: "password" }, "Password"),
      h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true })),
    h("button", { class: "primary", type: "submit" }, "Sign in"),
    error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const answer = await signIn(form.login.value.trim(), form.password.value);
      const session = { login: answer.login, token: answer.token };
      tabStore.set("agent", session);
      open(session);
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  fill(view, h("section", { class: "panel signin" },
    h("h1", {}, "Agent desktop"),
    h("p", { class: "lead" }, "Sign in with your CTI login to take tasks and work your callbacks."),
    form));
  form.login.focus();
}

function signOut(message) {
  connection?.stop();
  connection = null;
  tabStore.remove("agent");
  showSignIn(message);
}

signOutButton.addEventListener("click", () => signOut());

// ----- the desk -----------------------------------------------------------------------------------------

function open(session) {
  me = { login: session.login, agentId: null, line: "" };
  state = null;
  offer = null;
  callbacks = new Map();
  started = new Set();
  banner(bannerBox);
  who.textContent = session.login;
  signOutButton.hidden = false;
  fill(view, h("div", { class: "desk" },
    h("div", {},
      h("section", { class: "panel", id: "state-panel", "aria-labelledby": "state-title" }),
      h("section", { class: "panel offer", id: "offer-panel", hidden: true, role: "alertdialog", "aria-labelledby": "offer-title", "aria-live": "assertive" }),
      h("section", { class: "panel", id: "task-panel", hidden: true, "aria-labelledby": "task-title" })),
    h("section", { class: "panel", id: "callbacks-panel", "aria-labelledby": "callbacks-title" },
      h("div", { class: "panel-head" }, h("h2", { id: "callbacks-title" }, "Callbacks"),
        h("span", { class: "note" }, "Requests of your queues, due first")),
      h("div", { id: "callbacks" }, h("p", { class: "empty" }, "Loading…")))));
  renderState();
  connection = new CtiConnection({
    token: async () => session.token,
    onStatus: (status, text) => {
      showStatus(statusPill, status, text);
      if (status === "expired") signOut(text);
      else if (status === "reconnecting") banner(bannerBox, "error", `Connection to the server lost. ${text}. You stay logged in for a short while; the desk resumes by itself.`);
      else if (status === "open") banner(bannerBox);
    },
    onOpen: () => {
      connection.send("getPauseReasons");
      connection.send("getCallbackPreferredPeriods");
      connection.send("getCallbackLists");
    },
    onMessage,
  });
  connection.start();
}

function command(name, args) {
  if (!connection?.send(name, args)) {
    banner(bannerBox, "error", "Not connected: the command was not sent. Wait for the connection to come back.");
  }
}

function onMessage(type, body) {
  switch (type) {
    case "LoggedOn":
      me.agentId = body.agentId;
      me.line = body.phoneNumber || "";
      break;
    case "AgentStateEvent":
      if (body.agentId !== me.agentId) break;
      state = { ...body, since: Date.now() - (body.since || 0) * 1000 };
      if (body.phoneNb) me.line = body.phoneNb;
      if (state.name !== "AgentRinging" && state.name !== "AgentDialing" && offer) {
        if (state.name === "AgentOnCall") lastSheet = offer;
        offer = null;
      }
      renderState();
      break;
    case "Sheet":
      offer = readSheet(body);
      renderState();
      break;
    case "PauseReasons":
      reasons = body.map((r) => r.name);
      renderState();
      break;
    case "PreferredCallbackPeriodList":
      periods = body;
      break;
    case "CallbackLists":
      lists = new Map();
      callbacks = new Map();
      for (const list of body) {
        lists.set(list.uuid, list.name);
        for (const request of list.callbacks) callbacks.set(request.uuid, request);
      }
      renderCallbacks();
      break;
    case "CallbackRequestUpdated":
      callbacks.set(body.request.uuid, body.request);
      if (!body.request.agentId) started.delete(body.request.uuid);
      renderCallbacks();
      break;
    case "CallbackTaken": {
      const request = callbacks.get(body.uuid);
      if (request) request.agentId = body.agentId;
      renderCallbacks();
      break;
    }
    case "CallbackReleased": {
      const request = callbacks.get(body.uuid);
      if (request) request.agentId = null;
      started.delete(body.uuid);
      renderCallbacks();
      break;
    }
    case "CallbackStarted":
      started.add(body.requestUuid);
      renderCallbacks();
      break;
    case "CallbackClotured":
      callbacks.delete(body.uuid);
      started.delete(body.uuid);
      if (closing?.uuid === body.uuid) closing = null;
      renderCallbacks();
      break;
    case "AgentError":
      banner(bannerBox, "error", body.Error === "PhoneNumberUnknown"
        ? "That phone line is unknown. Check the number."
        : body.Error === "LoggedInOnAnotherPhone"
          ? `You are logged in on line ${body.phoneNb}; log out first to use line ${body.RequestedNb}.`
          : `Refused: ${body.Error}`);
      break;
    case "Error":
      banner(bannerBox, "error", body.Error);
      break;
    default:
      break;
  }
}

/** The fields of a Sheet (seed 004's sheetInfo) as an object, with the RONA deadline in ms. */
function readSheet(body) {
  const entries = body.payload?.profile?.user?.sheetInfo || [];
  const sheet = { context: [], url: null };
  for (const entry of entries.slice().sort((a, b) => a.order - b.order)) {
    if (entry.type === "url") sheet.url = entry.value;
    else if (["taskId", "queueId", "queueName", "customer", "taskType", "ronaInSeconds"].includes(entry.name)) sheet[entry.name] = entry.value;
    else sheet.context.push([entry.name, entry.value]);
  }
  sheet.deadline = sheet.ronaInSeconds !== undefined ? Date.now() + Number(sheet.ronaInSeconds) * 1000 : null;
  return sheet;
}

// ----- state, offer, task -------------------------------------------------------------------------------

function renderState() {
  const panel = document.getElementById("state-panel");
  if (!panel) return;
  const name = state?.name || "AgentLoggedOut";
  const loggedIn = name !== "AgentLoggedOut";
  const parts = [
    h("h2", { id: "state-title" }, "My state"),
    h("div", { class: "state-card" },
      h("span", { class: "big", id: "my-state" }, stateBadge(name)),
      loggedIn ? h("span", { class: "since", id: "my-since" }, duration((Date.now() - (state?.since || Date.now())) / 1000)) : null,
      loggedIn && me.line ? h("span", { class: "hint" }, `Line ${me.line}`) : null,
      name === "AgentOnPause" ? h("span", { class: "hint", id: "my-cause" }, state.cause ? `Reason: ${state.cause}` : "Not ready") : null),
  ];
  if (!loggedIn) {
    const form = h("form", { id: "line-form", class: "row" },
      h("div", { class: "field" },
        h("label", { for: "line" }, "Phone line ", h("span", { class: "hint" }, "(empty: your own line)")),
        h("input", { id: "line", name: "line", inputmode: "numeric", value: me.line || "" })),
      h("button", { class: "primary", type: "submit" }, "Log in"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      banner(bannerBox);
      const line = form.line.value.trim();
      command("agentLogin", line ? { agentphonenumber: line } : {});
    });
    parts.push(h("p", { class: "hint" }, "Log in on a phone line to receive tasks."), form);
  } else {
    const actions = h("div", { class: "actions" });
    if (name === "AgentOnPause") {
      actions.append(h("button", { class: "good", type: "button", onclick: () => command("unpauseAgent") }, "Become ready"));
    }
    if (name === "AgentOnWrapup") {
      actions.append(h("button", { class: "good", type: "button", onclick: () => command("endWrapup") }, "Finish wrap-up"));
    }
    if (name === "AgentReady" || name === "AgentOnWrapup") {
      const select = h("select", { id: "pause-reason", "aria-label": "Pause reason" },
        reasons.length ? reasons.map((r) => h("option", { value: r }, r)) : h("option", { value: "" }, "Break"));
      actions.append(select, h("button", {
        type: "button", onclick: () => command("pauseAgent", select.value ? { reason: select.value } : {}),
      }, "Pause"));
    }
    actions.append(h("button", { type: "button", class: "danger", onclick: () => command("agentLogout") }, "Log out"));
    parts.push(actions);
  }
  fill(panel, parts);
  renderOffer();
  renderTask();
}

function facts(sheet) {
  return h("dl", { class: "facts" },
    h("dt", {}, "Customer"), h("dd", { "data-field": "customer" }, sheet.customer || "—"),
    h("dt", {}, "Service"), h("dd", { "data-field": "queue" }, sheet.queueName || "—"),
    h("dt", {}, "Type"), h("dd", {}, sheet.taskType || "—"),
    sheet.context.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]),
    sheet.url ? [h("dt", {}, "Sheet"), h("dd", {}, h("a", { href: sheet.url, target: "_blank", rel: "noopener noreferrer", "data-field": "sheet" }, sheet.url))] : null);
}

function renderOffer() {
  const panel = document.getElementById("offer-panel");
  if (!panel) return;
  if (!offer) {
    panel.hidden = true;
    panel.replaceChildren();
    return;
  }
  panel.hidden = false;
  fill(panel,
    h("h2", { id: "offer-title" }, "Incoming task",
      h("span", { class: "countdown", id: "countdown", "aria-label": "Seconds before the offer moves on" }, countdown())),
    facts(offer),
    h("div", { class: "actions" },
      h("button", { class: "good", type: "button", id: "accept", onclick: () => command("answer", { taskId: offer.taskId }) }, "Accept"),
      h("button", { type: "button", id: "decline", onclick: () => command("decline", { taskId: offer.taskId }) }, "Decline")));
  panel.querySelector("#accept").focus();
}

function countdown() {
  if (!offer?.deadline) return "";
  return `${Math.max(0, Math.ceil((offer.deadline - Date.now()) / 1000))} s`;
}

function renderTask() {
  const panel = document.getElementById("task-panel");
  if (!panel) return;
  const name = state?.name;
  if (name !== "AgentOnCall") {
    panel.hidden = true;
    panel.replaceChildren();
    return;
  }
  const task = state.task || {};
  const sheet = lastSheet && lastSheet.taskId === task.taskId ? lastSheet
    : { customer: task.customer, queueName: task.queueName, taskType: task.taskType, context: [], url: null };
  const held = task.state === "OnHold";
  panel.hidden = false;
  fill(panel,
    h("h2", { id: "task-title" }, held ? "Current task (on hold)" : "Current task"),
    facts(sheet),
    h("div", { class: "actions" },
      held ? h("button", { type: "button", onclick: () => command("resume", { taskId: task.taskId }) }, "Resume")
        : h("button", { type: "button", onclick: () => command("hold", { taskId: task.taskId }) }, "Hold"),
      h("button", { class: "danger", type: "button", id: "end-task", onclick: () => command("hangup", { taskId: task.taskId }) }, "End task")));
}

setInterval(() => {
  const since = document.getElementById("my-since");
  if (since && state) since.textContent = duration((Date.now() - state.since) / 1000);
  const clock = document.getElementById("countdown");
  if (clock && offer) {
    clock.textContent = countdown();
    clock.classList.toggle("urgent", offer.deadline && offer.deadline - Date.now() < 5000);
  }
}, 250);

// ----- callbacks ----------------------------------------------------------------------------------------

function renderCallbacks() {
  const box = document.getElementById("callbacks");
  if (!box) return;
  const list = [...callbacks.values()].sort((a, b) => (a.dueDate || "").localeCompare(b.dueDate || ""));
  if (list.length === 0) {
    fill(box, h("p", { class: "empty" }, "No callback request in your queues."));
    return;
  }
  const rows = [];
  for (const request of list) {
    const mine = request.agentId !== null && request.agentId !== undefined && request.agentId === me.agentId;
    const takenByOther = request.agentId !== null && request.agentId !== undefined && !mine;
    const name = [request.firstName, request.lastName].filter(Boolean).join(" ") || "—";
    const actions = h("div", { class: "actions" });
    if (!request.agentId) {
      actions.append(h("button", { class: "small", type: "button", onclick: () => command("takeCallback", { uuid: request.uuid }) }, "Take"));
    } else if (mine && !started.has(request.uuid)) {
      actions.append(
        h("button", { class: "small good", type: "button", onclick: () => command("startCallback", { uuid: request.uuid }) }, "Call"),
        h("button", { class: "small", type: "button", onclick: () => command("releaseCallback", { uuid: request.uuid }) }, "Release"),
        h("button", { class: "small", type: "button", onclick: () => { closing = { uuid: request.uuid, status: "Callback" }; renderCallbacks(); } }, "Reschedule"));
    } else if (mine) {
      actions.append(h("button", { class: "small primary", type: "button", onclick: () => { closing = { uuid: request.uuid, status: "Answered" }; renderCallbacks(); } }, "Close…"));
    } else if (takenByOther) {
      actions.append(h("span", { class: "hint" }, `Taken by agent ${request.agentId}`));
    }
    rows.push(h("tr", { "data-callback": request.uuid },
      h("td", {}, h("strong", {}, name), request.company ? h("div", { class: "hint" }, request.company) : null,
        request.description ? h("div", { class: "hint" }, request.description) : null),
      h("td", { class: "mono" }, request.phoneNumber || "—", request.mobilePhoneNumber ? h("div", {}, request.mobilePhoneNumber) : null),
      h("td", {}, request.dueDate || "—", h("div", { class: "hint" }, request.preferredPeriod?.name || "")),
      h("td", {}, h("span", { class: `badge ${request.status || ""}` }, started.has(request.uuid) ? "In call" : request.status || "—"),
        lists.get(request.listUuid) ? h("div", { class: "hint" }, lists.get(request.listUuid)) : null),
      h("td", {}, actions)));
    if (closing?.uuid === request.uuid) {
      rows.push(h("tr", {}, h("td", { colspan: 5 }, closeForm(request))));
    }
  }
  fill(box, h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Customer"), h("th", { scope: "col" }, "Number"),
      h("th", { scope: "col" }, "Due"), h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Actions"))),
    h("tbody", {}, rows))));
}

function closeForm(request) {
  const statuses = started.has(request.uuid)
    ? [["Answered", "Answered: done"], ["NoAnswer", "No answer: try again later"], ["Email", "Handled by e-mail"], ["Fax", "Handled by fax"], ["Callback", "Call back later"]]
    : [["Callback", "Call back later"]];
  const status = h("select", { id: "ticket-status", name: "status" },
    statuses.map(([value, label]) => h("option", { value, selected: value === closing.status }, label)));
  const date = h("input", { id: "ticket-date", name: "dueDate", type: "date" });
  const period = h("select", { id: "ticket-period", name: "period" },
    h("option", { value: "" }, "Any period"),
    periods.map((p) => h("option", { value: p.uuid }, `${p.name} (${p.periodStart.slice(0, 5)}–${p.periodEnd.slice(0, 5)})`)));
  const comment = h("input", { id: "ticket-comment", name: "comment" });
  const form = h("form", { class: "callback-form" },
    h("div", { class: "row" },
      h("div", { class: "field" }, h("label", { for: "ticket-status" }, "Outcome"), status),
      h("div", { class: "field" }, h("label", { for: "ticket-comment" }, "Comment"), comment)),
    h("div", { class: "row" },
      h("div", { class: "field" }, h("label", { for: "ticket-date" }, "Call back on ", h("span", { class: "hint" }, "(for “call back later”)")), date),
      h("div", { class: "field" }, h("label", { for: "ticket-period" }, "Period"), period)),
    h("div", { class: "actions" },
      h("button", { class: "primary", type: "submit" }, "Save"),
      h("button", { type: "button", onclick: () => { closing = null; renderCallbacks(); } }, "Cancel")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const args = { uuid: request.uuid, status: status.value, comment: comment.value };
    if (date.value) args.dueDate = date.value;
    if (period.value) args.periodUuid = period.value;
    if (status.value === "Callback" && !date.value && !period.value) {
      banner(bannerBox, "warn", "To call back later, choose a date or a period.");
      return;
    }
    closing = null;
    command("updateCallbackTicket", args);
    renderCallbacks();
  });
  return form;
}
