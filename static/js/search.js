// The search page (apps/core/templates/core/search.html).
// Arrow keys walk from the box through the result links (focus moves, so screen readers
// follow); Enter opens the focused link natively; Escape goes back to the box; "/" focuses it.
(() => {
  const input = document.getElementById("search-q");
  const results = document.getElementById("search-results");
  if (!input || !results) return;
  const links = () => Array.from(results.querySelectorAll("a[data-search-result]"));
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    const onInput = target === input;
    const onResult = target instanceof Element && target.matches("a[data-search-result]");
    if (event.key === "/" && !onInput && !(target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement)) {
      event.preventDefault(); input.focus(); input.select(); return;
    }
    if (!onInput && !onResult) return;
    const all = links();
    const index = onResult ? all.indexOf(target) : -1;
    if (event.key === "ArrowDown" && all.length) {
      event.preventDefault(); all[Math.min(index + 1, all.length - 1)].focus();
    } else if (event.key === "ArrowUp" && onResult) {
      event.preventDefault(); (index > 0 ? all[index - 1] : input).focus();
    } else if (event.key === "Escape" && onResult) {
      event.preventDefault(); input.focus();
    }
  });
})();
