// Glossary tooltips and code-block copy buttons for rendered articles.
// Without this script the tooltips still open on hover and keyboard focus (CSS); the
// script adds Escape to dismiss, tap-to-open on touch screens, edge-aware placement and
// the copy buttons.
(() => {
  "use strict";
  let lastPointer = "mouse";

  const wrapOf = (el) => el && el.closest ? el.closest(".term-wrap") : null;

  function place(wrap) {
    // Flip the tooltip to the left edge of the term when it would leave the viewport.
    const tip = wrap.querySelector(".term-tip");
    if (!tip) return;
    wrap.classList.remove("tip-flip");
    const room = document.documentElement.clientWidth - wrap.getBoundingClientRect().left;
    if (room < Math.min(352, tip.offsetWidth || 352) + 16) wrap.classList.add("tip-flip");
  }

  function closeAll(except) {
    document.querySelectorAll(".term-wrap.is-open").forEach((w) => { if (w !== except) w.classList.remove("is-open"); });
  }

  document.addEventListener("pointerdown", (event) => {
    lastPointer = event.pointerType || "mouse";
    if (!wrapOf(event.target)) closeAll(null);
  }, true);

  document.addEventListener("mouseover", (event) => {
    const wrap = wrapOf(event.target);
    if (wrap) { wrap.classList.remove("is-dismissed"); place(wrap); }
  });
  document.addEventListener("mouseout", (event) => {
    const wrap = wrapOf(event.target);
    if (wrap && !wrap.contains(event.relatedTarget)) wrap.classList.remove("is-dismissed");
  });
  document.addEventListener("focusin", (event) => {
    const wrap = wrapOf(event.target);
    if (wrap) { wrap.classList.remove("is-dismissed"); place(wrap); }
  });
  document.addEventListener("focusout", (event) => {
    const wrap = wrapOf(event.target);
    if (wrap && !wrap.contains(event.relatedTarget)) wrap.classList.remove("is-dismissed", "is-open");
  });

  // Touch: the first tap shows the explanation, a second tap follows the link.
  document.addEventListener("click", (event) => {
    const term = event.target.closest ? event.target.closest("a.term") : null;
    if (!term || lastPointer !== "touch") return;
    const wrap = wrapOf(term);
    if (!wrap.classList.contains("is-open")) {
      event.preventDefault();
      closeAll(wrap);
      wrap.classList.remove("is-dismissed");
      wrap.classList.add("is-open");
      place(wrap);
    }
  });

  // Escape hides whatever tooltip is showing (WCAG 1.4.13) without moving focus.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    document.querySelectorAll(".term-wrap").forEach((wrap) => {
      if (wrap.matches(":hover, :focus-within, .is-open")) {
        wrap.classList.add("is-dismissed");
        wrap.classList.remove("is-open");
      }
    });
  });

  // --- Copy buttons on code blocks ------------------------------------------------------
  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }

  function addCopyButtons(root) {
    root.querySelectorAll(".article-body pre").forEach((pre) => {
      const box = pre.closest(".highlight") || pre;
      if (box.querySelector(":scope > .copy-btn")) return;
      box.classList.add("has-copy");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "copy-btn small secondary";
      button.textContent = "Copy";
      button.setAttribute("aria-label", "Copy code to clipboard");
      button.addEventListener("click", async () => {
        try {
          await copyText(pre.innerText.replace(/\n$/, ""));
          button.textContent = "Copied";
        } catch (err) {
          button.textContent = "Press Ctrl+C";
        }
        setTimeout(() => { button.textContent = "Copy"; }, 2000);
      });
      box.appendChild(button);
    });
  }

  const ready = () => addCopyButtons(document);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
  // The author's live preview arrives through htmx: enhance it too.
  document.addEventListener("htmx:afterSwap", (event) => addCopyButtons(event.target.parentNode || document));
})();
