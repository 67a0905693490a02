// The wallboard: live queue tiles, the last hour's chart and the agent grid, over the CTI websocket only.
//
// Sign in as a supervisor (CTI login: the server shows only the queues and agent groups of its lists) or with an
// API key (traded for a read-only token that sees the whole tenant). Then:
//   getList queue          -> QueueList: the tiles
//   subscribeToQueueStats  -> QueueStatistics: every counter, then the changed ones (at most every 250 ms)
//   getAgentDirectory      -> AgentDirectory: names and states of the visible agents
//   subscribeToAgentEvents -> AgentStateEvent on every change
//   getQueueHistory        -> QueueHistory: the last 60 minutes per queue (asked again each minute, and a few
//                             seconds after the counts move)

import { CtiConnection, signIn, watchToken } from "/web/cti.js";
import { drawChart } from "/web/chart.js";
import { h, fill, duration, tabStore, stateBadge, startHeader, showStatus, banner } from "/web/ui.js";

const view = document.getElementById("view");
const statusPill = document.getElementById("status");
const who = document.getElementById("who");
const signOutButton = document.getElementById("signout");
const bannerBox = document.getElementById("banner");

const SL_TARGET = 80;

let connection = null;
let queues = new Map(); // queue id -> {id, name, counters: {}}
let agents = new Map(); // agent id -> {id, name, state, since (ms), cause, queues, task}
let history = new Map(); // queue id -> minutes
let historyTimer = null;
let historyAsked = 0;
let chartQueue = "all";

startHeader();
start();

function start() {
  const saved = tabStore.get("wallboard");
  if (saved) {
    open(saved);
  } else {
    showSignIn();
  }
}

// ----- sign-in ------------------------------------------------------------------------------------------

function showSignIn(message) {
  who.textContent = "";
  signOutButton.hidden = true;
  showStatus(statusPill, "closed", "Not signed in");
  banner(bannerBox, "warn", message);
  const error = h("p", { class: "form-error", role: "alert", id: "signin-error" });
  const supervisorForm = h("form", { id: "supervisor-form", "aria-labelledby": "tab-supervisor" },
    h("div", { class: "field" },
      h("label", { for: "login" }, "CTI login"),
      h("input", { id: "login", name: "login", autocomplete: "username", required: true })),
    h("div", { class: "field" },
      h("label", { for: "password" }, "Password"),
      h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true })),
    h("button", { class: "primary", type: "submit" }, "Sign in"));
  const keyForm = h("form", { id: "key-form", hidden: true, "aria-labelledby": "tab-key" },
    h("div", { class: "field" },
      h("label", { for: "apikey" }, "API key ", h("span", { class: "hint" }, "(a role that reads users: UserReadonly, UserProvision or UserControl)")),
      h("input", { id: "apikey", name: "apikey", type: "password", autocomplete: "off", required: true })),
    h("button", { class: "primary", type: "submit" }, "Open the wallboard"));
  const tabSupervisor = h("button", { type: "button", role: "tab", id: "tab-supervisor", "aria-selected": "true" }, "Supervisor");
  const tabKey = h("button", { type: "button", role: "tab", id: "tab-key", "aria-selected": "false" }, "API key");
  const select = (supervisor) => {
    tabSupervisor.setAttribute("aria-selected", String(supervisor));
    tabKey.setAttribute("aria-selected", String(!supervisor));
    supervisorForm.hidden = !supervisor;
    keyForm.hidden = supervisor;
    error.textContent = "";
  };
  tabSupervisor.addEventListener("click", () => select(true));
  tabKey.addEventListener("click", () => select(false));
  supervisorForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const answer = await signIn(supervisorForm.login.value.trim(), supervisorForm.password.value);
      const session = { mode: "login", login: answer.login, token: answer.token };
      tabStore.set("wallboard", session);
      open(session);
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  keyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const key = keyForm.apikey.value.trim();
    try {
      await watchToken(key);
      const session = { mode: "key", key };
      tabStore.set("wallboard", session);
      open(session);
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  fill(view, h("section", { class: "panel signin" },
    h("h1", {}, "Wallboard"),
    h("p", { class: "lead" }, "Live queues and agents. Sign in with a supervisor's CTI login, or with an API key."),
    h("div", { class: "tabs", role: "tablist" }, tabSupervisor, tabKey),
    supervisorForm, keyForm, error));
  supervisorForm.login.focus();
}

function signOut(message) {
  connection?.stop();
  connection = null;
  clearInterval(historyTimer);
  tabStore.remove("wallboard");
  showSignIn(message);
}

signOutButton.addEventListener("click", () => signOut());

// ----- the board ----------------------------------------------------------------------------------------

function open(session) {
  queues = new Map();
  agents = new Map();
  history = new Map();
  banner(bannerBox);
  who.textContent = session.mode === "key" ? "API key" : session.login;
  signOutButton.hidden = false;
  fill(view,
    h("section", { "aria-labelledby": "queues-title" },
      h("h2", { id: "queues-title", class: "skip" }, "Queues"),
      h("div", { class: "tiles", id: "tiles" }, h("p", { class: "empty" }, "Waiting for the queues…"))),
    h("div", { class: "board" },
      h("section", { class: "panel chart-box", "aria-labelledby": "chart-title" },
        h("div", { class: "panel-head" },
          h("h2", { id: "chart-title" }, "Last hour"),
          h("label", { for: "chart-queue", class: "hint" }, "Queue"),
          h("select", { id: "chart-queue", onchange: (e) => { chartQueue = e.target.value; renderChart(); } },
            h("option", { value: "all" }, "All queues"))),
        chartSvg(),
        h("div", { class: "legend" },
          h("span", { class: "l-waiting" }, "Unanswered tasks (highest in the minute)"),
          h("span", { class: "l-sl" }, "Service level, last 15 min"),
          h("span", { class: "l-target" }, `Target ${SL_TARGET}%`))),
      h("section", { class: "panel", "aria-labelledby": "agents-title" },
        h("div", { class: "panel-head" },
          h("h2", { id: "agents-title" }, "Agents"),
          h("span", { class: "note", id: "agents-note" })),
        h("div", { class: "table-wrap" },
          h("table", { id: "agents" },
            h("thead", {}, h("tr", {},
              h("th", { scope: "col" }, "Agent"),
              h("th", { scope: "col" }, "State"),
              h("th", { scope: "col", class: "num" }, "In state"),
              h("th", { scope: "col" }, "Current task"),
              h("th", { scope: "col" }, "Pause reason"))),
            h("tbody", {}))))));
  renderChart();
  connection = new CtiConnection({
    refreshable: session.mode === "key",
    token: async () => {
      if (session.mode === "key") return (await watchToken(session.key)).token;
      return session.token;
    },
    onStatus: (state, text) => {
      showStatus(statusPill, state, text);
      if (state === "expired") {
        signOut(text);
      } else if (state === "reconnecting") {
        banner(bannerBox, "error", `Connection to the server lost. ${text}. The figures below are frozen.`);
      } else if (state === "open") {
        banner(bannerBox);
      }
    },
    onOpen: () => {
      connection.send("getList", { objectType: "queue" });
      connection.send("getAgentDirectory");
      connection.send("subscribeToQueueStats");
      connection.send("subscribeToAgentEvents");
      askHistory();
      clearInterval(historyTimer);
      historyTimer = setInterval(askHistory, 60000);
    },
    onMessage,
  });
  connection.start();
}

/** The chart's drawing surface: an SVG element needs its namespace, which h() does not give. */
function chartSvg() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.id = "chart";
  return svg;
}

function askHistory() {
  historyAsked = Date.now();
  connection?.send("getQueueHistory");
}

/** The counts moved: ask for the history again a few seconds later (at most once every 5 s). */
let historySoon = null;
function historyChanged() {
  if (historySoon) return;
  const wait = Math.max(1000, 5000 - (Date.now() - historyAsked));
  historySoon = setTimeout(() => { historySoon = null; askHistory(); }, wait);
}

function onMessage(type, body) {
  switch (type) {
    case "QueueList":
      for (const queue of body) {
        const known = queues.get(queue.id);
        queues.set(queue.id, { id: queue.id, name: queue.displayName || queue.name, counters: known?.counters || {} });
      }
      renderTiles();
      renderChartChoices();
      break;
    case "QueueStatistics": {
      const queue = queues.get(body.queueId) || { id: body.queueId, name: `Queue ${body.queueId}`, counters: {} };
      queues.set(body.queueId, queue);
      let moved = false;
      for (const { statName, value } of body.counters) {
        if (["WaitingCalls", "TotalNumberCallsAnswered", "TotalNumberCallsAbandonned"].includes(statName)
          && queue.counters[statName] !== undefined && queue.counters[statName] !== value) moved = true;
        queue.counters[statName] = value;
      }
      renderTile(queue);
      if (moved) historyChanged();
      break;
    }
    case "QueueHistory":
      history.set(body.queueId, body.minutes);
      renderChart();
      break;
    case "AgentDirectory":
      for (const { agent, agentState } of body.directory) {
        agents.set(agent.id, {
          id: agent.id,
          name: `${agent.firstName || ""} ${agent.lastName || ""}`.trim() || `Agent ${agent.id}`,
        });
        applyState(agentState);
      }
      renderAgents();
      break;
    case "AgentStateEvent":
      applyState(body);
      renderAgents();
      break;
    case "Error":
      console.warn("CTI error", body.Error);
      break;
    default:
      break;
  }
}

function applyState(state) {
  if (!state || state.agentId === undefined || state.agentId === 0) return;
  const agent = agents.get(state.agentId) || { id: state.agentId, name: `Agent ${state.agentId}` };
  agent.state = state.name;
  agent.since = Date.now() - (state.since || 0) * 1000;
  agent.cause = state.cause || "";
  agent.queues = state.queues || [];
  agent.task = state.task || null;
  agents.set(state.agentId, agent);
}

// ----- tiles --------------------------------------------------------------------------------------------

function renderTiles() {
  const tiles = document.getElementById("tiles");
  if (!tiles) return;
  const list = [...queues.values()].sort((a, b) => a.name.localeCompare(b.name));
  if (list.length === 0) {
    fill(tiles, h("p", { class: "empty" }, "No queue to show: this sign-in watches none."));
    return;
  }
  fill(tiles, list.map((queue) => h("article", { class: "tile", id: `tile-${queue.id}`, "data-queue": queue.name })));
  for (const queue of list) renderTile(queue);
}

function level(serviceLevel) {
  if (serviceLevel === null || serviceLevel === undefined) return "";
  if (serviceLevel >= SL_TARGET) return "good";
  if (serviceLevel >= SL_TARGET - 20) return "warn";
  return "bad";
}

function renderTile(queue) {
  const tile = document.getElementById(`tile-${queue.id}`);
  if (!tile) {
    renderTiles();
    return;
  }
  const c = queue.counters;
  const sl = c.ServiceLevelLast15Min;
  const slLevel = level(sl);
  tile.dataset.level = slLevel === "bad" ? "bad" : slLevel === "warn" || (c.WaitingCalls > 0 && c.AvailableAgents === 0) ? "warn" : "good";
  const metric = (name, label, value, css = "", extra = "") =>
    h("div", { class: `metric ${extra}`, "data-metric": name },
      h("span", { class: `value ${css}` }, value ?? "—"),
      h("span", { class: "label" }, label));
  fill(tile,
    h("h3", {}, queue.name, h("span", { class: "qid" }, `#${queue.id}`)),
    h("div", { class: "headline" },
      metric("waiting", "Waiting", c.WaitingCalls ?? 0),
      metric("longest", "Longest wait", duration(c.LongestWaitingTime ?? 0), "", "small"),
      metric("sl", "Service level 15 min", sl === null || sl === undefined ? "—" : `${Math.round(sl)}%`, slLevel, "small")),
    h("div", { class: "agents-row" },
      metric("available", "Available", c.AvailableAgents ?? 0),
      metric("busy", "Busy", c.BusyAgents ?? c.TalkingAgents ?? 0),
      metric("paused", "Paused", c.PausedAgents ?? 0),
      metric("wrapup", "Wrap-up", c.WrapupAgents ?? 0)),
    h("div", { class: "foot" },
      h("span", { "data-metric": "abandoned" }, `Abandoned: ${c.TotalNumberCallsAbandonned ?? 0} today, ${c.AbandonedLast15Min ?? 0} in 15 min`),
      h("span", { "data-metric": "answered" }, `Answered today: ${c.TotalNumberCallsAnswered ?? 0}`)));
}

// ----- chart --------------------------------------------------------------------------------------------

function renderChartChoices() {
  const select = document.getElementById("chart-queue");
  if (!select) return;
  const options = [h("option", { value: "all" }, "All queues")];
  for (const queue of [...queues.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    options.push(h("option", { value: String(queue.id) }, queue.name));
  }
  fill(select, options);
  select.value = [...select.options].some((o) => o.value === chartQueue) ? chartQueue : "all";
}

function renderChart() {
  const svg = document.getElementById("chart");
  if (!svg) return;
  const chosen = chartQueue === "all" ? [...history.keys()] : [Number(chartQueue)];
  const byMinute = new Map();
  for (const id of chosen) {
    for (const minute of history.get(id) || []) {
      const point = byMinute.get(minute.start) || { waiting: 0, within: 0, base: 0 };
      point.waiting += minute.unanswered;
      point.within += minute.window.answeredWithin15;
      point.base += minute.window.answered + minute.window.abandonedAfter15;
      byMinute.set(minute.start, point);
    }
  }
  const points = [...byMinute.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([start, p]) => ({
      time: new Date(start),
      waiting: p.waiting,
      serviceLevel: p.base > 0 ? Math.round((p.within * 1000) / p.base) / 10 : null,
    }));
  drawChart(svg, points, SL_TARGET);
}

// ----- agents -------------------------------------------------------------------------------------------

function renderAgents() {
  const body = document.querySelector("#agents tbody");
  if (!body) return;
  const order = { AgentRinging: 0, AgentOnCall: 1, AgentDialing: 1, AgentOnWrapup: 2, AgentReady: 3, AgentOnPause: 4, AgentLoggedOut: 5 };
  // Agents who serve no queue (a supervisor sees itself, for one) take no tasks: they are left out.
  const list = [...agents.values()].filter((a) => a.queues?.length).sort((a, b) =>
    (order[a.state] ?? 9) - (order[b.state] ?? 9) || a.name.localeCompare(b.name));
  const signedIn = list.filter((a) => a.state && a.state !== "AgentLoggedOut").length;
  document.getElementById("agents-note").textContent = `${signedIn} signed in of ${list.length}`;
  if (list.length === 0) {
    fill(body, h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No agent to show.")));
    return;
  }
  fill(body, list.map((agent) => h("tr", { "data-agent": agent.name },
    h("th", { scope: "row" }, agent.name),
    h("td", {}, stateBadge(agent.state)),
    h("td", { class: "num", "data-since": agent.since }, agent.state === "AgentLoggedOut" ? "—" : duration((Date.now() - agent.since) / 1000)),
    h("td", {}, agent.task ? `${agent.task.customer || "—"} · ${agent.task.queueName || ""}` : "—"),
    h("td", {}, agent.state === "AgentOnPause" ? agent.cause || "—" : ""))));
}

// Time in state moves every second without any message.
setInterval(() => {
  for (const cell of document.querySelectorAll("#agents td[data-since]")) {
    if (cell.textContent !== "—") cell.textContent = duration((Date.now() - Number(cell.dataset.since)) / 1000);
  }
}, 1000);
