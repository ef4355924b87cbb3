// Ask the guide: stream the answer as it is written (server-sent events over a POST), and fall
// back to the plain form post (htmx or a page load) when streaming is not available.
(function () {
  "use strict";
  const form = document.getElementById("tutor-form");
  if (!form || !window.fetch || !window.TextDecoder) return;
  const turns = document.getElementById("tutor-turns");
  const errorBox = document.getElementById("tutor-error");
  const button = form.querySelector("button[type=submit]");

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorBox.textContent = "";
    button.disabled = true;
    const live = document.createElement("article");
    live.className = "tutor-turn streaming";
    const heading = document.createElement("h3");
    heading.textContent = form.question.value;
    const answer = document.createElement("p");
    answer.className = "tutor-answer";
    answer.textContent = "Finding the passages…";
    live.append(heading, answer);
    turns.append(live);
    try {
      const response = await fetch(form.dataset.streamUrl, {
        method: "POST", body: new FormData(form), headers: { Accept: "text/event-stream" },
      });
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        live.remove();
        errorBox.textContent = body.detail || "The guide could not answer (HTTP " + response.status + ").";
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      let text = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const kind = (block.match(/^event: (.*)$/m) || [])[1];
          const data = JSON.parse((block.match(/^data: (.*)$/m) || [, "{}"])[1]);
          if (kind === "start") answer.textContent = "Writing…";
          if (kind === "delta") { text += data.text; answer.textContent = text; }
          if (kind === "replace") { text = data.text; answer.textContent = text; }
          if (kind === "done") {
            live.outerHTML = data.html;
            let hidden = form.querySelector("input[name=conversation]");
            if (!hidden) {
              hidden = document.createElement("input");
              hidden.type = "hidden"; hidden.name = "conversation";
              form.prepend(hidden);
            }
            hidden.value = data.conversation;
            history.replaceState(null, "", "?c=" + data.conversation);
            form.question.value = "";
          }
        }
      }
    } catch (err) {
      live.remove();
      errorBox.textContent = "The connection dropped before the answer finished. Try again.";
    } finally {
      button.disabled = false;
    }
  });
})();
