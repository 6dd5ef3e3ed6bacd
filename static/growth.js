/**
 * Jobs of several stages from the panel: zoom out around the frame (each step a ring at
 * a coarser level, with prompts that change from a step on), and grow the whole picture
 * to a size or ratio (the headshot-to-full-body preset, prompts along the way).
 *
 *   const growth = new Growth(panel, (message) => app.run(message));
 *   growth.zoomOut(frameRect);   growth.grow();
 */

/** "3: a village" lines into {"3": "a village"}; a line without a step number is an error. */
export function parseSchedule(text) {
  const schedule = {};
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const match = /^(\d+)\s*:\s*(.*)$/.exec(line);
    if (!match || Number(match[1]) < 1) throw new Error(`"${line}" is not STEP: PROMPT, like "3: a village in the valley"`);
    schedule[String(Number(match[1]))] = match[2];
  }
  return schedule;
}

export class Growth {
  constructor(panel, run) {
    this.panel = panel;
    this.run = run;  // sends a job command with the panel's params; returns its answer or null
  }

  zoomOut(frame) {
    const schedule = parseSchedule(this.panel.value("zoom_schedule") || "");
    return this.run({
      type: "zoomout", ...frame.box(), steps: this.panel.value("zoom_steps"),
      factor: this.panel.value("zoom_factor"), schedule,
    });
  }

  grow() {
    const to = this.panel.value("grow_to");
    const prompts = (this.panel.value("grow_prompts") || "").split("\n").map((l) => l.trim()).filter(Boolean);
    const message = { type: "grow", anchor: this.panel.value("grow_anchor"), prompts };
    if (to === "full-body") Object.assign(message, { preset: "full-body", anchor: "top" });
    else if (to === "size") Object.assign(message, { width: this.panel.value("grow_width"), height: this.panel.value("grow_height") });
    else {
      const [w, h] = to.split(":").map(Number);
      message.aspect = w / h;
    }
    return this.run(message);
  }
}
