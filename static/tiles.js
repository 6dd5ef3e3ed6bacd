/**
 * The tile layer: an unbounded grid of 256 px tiles per pyramid level, drawn by hand with
 * Canvas 2D. Tiles are fetched by URL (the browser's HTTP cache revalidates them with the
 * server's ETag, so an unchanged tile costs a 304) and replaced in place when the server
 * pushes new pixels or says they are stale. Until a tile arrives, the nearest coarser (or
 * finer) tile already loaded is drawn in its place; a stale tile stays on screen until its
 * replacement is ready, so nothing flickers.
 *
 *   const layer = new TileLayer((level, tx, ty) => `/api/canvases/default/tiles/${level}/${tx}/${ty}.${TILE_FORMAT}`);
 *   layer.onchange = () => requestDraw();
 *   layer.draw(ctx, view);                     // each frame
 *   layer.put(0, [[3, -1, rev], ...], rgbaBytes); // pushed tiles, their pixels one after another
 *   layer.invalidate(new Rect(0, 0, 512, 512)); // stale: refetch what is visible
 *   layer.hold();                              // a websocket is opening: wait for its first list
 *   const send = layer.lacking(view, 4);       // tiles to ask the subscribe for, [[tx, ty], ...]
 *   layer.expect(4, rect, send.length > 0);    // a subscribe is on its way: wait for its list
 *   layer.listed(4, rect, canvasId, [[tx, ty, rev], ...], sent, pixels);  // what it says is painted there
 *
 * The `subscribe` answer lists the painted tiles of the viewport with their revisions.
 * With it, an empty tile costs no request at all, and a painted one is fetched by a URL
 * naming its revision, which the browser keeps without revalidating (the server marks it
 * immutable): a reload of a known place costs no round trip per tile. Where tiles come as
 * raw RGBA (a server on this machine), the subscribe also asks for the pixels of the
 * visible tiles not loaded yet, and its answer carries them: a fresh page or a pan onto
 * new ground costs one message, not a request per tile.
 */

import { Rect, TILE } from "./geometry.js";

const MAX_TILES = 900;
const MAX_FETCHES = 8;
const BATCH_MS = 100;  // while a screenful streams in, redraw at most this often
const LISTING_WAIT_MS = 250;  // how long a tile waits for a subscribe's list before it is fetched blind
const SENDING_WAIT_MS = 2000;  // likewise for a list carrying pixels, or a websocket's first list
const MAX_SENT = 64;  // tiles one subscribe may ask the pixels of (the server's MAX_SENT_TILES)
const MAX_KNOWN = 20000;
const MAX_VIEWPORT = 8192;  // px a side of a subscribed rectangle, at its level (the server's bound)

/**
 * The tile format to ask for: raw RGBA where the server is on this machine (no encode on
 * the server, no decode here; the bytes cost nothing over the loopback), else lossless
 * WebP (a quarter of the bytes or less).
 */
/** The user timing marked once, at the first frame that draws every visible tile (or knows
 *  it empty): when the page's view is complete (DevTools' timeline, bench/viewport.py). */
export const VIEW_COMPLETE = "boundless: view complete";

export const TILE_FORMAT = ["localhost", "127.0.0.1", "[::1]"].includes(location.hostname) ? "rgba" : "webp";

/** What a view subscribes to: the level it draws (at most 4 over the canvas's top level,
 *  once the welcome said it) and the tile-aligned rectangle it sees there, with a tile of margin. */
export function subscription(view, topLevel = null) {
  const level = topLevel === null ? view.level() : view.level(Math.max(topLevel, 0) + 4);
  const seen = view.visibleRect().toLevel(0, level);
  const x0 = Math.floor(seen.x / TILE) * TILE - TILE, y0 = Math.floor(seen.y / TILE) * TILE - TILE;
  const x1 = Math.ceil(seen.x1 / TILE) * TILE + TILE, y1 = Math.ceil(seen.y1 / TILE) * TILE + TILE;
  return { level, rect: new Rect(x0, y0, Math.min(MAX_VIEWPORT, x1 - x0), Math.min(MAX_VIEWPORT, y1 - y0)) };
}

async function decodeTile(response) {
  if (response.headers.get("content-type") !== "application/octet-stream") return createImageBitmap(await response.blob());
  const bytes = new Uint8ClampedArray(await response.arrayBuffer());
  return createImageBitmap(new ImageData(bytes, TILE, TILE));
}

class Tile {
  constructor(level, tx, ty) {
    this.level = level; this.tx = tx; this.ty = ty;
    this.image = null;      // an ImageBitmap or a canvas, once loaded
    this.loaded = false;    // loaded (possibly empty: image stays null)
    this.stale = true;      // needs (re)fetching
    this.loading = false;
    this.version = 0;       // bumped by every change; a fetch that started before one is dropped
    this.waitUntil = 0;     // a pushed replacement is expected until then
    this.rev = undefined;   // the revision the server listed for it, if any (fetched by it)
    this.used = 0;
  }

  /** This tile's area in level-0 pixels. */
  get world() {
    const s = TILE * 2 ** this.level;
    return new Rect(this.tx * s, this.ty * s, s, s);
  }
}

export class TileLayer {
  constructor(url) {
    this.url = url;
    this.tiles = new Map();
    this.onchange = () => {};
    this.fetching = 0;
    this.queue = [];
    this.frame = 0;
    this.batch = 0;  // the timer of a pending batched redraw
    this.known = new Map();  // key -> revision listed by the server (0: empty), until it changes
    this.canvasId = "";
    this.listing = null;  // { level, rect, until, changes } of the subscribe awaited
    this.firstListBy = 0;  // until then (ms), no subscribe has been answered since hold()
    this.changes = 0;  // bumped by every change the server reports
    this.stats = { fetched: 0, pushed: 0, notModified: 0 };
    this.complete = false;  // a frame drew the whole view (VIEW_COMPLETE is marked)
  }

  key(level, tx, ty) { return `${level}/${tx}/${ty}`; }

  get(level, tx, ty, create = true) {
    const key = this.key(level, tx, ty);
    let tile = this.tiles.get(key);
    if (!tile && create) { tile = new Tile(level, tx, ty); this.tiles.set(key, tile); }
    return tile;
  }

  /** Forget every tile (another canvas); the next draw fetches what it needs. */
  clear() { this.tiles.clear(); this.known.clear(); this.queue = []; this.onchange(); }

  /** Mark every tile stale (after a reconnect): they are revalidated, cheaply, by ETag. */
  revalidateAll() {
    for (const tile of this.tiles.values()) { tile.stale = true; tile.version++; }
    this.known.clear();
    this.changes++;
    this.onchange();
  }

  /** A websocket is opening: until its first subscribe is answered (or a while), no tile
   *  is fetched blind; most of them are empty or come with the answer. */
  hold() {
    this.firstListBy = performance.now() + SENDING_WAIT_MS;
    this.listing = { level: null, rect: null, until: performance.now() + SENDING_WAIT_MS, changes: this.changes };
    setTimeout(() => this.onchange(), SENDING_WAIT_MS + 10);
  }

  /** The websocket's first list is still awaited (and not for longer than `hold` allows). */
  awaitingFirstList() { return performance.now() < this.firstListBy; }

  /** A subscribe for `rect` (tile-aligned, at `level`) was sent: its tiles wait for the list
   *  (longer when it carries pixels: fetching them meanwhile would fetch them twice). */
  expect(level, rect, sending = false) {
    const wait = sending ? SENDING_WAIT_MS : LISTING_WAIT_MS;
    this.listing = { level, rect, until: performance.now() + wait, changes: this.changes };
    setTimeout(() => this.onchange(), wait + 10);
  }

  /** The visible tiles of `level` with nothing loaded and nothing on its way, nearest the
   *  centre first: what a subscribe asks the pixels of, [[tx, ty], ...]. */
  lacking(view, level) {
    const seen = view.visibleRect().toLevel(0, level);
    const cx = (seen.x + seen.w / 2) / TILE, cy = (seen.y + seen.h / 2) / TILE;
    const found = [];
    for (const [tx, ty] of seen.tiles(TILE)) {
      const tile = this.get(level, tx, ty, false);
      if (!(tile && (tile.loaded || tile.loading)) && this.known.get(this.key(level, tx, ty)) !== 0) found.push([tx, ty]);
    }
    found.sort((a, b) => Math.hypot(a[0] + 0.5 - cx, a[1] + 0.5 - cy) - Math.hypot(b[0] + 0.5 - cx, b[1] + 0.5 - cy));
    return found.slice(0, MAX_SENT);
  }

  /**
   * The subscribe's answer: `tiles` [[tx, ty, rev], ...] are painted, the rest of `rect` is
   * empty; `sent` [[tx, ty, rev], ...] of them came with their raw RGBA, one after another
   * in `pixels`.
   */
  listed(level, rect, canvasId, tiles, sent = [], pixels = null) {
    const awaited = this.listing && this.listing.level === level && this.listing.rect.equals(rect) ? this.listing : null;
    if (awaited) this.listing = null;
    this.firstListBy = 0;
    // A change reported since the subscribe was sent may be newer than the list: drop it.
    if (!awaited || awaited.changes !== this.changes || !tiles) { this.onchange(); return; }
    if (this.known.size > MAX_KNOWN) this.known.clear();
    this.canvasId = canvasId;
    for (const [tx, ty] of rect.tiles(TILE)) this.known.set(this.key(level, tx, ty), 0);
    for (const [tx, ty, rev] of tiles) this.known.set(this.key(level, tx, ty), rev);
    sent.forEach(([tx, ty], i) => {
      const tile = this.get(level, tx, ty);
      if (!tile.loaded || tile.stale) this.place(tile, pixels, i);
    });
    this.onchange();
  }

  /**
   * Tiles over `area` (level 0) changed. Those in `expected` (keys) are being pushed: they
   * are refetched only if no push arrives within a second.
   */
  invalidate(area, expected = new Set(), fade = 0) {
    const now = performance.now();
    this.changes++;
    // `fade` px at a tile's own level: how far a change reaches into the fade of finer
    // content over coarser content (zoomed-out canvases; 0 elsewhere).
    const reaches = (level, world) => !world.intersect(area.grow(fade * 2 ** level)).empty;
    for (const key of this.known.keys()) {
      const [level, tx, ty] = key.split("/").map(Number), s = TILE * 2 ** level;
      if (reaches(level, new Rect(tx * s, ty * s, s, s))) this.known.delete(key);
    }
    for (const [key, tile] of this.tiles) {
      if (!reaches(tile.level, tile.world)) continue;
      tile.stale = true;
      tile.version++;
      tile.waitUntil = expected.has(key) ? now + 1000 : 0;
      if (tile.waitUntil) setTimeout(() => this.onchange(), 1050);
    }
    this.onchange();
  }

  /** Tiles pushed by the server: `tiles` [[tx, ty, rev], ...] of `level`, their raw RGBA
   *  one after another in `pixels`; one redraw for all of them. */
  put(level, tiles, pixels) {
    tiles.forEach(([tx, ty], i) => {
      const tile = this.get(level, tx, ty);
      this.place(tile, pixels, i);
      this.known.delete(this.key(level, tx, ty));
      this.stats.pushed++;
    });
    this.changes++;
    this.onchange();
  }

  /** Show the `index`-th raw RGBA tile of `pixels` as `tile`, in place. */
  place(tile, pixels, index) {
    const canvas = document.createElement("canvas");
    canvas.width = TILE; canvas.height = TILE;
    const size = TILE * TILE * 4;
    const rgba = new Uint8ClampedArray(pixels.buffer, pixels.byteOffset + index * size, size);
    canvas.getContext("2d").putImageData(new ImageData(rgba, TILE, TILE), 0, 0);
    tile.image = canvas;
    tile.loaded = true;
    tile.stale = false;
    tile.waitUntil = 0;
    tile.version++;
  }

  /** Draw the tiles of `level` that cover the view, with fallbacks for missing ones. */
  draw(ctx, view, level) {
    this.frame++;
    const now = performance.now();
    const seen = view.visibleRect().toLevel(0, level);
    const wanted = [];
    for (const [tx, ty] of seen.tiles(TILE)) {
      const tile = this.get(level, tx, ty);
      tile.used = this.frame;
      if (tile.stale && !tile.loading && tile.waitUntil <= now) this.want(tile, wanted, now);
      if (tile.loaded) { if (tile.image) this.blit(ctx, view, tile, tile.world); continue; }
      this.fallback(ctx, view, tile);
    }
    // Fetch the tiles nearest the centre first.
    const cx = (seen.x + seen.w / 2) / TILE, cy = (seen.y + seen.h / 2) / TILE;
    wanted.sort((a, b) => Math.hypot(a.tx - cx, a.ty - cy) - Math.hypot(b.tx - cx, b.ty - cy));
    this.queue = wanted;
    this.pump();
    this.evict();
    if (!this.complete && this.pending(view, level) === 0) {
      this.complete = true;
      performance.mark(VIEW_COMPLETE, { detail: { level } });
    }
  }

  /** A stale tile: known empty (no request), else fetched, unless its listing is on its way. */
  want(tile, wanted, now) {
    const rev = this.known.get(this.key(tile.level, tile.tx, tile.ty));
    if (rev === 0) {
      tile.image = null; tile.loaded = true; tile.stale = false;
      return;
    }
    const listing = this.listing;
    if (rev === undefined && listing && now < listing.until &&
        (listing.level === null || (listing.level === tile.level && listing.rect.contains(tile.tx * TILE, tile.ty * TILE)))) return;
    tile.rev = rev;
    wanted.push(tile);
  }

  /** Draw what stands in for a tile not loaded yet: a coarser tile's part, else finer tiles. */
  fallback(ctx, view, tile) {
    const area = tile.world;
    for (let up = 1; up <= 6; up++) {
      const level = tile.level + up;
      const parent = this.get(level, Math.floor(tile.tx / 2 ** up), Math.floor(tile.ty / 2 ** up), false);
      if (parent && parent.loaded) {
        parent.used = this.frame;
        if (parent.image) this.blit(ctx, view, parent, area);
        return;
      }
    }
    if (tile.level === 0) return;
    for (let dy = 0; dy < 2; dy++) {
      for (let dx = 0; dx < 2; dx++) {
        const child = this.get(tile.level - 1, tile.tx * 2 + dx, tile.ty * 2 + dy, false);
        if (child && child.loaded && child.image) { child.used = this.frame; this.blit(ctx, view, child, child.world); }
      }
    }
  }

  /** Draw the part `area` (level 0) of `tile` where it belongs on screen. */
  blit(ctx, view, tile, area) {
    const world = tile.world;
    const k = TILE / world.w;
    const [x0, y0] = view.toScreen(area.x, area.y);
    const [x1, y1] = view.toScreen(area.x1, area.y1);
    const sx = Math.round(x0), sy = Math.round(y0);
    ctx.drawImage(tile.image, (area.x - world.x) * k, (area.y - world.y) * k, area.w * k, area.h * k,
      sx, sy, Math.round(x1) - sx, Math.round(y1) - sy);
  }

  pump() {
    while (this.fetching < MAX_FETCHES && this.queue.length) this.fetch(this.queue.shift());
  }

  async fetch(tile) {
    tile.loading = true;
    this.fetching++;
    const version = tile.version;
    let image = null, ok = false;
    try {
      const fixed = tile.rev ? `?v=${encodeURIComponent(this.canvasId)}-${tile.rev}` : "";
      const response = await fetch(this.url(tile.level, tile.tx, tile.ty) + fixed);
      if (response.status === 200) image = await decodeTile(response);
      ok = response.status === 200 || response.status === 204;
      this.stats.fetched++;
    } catch (err) {
      console.warn("tile fetch failed", err);
    }
    tile.loading = false;
    this.fetching--;
    this.pump();  // refill the free slot now, not a frame later
    if (ok && tile.version === version) {
      tile.image = image;
      tile.loaded = true;
      tile.stale = false;
    }
    this.arrived();
  }

  /**
   * A fetch ended: redraw now if it was the last one, else within BATCH_MS. Each frame
   * costs the browser a full-canvas raster and composite; one per tile of a screenful
   * would keep the main thread too busy to start the next fetches.
   */
  arrived() {
    if (this.fetching === 0 && !this.queue.length) {
      clearTimeout(this.batch);
      this.batch = 0;
      this.onchange();
    } else if (!this.batch) {
      this.batch = setTimeout(() => { this.batch = 0; this.onchange(); }, BATCH_MS);
    }
  }

  evict() {
    if (this.tiles.size <= MAX_TILES) return;
    const old = [...this.tiles.entries()].filter(([, t]) => t.used < this.frame - 2 && !t.loading).sort((a, b) => a[1].used - b[1].used);
    for (const [key] of old.slice(0, this.tiles.size - MAX_TILES * 0.75)) this.tiles.delete(key);
  }

  /** How many visible tiles at `level` still wait for pixels (tests and the status line). */
  pending(view, level) {
    let count = 0;
    for (const [tx, ty] of view.visibleRect().toLevel(0, level).tiles(TILE)) {
      const tile = this.get(level, tx, ty, false);
      if (this.known.get(this.key(level, tx, ty)) === 0 && !(tile && tile.loading)) continue;  // listed empty
      if (!tile || tile.stale || tile.loading) count++;
    }
    return count;
  }
}
