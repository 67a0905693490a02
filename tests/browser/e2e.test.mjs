// End-to-end tests of the wallboard, the agent desktop and the task explorer in headless Chromium (Debian's
// chromium package, driven with playwright-core) against the real `switchboard serve`. Nothing sleeps: every
// wait is for something to show on a page. Screenshots of each page go to target/browser-screenshots/.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

import { ADMIN_KEY, Server } from "./server.mjs";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const SHOTS = resolve(HERE, "../../target/browser-screenshots");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SERVICE = "sip:care@dev.local";
const OTHER_SERVICE = "sip:sales@dev.local";

let server;
let browser;
let agentPage;
let boardPage;
let ids = {};

/** Waits until the locator's text matches. */
async function text(locator, pattern) {
  await locator.filter({ hasText: pattern }).first().waitFor();
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function user(sam, first, last, services, group) {
  const created = await server.post("/v1.0/users", {
    SipUri: `sip:${sam}@dev.local`,
    Upn: `${sam}@dev.local`,
    FirstName: first,
    LastName: last,
    DisplayName: `${first} ${last}`,
    Services: services.map((service) => ({ Service: service })),
  });
  return created.Id;
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await new Server().start();
  // Two services, configured pause reasons and a callback period.
  await server.post("/v2.0/services", { Name: "Customer Care", SipUri: SERVICE, Culture: "en-GB", WrapUpTimeInSeconds: 600 });
  await server.post("/v2.0/services", { Name: "Sales", SipUri: OTHER_SERVICE, Culture: "en-GB" });
  await server.post("/v2.0/absencereasons", { Name: "Lunch" });
  await server.post("/v2.0/absencereasons", { Name: "Training" });
  await server.post("/v2.0/callbackperiods", { Name: "Afternoon", PeriodStart: "14:00", PeriodEnd: "17:00", Default: true });
  // Anna and Ben serve Customer Care (group 1), Zoe serves Sales (group 3); Sam supervises Customer Care and group 1.
  ids.anna = await user("anna", "Anna", "Lindqvist", [SERVICE]);
  ids.ben = await user("ben", "Ben", "Okafor", [SERVICE]);
  ids.zoe = await user("zoe", "Zoe", "Martin", [OTHER_SERVICE]);
  ids.sam = await user("sam", "Sam", "Carter", []);
  await server.post(`/v2.0/users/${ids.anna}/cti`, { Login: "anna", Password: "anna-secret-1", PhoneLine: "1001", AgentGroup: 1 });
  await server.post(`/v2.0/users/${ids.ben}/cti`, { Login: "ben", Password: "ben-secret-12", PhoneLine: "1002", AgentGroup: 1 });
  await server.post(`/v2.0/users/${ids.zoe}/cti`, { Login: "zoe", Password: "zoe-secret-12", PhoneLine: "1003", AgentGroup: 3 });
  await server.post(`/v2.0/users/${ids.sam}/cti`, {
    Login: "sam", Password: "sam-secret-12", Profile: "Supervisor", Queues: [SERVICE], Groups: [1], AgentGroup: 2,
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // A fresh profile each launch (Playwright's own temporary user-data-dir); nothing reaches the network.
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  if (server) {
    if (process.exitCode && server.log) console.error(server.log);
    await server.remove();
  }
});

test("the pages are served from the binary with their files, offline", async () => {
  for (const path of ["/", "/wallboard", "/agent", "/tasks"]) {
    const response = await fetch(`${server.base}${path}`);
    assert.equal(response.status, 200, path);
    assert.match(response.headers.get("content-type"), /^text\/html/);
    assert.equal(response.headers.get("cache-control"), "no-cache");
    const etag = response.headers.get("etag");
    const again = await fetch(`${server.base}${path}`, { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304, `${path} revalidates`);
  }
  const script = await fetch(`${server.base}/web/wallboard.js`);
  assert.match(script.headers.get("content-type"), /^text\/javascript/);
  const missing = await fetch(`${server.base}/web/nothing.js`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).Error.Code, "NotFound");
});

test("an agent signs in, logs in on a line and is ready", async () => {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  agentPage = await context.newPage();
  const failures = [];
  agentPage.on("pageerror", (error) => failures.push(error));
  await agentPage.goto(`${server.base}/agent`);
  await agentPage.getByLabel("Login").fill("anna");
  await agentPage.getByLabel("Password").fill("wrong-password");
  await agentPage.getByRole("button", { name: "Sign in" }).click();
  await text(agentPage.locator(".form-error"), "Unknown login or wrong password");
  await agentPage.getByLabel("Password").fill("anna-secret-1");
  await agentPage.getByRole("button", { name: "Sign in" }).click();
  await text(agentPage.locator("#status"), "Live");
  await text(agentPage.locator("#my-state"), "Logged out");
  await agentPage.getByLabel(/Phone line/).fill("1001");
  await agentPage.getByRole("button", { name: "Log in" }).click();
  await text(agentPage.locator("#my-state"), "Ready");
  await text(agentPage.locator("#callbacks"), "No callback request");
  assert.deepEqual(failures, []);
});

test("a supervisor's wallboard shows its queue and its agents only", async () => {
  const context = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  boardPage = await context.newPage();
  await boardPage.goto(`${server.base}/wallboard`);
  await boardPage.getByLabel("CTI login").fill("sam");
  await boardPage.getByLabel("Password").fill("sam-secret-12");
  await boardPage.getByRole("button", { name: "Sign in" }).click();
  const tile = boardPage.locator('.tile[data-queue="Customer Care"]');
  await text(tile.locator('[data-metric="available"] .value'), /^1$/);
  await text(tile.locator('[data-metric="waiting"] .value'), /^0$/);
  await text(boardPage.locator('#agents tr[data-agent="Anna Lindqvist"]'), "Ready");
  await text(boardPage.locator('#agents tr[data-agent="Ben Okafor"]'), "Logged out");
  // Sales and Zoe are outside Sam's lists.
  assert.equal(await boardPage.locator('.tile[data-queue="Sales"]').count(), 0);
  assert.equal(await boardPage.locator('#agents tr[data-agent="Zoe Martin"]').count(), 0);
});

test("a task created over REST rings at the agent, who accepts it; the wallboard follows", async () => {
  ids.first = await server.post("/v1.0/tasks", {
    ExternalTaskId: "order-1001",
    Service: SERVICE,
    Caller: "Johnny Appleseed",
    DistributeToAgentRONATimeoutInSeconds: 300,
    ContextParameters: [
      { Name: "OrderNumber", Value: "1001" },
      { Name: "SheetUrl", Value: "https://crm.example.com/orders/1001" },
    ],
  });
  const offer = agentPage.locator("#offer-panel");
  await text(offer, "Incoming task");
  await text(offer.locator('[data-field="customer"]'), "Johnny Appleseed");
  await text(offer.locator('[data-field="queue"]'), "Customer Care");
  await text(offer, "OrderNumber");
  await text(offer.locator('[data-field="sheet"]'), "crm.example.com/orders/1001");
  await text(offer.locator("#countdown"), /^\d+ s$/);
  const tile = boardPage.locator('.tile[data-queue="Customer Care"]');
  await text(tile.locator('[data-metric="busy"] .value'), /^1$/);
  await text(tile.locator('[data-metric="available"] .value'), /^0$/);
  await text(boardPage.locator('#agents tr[data-agent="Anna Lindqvist"]'), "Ringing");
  await shot(agentPage, "agent-offer");
  await agentPage.getByRole("button", { name: "Accept" }).click();
  await text(agentPage.locator("#my-state"), "On task");
  await text(agentPage.locator("#task-panel"), "Johnny Appleseed");
  await text(boardPage.locator('#agents tr[data-agent="Anna Lindqvist"]'), /On task.*Johnny Appleseed · Customer Care/);
  await text(tile.locator('[data-metric="answered"]'), "Answered today: 1");
  await text(tile.locator('[data-metric="sl"] .value'), "100%");
  // A second customer waits while Anna is busy.
  ids.second = await server.post("/v1.0/tasks", { ExternalTaskId: "order-1002", Service: SERVICE, Caller: "Mary Major" });
  await text(tile.locator('[data-metric="waiting"] .value'), /^1$/);
  // The chart catches up within a few seconds of the counts moving: the service level shows.
  await boardPage.waitForFunction(() => document.querySelector("#chart .sl-dot") !== null);
  await shot(boardPage, "wallboard");
});

test("the task explorer shows the timeline and why the waiting task waits", async () => {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${server.base}/tasks`);
  await page.getByRole("textbox", { name: /API key/ }).fill("not-a-key");
  await page.getByRole("button", { name: "Open the explorer" }).click();
  await text(page.locator(".form-error"), "The key was refused");
  await page.getByRole("textbox", { name: /API key/ }).fill(ADMIN_KEY);
  await page.getByRole("button", { name: "Open the explorer" }).click();
  await text(page.locator("#results"), "Johnny Appleseed");
  await text(page.locator("#results"), "Mary Major");
  // Search by customer.
  await page.getByLabel("Customer").fill("johnny");
  await page.getByRole("button", { name: "Search" }).click();
  await text(page.locator("#results-note"), "1 found");
  await page.locator(`#results tr[data-task="${ids.first}"] button`).click();
  const timeline = page.locator("#timeline");
  for (const type of ["TaskCreated", "TaskQueued", "TaskOffered", "TaskEstablished"]) {
    await text(timeline.locator(`tr[data-type="${type}"]`), type);
  }
  await text(page.locator("#detail-state"), "Established");
  // The waiting task: nobody can take it, and why.
  await page.getByLabel("Customer").fill("");
  await page.getByLabel("State").selectOption("InQueue");
  await page.getByRole("button", { name: "Search" }).click();
  await page.locator(`#results tr[data-task="${ids.second}"] button`).click();
  await text(page.locator("#detail"), "Why it waits (#1 in the queue)");
  await text(page.locator("#eligible-none"), "No agent can take it now");
  await text(page.locator("#ineligible tr", { hasText: "Anna Lindqvist" }), "no capacity left on the external channel");
  await text(page.locator("#ineligible tr", { hasText: "Ben Okafor" }), "not selectable: Offline");
  await shot(page, "task-explorer");
  // The page follows the event stream: when Anna ends her task and wraps up, the waiting task stays explained.
  await context.close();
});

test("the agent ends the task, wraps up, takes the next one, pauses with a reason and works a callback", async () => {
  await agentPage.getByRole("button", { name: "End task" }).click();
  await text(agentPage.locator("#my-state"), "Wrap-up");
  const tile = boardPage.locator('.tile[data-queue="Customer Care"]');
  await text(tile.locator('[data-metric="wrapup"] .value'), /^1$/);
  await agentPage.getByRole("button", { name: "Finish wrap-up" }).click();
  // The waiting task is offered as soon as Anna is free.
  await text(agentPage.locator('#offer-panel [data-field="customer"]'), "Mary Major");
  await agentPage.getByRole("button", { name: "Accept" }).click();
  await text(agentPage.locator("#my-state"), "On task");
  await text(tile.locator('[data-metric="waiting"] .value'), /^0$/);
  await agentPage.getByRole("button", { name: "End task" }).click();
  await agentPage.getByRole("button", { name: "Finish wrap-up" }).click();
  await text(agentPage.locator("#my-state"), "Ready");
  // A third one rings and Anna declines it: it waits for someone else.
  await server.post("/v1.0/tasks", { ExternalTaskId: "order-1003", Service: SERVICE, Caller: "Pat Quinn" });
  await text(agentPage.locator('#offer-panel [data-field="customer"]'), "Pat Quinn");
  await agentPage.getByRole("button", { name: "Decline" }).click();
  await agentPage.locator("#offer-panel").waitFor({ state: "hidden" });
  await text(tile.locator('[data-metric="waiting"] .value'), /^1$/);
  await text(tile.locator('[data-metric="answered"]'), "Answered today: 2");
  // Pause with a configured reason, then come back.
  await agentPage.locator("#pause-reason").selectOption("Lunch");
  await agentPage.getByRole("button", { name: "Pause" }).click();
  await text(agentPage.locator("#my-state"), "Paused");
  await text(agentPage.locator("#my-cause"), "Reason: Lunch");
  await text(tile.locator('[data-metric="paused"] .value'), /^1$/);
  await text(boardPage.locator('#agents tr[data-agent="Anna Lindqvist"]'), /Paused.*Lunch/);
  // A callback for tomorrow shows in the list; Anna takes it, calls and closes it.
  const tomorrow = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
  ids.callback = await server.post("/v1.0/callbacks", {
    ServiceSip: SERVICE, Target: "+41 44 555 12 12", DueDate: tomorrow, MaxRetries: 3, SecondsBetweenRetries: 600, Priority: "Normal", Description: "Wants a quote",
    ContextParameters: [{ Name: "FirstName", Value: "Lena" }, { Name: "LastName", Value: "Berg" }, { Name: "Company", Value: "Berg AG" }],
  });
  ids.later = await server.post("/v1.0/callbacks", {
    ServiceSip: SERVICE, Target: "+41 44 555 34 34", DueDate: tomorrow, MaxRetries: 3, SecondsBetweenRetries: 600, Priority: "Normal",
    ContextParameters: [{ Name: "FirstName", Value: "Omar" }, { Name: "LastName", Value: "Haddad" }],
  });
  const row = agentPage.locator(`#callbacks tr[data-callback="${ids.callback}"]`);
  await text(row, "Lena Berg");
  await row.getByRole("button", { name: "Take" }).click();
  await row.getByRole("button", { name: "Call" }).click();
  await text(agentPage.locator("#my-state"), "On task");
  await text(row, "In call");
  await shot(agentPage, "agent-callbacks");
  await row.getByRole("button", { name: "Close…" }).click();
  await agentPage.getByLabel("Outcome").selectOption("Answered");
  await agentPage.getByLabel("Comment").fill("Quote sent");
  await agentPage.getByRole("button", { name: "Save" }).click();
  await row.waitFor({ state: "detached" });
  // The other one is rescheduled to a period.
  const later = agentPage.locator(`#callbacks tr[data-callback="${ids.later}"]`);
  await later.getByRole("button", { name: "Take" }).click();
  await later.getByRole("button", { name: "Reschedule" }).click();
  await agentPage.getByLabel("Period").selectOption({ label: "Afternoon (14:00–17:00)" });
  await agentPage.getByRole("button", { name: "Save" }).click();
  await text(later, "Afternoon");
  await text(later.getByRole("button", { name: "Take" }), "Take");
  const closed = await server.get(`/v1.0/callbacks/${ids.callback}`);
  assert.equal(closed.State, "Terminated");
  // Finish: wrap up, ready (Pat's task is not offered again to the agent who declined it), log out.
  await agentPage.getByRole("button", { name: "Finish wrap-up" }).click();
  await agentPage.getByRole("button", { name: "Become ready" }).click();
  await text(agentPage.locator("#my-state"), "Ready");
  await agentPage.getByRole("button", { name: "Log out" }).click();
  await text(agentPage.locator("#my-state"), "Logged out");
  await text(boardPage.locator('#agents tr[data-agent="Anna Lindqvist"]'), "Logged out");
  await text(tile.locator('[data-metric="answered"]'), "Answered today: 2");
  await shot(agentPage, "agent-desktop");
});

test("an API key opens a watching wallboard that comes back by itself after the server restarts", async () => {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${server.base}/`);
  await page.getByRole("tab", { name: "API key" }).click();
  await page.getByRole("textbox", { name: /API key/ }).fill(ADMIN_KEY);
  await page.getByRole("button", { name: "Open the wallboard" }).click();
  // The key sees the whole tenant: both queues, and Zoe.
  await text(page.locator('.tile[data-queue="Sales"] [data-metric="waiting"] .value'), /^0$/);
  await text(page.locator('#agents tr[data-agent="Zoe Martin"]'), "Logged out");
  await text(page.locator("#status"), "Live");
  // The server goes away: both wallboards say so.
  await server.stop();
  await text(page.locator("#banner"), "Connection to the server lost");
  await text(boardPage.locator("#banner"), "Connection to the server lost");
  await shot(page, "wallboard-unreachable");
  // It comes back on the same port and database: the key's wallboard reconnects by itself; the supervisor's
  // token did not survive the restart (tokens live in memory), so it asks to sign in again.
  await server.start();
  await text(page.locator("#status"), "Live");
  await page.locator("#banner").waitFor({ state: "hidden" });
  await text(page.locator('.tile[data-queue="Customer Care"] [data-metric="answered"]'), "Answered today: 2");
  await text(boardPage.locator("#banner"), "Your session has expired. Sign in again.");
  await boardPage.getByLabel("CTI login").waitFor();
  await shot(boardPage, "wallboard-session-expired");
  await context.close();
});
