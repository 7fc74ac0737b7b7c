// Hand-made SVG bar charts. The picture is decorative for screen readers beyond its
// title and summary; the same numbers are always given as a table next to it.

import { h, newId, table } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// bars: [{label, value (number, for the height), text (what to print)}]; labelHeading
// names the table's first column.
export function barChart({ title, summary, bars, valueLabel = "Value", labelHeading = "Period" }) {
  const titleId = newId("chart-title");
  const descId = newId("chart-desc");
  const width = 640;
  const height = 300;
  const pad = { top: 28, right: 16, bottom: 44, left: 16 };
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;
  const max = Math.max(...bars.map((b) => b.value), 0);
  const slot = innerW / Math.max(bars.length, 1);
  const barW = Math.min(96, slot * 0.6);
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": `${titleId} ${descId}`,
    class: "chart", preserveAspectRatio: "xMidYMid meet",
  }, s("title", { id: titleId }, title), s("desc", { id: descId }, summary));
  for (let i = 0; i <= 4; i++) {
    const y = pad.top + innerH - (innerH * i) / 4;
    svg.append(s("line", { x1: pad.left, x2: width - pad.right, y1: y, y2: y, class: "grid" }));
  }
  // Many bars leave no room for each figure above its bar: the table has them all.
  const figures = bars.every((b) => String(b.text).length * 7.5 <= slot);
  const every = Math.max(1, ...bars.map((b) => Math.ceil((String(b.label).length * 8) / slot)));
  bars.forEach((b, i) => {
    const barH = max > 0 ? Math.max((b.value / max) * innerH, b.value > 0 ? 2 : 0) : 0;
    const x = pad.left + slot * i + (slot - barW) / 2;
    const y = pad.top + innerH - barH;
    svg.append(
      s("rect", { x, y, width: barW, height: barH, rx: 3, class: `bar bar-${i % 4}` }),
      ...(figures ? [s("text", { x: x + barW / 2, y: y - 8, "text-anchor": "middle", class: "bar-value" }, b.text)] : []),
      ...(i % every === 0 ? [s("text", { x: x + barW / 2, y: height - pad.bottom + 22, "text-anchor": "middle", class: "bar-label" }, b.label)] : []));
  });
  return h("figure", { class: "chart-figure" },
    h("figcaption", {}, title),
    svg,
    table({
      caption: `${title}: the numbers`,
      columns: [{ label: labelHeading, cell: (b) => b.label }, { label: valueLabel, cell: (b) => b.text, class: "num" }],
      rows: bars,
    }));
}

// The dashboard's series: one value per bucket of this period as bars, the previous
// period's value at the same place as a dashed line with square markers (told apart
// by shape and a legend, not colour alone). `stacked` splits each bar in two (completed
// under failed, the failed part striped). Sized to the room it has when drawn, so the
// text stays readable from 320 px up; the numbers themselves are in the table below.
// series: {title, summary, labels: [..], current: [n|[a, b]], previous: [n|null],
//          format(n) -> an axis label, integer (counts: whole-number axis lines), legend: {current, previous, stackedParts?: [a, b]}}
export function seriesChart({ title, summary, labels, current, previous, format, legend, width = 640, integer = false }) {
  const titleId = newId("chart-title");
  const descId = newId("chart-desc");
  const narrow = width < 480;
  const height = narrow ? 220 : 260;
  const font = 13;
  const total = (v) => (Array.isArray(v) ? v[0] + v[1] : v || 0);
  let max = Math.max(1, ...current.map(total), ...previous.map((v) => v || 0));
  if (integer) max = Math.max(2, Math.ceil(max / 2) * 2); // counts: the middle line is a whole number too
  // Room on the left for the longest axis figure (about 7.5 px a character at 13 px).
  const ticks = [0, 0.5, 1].map((f) => format(f === 0 ? 0 : max * f));
  const pad = { top: 16, right: 12, bottom: 30, left: 14 + Math.max(...ticks.map((t) => t.length)) * 7.5 };
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;
  const slot = innerW / Math.max(labels.length, 1);
  const barW = Math.max(1, Math.min(40, slot * 0.7));
  const y = (v) => pad.top + innerH - (v / max) * innerH;
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
    "aria-labelledby": `${titleId} ${descId}`, class: "chart series-chart",
  }, s("title", { id: titleId }, title), s("desc", { id: descId }, summary),
  s("defs", {}, s("pattern", { id: `${titleId}-stripes`, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
    s("rect", { width: 6, height: 6, class: "stripe-bg" }), s("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "stripe" }))));
  [0, 0.5, 1].forEach((f, i) => {
    const v = max * f;
    svg.append(s("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: "grid" }),
      s("text", { x: pad.left - 6, y: y(v) + 4, "text-anchor": "end", class: "axis-label", "font-size": font }, ticks[i]));
  });
  const every = Math.max(1, Math.ceil((Math.max(...labels.map((l) => String(l).length)) * 7.5 + 8) / slot));
  labels.forEach((label, i) => {
    const cx = pad.left + slot * i + slot / 2;
    const v = current[i];
    if (Array.isArray(v)) {
      const [a, b] = v;
      svg.append(s("rect", { x: cx - barW / 2, y: y(a), width: barW, height: y(0) - y(a), class: "bar-current" }),
        s("rect", { x: cx - barW / 2, y: y(a + b), width: barW, height: y(a) - y(a + b), class: "bar-failed", fill: `url(#${titleId}-stripes)` }));
    } else {
      svg.append(s("rect", { x: cx - barW / 2, y: y(v || 0), width: barW, height: y(0) - y(v || 0), class: "bar-current" }));
    }
    if (i % every === 0) {
      svg.append(s("text", { x: cx, y: height - 10, "text-anchor": "middle", class: "axis-label", "font-size": font }, label));
    }
  });
  // The previous period: a dashed line through square markers (a gap past its end).
  let path = "";
  previous.forEach((v, i) => {
    if (v === null || v === undefined) return;
    const cx = pad.left + slot * i + slot / 2;
    path += `${path && previous[i - 1] !== null && previous[i - 1] !== undefined ? "L" : "M"}${cx.toFixed(1)},${y(v).toFixed(1)} `;
    if (labels.length <= 62) svg.append(s("rect", { x: cx - 3.5, y: y(v) - 3.5, width: 7, height: 7, class: "prev-marker" }));
  });
  if (path) svg.insertBefore(s("path", { d: path.trim(), class: "prev-line" }), svg.querySelector(".prev-marker"));
  const key = (kind, text) => h("li", {}, h("span", { class: `key key-${kind}`, "aria-hidden": "true" }), text);
  return h("figure", { class: "chart-figure" },
    h("figcaption", {}, title),
    h("div", { class: "chart-scroll" }, svg),
    h("ul", { class: "legend", "aria-label": `Legend: ${title}` },
      legend.stackedParts
        ? [key("current", legend.stackedParts[0]), key("failed", legend.stackedParts[1])]
        : key("current", legend.current),
      key("previous", legend.previous)));
}
