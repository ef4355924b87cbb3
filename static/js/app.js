// Site-wide behaviour. Pages work without it; this only adds polish.
// CSRF for htmx requests is sent by the hx-headers attribute on <body>.
document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  const box = document.querySelector(".messages") || (() => {
    const el = document.createElement("div");
    el.className = "messages"; el.setAttribute("role", "status"); el.setAttribute("aria-live", "polite");
    document.getElementById("main").prepend(el);
    return el;
  })();
  const p = document.createElement("p");
  p.className = "message error";
  p.textContent = status >= 500 ? "Something went wrong on our side. Please try again." : "That did not work - check the form and try again.";
  box.replaceChildren(p);
});

// Sizes computed on the server (roadmap segments, metric bars) come as data attributes:
// the Content-Security-Policy forbids style attributes, and CSSOM writes are allowed.
// htmx.onLoad runs for the page and for every fragment htmx or its websocket swaps in.
const applySizes = (root) => {
  const scope = root.querySelectorAll ? root : document;
  const nodes = [...(root.matches && root.matches("[data-pct],[data-grow]") ? [root] : []),
    ...scope.querySelectorAll("[data-pct],[data-grow]")];
  for (const el of nodes) {
    const pct = Number(el.dataset.pct);
    if (el.dataset.pct !== undefined && Number.isFinite(pct)) {
      el.style.setProperty("--pct", `${Math.min(100, Math.max(0, pct))}%`);
    }
    const grow = Number(el.dataset.grow);
    if (el.dataset.grow !== undefined && Number.isFinite(grow) && grow > 0) el.style.flexGrow = String(grow);
  }
};
if (window.htmx) htmx.onLoad(applySizes);
else document.addEventListener("DOMContentLoaded", () => applySizes(document));
