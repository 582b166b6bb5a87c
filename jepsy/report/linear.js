// jepsy report: the linearizability view, in the spirit of Porcupine's
// visualizer. One row per process; each op a box between its invocation and
// its completion, spaced by event order (not real time) so that concurrent
// ops stay readable. The partial linearization the checker found is drawn as
// numbered linearization points joined in order; the op that cannot be placed
// is red, the concurrent ops that might still have taken effect amber.
"use strict";
J.linearView = function (host, D, views) {
  if (!views.length) { return; }
  var pick = J.el("div", { "class": "toolbar" }), body = J.el("div");
  J.append(host, [views.length > 1 ? pick : null, body]);
  function show(k) {
    body.textContent = "";
    Array.prototype.forEach.call(pick.children, function (b, j) { b.classList.toggle("on", j === k); });
    J.linearOne(body, D, views[k]);
  }
  views.forEach(function (v, k) {
    pick.appendChild(J.el("button", { onclick: function () { show(k); } }, v.key === null ? "history" : "key " + v.key));
  });
  show(0);
};

J.opLabel = function (ops, r, view) {
  if (view && view.labels && view.labels[r] !== undefined) { return view.labels[r]; }
  var f = ops.fs[ops.f[r]], v = ops.strings[ops.val[r]], out = ops.out[r] >= 0 ? ops.strings[ops.out[r]] : null;
  return f + " " + v + (out !== null ? " → " + out : "") + (ops.type[r] === 2 || ops.type[r] === 3 ? " ?" : "");
};

J.linearOne = function (host, D, view) {
  var ops = D.ops, ex = view.explanation || {}, rows = view.rows.filter(function (r) { return r >= 0; });
  var order = {}, role = {};
  view.prefix.forEach(function (r, k) { if (r >= 0) { order[r] = k; role[r] = "prefix"; } });
  view.candidates.forEach(function (r) { if (r >= 0) { role[r] = "candidate"; } });
  if (view.stuck >= 0) { role[view.stuck] = "stuck"; }
  var stuckOp = ex.op || {};
  J.append(host, J.el("div", { "class": "explanation", text: ex.text || "This key is not linearizable." }));
  // Faults in force while the stuck op and its concurrent ops ran.
  var span = [view.stuck].concat(view.candidates).filter(function (r) { return r >= 0; });
  if (span.length) {
    var lo = Math.min.apply(null, span.map(function (r) { return ops.t0[r]; }));
    var hi = Math.max.apply(null, span.map(function (r) { return ops.t1[r] >= 0 ? ops.t1[r] : Infinity; }));
    var active = J.faultsDuring(lo, hi);
    host.appendChild(J.el("p", null, "Faults in force around it: ",
      active.length ? active.map(function (p) {
        return J.el("span", { "class": "pill", text: p.kind + (p.targets ? ": " + p.targets : "") + " (" + J.fmtTime(p.start) + " – " + (p.end === null ? "end" : J.fmtTime(p.end)) + ")" });
      }) : J.el("span", { "class": "muted", text: "none" })));
  }
  var focusRows = view.prefix.concat(view.candidates, [view.stuck]).filter(function (r) { return r >= 0; });
  host.appendChild(J.el("div", { "class": "toolbar" },
    J.el("button", { onclick: function () { J.timeline && J.timeline.focus(focusRows.length ? focusRows : rows, view.stuck); } }, "show on the timeline"),
    J.el("span", { "class": "hint", text: "hover an operation: the model state after it; numbers give the order of the partial linearization" })));
  if (!rows.length) { host.appendChild(J.rawDetails("explanation data", ex)); return; }

  // Event order, not real time: invocations and completions in order, each box
  // as wide as its label needs, idle time squeezed out.
  var events = [];
  rows.forEach(function (r) { events.push([ops.t0[r], 1, r]); if (ops.t1[r] >= 0) { events.push([ops.t1[r], 0, r]); } });
  events.sort(function (a, b) { return a[0] - b[0] || a[1] - b[1]; });
  var procs = [], laneOf = {};
  rows.forEach(function (r) { if (!(ops.proc[r] in laneOf)) { laneOf[ops.proc[r]] = procs.length; procs.push(ops.proc[r]); } });
  procs.sort(function (a, b) { return a - b; });
  procs.forEach(function (p, k) { laneOf[p] = k; });
  var L = 8, laneH = 40, top = 14, x = L, startX = {}, endX = {}, labelOf = {};
  events.forEach(function (e) {
    var r = e[2];
    if (e[1] === 1) { x += 10; startX[r] = x; labelOf[r] = J.opLabel(ops, r, view); return; }
    var need = Math.min(30, labelOf[r].length) * 6.4 + 12;
    x = Math.max(x + 6, startX[r] + need); endX[r] = x;
  });
  var W = x + 40, H = top + procs.length * laneH + 10;
  var svg = J.el("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "partial linearization" });
  // Process names in their own column, so they stay in view when the ops scroll.
  var names = J.el("svg", { width: 52, height: H, viewBox: "0 0 52 " + H, "class": "lanes" });
  procs.forEach(function (p, k) {
    [svg, names].forEach(function (g) {
      g.appendChild(J.el("rect", { x: 0, y: top + k * laneH, width: W, height: laneH, fill: k % 2 ? "#fff" : "#f5f7fa" }));
    });
    names.appendChild(J.el("text", { x: 8, y: top + k * laneH + laneH / 2 + 4, "font-size": 12, fill: "#667085", text: "p" + p }));
  });
  var STYLE = { prefix: ["#e3f4e6", "#2e7d32"], stuck: ["#fde4e2", "#c62828"], candidate: ["#fdf0d5", "#b7791f"], other: ["#eef1f6", "#98a2b3"] };
  var boxes = {};
  rows.forEach(function (r) {
    var x0 = startX[r], x1 = endX[r] !== undefined ? endX[r] : W - 6;
    var y = top + laneOf[ops.proc[r]] * laneH + 9, h = laneH - 14, ro = role[r] || "other", st = STYLE[ro];
    boxes[r] = [x0, x1, y, h];
    var g = J.el("g", { "class": "lin-op" });
    g.appendChild(J.el("rect", { x: x0, y: y, width: Math.max(6, x1 - x0), height: h, rx: 3, fill: st[0], stroke: st[1],
      "stroke-width": ro === "stuck" ? 2.4 : 1.2, "stroke-dasharray": ops.t1[r] < 0 || ops.type[r] === 2 ? "4 3" : null,
      opacity: ops.type[r] === 1 ? 0.45 : 1 }));
    var label = labelOf[r], maxChars = Math.floor((x1 - x0 - 8) / 6.2);
    if (maxChars >= 3) {
      g.appendChild(J.el("text", { x: x0 + 5, y: y + h / 2 + 5, "font-size": 11, fill: "#1d2330",
        text: label.length > maxChars ? label.slice(0, maxChars - 1) + "…" : label }));
    }
    g.addEventListener("mousemove", function (e) { J.tip(e, J.linearTip(D, view, r, ro, order[r])); });
    g.addEventListener("mouseleave", function (e) { J.tip(e, null); });
    g.addEventListener("click", function () { J.timeline && J.timeline.focus([r], r); });
    svg.appendChild(g);
  });
  // Linearization points: each as early as its op and the previous point allow.
  var pts = [], prev = -Infinity;
  view.prefix.forEach(function (r, k) {
    if (!boxes[r]) { return; }
    var b = boxes[r], x = Math.min(b[1] - 4, Math.max(prev + 2, b[0] + 6));
    prev = x; pts.push([x, b[2], k]);
  });
  if (pts.length > 1) {
    svg.appendChild(J.el("polyline", { points: pts.map(function (p) { return p[0] + "," + p[1]; }).join(" "),
      fill: "none", stroke: "#2e7d32", "stroke-width": 1.5, opacity: 0.7 }));
  }
  if (view.stuck >= 0 && boxes[view.stuck]) {
    var sb = boxes[view.stuck], sx = Math.max(prev + 2, sb[0] + 6), sy = sb[2];
    if (pts.length) {
      var lp = pts[pts.length - 1];
      svg.appendChild(J.el("line", { x1: lp[0], y1: lp[1], x2: sx, y2: sy, stroke: "#c62828", "stroke-width": 1.5, "stroke-dasharray": "4 3" }));
    }
    svg.appendChild(J.el("path", { d: "M" + (sx - 5) + " " + (sy - 5) + "l10 10m0 -10l-10 10", stroke: "#c62828", "stroke-width": 2.5 }));
  }
  pts.forEach(function (p) {
    svg.appendChild(J.el("circle", { cx: p[0], cy: p[1], r: 7, fill: "#2e7d32", stroke: "#fff", "stroke-width": 1.5 }));
    svg.appendChild(J.el("text", { x: p[0], y: p[1] + 3.5, "font-size": 9, fill: "#fff", "text-anchor": "middle", text: String(p[2] + 1) }));
  });
  var scroll = J.el("div", { "class": "svg-scroll", style: "flex:1;border:0;border-radius:0" }, svg);
  host.appendChild(J.el("div", { "class": "svg-scroll", style: "display:flex;overflow:hidden" }, names, scroll));
  var legend = J.el("div", { "class": "legend" });
  [["prefix", "in the partial linearization"], ["stuck", "cannot be linearized"], ["candidate", "concurrent, could still take effect"], ["other", "other ops of this key (fail: faded)"]].forEach(function (x) {
    legend.appendChild(J.el("span", null, J.el("span", { "class": "sw", style: "background:" + STYLE[x[0]][0] + ";border:1px solid " + STYLE[x[0]][1] }), x[1]));
  });
  host.appendChild(legend);
  if (view.stuck >= 0 && boxes[view.stuck]) {
    setTimeout(function () { scroll.scrollLeft = Math.max(0, boxes[view.stuck][0] - scroll.clientWidth * 0.7); }, 0);
  }
  J.linearSteps(host, D, view, stuckOp);
};

J.linearTip = function (D, view, r, ro, k) {
  var ops = D.ops, ex = view.explanation || {}, lines = [J.opLabel(ops, r, view) + "   (" + J.opLabel(ops, r) + ")", "process " + ops.proc[r] + ", " + J.TYPE_NAMES[ops.type[r]] +
    ", invoked " + J.fmtTime(ops.t0[r]) + (ops.t1[r] >= 0 ? ", completed " + J.fmtTime(ops.t1[r]) : ", never completed")];
  if (ro === "prefix") {
    lines.push("step " + (k + 1) + " of the partial linearization");
    var st = view.states_after && view.states_after[k];
    lines.push(st ? "model state after it: " + st.text : "(model states not available)");
  } else if (ro === "stuck") {
    lines.push("cannot be linearized here", "the model could only " + (ex.state_descriptions || []).join(" or ") + " before it");
  } else if (ro === "candidate") {
    (ex.candidates || []).forEach(function (c) {
      if (c.op && c.op.index === ops.inv[r]) {
        (c.outcomes || []).forEach(function (o) {
          lines.push("from " + JSON.stringify(o.state) + ": " + (o.legal ? "legal, giving " + JSON.stringify(o.new_state) : "not legal"));
        });
      }
    });
    lines.push("concurrent with the stuck op: it could still take effect before it");
  } else if (ops.type[r] === 1) {
    lines.push("failed: it did not happen, so the checker ignores it");
  } else {
    lines.push("not in the longest partial linearization found");
  }
  lines.push("click: show on the timeline");
  return lines;
};

J.linearSteps = function (host, D, view, stuckOp) {
  var ops = D.ops, table = J.el("table", { "class": "grid" }), prefix = view.prefix, from = Math.max(0, prefix.length - 60);
  table.appendChild(J.el("tr", null, J.el("th", { text: "#" }), J.el("th", { text: "operation" }), J.el("th", { text: "process" }),
    J.el("th", { text: "history op" }), J.el("th", { text: "model state after" })));
  for (var k = from; k < prefix.length; k++) {
    var r = prefix[k], st = view.states_after && view.states_after[k];
    table.appendChild(J.el("tr", null, J.el("td", { "class": "num", text: String(k + 1) }),
      J.el("td", { "class": "mono", text: r >= 0 ? J.opLabel(ops, r, view) : "?" }), J.el("td", { text: r >= 0 ? String(ops.proc[r]) : "" }),
      J.el("td", null, r >= 0 ? J.opLink(ops.inv[r]) : ""), J.el("td", { "class": "mono", text: st ? st.text : "" })));
  }
  var ex = view.explanation || {};
  table.appendChild(J.el("tr", null, J.el("td", { "class": "num problem", text: "✕" }),
    J.el("td", { "class": "mono problem", text: stuckOp.description || (view.stuck >= 0 ? J.opLabel(ops, view.stuck) : "?") }),
    J.el("td", { text: stuckOp.process !== undefined ? String(stuckOp.process) : "" }),
    J.el("td", null, stuckOp.index !== undefined ? J.opLink(stuckOp.index) : ""),
    J.el("td", { "class": "mono problem", text: "cannot be placed; states before it: " + (ex.state_descriptions || []).join(", ") })));
  J.append(host, [J.el("h4", { text: "The partial linearization" + (from ? " (last 60 of " + prefix.length + " steps)" : "") }), table,
    J.rawDetails("explanation data", ex)]);
};
