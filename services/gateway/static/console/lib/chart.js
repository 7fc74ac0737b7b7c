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
