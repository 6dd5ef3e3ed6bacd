/**
 * The first picture, before the rest of the client has loaded. index.html's first script
 * opened the canvas's socket; this module places the view where the canvas was last seen
 * and sends one subscribe asking for the pixels of the visible tiles as soon as the socket
 * is open (a canvas not seen before is fitted to what it holds, once the welcome says
 * where that is), then draws them when they come, as a bare page would. It is the
 * page's one entry module, with a graph of its own (view, tiles, geometry, connection):
 * app.js and the panel's modules are fetched and run only after the picture; the App
 * then takes over its view, its tiles and the socket, with every other message kept for
 * it in the order it came.
 *
 *   <script type="module" src="boot.js"></script>    <!-- index.html: it imports app.js later -->
 *   import { boot } from "./boot.js";                 // null without an early socket
 *   await boot.shown;                                 // the first picture drawn (or none coming)
 *   boot.take();                                      // the App has boot.view, .layer, .subscribed
 */

import { decodeBinary } from "./connection.js";
import { Rect } from "./geometry.js";
import { TILE_FORMAT, TileLayer, subscription } from "./tiles.js";
import { View } from "./view.js";

const ID = "boot";  // our subscribe's id (the Connection's are c1, c2, ...)
const EARLY = "early";  // index.html's, sent before this module ran
// app.js and every module it imports, fetched at once when the picture is drawn: fetched
// while it is on its way, they competed with it for the server and the page's main thread
// (interleaved A/B runs: 0.3 to 0.37 of the floor's time at levels 0 and 4). Kept complete
// by tests/test_static.py.
const LATER = ["app.js", "brush.js", "canvases.js", "frame.js", "growth.js", "history.js", "jobs.js", "lora_tags.js",
  "loras.js", "models.js", "panel.js", "select.js", "video.js"];
const WELCOME_WAIT_MS = 500;  // how long the App waits for a welcome before it takes over
const ANSWER_WAIT_MS = 2000;  // ... and for our answer (the layer's own wait for a first list)

/** Where the camera over canvas `name` is kept between visits (localStorage). */
export function viewKey(name) { return `boundless.${name}.view`; }

/** The URL of a tile of canvas `name`, for the tiles whose pixels do not come by the socket. */
export function tileUrl(name) {
  return (level, tx, ty) => `/api/canvases/${encodeURIComponent(name)}/tiles/${level}/${tx}/${ty}.${TILE_FORMAT}`;
}

/** `canvas` sized to the view, in device px. */
function sizeCanvas(canvas, view) {
  const w = Math.round(view.width * view.ratio), h = Math.round(view.height * view.ratio);
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
}

/** How a frame starts: `canvas` sized to the view, cleared, drawn in CSS px. */
export function clearCanvas(canvas, ctx, view) {
  sizeCanvas(canvas, view);
  ctx.setTransform(view.ratio, 0, 0, view.ratio, 0, 0);
  ctx.clearRect(0, 0, view.width, view.height);
}

class Boot {
  constructor(early) {
    this.early = early;  // { name, socket, received }: index.html's socket and what it received
    this.name = early.name;
    this.canvas = document.getElementById("canvas");
    this.ctx = this.canvas.getContext("2d");
    this.view = new View(this.canvas);
    // Sized now, with the page's first layout; drawn only with the tiles (each frame that
    // changes it copies all its pixels to the compositor: a blank one first costs a copy).
    sizeCanvas(this.canvas, this.view);
    this.layer = new TileLayer(tileUrl(this.name));
    this.layer.hold();  // no tile is fetched blind before the first list
    this.layer.onchange = () => this.requestDraw();
    this.placed = this.view.restore(viewKey(this.name));  // the App keeps a placed view
    this.asked = null;  // {level, rect} of our subscribe
    this.subscribed = null;  // ... once its answer listed them
    // Settles once the first picture is drawn, or none is coming: the App, built after it,
    // keeps the main thread free until then (a busy one slows the answer's bytes down).
    // A server that does not welcome us soon gets the App anyway, which shows it waits.
    this.shown = new Promise((resolve) => { this.settle = resolve; });
    setTimeout(() => { if (!this.asked) this.settle(); }, WELCOME_WAIT_MS);
    setTimeout(this.settle, ANSWER_WAIT_MS);
    early.socket.addEventListener("close", this.settle, { once: true });  // the App connects again
    if (early.socket.readyState > WebSocket.OPEN) this.settle();
    this.taken = false;
    this.frame = 0;
    this.id = ID;
    early.booted = true;  // index.html's script asks no more
    if (this.placed && early.asked) this.adopt(early.asked);
    for (const data of early.received.splice(0)) this.receive(data);
    early.socket.onmessage = (event) => this.receive(event.data);
    // A placed view needs no welcome: ask at once (its level is the view's; the App asks
    // again if the canvas's top level, in the welcome, says a coarser one).
    if (this.placed && early.socket.readyState === WebSocket.OPEN) this.ask(null);
    else if (this.placed) early.socket.addEventListener("open", () => this.ask(null), { once: true });
  }

  /** Our answer is ours (index.html's too, taken or not); every other message is kept for
   *  the App (the welcome looked at). */
  receive(data) {
    const message = typeof data === "string" ? JSON.parse(data) : decodeBinary(data);
    if (message.id === this.id && this.asked) { this.listed(message); return; }
    if (message.id === EARLY) return;
    this.early.received.push(data);
    if (message.type === "welcome") this.welcome(message);
  }

  /** index.html's subscribe, if it is the one we would send: its answer is ours. */
  adopt(asked) {
    const { level, rect } = subscription(this.view, null);
    const send = TILE_FORMAT === "rgba" ? this.layer.lacking(this.view, level) : [];
    if (JSON.stringify(asked) !== JSON.stringify({ type: "subscribe", id: EARLY, level, ...rect.box(), send })) return;
    this.layer.expect(level, rect, true);
    this.asked = { level, rect };
    this.id = EARLY;
  }

  welcome(message) {
    if (this.placed) return;
    const bounds = Rect.of(message.bounds);
    if (bounds.empty) { this.settle(); return; }  // nothing to show: the App fits the view to its frame
    this.view.fit(bounds);
    this.placed = true;
    this.ask(message.top_level);
  }

  /** Our subscribe, for the placed view; `topLevel` null before the welcome said it. */
  ask(topLevel) {
    if (this.taken || this.asked) return;
    const { level, rect } = subscription(this.view, topLevel);
    const send = TILE_FORMAT === "rgba" ? this.layer.lacking(this.view, level) : [];
    this.layer.expect(level, rect, send.length > 0);
    this.asked = { level, rect };
    this.early.socket.send(JSON.stringify({ type: "subscribe", id: ID, level, ...rect.box(), ...(send.length ? { send } : {}) }));
  }

  listed(message) {
    const { level, rect } = this.asked;
    if (message.type === "ok") {
      this.layer.listed(level, rect, message.canvas_id, message.tiles, message.sent, message.payload);
      this.subscribed = this.asked;
    } else {
      this.layer.listed(level, rect, "", null);
    }
    this.draw();  // at once: the next frame shows the picture, not a frame later
  }

  requestDraw() {
    if (this.frame || this.taken) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  }

  draw() {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    if (this.taken || !this.asked) return;
    clearCanvas(this.canvas, this.ctx, this.view);
    this.layer.draw(this.ctx, this.view, this.asked.level);
    if (this.layer.awaitingFirstList()) return;  // the answer is not here yet
    fetchTheRest();
    requestAnimationFrame(() => setTimeout(this.settle, 0));  // the App once the picture is on screen
  }

  /** The App takes over: from here it draws, and its Connection reads the socket. */
  take() {
    this.taken = true;
    cancelAnimationFrame(this.frame);
    this.frame = 0;
  }
}

/** Fetch app.js and its modules at once (once: later calls do nothing). */
function fetchTheRest() {
  if (document.querySelector('link[rel="modulepreload"][href="app.js"]')) return;
  for (const href of LATER) document.head.append(Object.assign(document.createElement("link"), { rel: "modulepreload", href }));
}

export const boot = window.boundlessSocket ? new Boot(window.boundlessSocket) : null;

// The rest of the client (app.js: the App, the panel, the tools) runs once the first
// picture is drawn, or none is coming: until then the main thread is the picture's.
(boot ? boot.shown : Promise.resolve()).then(() => { fetchTheRest(); return import("./app.js"); });
