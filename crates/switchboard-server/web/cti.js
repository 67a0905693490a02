// A CTI client for switchboard's xuc websocket (docs/cti.md), written as an example for integrators.
//
//   const cti = new CtiConnection({token: async () => token, onMessage, onStatus, onOpen});
//   cti.start();  cti.send("subscribeToQueueStats");  cti.stop();
//
// It pings every 5 seconds as xuc clients do, treats 15 silent seconds as a lost link, and reconnects with a
// growing delay (1 s, 2 s, 4 s ... 15 s) for as long as the server is unreachable. A refused token (LoggedOnError,
// or a close "the token expired") ends it with the status "expired": the page asks the user to sign in again,
// or, for an API key, trades the key for a fresh token once before giving up.

/** Signs in with a CTI login and password: {login, token}. Throws CtiError. */
export async function signIn(login, password) {
  let response;
  try {
    response = await fetch("/xuc/api/2.0/auth/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ login, password }),
    });
  } catch {
    throw new CtiError("unreachable", "The server cannot be reached. Check the address and your network.");
  }
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) {
    throw new CtiError("credentials", "Unknown login or wrong password.");
  }
  if (!response.ok) {
    throw new CtiError("server", body.message || `The server answered ${response.status}.`);
  }
  return body;
}

/** Trades an API key for a read-only CTI token (POST /v2.0/cti/watchtoken): {login, token}. Throws CtiError. */
export async function watchToken(apiKey) {
  let response;
  try {
    response = await fetch("/v2.0/cti/watchtoken", { method: "POST", headers: { api_key: apiKey } });
  } catch {
    throw new CtiError("unreachable", "The server cannot be reached. Check the address and your network.");
  }
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) {
    const message = body?.Error?.Message || "The API key was refused.";
    throw new CtiError("credentials", message);
  }
  if (!response.ok) {
    throw new CtiError("server", body?.Error?.Message || `The server answered ${response.status}.`);
  }
  return body;
}

export class CtiError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

const PING_EVERY_MS = 5000;
const SILENCE_LIMIT_MS = 15000;
const MAX_DELAY_MS = 15000;

export class CtiConnection {
  /**
   * token: async () => string, called before every connection attempt.
   * onMessage(msgType, ctiMessage), onOpen(), onStatus(state, text) with state one of
   * "connecting", "open", "reconnecting", "expired", "closed".
   * refreshable: the token can be obtained again without the user (API keys).
   */
  constructor({ token, onMessage, onOpen, onStatus, refreshable = false }) {
    this.token = token;
    this.onMessage = onMessage || (() => {});
    this.onOpen = onOpen || (() => {});
    this.onStatus = onStatus || (() => {});
    this.refreshable = refreshable;
    this.socket = null;
    this.stopped = true;
    this.attempt = 0;
    this.timers = [];
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  /** Closes the socket for good (signing out). */
  stop() {
    this.stopped = true;
    this.clearTimers();
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close(1000, "signed out");
      this.socket = null;
    }
    this.onStatus("closed", "Signed out");
  }

  /** Sends a command: send("pauseAgent", {reason: "Lunch"}). False when not connected. */
  send(command, args = {}) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify({ claz: "web", command, ...args }));
    return true;
  }

  clearTimers() {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }

  async connect() {
    if (this.stopped) return;
    this.clearTimers();
    this.onStatus(this.attempt === 0 ? "connecting" : "reconnecting", "Connecting…");
    let token;
    try {
      token = await this.token();
    } catch (error) {
      if (error instanceof CtiError && error.kind === "credentials") {
        this.expire(error.message);
      } else {
        this.retry();
      }
      return;
    }
    if (this.stopped) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/xuc/api/2.0/cti?token=${encodeURIComponent(token)}`);
    this.socket = socket;
    let lastHeard = Date.now();
    let refused = false;
    socket.onmessage = (event) => {
      lastHeard = Date.now();
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      if (message.msgType === "LoggedOnError") {
        refused = true;
        return;
      }
      if (message.msgType === "LoggedOn") {
        this.attempt = 0;
        this.onStatus("open", "Live");
        this.onMessage(message.msgType, message.ctiMessage);
        this.onOpen();
        return;
      }
      if (message.msgType !== "Pong") this.onMessage(message.msgType, message.ctiMessage);
    };
    socket.onopen = () => {
      this.timers.push(setInterval(() => {
        if (Date.now() - lastHeard > SILENCE_LIMIT_MS) {
          // The link is gone without a close (a sleeping laptop, a dropped network): start again.
          socket.close();
          return;
        }
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ claz: "ping" }));
      }, PING_EVERY_MS));
    };
    socket.onclose = (event) => {
      this.clearTimers();
      if (this.socket === socket) this.socket = null;
      if (this.stopped) return;
      const expired = refused || /token|API key/i.test(event.reason || "");
      if (expired) {
        if (this.refreshable && this.attempt < 2) {
          this.attempt += 1;
          this.connect();
        } else {
          this.expire(event.reason && /API key/i.test(event.reason)
            ? "The API key was revoked or has expired."
            : "Your session has expired. Sign in again.");
        }
        return;
      }
      this.retry();
    };
  }

  expire(text) {
    this.stopped = true;
    this.onStatus("expired", text);
  }

  retry() {
    if (this.stopped) return;
    const delay = Math.min(MAX_DELAY_MS, 1000 * 2 ** this.attempt) * (0.8 + Math.random() * 0.4);
    this.attempt += 1;
    const until = Date.now() + delay;
    const show = () => {
      const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      this.onStatus("reconnecting", `Server unreachable: retrying in ${left} s`);
    };
    show();
    const countdown = setInterval(show, 1000);
    const timer = setTimeout(() => {
      clearInterval(countdown);
      this.connect();
    }, delay);
    this.timers.push(countdown, timer);
  }
}
