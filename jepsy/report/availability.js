// jepsy report: the Availability section (the ok fraction of every window, by
// side of a partition and by node; the recovery after each heal) and the marks
// that recoveries leave on the time charts. Data: D.availability (see
// jepsy/report/availability.py); times are page units, like the charts'.
"use strict";

// Called by J.Plot.prototype.frame: a dashed blue line at each heal, a green line
// where throughput was back (with a bracket from the heal), a red band along the
// bottom while it was below the threshold again, or never came back.
J.markRecoveries = function (plot) {
  var A = J.data && J.data.availability;
  if (!A || !A.marks || !A.marks.length) { return; }
  var c = plot.ctx, top = plot.T, bottom = plot.H - plot.B, lo = plot.L, hi = plot.W - plot.R;
  c.save();
  A.marks.forEach(function (m) {
    var x = plot.x(m.t);
    if (m.kind === "relapse" || m.kind === "not-recovered") {
      var x0 = Math.max(lo, x), x1 = Math.min(hi, plot.x(m.t1));
      if (x1 > x0) { c.globalAlpha = 0.35; c.fillStyle = "#c62828"; c.fillRect(x0, bottom - 5, x1 - x0, 5); c.globalAlpha = 1; }
      return;
    }
    if (x < lo || x > hi) { return; }
    c.strokeStyle = m.kind === "heal" ? "#5b8def" : "#2e7d32"; c.lineWidth = 1.5;
    c.setLineDash(m.kind === "heal" ? [4, 3] : []);
    c.beginPath(); c.moveTo(x + 0.5, top); c.lineTo(x + 0.5, bottom); c.stroke();
    if (m.kind === "recovered" && m.t0 !== null && m.t0 !== undefined) {
      var xh = Math.max(lo, plot.x(m.t0));
      c.setLineDash([]); c.beginPath(); c.moveTo(xh, top + 3); c.lineTo(x, top + 3); c.stroke();
      c.fillStyle = "#2e7d32"; c.textAlign = "left"; c.textBaseline = "top"; c.font = "11px system-ui, sans-serif";
      c.fillText("recovered", Math.min(x + 3, hi - 56), top + 6);
    }
  });
  c.restore();
};

J.okBar = function (label, f) {
  var frac = f.ok_fraction, w = frac === null || frac === undefined ? 0 : Math.round(frac * 1000) / 10;
  var color = frac === null || frac === undefined ? "#d9dee7" : frac >= 0.8 ? "#4caf6a" : frac >= 0.4 ? "#f0b429" : "#e0706a";
  var words = f.ops ? (w + " % of " + f.ops + " ok · " + (f.throughput === null ? "–" : f.throughput) + " ok/s" +
    (f.p50_ms !== null && f.p50_ms !== undefined ? " · p50 " + f.p50_ms + " ms, p99 " + f.p99_ms + " ms" : "")) : "no operations";
  return J.el("div", { "class": "abar", style: "display:flex;align-items:center;gap:8px;margin:2px 0" },
    J.el("span", { style: "width:170px;font-size:12.5px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis", text: label, title: label }),
    J.el("span", { style: "display:inline-block;width:160px;height:10px;background:#eef1f6;border-radius:3px;overflow:hidden" },
      J.el("span", { style: "display:block;height:10px;width:" + w + "%;background:" + color })),
    J.el("span", { "class": "muted", style: "font-size:12px", text: words }));
};

J.availabilitySection = function (s, D) {
  var A = D.availability, st = A.settings || {};
  s.appendChild(J.el("p", { "class": "headline" }, J.verdict(A.valid), " ", A.text || ""));
  if (A.error) { s.appendChild(J.el("p", { "class": "problem", text: "checker error: " + A.error })); }
  (A.broken || []).forEach(function (b) { s.appendChild(J.el("div", { "class": "explanation", text: b })); });
  (A.undecided || []).forEach(function (u) { s.appendChild(J.el("p", { "class": "muted", text: "not judged: " + u })); });
  s.appendChild(J.el("p", { "class": "muted", text: "Recovered means: the throughput of ok operations over a sliding " +
    st.window_s + " s window (moved in " + (st.step_s * 1000) + " ms steps from the heal) is back to at least " +
    Math.round((st.fraction || 0) * 100) + " % of the baseline" + (A.baseline !== null ? " (" + A.baseline + " ok ops/s" : " (none") +
    ", the calm period before the first fault) and holds there for " + st.hold_s + " s; the time is to the first ok operation of that window. " +
    "On the latency and throughput charts: dashed blue line = heal, green line = recovered, red band = below the threshold again (relapse) or never back." }));
  var recs = A.recoveries || [];
  if (recs.length) {
    var t = J.el("table", { "class": "grid" });
    t.appendChild(J.el("tr", null, ["heal at", "fault healed", "recovered after", "relapses", "longest without an ok op", "note"].map(function (h) { return J.el("th", { text: h }); })));
    recs.forEach(function (r) {
      var lapses = (r.relapses || []).map(function (x) { return x.at_s + " s for " + (x.censored ? "≥ " : "") + x.below_for_s + " s"; }).join("; ");
      t.appendChild(J.el("tr", null, J.el("td", { "class": "num", text: r.heal_at_s + " s" }), J.el("td", { text: (r.healed || []).join(", ") }),
        J.el("td", { "class": "num", text: r.recovered_after_s === null ? "not recovered" : r.recovered_after_s + " s" }),
        J.el("td", { text: lapses || "–" }),
        J.el("td", { "class": "num", text: r.longest_silence_s === undefined ? "–" : r.longest_silence_s + " s from " + r.silence_at_s + " s" }),
        J.el("td", { "class": "muted", text: r.reason || "" })));
    });
    s.appendChild(J.el("h3", { text: "Recovery after each heal" }));
    s.appendChild(t);
  }
  s.appendChild(J.el("h3", { text: "Windows: ok fraction by side and by node" }));
  var inView = J.el("p", { "class": "muted" }), boxes = [];
  s.appendChild(inView);
  (A.windows || []).forEach(function (w) {
    var box = J.el("div", { style: "border-top:1px solid #d9dee7;padding:6px 0" },
      J.el("div", null, J.el("span", { "class": "sw", style: "display:inline-block;width:10px;height:10px;margin-right:6px;background:" + (w.kind === "calm" ? "#c9d3e3" : J.faultColor(w.kind)) }),
        J.el("b", { text: w.kind }), J.el("span", { "class": "muted", text: "  " + w.start_s + " – " + w.end_s + " s" })));
    box.appendChild(J.okBar("all nodes", w.overall));
    (w.sides || []).forEach(function (sd) { box.appendChild(J.okBar(sd.name + " (" + sd.nodes.join(", ") + ")", sd)); });
    (w.nodes || []).forEach(function (nd) { box.appendChild(J.okBar("  " + nd.name, nd)); });
    s.appendChild(box);
    boxes.push({ box: box, t0: w.t0, t1: w.t1 });
  });
  // The windows of the timeline's time window stay in full colour; the others fade.
  var follow = function (view) {
    var shown = 0;
    boxes.forEach(function (b) {
      var out = view !== null && b.t0 !== null && b.t1 !== null && (b.t1 < view[0] || b.t0 > view[1]);
      b.box.classList.toggle("outside", out);
      if (!out) { shown++; }
    });
    inView.textContent = view === null ? "Zoom the timeline (or drag across a chart) to pick out the windows of a time span." :
      shown + " of " + boxes.length + " windows overlap the timeline's view (" + J.fmtTime(view[0]) + " – " + J.fmtTime(view[1]) + "); the others are faded.";
  };
  follow(J.view);
  J.onView(follow);
};
