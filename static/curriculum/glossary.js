// The glossary's filter box: hides the terms (and letters) that do not match what is typed,
// matching the term, its aliases and its short explanation. Without JavaScript the page is
// the full list, as before.
(function () {
  "use strict";
  function normalise(text) {
    return text.toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "").replace(/\s+/g, " ").trim();
  }
  function init() {
    const input = document.querySelector("[data-glossary-filter]");
    if (!input) return;
    const status = document.getElementById("glossary-count");
    const entries = Array.from(document.querySelectorAll(".glossary-entry")).map(function (el) {
      const dt = el.querySelector("dt"), short = el.querySelector(".glossary-short");
      return { el: el, text: normalise((dt ? dt.textContent : "") + " " + (short ? short.textContent : "")) };
    });
    const sections = Array.from(document.querySelectorAll(".glossary-letter"));
    const nav = document.querySelector(".az");
    function apply() {
      const query = normalise(input.value);
      let shown = 0;
      entries.forEach(function (entry) {
        const match = !query || entry.text.indexOf(query) !== -1;
        entry.el.hidden = !match;
        if (match) shown += 1;
      });
      sections.forEach(function (section) {
        section.hidden = !section.querySelector(".glossary-entry:not([hidden])");
      });
      if (nav) nav.hidden = Boolean(query);
      status.textContent = query ? (shown ? shown + " of " + entries.length + " terms match." : "No term matches \u201c" + input.value + "\u201d. Try a shorter word, or search the whole course.") : "";
    }
    input.addEventListener("input", apply);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { input.value = ""; apply(); }
    });
    if (input.value) apply();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
