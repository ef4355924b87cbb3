// The comparison page: one uPlot chart per metric with run A and run B overlaid (A solid,
// B dashed, the same colours as the A/B tags). Axis styling and the legend follow the live
// job page (labs/job.js). Without this script the page still has the tables and a summary
// of each curve in words.
(function () {
  "use strict";
  const COLORS = { a: ["#4b3fd6", "#7468f0"], b: ["#c2410c", "#e07a45"] };
  const dark = () => window.matchMedia("(prefers-color-scheme: dark)").matches;
  const fmtValue = (v) => (v == null ? "" : String(Number.isInteger(v) ? v : Number(v.toPrecision(4))));
  function latest(values) {
    for (let i = values.length - 1; i >= 0; i--) if (values[i] != null) return values[i];
    return null;
  }
  // The hovered point's value, else the run's last one.
  const legendValue = (u, v, sidx, idx) => fmtValue(idx == null ? latest(u.data[sidx] || []) : v);

  function chartData(runs) {
    const steps = new Set();
    const maps = {};
    for (const run of ["a", "b"]) {
      maps[run] = new Map((runs[run] || []).map(([step, value]) => [step, value]));
      for (const step of maps[run].keys()) steps.add(step);
    }
    const xs = Array.from(steps).sort((x, y) => x - y);
    return [xs, ...["a", "b"].map((run) => xs.map((x) => (maps[run].has(x) ? maps[run].get(x) : null)))];
  }

  const charts = [];
  function draw(box) {
    const source = document.getElementById(box.dataset.source);
    if (!source) return;
    const runs = JSON.parse(source.textContent || "{}");
    const css = getComputedStyle(document.documentElement);
    const ink = css.getPropertyValue("--muted").trim() || "#5b6170";
    const rule = css.getPropertyValue("--border").trim() || "#dfe2ea";
    const axis = (label) => ({ label, stroke: ink, grid: { stroke: rule, width: 1 }, ticks: { stroke: rule, width: 1 } });
    const shade = dark() ? 1 : 0;
    const line = (run, dash) => ({
      label: `run ${run.toUpperCase()}`, stroke: COLORS[run][shade], width: 2, spanGaps: true, dash,
      points: { show: (runs[run] || []).length < 30 }, value: legendValue,
    });
    box.textContent = "";
    const chart = new uPlot({
      width: Math.max(240, box.clientWidth), height: 240,
      scales: {
        x: { time: false, range: (u, min, max) => (min == null ? [0, 10] : [min, max > min ? max : min + 1]) },
        y: { range: (u, min, max) => (min == null ? [0, 1] : uPlot.rangeNum(min, max, 0.1, true)) },
      },
      axes: [axis("step"), axis(box.dataset.metric || "value")],
      series: [{ label: "step", value: legendValue }, line("a", undefined), line("b", [6, 4])],
    }, chartData(runs), box);
    charts.push({ box, chart });
  }

  function drawAll() {
    if (!window.uPlot) return;
    while (charts.length) charts.pop().chart.destroy();
    document.querySelectorAll(".compare-chart[data-source]").forEach(draw);
  }
  window.addEventListener("load", drawAll);
  // Colours come from the theme: redraw when it switches.
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", drawAll);
  window.addEventListener("resize", () => {
    for (const { box, chart } of charts) chart.setSize({ width: Math.max(240, box.clientWidth), height: 240 });
  });
})();
