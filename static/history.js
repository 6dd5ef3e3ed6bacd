/**
 * The history list: every revision with its kind, status and the parameters it was made
 * with, the head marked, undone revisions dimmed. Fed by `history.changed`.
 *
 *   const history = new HistoryList(document.getElementById("history"));
 *   history.show({ head: 3, revisions: [...] });
 */

// The family (a diffusion painter's: "flux-fill", "sdxl") says which kind of model painted it.
// The strategy is recorded only when it is not tiles (coarse, auto).
// The model by its library name (a path given to --model: by its last part), and the LoRAs used.
const SHOWN = ["prompt", "seed", "steps", "painter", "model", "family", "loras", "window", "strategy", "candidates", "source"];

function shown(key, value) {
  if (key === "prompt") return `“${String(value).slice(0, 40)}”`;
  if (key === "model" && /^([a-z]:)?[\\/]/i.test(String(value))) return `model ${String(value).split(/[\\/]/).filter(Boolean).pop()}`;
  if (key === "loras" && value && typeof value === "object") return `LoRA ${Object.keys(value).join(", ")}`;
  return `${key} ${value}`;
}

function describe(params) {
  const parts = [];
  for (const key of SHOWN) {
    if (params[key] === undefined || params[key] === "") continue;
    parts.push(shown(key, params[key]));
  }
  return parts.join(" · ") || "no parameters";
}

export class HistoryList {
  constructor(element) {
    this.element = element;
    this.head = 0;
    this.revisions = [];
  }

  show({ head, revisions }) {
    this.head = head;
    this.revisions = revisions;
    const items = [...revisions].reverse().map((rev) => {
      const li = document.createElement("li");
      li.dataset.rev = rev.rev;
      li.classList.toggle("head", rev.rev === head);
      li.classList.toggle("undone", rev.rev > head || !rev.active);
      const what = document.createElement("div");
      what.className = "what";
      const title = document.createElement("span");
      title.textContent = `#${rev.rev} ${rev.kind}`;
      const status = document.createElement("span");
      status.className = "muted";
      status.textContent = rev.rev > head ? "undone" : rev.status;
      what.append(title, status);
      const params = document.createElement("div");
      params.className = "params";
      params.textContent = describe({ ...rev.params, ...(rev.info && rev.info.source ? { source: rev.info.source } : {}) });
      li.title = JSON.stringify(rev.params, null, 1);
      li.append(what, params);
      return li;
    });
    this.element.replaceChildren(...items);
    if (!items.length) {
      const empty = document.createElement("li");
      empty.className = "muted";
      empty.textContent = "Nothing yet: upload an image or generate.";
      this.element.append(empty);
    }
  }
}
