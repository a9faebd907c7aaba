// The report's trace viewer: draws the chosen run's power, GPU temperature and SM clock as SVG.
// Each run's trace is a script under traces/ (written by orchestrator/report/traces.py) that calls
// window.campTrace(key, trace); it is loaded when its run is first picked, so the page stays small
// however many runs the campaign has, and works from file:// with no server and no network.
(function () {
  "use strict";
  const viewer = document.getElementById("trace-viewer");
  if (!viewer) return;
  const select = viewer.querySelector("select");
  const plot = viewer.querySelector(".trace-plot");
  const status = viewer.querySelector(".trace-status");
  const palette = JSON.parse(viewer.dataset.palette);
  const SVG = "http://www.w3.org/2000/svg";
  const PANELS = [
    ["power_w", "Power (W)"],
    ["temperature_c", "Temperature (°C)"],
    ["sm_clock_mhz", "SM clock (MHz)"],
  ];
  const WIDTH = 760, PANEL = 150, LEFT = 64, RIGHT = 150, TOP = 18, BOTTOM = 34;
  const loaded = {};

  window.campTrace = function (key, trace) {
    loaded[key] = trace;
    if (select.value === key) draw(key);
  };

  function node(name, attrs, parent, text) {
    const element = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) element.setAttribute(k, String(v));
    if (text !== undefined) element.textContent = text;
    parent.appendChild(element);
    return element;
  }

  function niceTicks(lo, hi, count) {
    const span = hi - lo || 1;
    const raw = span / count;
    const step = [1, 2, 5, 10].map((m) => m * 10 ** Math.floor(Math.log10(raw))).find((s) => s >= raw);
    const ticks = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(+v.toFixed(6));
    return ticks;
  }

  function extent(values) {
    const finite = values.filter((v) => v !== null && Number.isFinite(v));
    return finite.length ? [Math.min(...finite), Math.max(...finite)] : null;
  }

  function draw(key) {
    const trace = loaded[key];
    const panels = PANELS.filter(([column]) => trace.devices.some((d) => d[column]));
    const times = extent(trace.devices.flatMap((d) => d.t).concat(trace.window.filter((v) => v !== null)));
    plot.replaceChildren();
    if (!times || !panels.length) {
      status.textContent = "This run's trace has no samples to draw.";
      plot.dataset.key = key;
      return;
    }
    const height = TOP + panels.length * PANEL + BOTTOM;
    const svg = node("svg", { viewBox: `0 0 ${WIDTH} ${height}`, width: "100%", role: "img" }, plot);
    node("title", {}, svg, select.selectedOptions[0].textContent);
    const plotWidth = WIDTH - LEFT - RIGHT;
    const x = (t) => LEFT + ((t - times[0]) / (times[1] - times[0] || 1)) * plotWidth;
    panels.forEach(([column, label], p) => {
      const top = TOP + p * PANEL, bottom = top + PANEL - 22;
      let range = extent(trace.devices.flatMap((d) => d[column] || []));
      const floor = column === "power_w" ? 0 : range[0] - (range[1] - range[0]) * 0.1 - 1;
      range = [Math.max(0, floor), range[1] + (range[1] - range[0]) * 0.1 + 1];
      if (column === "power_w" && trace.baseline_w !== null) range[1] = Math.max(range[1], trace.baseline_w * 1.1);
      const y = (v) => bottom - ((v - range[0]) / (range[1] - range[0])) * (bottom - top);
      const [start, end] = trace.window;
      if (start !== null && end !== null) {
        node("rect", { x: x(start), y: top, width: Math.max(1, x(end) - x(start)), height: bottom - top,
          fill: palette[0], "fill-opacity": 0.12, class: "window" }, svg);
      }
      for (const tick of niceTicks(range[0], range[1], 4)) {
        node("line", { x1: LEFT, x2: LEFT + plotWidth, y1: y(tick), y2: y(tick), stroke: "#ddd" }, svg);
        node("text", { x: LEFT - 6, y: y(tick) + 4, "text-anchor": "end", class: "tick" }, svg, String(tick));
      }
      node("text", { x: LEFT, y: top - 5, class: "label" }, svg, label);
      if (column === "power_w" && trace.baseline_w !== null) {
        node("line", { x1: LEFT, x2: LEFT + plotWidth, y1: y(trace.baseline_w), y2: y(trace.baseline_w),
          stroke: "#555", "stroke-dasharray": "2 3", class: "baseline" }, svg);
        node("text", { x: LEFT + plotWidth + 6, y: y(trace.baseline_w) + 4, class: "tick" }, svg,
          `idle baseline ${trace.baseline_w.toFixed(1)} W`);
      }
      trace.devices.forEach((device, i) => {
        const values = device[column];
        if (!values) return;
        let path = "", pen = "M";
        values.forEach((v, k) => {
          if (v === null) { pen = "M"; return; }
          path += `${pen}${x(device.t[k]).toFixed(1)},${y(v).toFixed(1)}`;
          pen = "L";
        });
        node("path", { d: path, fill: "none", stroke: palette[i % palette.length], "stroke-width": 1.3,
          class: "series" }, svg);
        if (p === 0 && trace.devices.length > 1) {
          node("text", { x: LEFT + plotWidth + 6, y: top + 12 + 14 * i, fill: palette[i % palette.length],
            class: "tick" }, svg, device.device);
        }
      });
    });
    const axis = TOP + panels.length * PANEL - 22;
    for (const tick of niceTicks(times[0], times[1], 8)) {
      node("text", { x: x(tick), y: axis + 16, "text-anchor": "middle", class: "tick" }, svg, String(tick));
    }
    node("text", { x: LEFT + plotWidth / 2, y: axis + 30, "text-anchor": "middle", class: "label" }, svg,
      "Time (s, sampler clock)");
    const samples = trace.devices.reduce((n, d) => n + d.t.length, 0);
    status.textContent = `${select.selectedOptions[0].textContent}: ${samples} samples drawn.`;
    plot.dataset.key = key;
  }

  function show() {
    const key = select.value;
    if (loaded[key]) {
      draw(key);
      return;
    }
    status.textContent = "Loading the trace…";
    const script = document.createElement("script");
    script.src = select.selectedOptions[0].dataset.src;
    script.onerror = function () {
      status.textContent = `The trace file ${script.src} is missing: run camp report again.`;
    };
    document.head.appendChild(script);
  }

  select.addEventListener("change", show);
  show();
})();
