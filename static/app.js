/**
 * The wiring: one canvas, its websocket, the tile layer, the view, the frame, brush and
 * select tool, the panel, jobs and history. Opening `/` shows the default canvas (or `/?canvas=NAME`),
 * fitted to what it holds.
 *
 *   <script type="module" src="app.js"></script>   // window.boundless is the App
 */

import { boot, clearCanvas, tileUrl, viewKey } from "./boot.js";
import { Brush } from "./brush.js";
import { CanvasPicker, fetchJson, openCanvas } from "./canvases.js";
import { Connection, takeEarlySocket } from "./connection.js";
import { Frame } from "./frame.js";
import { Rect, TILE } from "./geometry.js";
import { Growth } from "./growth.js";
import { HistoryList } from "./history.js";
import { Jobs } from "./jobs.js";
import { Models } from "./models.js";
import { Panel } from "./panel.js";
import { Select } from "./select.js";
import { TILE_FORMAT, TileLayer, subscription } from "./tiles.js";
import { Video } from "./video.js";
import { View } from "./view.js";

const $ = (id) => document.getElementById(id);
const EXPAND_SIZE = 34;  // px, an expand arrow's side (style.css: .expand)

/** Whether two rects ({left, top, right, bottom}) meet, or come within `gap` px of each other. */
function overlap(a, b, gap = 0) {
  return a.left < b.right + gap && b.left < a.right + gap && a.top < b.bottom + gap && b.top < a.bottom + gap;
}

/** The place nearest `[x, y]` for a square of `size` px inside a `width` x `height` stage that meets none of `taken`. */
function clearPlace([x, y], size, taken, width, height) {
  const free = (px, py) => px >= 4 && py >= 4 && px + size <= width - 4 && py + size <= height - 4
    && !taken.some((r) => overlap({ left: px, top: py, right: px + size, bottom: py + size }, r, 4));
  if (free(x, y)) return [x, y];
  for (let d = 8; d < Math.max(width, height); d += 8) {
    for (const [dx, dy] of [[0, -d], [0, d], [-d, 0], [d, 0]]) if (free(x + dx, y + dy)) return [x + dx, y + dy];
  }
  return [x, y];  // no room anywhere: where it belongs
}

export class App {
  /** `booted`: boot.js's first picture of this canvas, taken over (its view, tiles and
   *  subscription), or null. */
  constructor(name, booted = null) {
    this.name = name;
    this.bounds = new Rect();
    this.head = 0;
    this.topLevel = 0;
    this.fitted = false;
    this.placed = Boolean(booted && booted.placed);  // boot.js placed the view already
    this.subscribed = booted ? booted.subscribed : null;
    this.drawPending = false;
    this.painting = false;  // the canvas is painted from the first subscribe answer on
    this.canvas = $("canvas");
    this.ctx = this.canvas.getContext("2d");
    if (booted) booted.take();
    this.view = booted ? booted.view : new View(this.canvas);
    this.layer = booted ? booted.layer : new TileLayer(tileUrl(name));
    this.conn = new Connection(`/ws/${encodeURIComponent(name)}`);
    // Connect first, taking over the socket index.html opened while the modules loaded:
    // its welcome may be here already (no message is handled before this constructor
    // returns). Until the first subscribe is answered no tile is fetched blind: most are
    // empty or come with it (boot.js's layer holds them so from its start).
    if (!booted) this.layer.hold();
    this.conn.open(takeEarlySocket());
    // index.html keeps the controls the first picture does not need (the panel's, the canvas
    // menu's) inert in templates: in place from here, before the parts that use them.
    for (const later of document.querySelectorAll("template[data-later]")) later.replaceWith(later.content);
    this.panel = new Panel($("settings"), "boundless.settings");
    this.frame = new Frame($("overlay"), this.view);
    this.brush = new Brush(this.frame, this.view);
    const toast = (...args) => this.toast(...args);
    this.select = new Select(this.frame, this.view, this.brush, this.conn, $("select-controls"), toast);
    this.jobs = new Jobs(this.conn, document, toast);
    this.history = new HistoryList($("history"));
    this.picker = new CanvasPicker($("picker"), name);
    this.growth = new Growth(this.panel, (message) => this.run(message));
    this.video = new Video(this.conn, this.panel, toast);
    this.models = new Models($("painter").closest("section"), this.panel, this.conn, toast);
    this.jobs.sizeOf = (name) => this.models.sizeOf(name);

    const redraw = () => this.requestDraw();
    this.view.onchange = redraw;
    this.layer.onchange = redraw;
    this.jobs.onchange = () => { this.updateButtons(); redraw(); };
    this.frame.onchange = (rect) => { this.brush.follow(rect); this.select.follow(rect); localStorage.setItem(this.key("frame"), JSON.stringify(rect.box())); redraw(); };
    this.brush.size = this.panel.value("brush_size");
    this.panel.onchange = (key) => this.settingChanged(key);
    this.settingChanged(null);
    this.restoreFrame();

    this.listen();
    this.bindControls();
    new ResizeObserver(() => this.view.resize()).observe(this.canvas);
    addEventListener("pagehide", () => this.view.save(viewKey(name)));  // back here on the next visit
    this.showStatus(this.conn.state);  // "connecting" was said before anyone listened
    document.getElementById("booting")?.remove();  // index.html's: the header and the panel show from here
  }

  key(what) { return `boundless.${this.name}.${what}`; }

  restoreFrame() {
    try {
      const saved = JSON.parse(localStorage.getItem(this.key("frame")) || "null");
      if (saved) { this.frame.set(Rect.of(saved)); this.frameRestored = true; }
    } catch { /* a bad saved frame: keep the default */ }
  }

  settingChanged(key) {
    this.models.settingChanged(key);
    if (key === null || key === "brush_size") {
      this.brush.size = this.panel.value("brush_size");
      $("brush-size-out").textContent = String(this.brush.size);
    }
  }

  // -- server events ---------------------------------------------------------------------

  listen() {
    const c = this.conn;
    c.on("status", ({ state, retryAt }) => this.showStatus(state, retryAt));
    c.on("welcome", (m) => {
      this.bounds = Rect.of(m.bounds);
      this.head = m.head;
      this.topLevel = m.top_level;
      this.frame.known = this.bounds;
      this.panel.offerPainters(m.painters, m.painter_options, m.painter_windows, m.painter_info);
      this.models.offer(m);
      this.select.offer(m.segmenter);
      if (!m.segmenter && this.select.active) this.setTool("move");
      if (!this.fitted) {
        this.fitted = true;
        if (!this.frameRestored) this.placeFrame();
        // Where the canvas was last seen, else fitted to it; an empty canvas shows the
        // frame: where a first upload or picture lands.
        if (!this.placed && !this.view.restore(viewKey(this.name))) this.view.fit(this.bounds.empty ? this.frame.rect : this.bounds);
      } else {
        this.layer.revalidateAll();
        this.subscribed = null;
      }
      this.jobs.restore(m.jobs);
      this.subscribe();
      c.request({ type: "history" }).then((h) => this.showHistory(h)).catch(() => {});
      this.frame.layout();
      this.showEmptyHint();
      this.requestDraw();
    });
    c.on("tiles.invalidated", (m) => {
      const area = Rect.of(m.rect);
      if (m.bounds) { this.bounds = Rect.of(m.bounds); this.frame.known = this.bounds; this.frame.layout(); this.showEmptyHint(); }
      const fade = m.fade || 0;
      this.layer.invalidate(area, m.pushed ? this.expectedPushes(area, fade) : new Set(), fade);
    });
    c.on("tiles", (m) => this.layer.put(m.level, m.tiles, m.payload));
    c.on("history.changed", (m) => this.showHistory(m));
    // Gone from under us (by another page, or by our picker): follow it.
    c.on("canvas.deleted", () => {
      c.close();
      this.toast("This canvas was deleted; opening the default canvas.", true);
      setTimeout(() => openCanvas(null), 1500);
    });
    c.on("canvas.renamed", (m) => {
      c.close();
      this.toast(`This canvas was renamed to ${m.name}; reopening it.`);
      setTimeout(() => openCanvas(m.name), 800);
    });
    c.on("error", (m) => { if (m.code === "not_found") this.toast(`${m.message}. Pick a canvas from the menu beside the name, top left.`, true); });
  }

  /** The tile keys the server pushes for a change over `area`: our viewport's, at its level. */
  expectedPushes(area, fade = 0) {
    const sub = this.subscribed;
    if (!sub) return new Set();
    const seen = area.toLevel(0, sub.level).grow(fade).intersect(sub.rect);
    const keys = [...seen.tiles(TILE)].map(([tx, ty]) => this.layer.key(sub.level, tx, ty));
    return keys.length <= 64 ? new Set(keys) : new Set();
  }

  showHistory(m) {
    this.head = m.head;
    this.history.show(m);
    this.updateButtons();
  }

  showStatus(state, retryAt) {
    const el = $("status");
    el.dataset.state = state;
    clearInterval(this.statusTimer);
    const text = $("status-text");
    $("reconnect").hidden = state !== "waiting" && state !== "stopped";
    if (state === "open") text.textContent = "Connected";
    else if (state === "connecting") text.textContent = "Connecting…";
    else if (state === "stopped") text.textContent = "Disconnected";
    else {
      const tick = () => { text.textContent = `Offline · retrying in ${Math.max(0, Math.ceil((retryAt - Date.now()) / 1000))} s`; };
      tick();
      this.statusTimer = setInterval(tick, 500);
    }
    this.updateButtons();
  }

  // -- drawing ---------------------------------------------------------------------------

  requestDraw() {
    if (this.drawPending) return;
    this.drawPending = true;
    requestAnimationFrame(() => { this.drawPending = false; this.draw(); });
  }

  draw() {
    const { view } = this;
    const level = view.level(Math.max(this.topLevel, 0) + 4);
    this.subscribe();  // first: new ground waits for the answer instead of being fetched blind
    // Until the first subscribe is answered the canvas could show nothing but its grid, and
    // each such frame is a full-canvas commit while the page boots: paint from the answer on.
    this.painting ||= !this.layer.awaitingFirstList();
    if (this.painting) this.paint(level);
    this.frame.element.classList.toggle("choosing", Boolean(this.jobs.candidates));
    this.frame.layout();
    const handles = this.frame.handleBoxes();
    const dock = this.placeDock(handles);
    this.placeExpandButtons([...handles, ...dock]);
    const zoom = `${Math.round(view.scale * 100)}% · level ${level}`;
    if ($("zoom").textContent !== zoom) $("zoom").textContent = zoom;
  }

  paint(level) {
    const { view, ctx } = this;
    clearCanvas(this.canvas, ctx, view);
    this.drawGrid();
    ctx.imageSmoothingEnabled = view.scale * view.ratio < 1;
    this.layer.draw(ctx, view, level);
    this.drawBounds();
    this.jobs.drawOverlay(ctx, view);
  }

  drawGrid() {
    const { ctx, view } = this;
    let step = 256;
    while (step * view.scale < 48) step *= 4;
    const r = view.visibleRect();
    ctx.strokeStyle = "rgba(255, 255, 255, 0.035)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let x = Math.floor(r.x / step) * step; x <= r.x1; x += step) { const sx = Math.round(view.toScreen(x, 0)[0]) + 0.5; ctx.moveTo(sx, 0); ctx.lineTo(sx, view.height); }
    for (let y = Math.floor(r.y / step) * step; y <= r.y1; y += step) { const sy = Math.round(view.toScreen(0, y)[1]) + 0.5; ctx.moveTo(0, sy); ctx.lineTo(view.width, sy); }
    ctx.stroke();
  }

  drawBounds() {
    if (this.bounds.empty) return;
    const { ctx, view } = this;
    const [x0, y0] = view.toScreen(this.bounds.x, this.bounds.y);
    const [x1, y1] = view.toScreen(this.bounds.x1, this.bounds.y1);
    ctx.save();
    ctx.strokeStyle = "rgba(255, 255, 255, 0.22)";
    ctx.setLineDash([4, 4]);
    ctx.strokeRect(Math.round(x0) - 0.5, Math.round(y0) - 0.5, Math.round(x1 - x0) + 1, Math.round(y1 - y0) + 1);
    ctx.restore();
  }

  /**
   * The job and candidates bars sit at the bottom of the stage, or at its top when there
   * they would cover one of the frame's handles (`handles`: boxes in the view's px).
   * Returns the boxes of the bars shown, in the view's px (none when none is).
   */
  placeDock(handles) {
    const dock = $("dock"), cards = [$("candidates-bar"), $("job-bar")].filter((card) => !card.hidden);
    if (!cards.length) return [];
    const stage = this.canvas.getBoundingClientRect();
    const boxes = () => cards.map((card) => {
      const r = card.getBoundingClientRect();
      return { left: r.left - stage.left, top: r.top - stage.top, right: r.right - stage.left, bottom: r.bottom - stage.top };
    });
    const covers = (placed) => placed.some((card) => handles.some((h) => overlap(card, h, 4)));
    dock.classList.remove("top");
    const below = boxes();
    if (!covers(below)) return below;
    dock.classList.add("top");
    const above = boxes();
    if (!covers(above)) return above;
    dock.classList.remove("top");  // covered both ways (a frame as tall as the view): the usual place
    return below;
  }

  /** Each expand arrow beside its side of the known area, on screen, clear of `taken` (boxes in the view's px) and of each other. */
  placeExpandButtons(taken) {
    const b = this.bounds, v = this.view;
    for (const button of document.querySelectorAll(".expand")) {
      button.hidden = b.empty;
      if (b.empty) continue;
      const [x0, y0] = v.toScreen(b.x, b.y);
      const [x1, y1] = v.toScreen(b.x1, b.y1);
      const clampX = (x) => Math.min(v.width - 44, Math.max(10, x));
      const clampY = (y) => Math.min(v.height - 44, Math.max(10, y));
      const mx = clampX((Math.max(x0, 0) + Math.min(x1, v.width)) / 2 - 17);
      const my = clampY((Math.max(y0, 0) + Math.min(y1, v.height)) / 2 - 17);
      const wanted = {
        up: [mx, clampY(y0 - 56)], down: [mx, clampY(y1 + 22)],
        left: [clampX(x0 - 56), my], right: [clampX(x1 + 22), my],
      }[button.dataset.side];
      const pos = clearPlace(wanted, EXPAND_SIZE, taken, v.width, v.height);
      taken.push({ left: pos[0], top: pos[1], right: pos[0] + EXPAND_SIZE, bottom: pos[1] + EXPAND_SIZE });
      button.style.left = `${Math.round(pos[0])}px`;
      button.style.top = `${Math.round(pos[1])}px`;
      const title = `Expand ${button.dataset.side === "up" || button.dataset.side === "down" ? button.dataset.side + "wards" : "to the " + button.dataset.side} by ${this.panel.value("expand")} px`;
      if (button.title !== title) button.title = title;
    }
  }

  /** Tell the server which tiles we look at (with a tile of margin), when that changes. */
  subscribe() {
    if (!this.conn.isOpen) return;
    const { level, rect } = subscription(this.view, this.topLevel);
    if (this.subscribed && this.subscribed.level === level && this.subscribed.rect.equals(rect)) return;
    this.subscribed = { level, rect };
    // On this machine the answer carries the pixels of what we lack (raw RGBA costs nothing
    // over the loopback); elsewhere they come by URL, kept by the browser's cache.
    const send = TILE_FORMAT === "rgba" ? this.layer.lacking(this.view, level) : [];
    this.layer.expect(level, rect, send.length > 0);
    this.conn.request({ type: "subscribe", level, ...rect.box(), ...(send.length ? { send } : {}) })
      .then((ok) => this.layer.listed(level, rect, ok.canvas_id, ok.tiles, ok.sent, ok.payload))
      .catch(() => { this.subscribed = null; this.layer.listed(level, rect, "", null); });
  }

  // -- commands --------------------------------------------------------------------------

  /** On an empty canvas, say how to start; gone once anything is painted. */
  showEmptyHint() { $("empty-hint").hidden = !this.bounds.empty; }

  /** A first frame: straddling the right border of what is known, or at the origin. */
  placeFrame() {
    const b = this.bounds;
    if (b.empty) this.frame.set(new Rect(0, 0, 512, 512));
    else this.frame.set(new Rect(b.x1 - 256, Math.round(b.y + b.h / 2 - 256), 512, 512));
  }

  async run(message, payload = null) {
    try {
      const ok = await this.conn.request({ ...message, params: this.panel.params() }, payload);
      this.jobs.submitted(ok.job);
      return ok;
    } catch (err) {
      this.toast(err.message, true);
      return null;
    }
  }

  generate() { return this.run({ type: "outpaint", level: 0, ...this.frame.rect.box() }); }

  inpaint() {
    const mask = this.brush.bytes();
    if (!mask) { this.toast("Paint the part to repaint with the brush first."); return null; }
    return this.run({ type: "inpaint", level: 0, ...this.frame.rect.box() }, mask);
  }

  expand(side) { return this.run({ type: "expand", level: 0, [side]: this.panel.value("expand") }); }

  zoomOut() {
    try { return this.growth.zoomOut(this.frame.rect); } catch (err) { this.toast(err.message, true); return null; }
  }

  async move(which) {
    try { await this.conn.request({ type: which }); } catch (err) { this.toast(err.message, true); }
  }

  async upload(file) {
    if (!file) return;
    const r = this.frame.rect;
    const url = `/api/canvases/${encodeURIComponent(this.name)}/upload?x=${r.x}&y=${r.y}&name=${encodeURIComponent(file.name)}`;
    const placing = this.toast(`Placing ${file.name}…`);
    try {
      const body = await fetchJson(url, { method: "POST", body: file });
      this.toast(`Placed ${file.name} (${body.w} × ${body.h}).`, false, placing);
    } catch (err) {
      this.toast(`Upload failed: ${err.message}`, true, placing);
    }
  }

  exportPng(whole) {
    const r = this.frame.rect;
    const query = whole ? "" : `?x=${r.x}&y=${r.y}&w=${r.w}&h=${r.h}&level=0`;
    const a = document.createElement("a");
    a.href = `/api/canvases/${encodeURIComponent(this.name)}/export.png${query}`;
    a.download = "";
    document.body.append(a);
    a.click();
    a.remove();
  }

  setTool(tool) {
    if (tool === "select" && !this.select.available) return;  // no segmenter on this server
    this.brush.mode = tool === "brush" || tool === "eraser" ? tool : null;
    this.select.active = tool === "select";
    this.frame.movable = tool === "move";
    for (const b of document.querySelectorAll("[data-tool]")) b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
  }

  updateButtons() {
    const open = this.conn.isOpen;
    for (const id of ["generate", "inpaint", "undo", "redo", "zoom-out", "grow"]) $(id).disabled = !open;
    $("video").disabled = !open || Boolean(this.video.running);
    for (const b of document.querySelectorAll(".expand")) b.disabled = !open;
    const revs = this.history.revisions;
    if (open) {  // nothing to undo or redo until the history says so
      $("undo").disabled = !revs.some((r) => r.rev <= this.head && r.active);
      $("redo").disabled = !revs.some((r) => r.rev > this.head);
    }
  }

  /** Show `text` for a while (longer when `bad`), in place of the toast `replacing` if it
   *  is still up (an outcome replaces its "…ing" toast); returns the toast. */
  toast(text, bad = false, replacing = null) {
    const el = document.createElement("div");
    el.className = bad ? "toast bad" : "toast";
    el.textContent = text;
    if (replacing && replacing.isConnected) replacing.replaceWith(el); else $("toasts").append(el);
    setTimeout(() => el.remove(), bad ? 6000 : 3000);
    return el;
  }

  bindControls() {
    $("generate").onclick = () => this.generate();
    $("zoom-out").onclick = () => this.zoomOut();
    $("grow").onclick = () => this.growth.grow();
    $("video").onclick = () => this.video.make();
    $("inpaint").onclick = () => this.inpaint();
    $("undo").onclick = () => this.move("undo");
    $("redo").onclick = () => this.move("redo");
    $("reconnect").onclick = () => this.conn.reconnect();
    $("fit").onclick = () => this.view.fit(this.bounds);
    $("export-frame").onclick = () => this.exportPng(false);
    $("export-all").onclick = () => this.exportPng(true);
    $("upload").onclick = () => $("upload-file").click();
    $("upload-file").onchange = (e) => { this.upload(e.target.files[0]); e.target.value = ""; };
    $("random-seed").onclick = () => this.panel.set("seed", Math.floor(Math.random() * 2 ** 32));
    $("clear-mask").onclick = () => this.brush.clear();
    $("reset-settings").onclick = () => this.panel.reset();
    for (const b of document.querySelectorAll("[data-preset]")) b.onclick = () => this.frame.preset(Number(b.dataset.preset));
    for (const b of document.querySelectorAll("[data-tool]")) b.onclick = () => this.setTool(b.dataset.tool);
    for (const b of document.querySelectorAll(".expand")) b.onclick = () => this.expand(b.dataset.side);

    const stage = $("stage");
    let depth = 0;
    stage.addEventListener("dragenter", (e) => { if ([...e.dataTransfer.types].includes("Files")) { depth++; $("drop-hint").hidden = false; } });
    stage.addEventListener("dragleave", () => { depth = Math.max(0, depth - 1); if (!depth) $("drop-hint").hidden = true; });
    stage.addEventListener("dragover", (e) => e.preventDefault());
    stage.addEventListener("drop", (e) => {
      e.preventDefault();
      depth = 0;
      $("drop-hint").hidden = true;
      const file = [...e.dataTransfer.files].find((f) => f.type.startsWith("image/"));
      if (file) this.upload(file); else this.toast("Drop an image file.", true);
    });

    document.addEventListener("keydown", (e) => this.key_(e));
  }

  key_(e) {
    const typing = e.target.matches("input, textarea, select");
    const mod = e.ctrlKey || e.metaKey;
    if (mod && e.key === "Enter") { e.preventDefault(); this.generate(); return; }
    if (typing) return;
    if (mod && e.key.toLowerCase() === "z") { e.preventDefault(); this.move(e.shiftKey ? "redo" : "undo"); return; }
    if (mod && e.key.toLowerCase() === "y") { e.preventDefault(); this.move("redo"); return; }
    if (mod || e.altKey) return;
    if (this.jobs.candidates) {
      const actions = { ArrowLeft: () => this.jobs.step(-1), ArrowRight: () => this.jobs.step(1), Enter: () => this.jobs.accept(), Escape: () => this.jobs.discard() };
      if (actions[e.key] && !(e.key === "Enter" && e.target.tagName === "BUTTON")) { e.preventDefault(); actions[e.key](); return; }
    }
    const tools = { v: "move", b: "brush", e: "eraser", s: "select" };
    if (tools[e.key]) this.setTool(tools[e.key]);
    else if (e.key === "f") this.view.fit(this.bounds);
    else if (e.key === "[" || e.key === "]") this.panel.set("brush_size", Math.max(4, Math.min(256, this.brush.size + (e.key === "]" ? 8 : -8))));
  }
}

async function start() {
  // index.html's first script named the canvas (?canvas=, else the default the server
  // wrote into the page) and opened its socket; ask the server where it could not.
  let name = window.boundlessSocket?.name;
  if (!name) {
    try {
      const response = await fetch("/api/canvases");
      name = (await response.json()).default;
    } catch {
      name = "default";
    }
  }
  // boot.js's first picture, if it is on its way: its subscribe's answer is its own.
  if (boot) await boot.shown;
  window.boundless = new App(name, boot);
}

start();
