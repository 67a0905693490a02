// Starts the real `switchboard serve` on a fresh SQLite database and a free port, and talks to its REST API.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(new URL(".", import.meta.url));

export const ADMIN_KEY = "browser-test-admin-key-0123456789";
const ROOT = resolve(HERE, "../..");

/** A port nobody listens on now. */
export function freePort() {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

export class Server {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), "switchboard-browser-"));
    this.db = `sqlite://${join(this.dir, "switchboard.db")}`;
    this.port = null;
    this.process = null;
    this.log = "";
  }

  get base() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the binary and resolves once it says it listens (the state is recovered before it binds). */
  async start() {
    this.port ??= await freePort();
    const binary = process.env.SWITCHBOARD_BIN || join(ROOT, "target/debug/switchboard");
    const child = spawn(binary, ["serve", "--listen", `127.0.0.1:${this.port}`, "--db", this.db,
      "--cti-logout-grace", "2"], {
      env: { ...process.env, SWITCHBOARD_ADMIN_KEY: ADMIN_KEY, RUST_LOG: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.process = child;
    await new Promise((done, fail) => {
      const onData = (chunk) => {
        this.log += chunk;
        if (this.log.includes("switchboard listening on")) done();
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", (chunk) => { this.log += chunk; });
      child.once("exit", (code) => fail(new Error(`switchboard exited with ${code}:\n${this.log}`)));
      child.once("error", fail);
    });
    return this;
  }

  /** Stops it (SIGTERM: a graceful shutdown) and waits for the process to end. */
  async stop() {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const ended = new Promise((done) => child.once("exit", done));
    child.kill("SIGTERM");
    await ended;
    this.process = null;
  }

  async remove() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** A REST call with the admin key; throws on an error status. */
  async call(method, path, body) {
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers: { api_key: ADMIN_KEY, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  post(path, body) {
    return this.call("POST", path, body);
  }

  get(path) {
    return this.call("GET", path);
  }
}
