// jepsy report: reads the embedded data and builds every section. Each
// section is drawn inside a guard: a failure shows in that section (and in
// #jepsy-errors, which the browser test reads) instead of blanking the page.
// <body data-rendered> lists the sections that were drawn.
"use strict";
J.section = function (id, title, build) {
  var s = J.el("section", { "class": "card", id: id }, J.el("h2", null, title));
  document.getElementById("main").appendChild(s);
  document.getElementById("nav").appendChild(J.el("a", { href: "#" + id, text: typeof title === "string" ? title : id }));
  try {
    build(s);
    var b = document.body;
    b.setAttribute("data-rendered", (b.getAttribute("data-rendered") + " " + id).trim());
  } catch (e) {
    J.reportError("section " + id, e);
    s.appendChild(J.el("div", { "class": "section-error", text: "This section could not be drawn: " + e }));
  }
  return s;
};

J.faultsDuring = function (t0, t1) {
  return (J.data.faults.periods || []).filter(function (p) {
    return p.start <= t1 && (p.end === null || p.end >= t0);
  });
};

J.focusHistoryIndex = function (index) {
  var ops = J.data.ops;
  for (var i = 0; i < ops.n; i++) {
    if (ops.inv[i] === index || ops.cmp[i] === index) { if (J.timeline) { J.timeline.focus([i], i); } return; }
  }
};

J.summary = function (s, D) {
  var S = D.summary || {}, kv = J.el("table", { "class": "kv" });
  var row = function (k, v) { if (v !== undefined && v !== null && v !== "") { kv.appendChild(J.el("tr", null, J.el("th", { text: k }), J.el("td", null, v))); } };
  row("verdict", J.verdict(S.valid));
  if (S.incomplete) { row("incomplete", J.el("span", { "class": "problem", text: S.incomplete })); }
  if (S.reproducer_of) { row("minimal reproducer", S.reproducer_of); }
  if (S.reason) { row("why unknown", J.el("span", { "class": "problem", text: S.reason })); }
  if (S.faults_missed) { row("faults done", S.faults_missed); }
  row("test", S.test); row("database", S.db); row("workload", S.workload);
  row("faults", Array.isArray(S.nemesis) ? S.nemesis.join(", ") : S.nemesis);
  row("nodes", Array.isArray(S.nodes) ? S.nodes.join(", ") : S.nodes);
  row("duration", S.duration); row("operations", S.operations); row("seed", S.seed == null ? null : String(S.seed));
  row("command line", S.command_line ? J.el("code", { text: S.command_line }) : null);
  row("versions", S.versions ? Object.keys(S.versions).map(function (k) { return k + " " + S.versions[k]; }).join(", ") : null);
  row("stored in", S.run_dir ? J.el("code", { text: S.run_dir }) : null);
  row("source", S.source ? J.el("code", { text: S.source }) : null);
  row("exit code", S.exit_code == null ? null : String(S.exit_code));
  row("report generated", D.generated);
  var checks = J.el("table", { "class": "grid" });
  checks.appendChild(J.el("tr", null, J.el("th", { text: "checker" }), J.el("th", { text: "verdict" }), J.el("th", { text: "what it found" })));
  (D.checkers || []).forEach(function (c) {
    checks.appendChild(J.el("tr", null, J.el("td", null, J.el("a", { href: "#checker-" + c.slug, text: c.name })), J.el("td", null, J.verdict(c.valid)), J.el("td", { text: c.headline })));
  });
  var right = J.el("div", null, J.el("h3", { text: "Checkers" }), checks);
  var st = S.stats && S.stats.by_f;
  if (st && typeof st === "object") {
    var t = J.el("table", { "class": "grid" });
    t.appendChild(J.el("tr", null, ["operation", "ok", "fail", "info"].map(function (h) { return J.el("th", { text: h }); })));
    Object.keys(st).forEach(function (f) {
      t.appendChild(J.el("tr", null, J.el("td", { text: f }), ["ok", "fail", "info"].map(function (k) { return J.el("td", { "class": "num", text: String(st[f][k] || 0) }); })));
    });
    J.append(right, [J.el("h3", { text: "Operations" }), t]);
  }
  if (S.timings && Object.keys(S.timings).length) {
    J.append(right, [J.el("h3", { text: "Timings" }), J.el("p", { "class": "muted", text: Object.keys(S.timings).map(function (k) { return k.replace(/_s$/, "") + " " + S.timings[k] + " s"; }).join(" · ") })]);
  }
  s.appendChild(J.el("div", { "class": "cols" }, J.el("div", null, kv), right));
  (D.problems || []).forEach(function (p) { s.appendChild(J.el("p", { "class": "problem", text: "report: " + p })); });
};

J.faultTable = function (s, D) {
  var periods = D.faults.periods || [], events = D.faults.events || [];
  if (!periods.length && !events.length) { s.appendChild(J.el("p", { "class": "muted", text: "No fault was injected in this run." })); return; }
  var head = function () {
    return J.el("tr", null, ["fault", "from", "to", "targets", "history ops"].map(function (h) { return J.el("th", { text: h }); }));
  };
  var rows = periods.map(function (p) {
    return J.el("tr", null, J.el("td", null, J.el("span", { "class": "sw", style: "display:inline-block;width:10px;height:10px;margin-right:6px;background:" + J.faultColor(p.kind) }), p.kind, p.error ? J.el("span", { "class": "problem", text: " (failed: " + p.error + ")" }) : null),
      J.el("td", { text: J.fmtTime(p.start) }), J.el("td", { text: p.end === null ? "never ended" : J.fmtTime(p.end) }),
      J.el("td", { "class": "mono", text: p.targets || "" }), J.el("td", null, J.opLink(p.start_index), p.end_index !== null ? [" – ", J.opLink(p.end_index)] : null));
  }).concat(events.map(function (e) {
    return J.el("tr", null, J.el("td", { text: e.f }), J.el("td", { text: J.fmtTime(e.t) }), J.el("td", { text: "" }), J.el("td", { "class": "mono", text: e.text }), J.el("td", null, J.opLink(e.index)));
  }));
  s.appendChild(J.el("p", { "class": "muted", text: periods.length + " fault periods, " + events.length + " other nemesis operations. A fault is shown from its request to the completion of the operation that ended it." }));
  s.appendChild(J.el("table", { "class": "grid" }, head(), rows.slice(0, 12)));
  if (rows.length > 12) {
    s.appendChild(J.el("details", null, J.el("summary", { text: (rows.length - 12) + " more" }), J.el("table", { "class": "grid" }, head(), rows.slice(12))));
  }
};

J.checkerSection = function (s, D, c) {
  var r = c.result || {};
  s.appendChild(J.el("p", { "class": "headline" }, J.verdict(c.valid), " ", c.headline));
  if (r.error) { s.appendChild(J.el("pre", { "class": "json problem", text: String(r.error) + (r.traceback ? "\n\n" + r.traceback : "") })); }
  var views = (D.linear || {})[c.name] || [];
  if (views.length) { J.linearView(s, D, views); }
  else if (c.kind === "linearizable" && r.text && c.valid !== false) { s.appendChild(J.el("p", { text: r.text })); }
  if (r.anomalies || r.anomaly_types) { J.anomalyView(s, r); }
  if (r.by_f && typeof r.by_f === "object" && !views.length) {
    s.appendChild(J.el("p", { "class": "muted", text: "Counts by operation are in the summary." }));
  }
  if (c.kind === "linearizable" && r.keys && typeof r.keys === "object") {
    var keys = Object.keys(r.keys), count = function (v) { return keys.filter(function (k) { return r.keys[k] && r.keys[k].valid === v; }).length; };
    var good = count(true), invalid = count(false), undecided = keys.length - good - invalid;
    s.appendChild(J.el("p", { "class": "muted", text: keys.length + " keys checked against the " + (r.model || "model") + ": " +
      good + " linearizable, " + invalid + " invalid, " + undecided + " undecided." }));
  }
  s.appendChild(J.rawDetails("full checker result (JSON)", r));
};

J.logs = function (s, D) {
  var logs = D.logs || [];
  if (!logs.length) { s.appendChild(J.el("p", { "class": "muted", text: "No node logs were collected for this run." })); return; }
  var ul = J.el("ul");
  logs.forEach(function (n) {
    ul.appendChild(J.el("li", null, J.el("b", { text: n.node + ": " }), n.files.map(function (f, k) {
      return [k ? " · " : "", J.el("a", { href: f.href, text: f.name })];
    })));
  });
  s.appendChild(ul);
  s.appendChild(J.el("p", { "class": "muted", text: "Links are relative to the run directory in the store (open this report from there, or through 'jepsy serve')." }));
};

J.main = function () {
  var D = JSON.parse(document.getElementById("jepsy-data").textContent);
  J.data = D; J.timeUnit = D.ops.time_unit; J.perSec = J.timeUnit === "ns" ? 1e9 : 1e6;
  J.section("summary", "Summary", function (s) { J.summary(s, D); });
  J.section("timeline", "Timeline", function (s) {
    s.appendChild(J.el("p", { "class": "muted", text: D.ops.n + " operations over " + D.ops.lanes.length + " " +
      (D.ops.lanes[0] && D.ops.lanes[0].indexOf("worker") === 0 ? "workers (a worker whose op crashed continues as a new process)" : "processes") +
      (D.ops.time_unit === "op" ? "; this history has no times, so positions in the history stand in for time" : "") + "." }));
    J.timeline = new J.Timeline(s, D);
  });
  J.section("faults", "Faults", function (s) { J.faultTable(s, D); });
  if (D.ops.time_unit === "op") {
    J.section("latency", "Latency and throughput", function (s) {
      s.appendChild(J.el("p", { "class": "muted", text: "This history records no times, so it has no latency or throughput to draw." }));
    });
  } else {
    J.section("latency", "Latency", function (s) { J.latencyChart(s, D); });
    J.section("throughput", "Throughput", function (s) { J.throughputChart(s, D); });
  }
  if (D.availability) {
    J.section("availability", "Availability", function (s) { J.availabilitySection(s, D); });
  }
  if (D.faults.clock && Object.keys(D.faults.clock).length) {
    J.section("clocks", "Clock offsets", function (s) { J.clockChart(s, D); });
  }
  (D.checkers || []).forEach(function (c) {
    J.section("checker-" + c.slug, "Checker: " + c.name, function (s) { J.checkerSection(s, D, c); });
  });
  J.section("logs", "Node logs", function (s) { J.logs(s, D); });
};

// With #jepsy-selftest in the URL, exercise the interactive parts once (the
// browser test cannot move a mouse with --dump-dom): timeline zoom and focus,
// tooltips on canvases and SVG shapes, key switching, op links. Any error
// lands in #jepsy-errors; <body data-selftest> says how far it got.
J.selfTest = function () {
  var fire = function (node, type) {
    var r = node.getBoundingClientRect();
    node.dispatchEvent(new MouseEvent(type, { bubbles: true, clientX: r.left + r.width / 2, clientY: r.top + Math.min(r.height / 2, 60), buttons: 0 }));
  };
  var steps = 0, step = function (name, fn) {
    try { fn(); steps++; } catch (e) { J.reportError("selftest " + name, e); }
  };
  step("timeline", function () {
    var t = J.timeline;
    t.zoom(0.5); t.zoom(2);
    if (t.ops.n) { t.focus([0, t.ops.n - 1], t.ops.n - 1); t.select(0); }
    fire(t.canvas, "mousemove"); fire(t.canvas, "click"); fire(t.canvas, "wheel");
  });
  step("charts", function () {
    Array.prototype.forEach.call(document.querySelectorAll("canvas"), function (c) { fire(c, "mousemove"); fire(c, "click"); });
  });
  step("svg", function () {
    Array.prototype.forEach.call(document.querySelectorAll(".lin-op, .edge"), function (g) { fire(g, "mousemove"); fire(g, "mouseleave"); });
  });
  step("buttons", function () {
    Array.prototype.forEach.call(document.querySelectorAll("section:not(#timeline) .toolbar button"), function (b) { b.click(); });
  });
  step("links", function () {
    var links = document.querySelectorAll("a.oplink");
    for (var i = 0; i < Math.min(links.length, 20); i++) { links[i].click(); }
  });
  step("zoom", J.zoomSelfTest);
  J.tip(null, null);
  document.body.setAttribute("data-selftest", steps === 6 ? "done" : "failed");
};

// The charts follow the timeline and steer it: zoom the timeline, drag across
// the first chart, double-click it; after each, every chart must show the
// timeline's window (the whole run: its own extent). <body data-zoomsync> says
// "ok N" (N charts followed) or what went wrong.
J.zoomSelfTest = function () {
  var t = J.timeline, body = document.body, problems = [];
  if (!t || !J.charts.length) { body.setAttribute("data-zoomsync", "no charts"); return; }
  var near = function (a, b) { return Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(t.tMax - t.tMin)); };
  var follows = function (what) {
    J.flushView();
    J.charts.forEach(function (c) {
      var o = c.plot().o, w = J.view || c.full;
      if (!near(o.x0, w[0]) || !near(o.x1, w[1])) { problems.push(c.name + " after " + what + ": " + o.x0 + ".." + o.x1 + " not " + w[0] + ".." + w[1]); }
    });
  };
  var span = t.tMax - t.tMin;
  J.showSpan(t.tMin + span * 0.25, t.tMin + span * 0.5);
  if (!J.view || !near(J.view[0], t.tMin + span * 0.25)) { problems.push("the timeline did not publish its zoom"); }
  follows("timeline zoom");
  t.zoom(0.5); follows("timeline wheel zoom");
  var p = J.charts[0].plot(), canvas = p.ctx.canvas, r = canvas.getBoundingClientRect(), y = r.top + p.T + 20;
  var mouse = function (type, x, buttons) {
    canvas.dispatchEvent(new MouseEvent(type, { bubbles: true, clientX: r.left + x, clientY: y, buttons: buttons }));
  };
  var a = p.tAt(p.L + 40), b = p.tAt(p.L + 140);
  mouse("mousedown", p.L + 40, 1); mouse("mousemove", p.L + 140, 1); mouse("mouseup", p.L + 140, 0);
  if (!near(t.v0, a) || !near(t.v1, b)) { problems.push("dragging across " + J.charts[0].name + " did not zoom the timeline to " + a + ".." + b); }
  follows("chart drag");
  mouse("dblclick", p.L + 60, 0);
  if (J.view !== null || t.v0 !== t.tMin || t.v1 !== t.tMax) { problems.push("double-click did not show the whole run"); }
  follows("double-click");
  body.setAttribute("data-zoomsync", problems.length ? "failed: " + problems.join("; ") : "ok " + J.charts.length);
  if (problems.length) { throw new Error(problems.join("; ")); }
};

J.t0 = Date.now();
try { J.main(); } catch (e) { J.reportError("main", e); }
document.body.setAttribute("data-render-ms", String(Date.now() - J.t0));
if (location.hash === "#jepsy-selftest") { J.selfTest(); }
