/**
 * The settings panel: every form control with a `data-setting` attribute is a job
 * parameter (or a client setting such as the expand amount). Values survive a reload
 * through localStorage; `params()` gives the job's `params` in the protocol's types.
 *
 *
 * The painter select (`data-setting="painter"`) and its options come from the server's
 * `welcome` (`offerPainters`): each option is a number input (`kind: "number"`) or a
 * select of names (`kind: "choice"`: a sampler), saved per painter as `NAME:OPTION`
 * ("patchmatch:patch_size"); a job sends the chosen painter and its options. The window
 * follows the painter's native size (`welcome.painter_windows`) until the user picks one.
 *
 * Each painter shows only the settings it uses (`welcome.painter_info[name].uses`: prompt,
 * negative prompt, steps, guidance, strength; elements marked `data-uses="steps"` hide
 * with them) and a job sends only those. Steps, guidance and strength start at the
 * painter's defaults, and what the user types is kept per painter ("diffusion:steps").
 *
 * A painter may paint with a model of another family (models.js, `useFamily`): its settings,
 * their defaults and the window are then that family's (`welcome.families`), what the user
 * typed still winning; other modules add to a job's params (`contribute`: the model).
 *
 * The strategy for big regions (`strategy`: tiles, coarse, auto) goes with every job; the
 * refine strength (elements marked `data-refines`) shows, and is sent, only when the
 * strategy is not tiles: every painter refines (diffusion by img2img, PatchMatch through
 * its guide).
 *
 *   <input data-setting="steps" data-uses="steps" type="number" value="25" data-kind="int">
 *   const panel = new Panel(document.querySelector("#settings"), "boundless.settings");
 *   panel.offerPainters(welcome.painters, welcome.painter_options, welcome.painter_windows, welcome.painter_info);
 *   conn.request({ type: "outpaint", ...frame, params: panel.params() });
 */

// Keys sent to the server with a job; others (expand amount, brush size) stay in the client.
const JOB_KEYS = ["prompt", "negative_prompt", "seed", "steps", "guidance", "strength", "candidates",
  "window", "context", "pad", "feather", "colour_match", "strategy", "refine_strength"];
// Settings whose default comes from the chosen painter: saved only once the user sets them.
const PAINTER_DEFAULTS = ["window"];
// The request's settings a painter may use (all of them, for a server that does not say),
// and those of them whose values are the painter's own: its defaults, and what was typed for it.
const USABLE = ["prompt", "negative_prompt", "steps", "guidance", "strength"];
const PER_PAINTER = ["steps", "guidance", "strength"];

export class Panel {
  constructor(root, storageKey) {
    this.root = root;
    this.storageKey = storageKey;
    this.controls = new Map([...root.querySelectorAll("[data-setting]")].map((el) => [el.dataset.setting, el]));
    this.defaults = Object.fromEntries([...this.controls].map(([key, el]) => [key, this.raw(el)]));
    this.options = {};  // painter name -> {option: {kind, label, default, min/max/integer or choices}}
    this.windows = {};  // painter name -> its native window (px)
    this.info = {};  // painter name -> {label, uses, defaults}
    this.families = {};  // painter name -> {uses, defaults, window} of the chosen model's family, when it names one
    this.contributors = [];  // (painter) -> params of other modules (the model), added to a job's
    this.fallback = Object.fromEntries(PER_PAINTER.map((key) => [key, this.defaults[key]]));  // the page's own
    this.onchange = () => {};
    this.load();
    this.showRefine();
    root.addEventListener("input", (event) => {
      const key = event.target.dataset.setting;
      if (!key) return;
      if (key === "painter") this.showOptions();
      if (key === "strategy") this.showRefine();
      if (PAINTER_DEFAULTS.includes(key)) this.saved[key] = this.raw(event.target);
      if (PER_PAINTER.includes(key) && this.painter()) this.saved[`${this.painter()}:${key}`] = this.raw(event.target);
      this.save();
      this.onchange(key);
    });
  }

  load() {
    // Kept whole: values of controls that come later (a painter's options) apply then.
    try { this.saved = JSON.parse(localStorage.getItem(this.storageKey) || "{}"); } catch { this.saved = {}; }
    if (!this.saved || typeof this.saved !== "object") this.saved = {};
    for (const [key, value] of Object.entries(this.saved)) {
      const el = this.controls.get(key);
      if (el) this.setRaw(el, value);
    }
  }

  /** The painters the server offers (the first is its default), their options, native
   *  windows and what each uses (label, uses, defaults), from `welcome`. */
  offerPainters(names, options, windows, info) {
    const select = this.controls.get("painter");
    if (!select || !Array.isArray(names) || names.length === 0) return;
    this.options = options || {};
    this.windows = windows || {};
    this.info = info || {};
    const wanted = select.value || this.saved.painter;
    select.replaceChildren(...names.map((name) => new Option(this.info[name]?.label || name, name)));
    select.value = names.includes(wanted) ? wanted : names[0];
    this.defaults.painter = names[0];
    // One painter: shown, so people know what paints, but there is nothing to choose.
    select.disabled = names.length === 1;
    select.title = names.length === 1
      ? `The server offers only ${names[0]} (start it with several --painter NAME to choose)`
      : "The painter of the next jobs";
    this.showOptions();
  }

  /** Inputs for the chosen painter's options, with its saved values; its native window;
   *  the settings it uses, with its values. */
  showOptions() {
    this.followWindow();
    this.showUsed();
    const box = this.root.querySelector("#painter-options");
    if (!box) return;
    for (const key of [...this.controls.keys()]) {
      if (key.includes(":")) { this.controls.delete(key); delete this.defaults[key]; }
    }
    const painter = this.painter();
    const made = [];
    for (const [name, o] of Object.entries(this.options[painter] || {})) {
      const key = `${painter}:${name}`, id = `option-${painter}-${name}`;
      const shown = { ...o, label: o.label || name };
      const label = Object.assign(document.createElement("label"), { htmlFor: id, textContent: shown.label });
      const input = o.kind === "choice" ? this.choiceInput(id, shown) : this.numberInput(id, shown);
      input.dataset.setting = key;
      this.defaults[key] = String(o.default);
      const saved = key in this.saved ? String(this.saved[key]) : null;
      // A saved name the server no longer offers falls back to the default.
      input.value = saved !== null && (o.kind !== "choice" || (o.choices || []).includes(saved)) ? saved : String(o.default);
      this.controls.set(key, input);
      made.push(label, input);
    }
    box.replaceChildren(...made);
  }

  numberInput(id, o) {
    const input = Object.assign(document.createElement("input"), { id, type: "number", min: o.min, max: o.max, step: o.integer ? 1 : "any" });
    input.dataset.kind = o.integer ? "int" : "float";
    input.title = `${o.label}: ${o.min} to ${o.max} (default ${o.default})`;
    return input;
  }

  choiceInput(id, o) {
    const select = Object.assign(document.createElement("select"), { id, title: `${o.label} (default ${o.default})` });
    select.replaceChildren(...(o.choices || []).map((name) => new Option(name, name)));
    return select;
  }

  /** The settings the chosen painter uses (the others hidden), at what was typed for it or its defaults. */
  showUsed() {
    const painter = this.painter(), uses = this.uses();
    for (const el of this.root.querySelectorAll("[data-uses]")) el.hidden = !uses.includes(el.dataset.uses);
    if (!painter) return;
    for (const key of PER_PAINTER) {
      const el = this.controls.get(key);
      if (!el) continue;
      this.defaults[key] = String(this.described(painter)?.defaults?.[key] ?? this.fallback[key]);
      const typed = this.saved[`${painter}:${key}`];
      el.value = typed !== undefined ? String(typed) : this.defaults[key];
    }
  }

  /** The refine strength, only for a strategy that refines (coarse or auto). */
  showRefine() {
    const tiles = this.refines() === false;
    for (const el of this.root.querySelectorAll("[data-refines]")) el.hidden = tiles;
  }

  /** Whether the chosen strategy refines a coarse picture (undefined without the control). */
  refines() {
    const el = this.controls.get("strategy");
    return el ? el.value !== "tiles" : undefined;
  }

  /** Which of prompt, negative prompt, steps, guidance and strength the chosen painter uses. */
  uses() { return this.described(this.painter())?.uses || USABLE; }

  /** What a painter uses and its defaults: its own, or those of its chosen model's family. */
  described(painter) { return this.families[painter] || this.info[painter]; }

  /** `painter` paints with a model of the family `info` (`{uses, defaults, window}`), or
   *  (null) with its own model: the settings shown, their defaults and the window follow. */
  useFamily(painter, info) {
    this.families[painter] = info || null;
    if (painter === this.painter()) { this.followWindow(); this.showUsed(); }
  }

  /** `fn(painter)` gives params a job adds (e.g. `{model}`). */
  contribute(fn) { this.contributors.push(fn); }

  /** The window defaults to the chosen painter's native size (a model's training size). */
  followWindow() {
    const el = this.controls.get("window"), native = this.families[this.painter()]?.window || this.windows[this.painter()];
    if (!el || !native || ![...el.options].some((o) => o.value === String(native))) return;
    this.defaults.window = String(native);
    if (!("window" in this.saved)) el.value = String(native);
  }

  /** The chosen painter, or "" before the server said which it offers. */
  painter() { return this.controls.get("painter")?.value || ""; }

  /** A control's value as stored: text, or true/false for a checkbox. */
  raw(el) { return el.type === "checkbox" ? el.checked : el.value; }
  setRaw(el, value) { if (el.type === "checkbox") el.checked = Boolean(value); else el.value = value; }

  save() {
    // Merged into what was saved: other painters' options (and the painter, before the
    // server offers any) stay.
    const shown = [...this.controls].filter(([key, el]) => !(key === "painter" && el.options.length === 0)
      && !(PAINTER_DEFAULTS.includes(key) && !(key in this.saved)) && !PER_PAINTER.includes(key));
    this.saved = { ...this.saved, ...Object.fromEntries(shown.map(([key, el]) => [key, this.raw(el)])) };
    localStorage.setItem(this.storageKey, JSON.stringify(this.saved));
  }

  reset() {
    this.saved = {};
    for (const [key, el] of this.controls) this.setRaw(el, this.defaults[key]);
    this.showOptions();
    this.showRefine();
    this.save();
    this.onchange(null);
  }

  set(key, value) {
    this.setRaw(this.controls.get(key), typeof value === "boolean" ? value : String(value));
    if (key === "strategy") this.showRefine();
    if (PER_PAINTER.includes(key) && this.painter()) this.saved[`${this.painter()}:${key}`] = String(value);
    this.save();
    this.onchange(key);
  }

  /** One setting in its type: number inputs as numbers (NaN-free), the rest as text. */
  value(key) {
    const el = this.controls.get(key);
    if (!el) return undefined;
    const kind = el.dataset.kind;
    if (el.type === "checkbox") return el.checked;
    if (kind === "int" || kind === "float") {
      const n = kind === "int" ? parseInt(el.value, 10) : parseFloat(el.value);
      const fallback = kind === "int" ? parseInt(this.defaults[key], 10) : parseFloat(this.defaults[key]);
      let v = Number.isFinite(n) ? n : fallback;
      if (el.hasAttribute("min")) v = Math.max(Number(el.getAttribute("min")), v);
      if (el.hasAttribute("max")) v = Math.min(Number(el.getAttribute("max")), v);
      return v;
    }
    return el.value;
  }

  /** The job parameters, as the protocol's `params`. */
  params() {
    const params = {}, uses = this.uses();
    // What the painter does not use is left out (the server fills in the painter's defaults).
    for (const key of JOB_KEYS) {
      if (this.controls.has(key) && (!USABLE.includes(key) || uses.includes(key))) params[key] = this.value(key);
    }
    if (this.refines() === false) delete params.refine_strength;  // tiles refine nothing
    const painter = this.painter();
    if (painter) {
      params.painter = painter;
      for (const name of Object.keys(this.options[painter] || {})) params[name] = this.value(`${painter}:${name}`);
      for (const fn of this.contributors) Object.assign(params, fn(painter));
    }
    params.feather = Math.min(params.feather ?? 0, params.pad ?? 0);
    params.auto_accept = params.candidates === 1;
    return params;
  }
}
