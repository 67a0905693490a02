// A small client of switchboard's REST API with an API key (the `api_key` header), and a reader of the event
// stream (Server-Sent Events over fetch, since EventSource cannot send headers). Examples for integrators.

export class RestError extends Error {
  /** kind: "unreachable" (no answer), "unauthorized" (401), or "failed" (any other error status). */
  constructor(kind, status, code, message) {
    super(message);
    this.kind = kind;
    this.status = status;
    this.code = code;
  }
}

export class Rest {
  constructor(apiKey) {
    this.apiKey = apiKey;
  }

  /** GET a path with query parameters (empty ones left out); answers the JSON body. Throws RestError. */
  async get(path, parameters = {}) {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(parameters)) {
      if (value !== undefined && value !== null && value !== "") query.set(name, value);
    }
    const url = query.toString() ? `${path}?${query}` : path;
    let response;
    try {
      response = await fetch(url, { headers: { api_key: this.apiKey } });
    } catch {
      throw new RestError("unreachable", 0, "Unreachable", "The server cannot be reached.");
    }
    const text = await response.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch { body = text; }
    if (!response.ok) {
      // Every REST error is {"Error": {"Code", "Message"}}.
      const code = body?.Error?.Code || String(response.status);
      const message = body?.Error?.Message || `The server answered ${response.status}.`;
      throw new RestError(response.status === 401 ? "unauthorized" : "failed", response.status, code, message);
    }
    return body;
  }
}

/**
 * Follows GET /v2.0/events as Server-Sent Events: onEvent(event) for each event, onStatus(state, text) as the
 * stream connects, drops and resumes (from the last sequence seen, with Last-Event-ID). Returns a stop function.
 */
export function followEvents(apiKey, parameters, { onEvent, onStatus, onUnauthorized }) {
  let stopped = false;
  let controller = null;
  let lastId = null;
  let attempt = 0;
  const query = new URLSearchParams(parameters).toString();

  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const headers = { api_key: apiKey, accept: "text/event-stream" };
        if (lastId !== null) headers["last-event-id"] = lastId;
        const response = await fetch(`/v2.0/events${query ? `?${query}` : ""}`, { headers, signal: controller.signal });
        if (response.status === 401) {
          stopped = true;
          onUnauthorized?.();
          return;
        }
        if (response.status === 410) {
          // Our position was pruned: go on from what is kept now.
          lastId = null;
          throw new Error("gone");
        }
        if (!response.ok || !response.body) throw new Error(`status ${response.status}`);
        attempt = 0;
        onStatus?.("open", "Live");
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let data = "";
            let id = null;
            for (const line of block.split("\n")) {
              if (line.startsWith("data:")) data += line.slice(5).trimStart();
              else if (line.startsWith("id:")) id = line.slice(3).trim();
            }
            if (id !== null) lastId = id;
            if (data) {
              try { onEvent(JSON.parse(data)); } catch { /* not an event: an error note */ }
            }
          }
        }
      } catch (error) {
        if (stopped) return;
      }
      if (stopped) return;
      const delay = Math.min(15000, 1000 * 2 ** attempt);
      attempt += 1;
      onStatus?.("reconnecting", `Event stream lost: retrying in ${Math.round(delay / 1000)} s`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  onStatus?.("connecting", "Connecting…");
  run();
  return () => {
    stopped = true;
    controller?.abort();
  };
}
