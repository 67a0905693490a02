// Small helpers shared by the pages: building elements, formatting times, remembering a sign-in for the tab,
// and the header every page shows.

/** Builds an element: h("td", {class: "num"}, "3"). Attributes starting with "on" become listeners. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Replaces an element's children. */
export function fill(element, ...children) {
  element.replaceChildren();
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** 75 → "1:15", 3725 → "1:02:05". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  const total = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = String(total % 60).padStart(2, "0");
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

/** A time of day, "14:05:09". */
export function clockTime(date) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

/** A date and time, "2026-11-24 14:05:09". */
export function dateTime(text) {
  if (!text) return "—";
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) return text;
  const day = date.toLocaleDateString("sv-SE");
  return `${day} ${clockTime(date)}`;
}

/** Sign-in data kept for this browser tab only (sessionStorage), so a reload keeps the session. */
export const tabStore = {
  get(name) {
    try { return JSON.parse(sessionStorage.getItem(`switchboard.${name}`)); } catch { return null; }
  },
  set(name, value) {
    sessionStorage.setItem(`switchboard.${name}`, JSON.stringify(value));
  },
  remove(name) {
    sessionStorage.removeItem(`switchboard.${name}`);
  },
};

/** The xuc state names as people read them, and the badge class of each. */
export const AGENT_STATES = {
  AgentReady: ["Ready", "ready"],
  AgentRinging: ["Ringing", "ringing"],
  AgentDialing: ["Dialing", "ringing"],
  AgentOnCall: ["On task", "oncall"],
  AgentOnWrapup: ["Wrap-up", "wrapup"],
  AgentOnPause: ["Paused", "paused"],
  AgentLoggedOut: ["Logged out", "loggedout"],
};

export function stateBadge(name) {
  const [label, css] = AGENT_STATES[name] || [name || "Unknown", ""];
  return h("span", { class: `badge ${css}` }, label);
}

/** Marks the current page in the header's navigation and starts the header clock. */
export function startHeader() {
  for (const link of document.querySelectorAll("header.top nav a")) {
    if (link.getAttribute("href") === location.pathname
      || (location.pathname === "/" && link.getAttribute("href") === "/wallboard")) {
      link.setAttribute("aria-current", "page");
    }
  }
  const clock = document.querySelector("header.top .clock");
  if (clock) {
    const tick = () => { clock.textContent = clockTime(new Date()); };
    tick();
    setInterval(tick, 1000);
  }
}

/** Shows the connection state in the header pill (and to screen readers through its aria-live region). */
export function showStatus(pill, state, text) {
  pill.dataset.state = state;
  pill.textContent = text;
}

/** Shows or hides a banner. kind: "error", "warn" or "info". */
export function banner(element, kind, text) {
  if (!text) {
    element.hidden = true;
    element.replaceChildren();
    return;
  }
  element.hidden = false;
  element.className = `banner ${kind}`;
  fill(element, text);
}
