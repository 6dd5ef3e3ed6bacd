/**
 * Rectangles and the level maths of the pyramid. Level 0 is full resolution; a level-L
 * pixel covers 2^L x 2^L level-0 pixels. Rectangles are integer `x, y, w, h`.
 *
 *   const r = new Rect(0, 0, 512, 512);
 *   r.toLevel(0, 1);            // Rect(0, 0, 256, 256)
 *   [...r.tiles(256)];          // [[0, 0], [1, 0], [0, 1], [1, 1]]
 */

export const TILE = 256;

export class Rect {
  constructor(x = 0, y = 0, w = 0, h = 0) {
    this.x = x; this.y = y; this.w = w; this.h = h;
  }

  static of(box) { return box ? new Rect(box.x, box.y, box.w, box.h) : new Rect(); }
  static fromEdges(x0, y0, x1, y1) { return new Rect(x0, y0, Math.max(0, x1 - x0), Math.max(0, y1 - y0)); }

  get x1() { return this.x + this.w; }
  get y1() { return this.y + this.h; }
  get empty() { return this.w <= 0 || this.h <= 0; }
  get area() { return this.empty ? 0 : this.w * this.h; }

  intersect(o) {
    return Rect.fromEdges(Math.max(this.x, o.x), Math.max(this.y, o.y), Math.min(this.x1, o.x1), Math.min(this.y1, o.y1));
  }

  union(o) {
    if (this.empty) return new Rect(o.x, o.y, o.w, o.h);
    if (o.empty) return new Rect(this.x, this.y, this.w, this.h);
    return Rect.fromEdges(Math.min(this.x, o.x), Math.min(this.y, o.y), Math.max(this.x1, o.x1), Math.max(this.y1, o.y1));
  }

  /** This box with every side moved out by `n` (in by a negative n). */
  grow(n) { return n ? new Rect(this.x - n, this.y - n, this.w + 2 * n, this.h + 2 * n) : this; }

  contains(px, py) { return px >= this.x && px < this.x1 && py >= this.y && py < this.y1; }

  /** The smallest box at level `target` covering this box given at `level` (as the server's Rect.to_level). */
  toLevel(level, target) {
    if (target >= level) {
      const s = 2 ** (target - level);
      return Rect.fromEdges(Math.floor(this.x / s), Math.floor(this.y / s), Math.ceil(this.x1 / s), Math.ceil(this.y1 / s));
    }
    const s = 2 ** (level - target);
    return new Rect(this.x * s, this.y * s, this.w * s, this.h * s);
  }

  /** Indices [tx, ty] of the size x size grid cells this box touches, row by row. */
  *tiles(size = TILE) {
    if (this.empty) return;
    for (let ty = Math.floor(this.y / size); ty <= Math.floor((this.y1 - 1) / size); ty++) {
      for (let tx = Math.floor(this.x / size); tx <= Math.floor((this.x1 - 1) / size); tx++) yield [tx, ty];
    }
  }

  equals(o) { return o && this.x === o.x && this.y === o.y && this.w === o.w && this.h === o.h; }
  box() { return { x: this.x, y: this.y, w: this.w, h: this.h }; }
  toString() { return `${this.w}×${this.h} at (${this.x}, ${this.y})`; }
}

/** Round `value` to the nearest multiple of `step`. */
export function snap(value, step) { return Math.round(value / step) * step; }

export function clamp(value, low, high) { return Math.min(high, Math.max(low, value)); }

/**
 * The pyramid level to draw at for a zoom: the coarsest level whose pixel still covers at
 * most one device pixel. `scale` is screen CSS px per level-0 px.
 */
export function levelFor(scale, ratio = 1, top = 16) {
  const level = Math.floor(Math.log2(1 / (scale * ratio)) + 1e-9);
  return clamp(level, 0, top);
}
