/**
 * The zoom video: asked of the server with the panel's settings, rendered there (its
 * progress comes back as `video.progress`), then downloaded from the URL in `video.done`.
 *
 *   const video = new Video(conn, panel, toast);   // toast(text, bad, replacing) -> the toast shown
 *   video.make();
 */

const $ = (id) => document.getElementById(id);

export class Video {
  constructor(conn, panel, toast) {
    this.conn = conn;
    this.panel = panel;
    this.toast = toast;
    this.running = null;  // the id of the video being made
    conn.on("video.progress", (m) => this.progress(m));
    conn.on("video.done", (m) => this.done(m));
    conn.on("video.failed", (m) => this.failed(m));
  }

  async make() {
    if (this.running) return;
    const [width, height] = String(this.panel.value("video_size")).split("x").map(Number);
    const message = {
      type: "video", width, height, fps: this.panel.value("video_fps"), duration: this.panel.value("video_seconds"),
      easing: this.panel.value("video_easing"), direction: this.panel.value("video_direction"),
      format: this.panel.value("video_format"),
    };
    try {
      const ok = await this.conn.request(message);
      this.running = ok.video;
      this.show(0);
      this.making = this.toast("Making the zoom video…");
    } catch (err) {
      this.toast(`No video: ${err.message}`, true);
    }
  }

  show(fraction) {
    const bar = $("video-progress");
    bar.hidden = fraction === null;
    if (fraction !== null) bar.value = fraction;
    $("video").disabled = fraction !== null;
  }

  progress(m) { if (m.video === this.running) this.show(m.frame / m.frames); }

  done(m) {
    if (m.video !== this.running) return;
    this.running = null;
    this.show(null);
    this.toast(`Zoom video ready: ${m.frames} frames, ${(m.bytes / 1e6).toFixed(1)} MB.`, false, this.making);
    const a = document.createElement("a");
    a.href = m.url;
    a.download = "";
    document.body.append(a);
    a.click();
    a.remove();
  }

  failed(m) {
    if (m.video !== this.running) return;
    this.running = null;
    this.show(null);
    this.toast(`The video failed: ${m.reason}`, true, this.making);
  }
}
