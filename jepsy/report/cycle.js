// jepsy report: transactional anomalies. A cycle is drawn as a ring of
// transactions with an arrow for each dependency, coloured by kind, with the
// reason on hover and listed below; then the transactions themselves.
"use strict";
J.EDGE_COLORS = { ww: "#c62828", wr: "#2f6fdb", rw: "#8e44ad", process: "#5f6368", realtime: "#1e8e3e" };
J.edgeColor = function (kind) {
  var k = String(kind || "").replace(/[-_ ].*$/, "");
  return J.EDGE_COLORS[k] || "#e8710a";
};

J.anomalyView = function (host, result) {
  var anomalies = result.anomalies || {}, types = Object.keys(anomalies), counts = result.anomaly_counts || {};
  if (result.not || result.also_not) {
    host.appendChild(J.el("p", null, "Ruled out: ", (result.not || []).map(function (m) { return J.el("span", { "class": "pill", text: m }); }),
      (result.also_not || []).length ? J.el("span", { "class": "muted", text: " and therefore also " + result.also_not.join(", ") }) : null));
  }
  if (!types.length) { host.appendChild(J.el("p", { "class": "muted", text: "No anomaly found." })); return; }
  types.forEach(function (type) {
    var list = Array.isArray(anomalies[type]) ? anomalies[type] : [anomalies[type]];
    var box = J.el("div", { "class": "anomaly" });
    box.appendChild(J.el("h3", { text: type + " — " + (counts[type] || list.length) + " found" + (list.length < (counts[type] || 0) ? ", " + list.length + " shown" : "") }));
    list.forEach(function (inst, k) {
      var part = k < 3 ? box : null;
      if (!part) {
        if (!box.more) { box.more = J.el("details", null, J.el("summary", { text: (list.length - 3) + " more " + type })); box.appendChild(box.more); }
        part = box.more;
      }
      J.anomalyInstance(part, inst);
    });
    host.appendChild(box);
  });
};

J.anomalyInstance = function (host, inst) {
  if (!inst || typeof inst !== "object") { host.appendChild(J.el("pre", { "class": "json", text: J.jsonText(inst) })); return; }
  if (inst.text) { host.appendChild(J.el("div", { "class": "explanation", text: inst.text })); }
  var txns = Array.isArray(inst.txns) ? inst.txns : [], edges = Array.isArray(inst.edges) ? inst.edges : [];
  if (txns.length && edges.length) {
    host.appendChild(J.cycleGraph(txns, edges));
    var ol = J.el("ol", { "class": "faults-list" });
    edges.forEach(function (e) {
      ol.appendChild(J.el("li", null, J.el("span", { "class": "pill", style: "color:#fff;background:" + J.edgeColor(e.kind), text: String(e.kind) }),
        "T" + e.from + " → T" + e.to + ": ", e.text || ""));
    });
    host.appendChild(ol);
  }
  if (txns.length) {
    var t = J.el("table", { "class": "grid" });
    t.appendChild(J.el("tr", null, ["txn", "process", "outcome", "history op", "micro-ops"].map(function (h) { return J.el("th", { text: h }); })));
    txns.forEach(function (x) {
      t.appendChild(J.el("tr", null, J.el("td", { text: "T" + x.id }), J.el("td", { text: String(x.process) }), J.el("td", { text: String(x.type || "") }),
        J.el("td", null, typeof x.op === "number" ? J.opLink(x.op) : ""), J.el("td", { "class": "mops", text: J.mopsText(x.value) })));
    });
    host.appendChild(t);
  }
  if (!txns.length && typeof inst.op === "number") {
    host.appendChild(J.el("p", null, J.opLink(inst.op, "show op " + inst.op + " on the timeline"),
      typeof inst.txn === "number" ? J.el("span", { "class": "muted", text: " (T" + inst.txn + ")" }) : null));
  }
  var rest = {};
  Object.keys(inst).forEach(function (k) { if (["text", "txns", "edges"].indexOf(k) < 0) { rest[k] = inst[k]; } });
  host.appendChild(J.rawDetails("data", txns.length ? rest : inst));
};

J.mopsText = function (mops) {
  if (!Array.isArray(mops)) { return J.jsonText(mops); }
  return mops.map(function (m) {
    if (!Array.isArray(m)) { return JSON.stringify(m); }
    return m.map(function (x) { return typeof x === "string" ? x : JSON.stringify(x); }).join(" ");
  }).join("; ");
};

J.cycleGraph = function (txns, edges) {
  var n = txns.length, R = n <= 2 ? 90 : Math.min(220, 70 + 28 * n), W = 2 * R + 280, H = 2 * R + 110, cx = W / 2, cy = H / 2;
  var pos = {}, svg = J.el("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "dependency cycle" });
  var defs = J.el("defs");
  Object.keys(J.EDGE_COLORS).concat(["other"]).forEach(function (k) {
    defs.appendChild(J.el("marker", { id: "arrow-" + k, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      J.el("path", { d: "M0 0L10 5L0 10z", fill: J.EDGE_COLORS[k] || "#e8710a" })));
  });
  svg.appendChild(defs);
  txns.forEach(function (t, k) {
    var a = -Math.PI / 2 + 2 * Math.PI * k / n;
    pos[t.id] = [cx + R * Math.cos(a), cy + R * Math.sin(a)];
  });
  var BW = 96, BH = 40;
  edges.forEach(function (e, k) {
    var a = pos[e.from], b = pos[e.to];
    if (!a || !b) { return; }
    var dx = b[0] - a[0], dy = b[1] - a[1], len = Math.sqrt(dx * dx + dy * dy) || 1;
    // bow each edge outwards from the centre so that opposite edges do not overlap
    var mx = (a[0] + b[0]) / 2, my = (a[1] + b[1]) / 2, ox = mx - cx, oy = my - cy, ol = Math.sqrt(ox * ox + oy * oy) || 1;
    // two nodes: the reversed edge has the opposite normal, so one sign puts them on both sides
    var bow = n === 2 ? 50 : 26, qx = mx + (n === 2 ? -dy / len : ox / ol) * bow, qy = my + (n === 2 ? dx / len : oy / ol) * bow;
    var clip = function (p, q) { // leave the box around a node
      var vx = q[0] - p[0], vy = q[1] - p[1], s = Math.min(Math.abs((BW / 2 + 4) / (vx || 1e-9)), Math.abs((BH / 2 + 4) / (vy || 1e-9)));
      return [p[0] + vx * Math.min(s, 0.9), p[1] + vy * Math.min(s, 0.9)];
    };
    var s = clip(a, [qx, qy]), t = clip(b, [qx, qy]);
    var kind = String(e.kind || "").replace(/[-_ ].*$/, ""), color = J.edgeColor(e.kind);
    var g = J.el("g", { "class": "edge" });
    g.appendChild(J.el("path", { d: "M" + s[0] + " " + s[1] + "Q" + qx + " " + qy + " " + t[0] + " " + t[1], fill: "none", stroke: color,
      "stroke-width": 2.2, "stroke-dasharray": e.via_process ? "5 3" : null, "marker-end": "url(#arrow-" + (J.EDGE_COLORS[kind] ? kind : "other") + ")" }));
    g.appendChild(J.el("path", { d: "M" + s[0] + " " + s[1] + "Q" + qx + " " + qy + " " + t[0] + " " + t[1], fill: "none", stroke: "transparent", "stroke-width": 14 }));
    var lx = 0.25 * s[0] + 0.5 * qx + 0.25 * t[0], ly = 0.25 * s[1] + 0.5 * qy + 0.25 * t[1];
    g.appendChild(J.el("rect", { x: lx - 26, y: ly - 10, width: 52, height: 18, rx: 9, fill: "#fff", stroke: color }));
    g.appendChild(J.el("text", { x: lx, y: ly + 3.5, "text-anchor": "middle", "font-size": 11, fill: color, "font-weight": 600, text: String(e.kind) }));
    g.addEventListener("mousemove", function (ev) { J.tip(ev, ["T" + e.from + " → T" + e.to + " (" + e.kind + ")", e.text || ""]); });
    g.addEventListener("mouseleave", function (ev) { J.tip(ev, null); });
    svg.appendChild(g);
  });
  txns.forEach(function (t) {
    var p = pos[t.id], g = J.el("g", { "class": "lin-op" });
    g.appendChild(J.el("rect", { x: p[0] - BW / 2, y: p[1] - BH / 2, width: BW, height: BH, rx: 6, fill: "#fff", stroke: "#1d2330", "stroke-width": 1.4 }));
    g.appendChild(J.el("text", { x: p[0], y: p[1] - 3, "text-anchor": "middle", "font-size": 13, "font-weight": 700, fill: "#1d2330", text: "T" + t.id }));
    g.appendChild(J.el("text", { x: p[0], y: p[1] + 13, "text-anchor": "middle", "font-size": 10.5, fill: "#667085", text: "p" + t.process + " · op " + t.op }));
    g.addEventListener("mousemove", function (ev) { J.tip(ev, ["T" + t.id + ": process " + t.process + ", " + t.type + ", history op " + t.op, J.mopsText(t.value)]); });
    g.addEventListener("mouseleave", function (ev) { J.tip(ev, null); });
    g.addEventListener("click", function () { J.focusHistoryIndex(t.op); });
    svg.appendChild(g);
  });
  return J.el("div", { "class": "svg-scroll cycle-box" }, svg);
};
