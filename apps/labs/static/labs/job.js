// The live job page: keeps the last event seq (sent on every websocket (re)connect so the
// server resumes exactly there), follows the log unless you scrolled up, caps its length,
// ticks the clock and feeds the metric chart. The page works without it (it refreshes).
(function () {
  "use strict";
  const root = document.getElementById("labjob-live");
  if (!root) return;
  const MAX_LOG_LINES = 2000;
  let lastSeq = parseInt(root.dataset.lastSeq || "0", 10);
  let follow = true;

  const log = () => document.getElementById("labjob-log");
  const atBottom = (el) => el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
  function bindLog() {
    const el = log();
    if (!el || el.dataset.bound) return;
    el.dataset.bound = "1";
    el.addEventListener("scroll", () => { follow = atBottom(el); });
    el.scrollTop = el.scrollHeight;
  }

  // --- clock -----------------------------------------------------------------------------
  function pad(n) { return String(n).padStart(2, "0"); }
  function fmt(seconds) {
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return h ? `${h}:${pad(m)}:${pad(r)}` : `${pad(m)}:${pad(r)}`;
  }
  function tick() {
    const clock = document.getElementById("labjob-clock");
    if (!clock || !clock.dataset.started) return;
    const start = Date.parse(clock.dataset.started);
    const end = clock.dataset.finished ? Date.parse(clock.dataset.finished) : Date.now();
    let time = clock.querySelector("time");
    if (!time) { time = document.createElement("time"); clock.appendChild(time); }
    time.textContent = fmt((end - start) / 1000);
  }
  setInterval(tick, 1000);

  // --- chart (uPlot) ------------------------------------------------------------------------
  // Drawn from the first paint, axes and labels included, so an empty frame already says
  // what will appear ("loss" by "step"); points are added as they arrive. The legend shows
  // each series' latest value, or the value under the cursor while hovering, never "--".
  const COLORS = ["#4b3fd6", "#d6753f", "#137a3a", "#b3261e", "#0b7fa3"];
  const chartBox = document.getElementById("labjob-chart");
  const series = new Map();   // metric name -> Map(step -> value)
  // The metrics the lab declares come first, in its order ("*": whatever the code reports).
  for (const name of ((chartBox && chartBox.dataset.metrics) || "").split(",")) {
    if (name && name !== "*") series.set(name, new Map());
  }
  let chart = null, chartNames = [];

  function addPoints(points) {
    let fresh = false;
    for (const p of points) {
      if (typeof p.value !== "number" || typeof p.step !== "number") continue;
      if (!series.has(p.name)) { series.set(p.name, new Map()); fresh = true; }
      series.get(p.name).set(p.step, p.value);
    }
    return fresh;
  }
  const hasPoints = () => Array.from(series.values()).some((m) => m.size > 0);
  function chartData() {
    const steps = new Set();
    for (const m of series.values()) for (const s of m.keys()) steps.add(s);
    const xs = Array.from(steps).sort((a, b) => a - b);
    return [xs, ...chartNames.map((n) => xs.map((x) => (series.get(n).has(x) ? series.get(n).get(x) : null)))];
  }
  // "loss" and "val_loss" share one axis, called "loss". Metrics of different names share it
  // as "value": the legend names each line, and a list of names would not fit beside the axis.
  function yLabel(names) {
    const bases = new Set(names.map((n) => n.replace(/^(val|valid|train|test)_/, "")));
    return bases.size === 1 ? Array.from(bases)[0] : "value";
  }
  function latest(values) {
    for (let i = values.length - 1; i >= 0; i--) if (values[i] != null) return values[i];
    return null;
  }
  const fmtValue = (v) => (v == null ? "" : String(Number.isInteger(v) ? v : Number(v.toPrecision(4))));
  // Legend text: the hovered point's value, else the latest one ("" before the first point).
  const legendValue = (u, v, sidx, idx) => fmtValue(idx == null ? latest(u.data[sidx] || []) : v);

  function drawChart() {
    if (!chartBox || !window.uPlot) return;
    if (hasPoints()) {
      const empty = document.getElementById("labjob-chart-empty");
      if (empty) empty.textContent = "";
    }
    const names = Array.from(series.keys());
    if (!chart || names.join("\n") !== chartNames.join("\n")) {
      chartNames = names;
      if (chart) chart.destroy();
      const css = getComputedStyle(document.documentElement);
      const ink = css.getPropertyValue("--muted").trim() || "#5b6170";
      const rule = css.getPropertyValue("--border").trim() || "#dfe2ea";
      const axis = (label) => ({ label, stroke: ink, grid: { stroke: rule, width: 1 }, ticks: { stroke: rule, width: 1 } });
      chart = new uPlot({
        width: Math.max(240, chartBox.clientWidth), height: 240,
        scales: {
          // Until the first point there is no data range: draw a plain 0..10 by 0..1 frame.
          x: { time: false, range: (u, min, max) => (min == null ? [0, 10] : [min, max > min ? max : min + 1]) },
          y: { range: (u, min, max) => (min == null ? [0, 1] : uPlot.rangeNum(min, max, 0.1, true)) },
        },
        axes: [axis("step"), axis(yLabel(names))],
        series: [
          { label: "step", value: legendValue },
          ...names.map((n, i) => ({
            label: n, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true,
            points: { show: n.startsWith("val") }, value: legendValue,
          })),
        ],
      }, chartData(), chartBox);
    } else {
      chart.setData(chartData());
    }
  }
  const initial = document.getElementById("labjob-chart-data");
  if (initial) { addPoints(JSON.parse(initial.textContent || "[]")); }
  window.addEventListener("load", drawChart);
  // Axis and grid colours come from the theme: redraw when it switches (light <-> dark).
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    if (chart) { chart.destroy(); chart = null; drawChart(); }
  });
  window.addEventListener("resize", () => { if (chart && chartBox) chart.setSize({ width: chartBox.clientWidth, height: 240 }); });

  // --- websocket ----------------------------------------------------------------------------
  const conn = (text) => { const el = document.getElementById("labjob-conn"); if (el) el.textContent = text; };
  const FINAL = ["succeeded", "failed", "cancelled", "timed_out"];
  const resyncAfterMs = () => parseInt(root.dataset.resyncMs || "20000", 10);
  let socket = null;
  let lastMessageAt = Date.now();
  const jobEnded = () => FINAL.includes((document.getElementById("labjob-cursor") || {}).dataset?.status);
  document.body.addEventListener("htmx:wsOpen", (event) => {
    // First message on every (re)connect: resume after the last event this page has.
    socket = event.detail.socketWrapper;
    socket.sendImmediately(JSON.stringify({ after: lastSeq }));
    lastMessageAt = Date.now();
    conn("live");
  });
  // A push can be lost without the socket closing (e.g. the very last one). When a running
  // job has been silent for a while, ask the server to replay from the database after our
  // last seq: it sends only what we miss, so a healthy page loses nothing by asking.
  setInterval(() => {
    if (socket && !jobEnded() && Date.now() - lastMessageAt > resyncAfterMs()) {
      socket.sendImmediately(JSON.stringify({ after: lastSeq }));
      lastMessageAt = Date.now();
    }
  }, 1000);
  document.body.addEventListener("htmx:wsClose", (event) => {
    const code = event.detail.event.code;
    socket = null;
    conn(code === 1000 ? "" : code === 4401 || code === 4403 || code === 4404 ? "live updates unavailable - reload the page" : "reconnecting...");
  });
  document.body.addEventListener("htmx:wsBeforeMessage", () => {
    const el = log();
    if (el) follow = atBottom(el);
  });
  document.body.addEventListener("htmx:wsAfterMessage", () => {
    lastMessageAt = Date.now();
    const cursor = document.getElementById("labjob-cursor");
    if (cursor) {
      const seq = parseInt(cursor.dataset.seq || "0", 10);
      if (seq > lastSeq) lastSeq = seq;
      root.dataset.lastSeq = String(lastSeq);
      if (addPoints(JSON.parse(cursor.dataset.points || "[]")) || cursor.dataset.points !== "[]") drawChart();
      const ended = FINAL.includes(cursor.dataset.status);
      if (ended && !hasPoints() && chartBox) {
        // Nothing was charted and nothing will be: give the log the full width.
        chartBox.closest("section").hidden = true;
        chartBox.closest(".labjob-grid").classList.remove("with-chart");
      }
    }
    const el = log();
    if (el) {
      while (el.children.length > MAX_LOG_LINES) el.removeChild(el.firstElementChild);
      if (follow) el.scrollTop = el.scrollHeight;
    }
    tick();
    bindCancel();
  });

  // --- cancel confirmation -----------------------------------------------------------------
  function bindCancel() {
    document.querySelectorAll("[data-open-dialog]").forEach((link) => {
      if (link.dataset.bound) return;
      link.dataset.bound = "1";
      link.addEventListener("click", (event) => {
        const dialog = document.getElementById(link.dataset.openDialog);
        if (!dialog || typeof dialog.showModal !== "function") return;  // falls back to the confirm page
        event.preventDefault();
        dialog.showModal();
      });
    });
  }
  bindLog();
  bindCancel();
  tick();
})();
