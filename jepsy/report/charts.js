// jepsy report: latency, throughput and clock-offset charts over time, on
// canvases, with fault periods shaded behind the data. Every chart shows the
// timeline's time window (J.onView, view.js) and steers it (J.brush).
"use strict";

// A plot area with axes: opts {height, x0, x1, y0, y1, log, yLabel, yFmt}.
J.Plot = function (canvas, opts) {
  var fit = J.fitCanvas(canvas, opts.height || 260);
  this.ctx = fit.ctx; this.W = fit.width; this.H = fit.height; this.o = opts;
  this.L = 64; this.R = 12; this.T = 10; this.B = 26;
  this.ly0 = opts.log ? Math.log10(Math.max(opts.y0, 1e-9)) : opts.y0;
  this.ly1 = opts.log ? Math.log10(Math.max(opts.y1, 1e-9)) : opts.y1;
  if (this.ly1 <= this.ly0) { this.ly1 = this.ly0 + 1; }
  if (opts.x1 <= opts.x0) { opts.x1 = opts.x0 + 1; }
};
J.Plot.prototype.x = function (t) { return this.L + (t - this.o.x0) / (this.o.x1 - this.o.x0) * (this.W - this.L - this.R); };
J.Plot.prototype.tAt = function (x) { return this.o.x0 + (x - this.L) / (this.W - this.L - this.R) * (this.o.x1 - this.o.x0); };
J.Plot.prototype.y = function (v) {
  var lv = this.o.log ? Math.log10(Math.max(v, 1e-9)) : v;
  return this.H - this.B - (lv - this.ly0) / (this.ly1 - this.ly0) * (this.H - this.B - this.T);
};
// Draw the data inside the plot area only (a zoomed view has ops outside it).
J.Plot.prototype.clip = function () {
  var c = this.ctx;
  c.save(); c.beginPath(); c.rect(this.L, this.T, this.W - this.L - this.R, this.H - this.T - this.B); c.clip();
};
J.Plot.prototype.unclip = function () { this.ctx.restore(); };
J.Plot.prototype.frame = function (faults) {
  var c = this.ctx, self = this, o = this.o;
  c.clearRect(0, 0, this.W, this.H);
  c.font = "11px system-ui, sans-serif";
  (faults || []).forEach(function (p) {
    var x0 = Math.max(self.L, self.x(p.start)), x1 = Math.min(self.W - self.R, self.x(p.end === null ? o.x1 : p.end));
    if (x1 <= x0) { return; }
    c.globalAlpha = 0.13; c.fillStyle = J.faultColor(p.kind);
    c.fillRect(x0, self.T, x1 - x0, self.H - self.T - self.B); c.globalAlpha = 1;
  });
  c.strokeStyle = "#e3e7ee"; c.fillStyle = "#667085"; c.textBaseline = "middle"; c.textAlign = "right";
  var yt = o.log ? J.logTicks(o.y0, o.y1) : J.niceTicks(o.y0, o.y1, 5);
  yt.forEach(function (v) {
    var y = self.y(v);
    c.beginPath(); c.moveTo(self.L, y + 0.5); c.lineTo(self.W - self.R, y + 0.5); c.stroke();
    c.fillText((o.yFmt || String)(v), self.L - 6, y);
  });
  c.textAlign = "center"; c.textBaseline = "top";
  var xt = J.niceTicks(o.x0, o.x1, Math.max(2, Math.floor(this.W / 120)), true), xs = xt.length > 1 ? xt[1] - xt[0] : 1;
  xt.forEach(function (t) {
    var x = self.x(t);
    c.beginPath(); c.moveTo(x + 0.5, self.T); c.lineTo(x + 0.5, self.H - self.B); c.stroke();
    c.fillText(J.fmtTick(t, xs), x, self.H - self.B + 6);
  });
  c.save(); c.translate(12, this.T + (this.H - this.T - this.B) / 2); c.rotate(-Math.PI / 2);
  c.textBaseline = "middle"; c.fillText(o.yLabel || "", 0, 0); c.restore();
  c.textAlign = "left";
  c.strokeStyle = "#98a2b3"; c.strokeRect(this.L + 0.5, this.T + 0.5, this.W - this.L - this.R, this.H - this.T - this.B);
  if (J.markRecoveries && J.timeUnit !== "op") { J.markRecoveries(this); }
};
J.logTicks = function (lo, hi) {
  var out = [];
  for (var e = Math.floor(Math.log10(Math.max(lo, 1e-9))); e <= Math.ceil(Math.log10(hi)); e++) {
    var v = Math.pow(10, e);
    if (v >= lo * 0.999 && v <= hi * 1.001) { out.push(v); }
  }
  return out.length ? out : [lo, hi];
};
J.fmtMs = function (v) {
  return v >= 1000 ? (v / 1000) + " s" : v >= 1 ? v + " ms" : v >= 0.001 ? Math.round(v * 1000) + " µs" : Math.round(v * 1e6) + " ns";
};

J.quantile = function (sorted, q) {
  if (!sorted.length) { return NaN; }
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};

// A legend of toggles; state[key] = shown. onchange redraws.
J.toggles = function (items, state, onchange) {
  var box = J.el("div", { "class": "legend" });
  items.forEach(function (it) {
    var cb = J.el("input", { type: "checkbox" });
    cb.checked = state[it.key] !== false;
    cb.addEventListener("change", function () { state[it.key] = cb.checked; onchange(); });
    box.appendChild(J.el("label", null, cb, it.swatch || null, it.label));
  });
  return box;
};
J.swatch = function (color, dash) {
  return J.el("span", { "class": "sw", style: dash ? "background:repeating-linear-gradient(90deg," + color +
    " 0 4px,transparent 4px 7px);height:3px;vertical-align:3px" : "background:" + color });
};

J.latencyChart = function (host, D) {
  var ops = D.ops, n = ops.n, unit = J.timeUnit === "op" ? 1 : J.perSec / 1000, i;
  var canvas = J.el("canvas", { role: "img", "aria-label": "latency over time" });
  var state = { points: true, quantiles: true }, fs = ops.fs;
  fs.forEach(function (f, k) { state["f" + k] = true; });
  var lo = Infinity, hi = 0, x0 = Infinity, x1 = -Infinity;
  for (i = 0; i < n; i++) {
    x0 = Math.min(x0, ops.t0[i]);
    if (ops.t1[i] < 0) { continue; }
    var lat = (ops.t1[i] - ops.t0[i]) / unit;
    x1 = Math.max(x1, ops.t1[i]);
    if (lat > 0) { lo = Math.min(lo, lat); hi = Math.max(hi, lat); }
  }
  if (!isFinite(lo)) { lo = 0.001; hi = 1; }
  lo = Math.pow(10, Math.floor(Math.log10(lo))); hi = Math.pow(10, Math.ceil(Math.log10(hi)));
  if (!isFinite(x0)) { x0 = 0; x1 = 1; }
  // Quantiles of completed ok ops per f, in ~120 time buckets of the window
  // shown (of the whole run: as many buckets as n / 20 says, at most 120).
  var QS = [[0.5, []], [0.95, [6, 3]], [0.99, [2, 3]], [1, [1, 5]]], nb, bw, quant, quantFor = null, full = [x0, x1];
  function quantiles(w) {
    var m = n, b;
    if (J.view) { m = 0; for (i = 0; i < n; i++) { if (ops.t1[i] >= w[0] && ops.t1[i] <= w[1]) { m++; } } }
    nb = Math.max(10, Math.min(120, Math.floor(m / 20))); bw = (w[1] - w[0]) / nb || 1;
    var buckets = fs.map(function () { var a = []; for (b = 0; b < nb; b++) { a.push([]); } return a; });
    for (i = 0; i < n; i++) {
      if (ops.type[i] !== 0 || ops.t1[i] < w[0] || ops.t1[i] > w[1]) { continue; }
      b = Math.min(nb - 1, Math.floor((ops.t1[i] - w[0]) / bw));
      buckets[ops.f[i]][b].push((ops.t1[i] - ops.t0[i]) / unit);
    }
    quant = buckets.map(function (bs) {
      return bs.map(function (a) { a.sort(function (p, q) { return p - q; });
        return QS.map(function (q) { return J.quantile(a, q[0]); }); });
    });
    quantFor = w;
  }
  var plot;
  function draw() {
    var w = J.window(full);
    if (quantFor !== w) { quantiles(w); }
    plot = new J.Plot(canvas, { height: 300, x0: w[0], x1: w[1], y0: lo, y1: hi, log: true,
      yLabel: J.timeUnit === "op" ? "latency (ops)" : "latency", yFmt: J.timeUnit === "op" ? String : J.fmtMs });
    plot.frame(D.faults.periods);
    var c = plot.ctx;
    plot.clip();
    if (state.points) {
      for (i = 0; i < n; i++) {
        if (ops.t1[i] < w[0] || ops.t1[i] > w[1] || !state["f" + ops.f[i]]) { continue; }
        var x = plot.x(ops.t1[i]), y = plot.y(Math.max(lo, (ops.t1[i] - ops.t0[i]) / unit));
        var color = J.PALETTE[ops.f[i] % J.PALETTE.length];
        c.fillStyle = color; c.strokeStyle = color;
        if (ops.type[i] === 0) { c.globalAlpha = 0.45; c.fillRect(x - 1.2, y - 1.2, 2.4, 2.4); }
        else if (ops.type[i] === 1) {
          c.globalAlpha = 0.8; c.beginPath(); c.moveTo(x - 2.5, y - 2.5); c.lineTo(x + 2.5, y + 2.5);
          c.moveTo(x + 2.5, y - 2.5); c.lineTo(x - 2.5, y + 2.5); c.stroke();
        } else {
          c.globalAlpha = 0.9; c.beginPath(); c.moveTo(x, y - 3); c.lineTo(x + 3, y + 2.5); c.lineTo(x - 3, y + 2.5);
          c.closePath(); c.stroke();
        }
      }
      c.globalAlpha = 1;
    }
    if (state.quantiles) {
      quant.forEach(function (bs, f) {
        if (!state["f" + f]) { return; }
        QS.forEach(function (q, qi) {
          c.strokeStyle = J.PALETTE[f % J.PALETTE.length]; c.lineWidth = qi === 0 ? 2 : 1.4; c.setLineDash(q[1]);
          c.beginPath(); var started = false;
          bs.forEach(function (v, b) {
            if (isNaN(v[qi])) { started = false; return; }
            var xx = plot.x(w[0] + (b + 0.5) * bw), yy = plot.y(Math.max(lo, v[qi]));
            if (started) { c.lineTo(xx, yy); } else { c.moveTo(xx, yy); started = true; }
          });
          c.stroke();
        });
      });
      c.setLineDash([]); c.lineWidth = 1;
    }
    plot.unclip();
  }
  var items = [{ key: "points", label: "points (■ ok, ✕ fail, △ info)" },
    { key: "quantiles", label: "quantiles of ok ops: p50 ━, p95 ╌, p99 ┈, max ⋯" }];
  fs.forEach(function (f, k) { items.push({ key: "f" + k, label: f, swatch: J.swatch(J.PALETTE[k % J.PALETTE.length]) }); });
  J.append(host, [J.el("div", { "class": "canvas-wrap" }, canvas), J.toggles(items, state, draw)]);
  var brushed = J.brush(canvas, function () { return plot; });
  canvas.addEventListener("click", function (e) {
    if (brushed()) { return; }
    var r = canvas.getBoundingClientRect(), t = plot.tAt(e.clientX - r.left), best = -1, bd = Infinity;
    for (i = 0; i < n; i++) {
      if (ops.t1[i] < plot.o.x0 || ops.t1[i] > plot.o.x1) { continue; }
      var dx = Math.abs(plot.x(ops.t1[i]) - (e.clientX - r.left)), dy = Math.abs(plot.y(Math.max(lo, (ops.t1[i] - ops.t0[i]) / unit)) - (e.clientY - r.top));
      if (dx + dy < bd) { bd = dx + dy; best = i; }
    }
    if (best >= 0 && bd < 12 && J.timeline) { J.timeline.focus([best], best); }
    return t;
  });
  canvas.addEventListener("mousemove", function (e) {
    var r = canvas.getBoundingClientRect();
    if (e.clientX - r.left < plot.L) { J.tip(e, null); return; }
    J.tip(e, ["t = " + J.fmtTime(plot.tAt(e.clientX - r.left)), "click a point to find it on the timeline",
      "drag across to zoom · double-click: whole run"]);
  });
  canvas.addEventListener("mouseleave", function (e) { J.tip(e, null); });
  draw();
  window.addEventListener("resize", draw);
  J.onView(draw);
  J.charts.push({ name: "latency", full: full, plot: function () { return plot; } });
};

J.throughputChart = function (host, D) {
  var ops = D.ops, n = ops.n, fs = ops.fs, i, x0 = Infinity, x1 = -Infinity;
  for (i = 0; i < n; i++) { x0 = Math.min(x0, ops.t0[i]); if (ops.t1[i] >= 0) { x1 = Math.max(x1, ops.t1[i]); } }
  if (!isFinite(x0) || !isFinite(x1) || x1 <= x0) { x0 = 0; x1 = 1; }
  // Completions per f and outcome in buckets of the window shown (of the whole
  // run: n / 10 buckets, 10 to 150); the series are those of the whole run.
  var nb, bw, series = [], state = {}, max = 1, countsFor = null, full = [x0, x1];
  function count(w) {
    var m = n, b, all = [];
    if (J.view) { m = 0; for (i = 0; i < n; i++) { if (ops.t1[i] >= w[0] && ops.t1[i] <= w[1]) { m++; } } }
    nb = Math.max(10, Math.min(150, Math.floor(m / 10))); bw = (w[1] - w[0]) / nb;
    var perSec = J.timeUnit === "op" ? 1 : J.perSec / bw;
    fs.forEach(function (f, fi) {
      [0, 1, 2].forEach(function (ty) { all.push({ f: fi, type: ty, counts: new Array(nb).fill(0) }); });
    });
    for (i = 0; i < n; i++) {
      if (ops.t1[i] < 0 || ops.t1[i] < w[0] || ops.t1[i] > w[1]) { continue; }
      b = Math.min(nb - 1, Math.floor((ops.t1[i] - w[0]) / bw));
      all[ops.f[i] * 3 + ops.type[i]].counts[b] += perSec;
    }
    if (countsFor === null) { series = all.filter(function (s) { return s.counts.some(function (c) { return c > 0; }); }); }
    else { series.forEach(function (s) { s.counts = all[s.f * 3 + s.type].counts; }); }
    max = 1;
    series.forEach(function (s) { s.counts.forEach(function (c) { max = Math.max(max, c); }); });
    countsFor = w;
  }
  count(full);
  var DASH = [[], [6, 3], [2, 3]], canvas = J.el("canvas", { role: "img", "aria-label": "throughput over time" }), plot;
  function draw() {
    var w = J.window(full);
    if (countsFor !== w) { count(w); }
    plot = new J.Plot(canvas, { height: 240, x0: w[0], x1: w[1], y0: 0, y1: max * 1.08,
      yLabel: J.timeUnit === "op" ? "completions per bucket" : "ops/s", yFmt: function (v) { return v >= 1000 ? (v / 1000) + "k" : String(Math.round(v * 10) / 10); } });
    plot.frame(D.faults.periods);
    var c = plot.ctx;
    plot.clip();
    series.forEach(function (s) {
      if (state[s.f + "/" + s.type] === false) { return; }
      c.strokeStyle = J.PALETTE[s.f % J.PALETTE.length]; c.setLineDash(DASH[s.type]); c.lineWidth = 1.6;
      c.beginPath();
      s.counts.forEach(function (v, b) { var x = plot.x(w[0] + (b + 0.5) * bw), y = plot.y(v); if (b) { c.lineTo(x, y); } else { c.moveTo(x, y); } });
      c.stroke();
    });
    c.setLineDash([]); c.lineWidth = 1;
    plot.unclip();
  }
  var items = series.map(function (s) {
    return { key: s.f + "/" + s.type, label: fs[s.f] + " " + J.TYPE_NAMES[s.type], swatch: J.swatch(J.PALETTE[s.f % J.PALETTE.length], s.type > 0) };
  });
  canvas.addEventListener("mousemove", function (e) {
    var r = canvas.getBoundingClientRect(), t = plot.tAt(e.clientX - r.left), w0 = plot.o.x0, b = Math.floor((t - w0) / bw);
    if (b < 0 || b >= nb) { J.tip(e, null); return; }
    J.tip(e, [J.fmtTime(w0 + b * bw) + " – " + J.fmtTime(w0 + (b + 1) * bw)].concat(series.map(function (s) {
      return fs[s.f] + " " + J.TYPE_NAMES[s.type] + ": " + (Math.round(s.counts[b] * 10) / 10) + (J.timeUnit === "op" ? "" : "/s");
    })));
  });
  canvas.addEventListener("mouseleave", function (e) { J.tip(e, null); });
  J.append(host, [J.el("div", { "class": "canvas-wrap" }, canvas), J.toggles(items, state, draw)]);
  J.brush(canvas, function () { return plot; });
  draw();
  window.addEventListener("resize", draw);
  J.onView(draw);
  J.charts.push({ name: "throughput", full: full, plot: function () { return plot; } });
};

J.clockChart = function (host, D) {
  var series = D.faults.clock, nodes = Object.keys(series), lo = 0, hi = 0, x0 = Infinity, x1 = -Infinity;
  nodes.forEach(function (nd) { series[nd].forEach(function (p) { lo = Math.min(lo, p[1]); hi = Math.max(hi, p[1]); x0 = Math.min(x0, p[0]); x1 = Math.max(x1, p[0]); }); });
  for (var i = 0; i < D.ops.n; i++) { x0 = Math.min(x0, D.ops.t0[i]); x1 = Math.max(x1, D.ops.t1[i]); }
  if (hi === lo) { hi = lo + 1; }
  var canvas = J.el("canvas", { role: "img", "aria-label": "clock offsets per node" }), state = {}, plot, full = [x0, x1];
  function draw() {
    var w = J.window(full);
    plot = new J.Plot(canvas, { height: 220, x0: w[0], x1: w[1], y0: lo - (hi - lo) * 0.05, y1: hi + (hi - lo) * 0.05, yLabel: "clock offset (s)" });
    plot.frame(D.faults.periods);
    var c = plot.ctx;
    plot.clip();
    nodes.forEach(function (nd, k) {
      if (state[nd] === false) { return; }
      c.strokeStyle = J.PALETTE[k % J.PALETTE.length]; c.lineWidth = 2; c.beginPath();
      var prev = 0; c.moveTo(plot.x(x0), plot.y(0));
      series[nd].forEach(function (p) { c.lineTo(plot.x(p[0]), plot.y(prev)); c.lineTo(plot.x(p[0]), plot.y(p[1])); prev = p[1]; });
      c.lineTo(plot.x(x1), plot.y(prev)); c.stroke();
    });
    c.lineWidth = 1;
    plot.unclip();
  }
  J.append(host, [J.el("div", { "class": "canvas-wrap" }, canvas),
    J.toggles(nodes.map(function (nd, k) { return { key: nd, label: nd, swatch: J.swatch(J.PALETTE[k % J.PALETTE.length]) }; }), state, draw)]);
  J.brush(canvas, function () { return plot; });
  draw();
  window.addEventListener("resize", draw);
  J.onView(draw);
  J.charts.push({ name: "clocks", full: full, plot: function () { return plot; } });
};
