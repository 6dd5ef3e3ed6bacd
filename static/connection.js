/**
 * The websocket to one canvas: automatic reconnect with backoff, request ids matched to
 * their `ok`/`error` answers, and binary frames (4-byte big-endian header length, JSON
 * header, payload) parsed into `{...header, payload: Uint8Array}`.
 *
 *   const conn = new Connection("/ws/default");
 *   conn.on("welcome", (msg) => console.log(msg.bounds));
 *   conn.on("status", ({ state }) => console.log(state));   // connecting | open | waiting
 *   const ok = await conn.request({ type: "undo" });          // rejects with the error message
 *   conn.open();                                             // or conn.open(takeEarlySocket())
 */

export class RequestError extends Error {
  constructor(message) {
    super(message.message || message.code);
    this.code = message.code;
  }
}

export class Connection {
  constructor(path) {
    this.path = path;
    this.socket = null;
    this.handlers = new Map();
    this.pending = new Map();
    this.nextId = 1;
    this.retry = 0;
    this.timer = null;
    this.state = "closed";
    this.retryAt = 0;
  }

  on(type, handler) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(handler);
    return this;
  }

  emit(type, message) {
    for (const handler of this.handlers.get(type) || []) {
      try { handler(message); } catch (err) { console.error(`handler for ${type} failed`, err); }
    }
  }

  /** Connect. `early` ({ name, socket, received }, from takeEarlySocket) is the socket
   *  index.html opened before the modules ran: if it is to this path and still open, it is
   *  taken over with what it has received. */
  open(early = null) {
    clearTimeout(this.timer);
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) return;
    const adopted = early && new URL(early.socket.url).pathname === this.path && early.socket.readyState <= WebSocket.OPEN ? early.socket : null;
    if (early && !adopted) early.socket.close();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = adopted || new WebSocket(`${scheme}//${location.host}${this.path}`);
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    this.setState("connecting");
    socket.onopen = () => { this.retry = 0; this.setState("open"); };
    socket.onmessage = (event) => this.receive(event.data);
    if (adopted) {
      // Later, as a socket of our own would: nothing is handled before the caller returns.
      queueMicrotask(() => {
        if (socket.readyState === WebSocket.OPEN) socket.onopen();
        for (const data of early.received) this.receive(data);
      });
    }
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      for (const { reject } of this.pending.values()) reject(new RequestError({ code: "closed", message: "the connection closed" }));
      this.pending.clear();
      if (event.code === 4404 || this.state === "stopped") { this.setState("stopped"); return; }
      const delay = Math.min(8000, 250 * 2 ** this.retry++);
      this.retryAt = Date.now() + delay;
      this.setState("waiting");
      this.timer = setTimeout(() => this.open(), delay);
    };
  }

  /** Reconnect now (after a close), skipping the backoff. */
  reconnect() { this.retry = 0; this.open(); }

  close() { this.setState("stopped"); clearTimeout(this.timer); if (this.socket) this.socket.close(); }

  setState(state) { this.state = state; this.emit("status", { state, retryAt: this.retryAt }); }

  get isOpen() { return this.socket !== null && this.socket.readyState === WebSocket.OPEN; }

  /** Send a command; resolves with its `ok` answer, rejects with a RequestError. */
  request(message, payload = null) {
    if (!this.isOpen) return Promise.reject(new RequestError({ code: "offline", message: "not connected to the server" }));
    const id = `c${this.nextId++}`;
    const full = { ...message, id };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (payload) this.socket.send(encodeBinary(full, payload));
      else this.socket.send(JSON.stringify(full));
    });
  }

  receive(data) {
    const message = typeof data === "string" ? JSON.parse(data) : decodeBinary(data);
    if ((message.type === "ok" || message.type === "error") && this.pending.has(message.id)) {
      const { resolve, reject } = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.type === "ok") resolve(message); else reject(new RequestError(message));
      return;
    }
    this.emit(message.type, message);
    this.emit("*", message);
  }
}

/** The socket index.html opened before the modules ran (once: a reconnect opens its own). */
export function takeEarlySocket() {
  const early = window.boundlessSocket || null;
  delete window.boundlessSocket;
  return early;
}

export function encodeBinary(header, payload) {
  const head = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(4 + head.length + payload.length);
  new DataView(out.buffer).setUint32(0, head.length, false);
  out.set(head, 4);
  out.set(payload, 4 + head.length);
  return out;
}

export function decodeBinary(buffer) {
  const size = new DataView(buffer).getUint32(0, false);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, size)));
  header.payload = new Uint8Array(buffer, 4 + size);
  return header;
}
