/**
 * The canvas picker in the top bar: the server's canvases, to switch to (a link to
 * `?canvas=NAME`), create, rename and delete. The default canvas cannot be renamed or
 * deleted (the server refuses with `default_canvas`), so its actions are disabled.
 * Names are checked as the server checks them; a refusal shows the server's message.
 *
 *   <div id="picker"> <button id="canvas-button"><span id="canvas-name"></span></button>
 *     <div id="canvas-menu" hidden> <ul id="canvas-list"></ul> <form id="canvas-create">
 *       <input id="canvas-new"> </form> <p id="canvas-error"></p> </div> </div>
 *   const picker = new CanvasPicker(document.getElementById("picker"), "default");
 *   await picker.open();                      // lists the canvases, focuses the current one
 */

/** As the server's `canvases.NAME`: 1 to 64 letters, digits, `_` or `-`, starting with a letter or digit. */
export const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
export const NAME_RULE = "A name is 1 to 64 letters, digits, “_” or “-”, starting with a letter or digit.";

/** fetch, then the JSON answer (null for 204); rejects with the server's error message. */
export async function fetchJson(url, options = {}) {
  const response = await fetch(url, options);
  if (response.status === 204) return null;
  let body = null;
  try { body = await response.json(); } catch { /* not JSON: the status says it */ }
  if (!response.ok) throw new Error(body && body.error ? body.error.message : `${response.status} ${response.statusText}`);
  return body;
}

/** Open a canvas in this page; no name: the server's default canvas. */
export function openCanvas(name) {
  location.assign(name ? `?canvas=${encodeURIComponent(name)}` : location.pathname);
}

function sendJson(method, url, body) {
  return fetchJson(url, { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

function size(bytes) {
  if (bytes < 1024 * 1024) return `${Math.max(1, Math.round(bytes / 1024))} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function element(tag, props = {}, ...children) {
  const el = Object.assign(document.createElement(tag), props);
  el.append(...children);
  return el;
}

const API = "/api/canvases";

export class CanvasPicker {
  constructor(root, current) {
    this.root = root;
    this.current = current;
    this.canvases = [];      // [{name, default, bytes, modified}], as the server lists them
    this.editing = null;     // {name, mode: "rename" | "delete"}: the row asking for more
    this.button = root.querySelector("#canvas-button");
    this.menu = root.querySelector("#canvas-menu");
    this.list = root.querySelector("#canvas-list");
    this.form = root.querySelector("#canvas-create");
    this.input = root.querySelector("#canvas-new");
    this.error = root.querySelector("#canvas-error");
    root.querySelector("#canvas-name").textContent = current;
    document.title = `${current} · Boundless`;
    this.listen();
  }

  get isOpen() { return !this.menu.hidden; }

  async open() {
    this.menu.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    this.say("");
    await this.refresh();
    (this.list.querySelector("a[aria-current]") || this.input).focus();
  }

  close(focusButton = true) {
    if (!this.isOpen) return;
    this.menu.hidden = true;
    this.editing = null;
    this.button.setAttribute("aria-expanded", "false");
    if (focusButton) this.button.focus();
  }

  async refresh() {
    try {
      this.canvases = (await fetchJson(API)).canvases;
    } catch (err) {
      this.say(`Could not list the canvases: ${err.message}`);
    }
    this.render();
  }

  /** An error line under the list (empty: hidden). */
  say(text) {
    this.error.textContent = text;
    this.error.hidden = !text;
  }

  render() {
    const rows = this.canvases.map((c) => {
      const mode = this.editing && this.editing.name === c.name ? this.editing.mode : null;
      return mode ? this.editRow(c, mode) : this.row(c);
    });
    this.list.replaceChildren(...rows);
  }

  row(c) {
    const link = element("a", { href: `?canvas=${encodeURIComponent(c.name)}`, className: "picker-name" }, c.name);
    if (c.name === this.current) link.setAttribute("aria-current", "page");
    const meta = element("span", { className: "muted picker-meta" }, [c.default ? "default" : "", size(c.bytes)].filter(Boolean).join(" · "));
    const fixed = c.default ? "The default canvas cannot be renamed or deleted" : "";
    const rename = element("button", { type: "button", className: "icon", textContent: "✎", disabled: c.default, title: fixed || `Rename ${c.name}` });
    const remove = element("button", { type: "button", className: "icon", textContent: "✕", disabled: c.default, title: fixed || `Delete ${c.name}` });
    rename.setAttribute("aria-label", `Rename ${c.name}`);
    remove.setAttribute("aria-label", `Delete ${c.name}`);
    rename.dataset.action = "rename";
    remove.dataset.action = "delete";
    rename.onclick = () => this.edit(c.name, "rename");
    remove.onclick = () => this.edit(c.name, "delete");
    return element("li", { className: c.name === this.current ? "current" : "" }, link, meta, rename, remove);
  }

  /** A row asking for the new name, or for a confirmation before deleting. */
  editRow(c, mode) {
    const li = element("li", { className: `editing ${mode}` });
    const cancel = element("button", { type: "button", textContent: mode === "rename" ? "Cancel" : "Keep" });
    cancel.onclick = () => this.edit(null);
    if (mode === "delete") {
      const yes = element("button", { type: "button", className: "danger", textContent: "Delete" });
      yes.onclick = () => this.remove(c.name);
      li.append(element("span", { className: "picker-question" }, `Delete “${c.name}”? This cannot be undone.`), yes, cancel);
      return li;
    }
    const input = element("input", { value: c.name, maxLength: 64, autocomplete: "off", spellcheck: false });
    input.setAttribute("aria-label", `New name for ${c.name}`);
    const save = element("button", { type: "submit", className: "primary", textContent: "Rename" });
    const form = element("form", { className: "inline", noValidate: true }, input, save, cancel);
    form.onsubmit = (event) => { event.preventDefault(); this.rename(c.name, input.value.trim()); };
    li.append(form);
    return li;
  }

  /** Show `name`'s row in `mode` ("rename", "delete"), or no row (null); focus what it asks. */
  edit(name, mode = null) {
    const was = this.editing;
    this.editing = name === null ? null : { name, mode };
    this.say("");
    this.render();
    // The field or the safe answer; back to the row's button once it is answered.
    const row = this.rowOf(name === null ? was && was.name : name);
    const target = row && row.querySelector(this.editing ? (mode === "rename" ? "input" : "button:not(.danger)") : `[data-action="${was && was.mode}"]`);
    if (target) { target.focus(); if (target.select) target.select(); }
  }

  rowOf(name) { return this.list.children[this.canvases.findIndex((c) => c.name === name)] || null; }

  /** The name if it is valid, else null with the rule said. */
  valid(name) {
    if (NAME.test(name)) return name;
    this.say(name ? `“${name}” is not a valid name. ${NAME_RULE}` : `Type a name. ${NAME_RULE}`);
    return null;
  }

  async create(name) {
    if (!this.valid(name)) return;
    try {
      await sendJson("POST", API, { name });
      openCanvas(name);
    } catch (err) {
      this.say(err.message);
    }
  }

  async rename(old, name) {
    if (name === old) { this.edit(null); return; }
    if (!this.valid(name)) return;
    try {
      await sendJson("PATCH", `${API}/${encodeURIComponent(old)}`, { name });
      moveSaved(old, name);
      if (old === this.current) { openCanvas(name); return; }
      this.editing = null;
      await this.refresh();
    } catch (err) {
      this.say(err.message);
    }
  }

  async remove(name) {
    try {
      await fetchJson(`${API}/${encodeURIComponent(name)}`, { method: "DELETE" });
      moveSaved(name, null);
      if (name === this.current) { openCanvas(null); return; }
      this.editing = null;
      await this.refresh();
      this.input.focus();
    } catch (err) {
      this.say(err.message);
    }
  }

  listen() {
    this.button.onclick = () => (this.isOpen ? this.close() : this.open());
    this.form.onsubmit = (event) => { event.preventDefault(); this.create(this.input.value.trim()); };
    // The menu owns the keyboard while it has the focus: the canvas's shortcuts wait.
    this.menu.addEventListener("keydown", (event) => {
      event.stopPropagation();
      if (event.key === "Escape") {
        event.preventDefault();
        if (this.editing) this.edit(null); else this.close();
      } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (event.target.matches("li.editing input")) return;
        event.preventDefault();
        this.moveFocus(event.key === "ArrowDown" ? 1 : -1);
      }
    });
    document.addEventListener("pointerdown", (event) => {
      if (this.isOpen && !this.root.contains(event.target)) this.close(false);
    });
  }

  /** Up and down through the canvases' links and the new name's field. */
  moveFocus(delta) {
    const stops = [...this.list.querySelectorAll("a"), this.input];
    const at = stops.indexOf(document.activeElement);
    const next = at < 0 ? (delta > 0 ? 0 : stops.length - 1) : (at + delta + stops.length) % stops.length;
    stops[next].focus();
  }
}

/** Carry the settings a page keeps per canvas (`boundless.NAME.*`) to its new name, or drop them. */
function moveSaved(old, name) {
  const prefix = `boundless.${old}.`;
  for (const key of Object.keys(localStorage)) {
    if (!key.startsWith(prefix)) continue;
    if (name) localStorage.setItem(`boundless.${name}.${key.slice(prefix.length)}`, localStorage.getItem(key));
    localStorage.removeItem(key);
  }
}
