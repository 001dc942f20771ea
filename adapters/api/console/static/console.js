// Live updates of the console: a container with data-live-url is refreshed in place while the
// page is open and visible; with data-stamp-url it is fetched again only when the stamp changes.
"use strict";
(function () {
  const box = document.getElementById("live");
  if (!box || !box.dataset.liveUrl) { return; }
  const every = Number(box.dataset.every || 2000);
  let stamp = null;
  async function text(url) {
    const r = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (r.redirected || !r.ok) { throw new Error("HTTP " + r.status); }
    return r.text();
  }
  async function tick() {
    if (document.hidden) { setTimeout(tick, every); return; } // a hidden tab asks nothing
    try {
      if (box.dataset.stampUrl) {
        const now = await text(box.dataset.stampUrl);
        if (now === stamp) { return; }
        const first = stamp === null;
        stamp = now;
        if (first) { return; }
      }
      const html = await text(box.dataset.liveUrl);
      if (html !== box.innerHTML) { box.innerHTML = html; }
      box.dataset.updated = String(Date.now());
    } catch (e) {
      box.dataset.error = String(e);
    } finally {
      setTimeout(tick, every);
    }
  }
  setTimeout(tick, 0);
})();
