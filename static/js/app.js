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
