// jepsy report: the timeline of operations, one row per process (or worker),
// drawn on a canvas so that it stays usable with hundreds of thousands of ops.
// Only the ops in view are drawn: each row's ops are sorted by start time and
// found by binary search, with the row's longest op bounding the search.
"use strict";
J.Timeline = function (host, D) {
  var ops = D.ops, self = this;
  this.ops = ops;
  this.faults = D.faults.periods || [];
  this.events = D.faults.events || [];
  var n = ops.n, i;
  var tMin = Infinity, tMax = -Infinity;
  for (i = 0; i < n; i++) {
    if (ops.t0[i] < tMin) { tMin = ops.t0[i]; }
    var e = ops.t1[i] >= 0 ? ops.t1[i] : ops.t0[i];
    if (e > tMax) { tMax = e; }
  }
  this.faults.forEach(function (p) {
    tMin = Math.min(tMin, p.start); tMax = Math.max(tMax, p.end === null ? p.start : p.end);
  });
  if (!isFinite(tMin)) { tMin = 0; tMax = 1; }
  if (tMax <= tMin) { tMax = tMin + 1; }
  this.tMin = tMin; this.tMax = tMax;
  // rows[lane] = op indices by start; open ops (never completed) kept apart
  // so that they do not defeat the binary search.
  this.rows = ops.lanes.map(function () { return []; });
  this.open = ops.lanes.map(function () { return []; });
  this.maxDur = ops.lanes.map(function () { return 0; });
  for (i = 0; i < n; i++) {
    var l = ops.lane[i];
    if (ops.t1[i] < 0) { this.open[l].push(i); continue; }
    this.rows[l].push(i);
    this.maxDur[l] = Math.max(this.maxDur[l], ops.t1[i] - ops.t0[i]);
  }
  this.rows.forEach(function (r) { r.sort(function (a, b) { return ops.t0[a] - ops.t0[b]; }); });
  this.lanes = ops.lanes.length;
  this.laneH = Math.max(5, Math.min(18, Math.floor(560 / Math.max(1, this.lanes))));
  this.top = 22; this.nemH = 20; this.left = 86;
  this.height = this.top + this.nemH + this.lanes * this.laneH + 8;
  this.v0 = tMin; this.v1 = tMax;
  this.highlight = null; this.selected = -1;

  var bar = J.el("div", { "class": "toolbar" },
    J.el("button", { onclick: function () { self.zoom(0.5); } }, "zoom in"),
    J.el("button", { onclick: function () { self.zoom(2); } }, "zoom out"),
    J.el("button", { onclick: function () { self.v0 = self.tMin; self.v1 = self.tMax; self.draw(); } }, "whole run"),
    J.el("button", { onclick: function () { self.highlight = null; self.selected = -1; self.detail.hidden = true; self.draw(); } }, "clear selection"),
    J.el("span", { "class": "hint", text: "wheel: zoom · drag: pan · click an operation for details, a fault to zoom to it · double-click: whole run" }));
  this.canvas = J.el("canvas", { "class": "timeline", role: "img", "aria-label": "timeline of operations" });
  this.detail = J.el("div", { "class": "opdetail" });
  this.detail.hidden = true;
  var legend = J.el("div", { "class": "legend" });
  J.TYPE_NAMES.forEach(function (name, k) {
    legend.appendChild(J.el("span", null, J.el("span", { "class": "sw", style: "background:" + J.TYPE_COLORS[k] }), name));
  });
  var kinds = {};
  this.faults.forEach(function (p) { kinds[p.kind] = 1; });
  Object.keys(kinds).forEach(function (k) {
    legend.appendChild(J.el("span", null, J.el("span", { "class": "sw", style: "background:" + J.faultColor(k) + ";opacity:.35" }), "fault: " + k));
  });
  var find = J.el("input", { type: "number", min: 0, placeholder: "history op #", "class": "find", "aria-label": "history op to find" });
  var go = function () { if (find.value !== "") { J.focusHistoryIndex(parseInt(find.value, 10)); } };
  find.addEventListener("keydown", function (e) { if (e.key === "Enter") { go(); } });
  bar.insertBefore(J.el("span", null, find, J.el("button", { onclick: go }, "find")), bar.lastChild);
  this.overview = J.el("canvas", { "class": "overview", role: "img", "aria-label": "whole run; the box is the part shown above" });
  this.density();
  J.append(host, [bar, J.el("div", { "class": "canvas-wrap" }, this.canvas), J.el("div", { "class": "canvas-wrap" }, this.overview),
    legend, this.detail]);
  this.bind();
  this.draw();
  window.addEventListener("resize", function () { self.draw(); });
};

// Ops per outcome in 400 slices of the whole run, for the overview strip.
J.Timeline.prototype.density = function () {
  var ops = this.ops, nb = 400, span = this.tMax - this.tMin, bins = [0, 1, 2, 3].map(function () { return new Array(nb).fill(0); });
  for (var i = 0; i < ops.n; i++) {
    var b = Math.min(nb - 1, Math.max(0, Math.floor((ops.t0[i] - this.tMin) / span * nb)));
    bins[ops.type[i]][b]++;
  }
  var max = 1;
  for (var k = 0; k < nb; k++) { max = Math.max(max, bins[0][k] + bins[1][k] + bins[2][k] + bins[3][k]); }
  this.bins = bins; this.binMax = max;
};

J.Timeline.prototype.drawOverview = function () {
  var fit = J.fitCanvas(this.overview, 34), c = fit.ctx, W = fit.width, H = 34, L = this.left, self = this;
  var X = function (t) { return L + (t - self.tMin) / (self.tMax - self.tMin) * (W - L - 8); };
  c.clearRect(0, 0, W, H);
  c.fillStyle = "#667085"; c.font = "11px system-ui, sans-serif"; c.textBaseline = "middle";
  c.fillText("whole run", 6, H / 2);
  this.faults.forEach(function (p) {
    c.globalAlpha = 0.2; c.fillStyle = J.faultColor(p.kind);
    c.fillRect(X(p.start), 0, Math.max(1, X(p.end === null ? self.tMax : p.end) - X(p.start)), H);
  });
  c.globalAlpha = 1;
  var nb = this.bins[0].length, bw = (W - L - 8) / nb;
  for (var b = 0; b < nb; b++) {
    var y = H - 2;
    for (var ty = 0; ty < 4; ty++) {
      var h = this.bins[ty][b] / this.binMax * (H - 6);
      if (h > 0) { c.fillStyle = J.TYPE_COLORS[ty]; c.fillRect(L + b * bw, y - h, Math.max(1, bw - 0.3), h); y -= h; }
    }
  }
  var v0 = Math.max(L, X(this.v0)), v1 = Math.min(W - 8, X(this.v1));
  c.strokeStyle = "#1d2330"; c.lineWidth = 1.5; c.strokeRect(v0, 1, Math.max(3, v1 - v0), H - 2); c.lineWidth = 1;
  c.fillStyle = "rgba(29,35,48,0.06)"; c.fillRect(v0, 1, Math.max(3, v1 - v0), H - 2);
  this.ovX = X;
};

J.Timeline.prototype.x = function (t) { return this.left + (t - this.v0) / (this.v1 - this.v0) * (this.w - this.left - 8); };
J.Timeline.prototype.t = function (x) { return this.v0 + (x - this.left) / (this.w - this.left - 8) * (this.v1 - this.v0); };

J.Timeline.prototype.zoom = function (factor, at) {
  var c = at === undefined ? (this.v0 + this.v1) / 2 : at;
  var span = Math.max((this.v1 - this.v0) * factor, 2);
  var full = (this.tMax - this.tMin) * 1.2;
  span = Math.min(span, full);
  var f = (c - this.v0) / (this.v1 - this.v0);
  this.v0 = c - span * f; this.v1 = this.v0 + span;
  this.draw();
};

J.Timeline.prototype.visible = function (lane, fn) {
  var ops = this.ops, row = this.rows[lane], lo = 0, hi = row.length;
  var from = this.v0 - this.maxDur[lane];
  while (lo < hi) { var mid = (lo + hi) >> 1; if (ops.t0[row[mid]] < from) { lo = mid + 1; } else { hi = mid; } }
  for (var k = lo; k < row.length; k++) {
    var i = row[k];
    if (ops.t0[i] > this.v1) { break; }
    if (ops.t1[i] >= this.v0) { fn(i); }
  }
  this.open[lane].forEach(function (i) { fn(i); });
};

J.Timeline.prototype.draw = function () {
  var fit = J.fitCanvas(this.canvas, this.height), ctx = fit.ctx, self = this, ops = this.ops;
  this.w = fit.width;
  var W = fit.width, top = this.top, laneTop = this.top + this.nemH, lh = this.laneH;
  ctx.clearRect(0, 0, W, this.height);
  ctx.font = "11px system-ui, sans-serif";
  // lanes
  for (var l = 0; l < this.lanes; l++) {
    if (l % 2 === 0) { ctx.fillStyle = "#f5f7fa"; ctx.fillRect(this.left, laneTop + l * lh, W - this.left, lh); }
    if (lh >= 9 || l % Math.ceil(9 / lh) === 0) {
      ctx.fillStyle = "#667085"; ctx.textBaseline = "middle";
      ctx.fillText(this.ops.lanes[l], 6, laneTop + l * lh + lh / 2);
    }
  }
  ctx.fillStyle = "#667085"; ctx.textBaseline = "middle";
  ctx.fillText("nemesis", 6, top + this.nemH / 2);
  // time axis
  ctx.strokeStyle = "#d9dee7"; ctx.fillStyle = "#667085"; ctx.textBaseline = "alphabetic";
  var ticks = J.niceTicks(this.v0, this.v1, Math.max(2, Math.floor(W / 110)), true);
  var tstep = ticks.length > 1 ? ticks[1] - ticks[0] : 1;
  ticks.forEach(function (t) {
    var x = self.x(t);
    if (x < self.left) { return; }
    ctx.beginPath(); ctx.moveTo(x + 0.5, top - 4); ctx.lineTo(x + 0.5, self.height - 6); ctx.stroke();
    ctx.fillText(J.fmtTick(t, tstep), x + 3, 14);
  });
  // fault periods across every row, labelled in the nemesis row
  this.faults.forEach(function (p) {
    var x0 = Math.max(self.left, self.x(p.start));
    var x1 = Math.min(W - 8, self.x(p.end === null ? self.tMax : p.end));
    if (x1 < self.left || x0 > W) { return; }
    var c = J.faultColor(p.kind);
    ctx.globalAlpha = p.error ? 0.06 : 0.14; ctx.fillStyle = c;
    ctx.fillRect(x0, top, Math.max(1, x1 - x0), self.height - top - 8);
    ctx.globalAlpha = 0.85; ctx.fillRect(x0, top + 3, Math.max(2, x1 - x0), self.nemH - 6);
    ctx.globalAlpha = 1;
    if (x1 - x0 > 40) {
      ctx.save(); ctx.beginPath(); ctx.rect(x0, top, x1 - x0, self.nemH); ctx.clip();
      ctx.fillStyle = "#fff"; ctx.textBaseline = "middle";
      ctx.fillText(p.kind + (p.targets ? ": " + p.targets : ""), x0 + 4, top + self.nemH / 2);
      ctx.restore();
    }
  });
  ctx.fillStyle = "#333";
  this.events.forEach(function (e) {
    var x = self.x(e.t);
    if (x >= self.left && x <= W) { ctx.fillRect(x, top + 2, 1.5, self.nemH - 4); }
  });
  // operations
  var labels = [];
  var hl = this.highlight;
  for (l = 0; l < this.lanes; l++) {
    var y = laneTop + l * lh + (lh > 7 ? 1 : 0), h = lh > 7 ? lh - 2 : lh - 1;
    var last = -1;
    this.visible(l, function (i) {
      var x0 = Math.max(self.left, self.x(ops.t0[i]));
      var x1 = Math.min(W - 8, self.x(ops.t1[i] >= 0 ? ops.t1[i] : self.tMax));
      var w = Math.max(1, x1 - x0);
      // many ok ops per pixel: one is enough; a fail or info is always drawn
      if (w < 1.5 && ops.type[i] === 0 && Math.floor(x0) === last && !hl) { return; }
      last = Math.floor(x0);
      ctx.fillStyle = J.TYPE_COLORS[ops.type[i]];
      if (hl && !hl[i]) { ctx.globalAlpha = 0.25; }
      ctx.fillRect(x0, y, w, h);
      ctx.globalAlpha = 1;
      if (w > 36 && h >= 10) { labels.push([i, x0, y, w, h]); }
    });
  }
  ctx.fillStyle = "#1d2330"; ctx.textBaseline = "middle"; ctx.font = "10.5px system-ui, sans-serif";
  labels.forEach(function (a) {
    ctx.save(); ctx.beginPath(); ctx.rect(a[1] + 2, a[2], a[3] - 4, a[4]); ctx.clip();
    var i = a[0], out = ops.out[i] >= 0 ? " → " + ops.strings[ops.out[i]] : "";
    ctx.fillText(ops.fs[ops.f[i]] + " " + ops.strings[ops.val[i]] + out, a[1] + 3, a[2] + a[4] / 2);
    ctx.restore();
  });
  if (hl) {
    ctx.strokeStyle = "#1d2330"; ctx.lineWidth = 1;
    Object.keys(hl).forEach(function (k) { self.outline(ctx, +k, 1); });
  }
  if (this.selected >= 0) { ctx.strokeStyle = "#c62828"; ctx.lineWidth = 2.5; this.outline(ctx, this.selected, 2.5); }
  ctx.lineWidth = 1;
  this.drawOverview();
  // The time charts follow this window (view.js); the whole run is theirs to choose.
  if (J.setView) { J.setView(this.v0 === this.tMin && this.v1 === this.tMax ? null : [this.v0, this.v1]); }
};

J.Timeline.prototype.outline = function (ctx, i, pad) {
  var ops = this.ops, lh = this.laneH;
  var y = this.top + this.nemH + ops.lane[i] * lh;
  var x0 = this.x(ops.t0[i]), x1 = this.x(ops.t1[i] >= 0 ? ops.t1[i] : this.tMax);
  if (x1 < this.left || x0 > this.w) { return; }
  ctx.strokeRect(Math.max(this.left, x0) - pad / 2, y - pad / 2 + 0.5, Math.max(2, x1 - x0) + pad, lh + pad - 1);
};

J.Timeline.prototype.hit = function (evt) {
  var r = this.canvas.getBoundingClientRect(), x = evt.clientX - r.left, y = evt.clientY - r.top;
  var lane = Math.floor((y - this.top - this.nemH) / this.laneH);
  if (y >= this.top && y < this.top + this.nemH) {
    var t = this.t(x), hit = null, self0 = this, ev = null;
    this.events.forEach(function (e) { if (Math.abs(self0.x(e.t) - x) <= 4) { ev = e; } });
    if (ev) { return { event: ev }; }
    this.faults.forEach(function (p) { if (t >= p.start && (p.end === null || t <= p.end)) { hit = p; } });
    return hit ? { fault: hit } : null;
  }
  if (lane < 0 || lane >= this.lanes) { return null; }
  var tol = (this.v1 - this.v0) / (this.w - this.left) * 3, tt = this.t(x), best = -1, ops = this.ops, self = this;
  this.visible(lane, function (i) {
    var end = ops.t1[i] >= 0 ? ops.t1[i] : self.tMax;
    if (ops.t0[i] - tol <= tt && tt <= end + tol) { best = i; }
  });
  return best >= 0 ? { op: best } : null;
};

J.Timeline.prototype.describe = function (i) {
  var ops = this.ops, s = ops.strings;
  var lines = [ops.fs[ops.f[i]] + " " + s[ops.val[i]] + (ops.out[i] >= 0 ? "  →  " + s[ops.out[i]] : ""),
    "outcome: " + J.TYPE_NAMES[ops.type[i]] + "    process " + ops.proc[i],
    "invoked " + J.fmtTime(ops.t0[i]) + (ops.t1[i] >= 0 ? ", completed " + J.fmtTime(ops.t1[i]) +
      " (" + J.fmtDur(ops.t1[i] - ops.t0[i]) + ")" : ", never completed"),
    "history index " + ops.inv[i] + (ops.cmp[i] >= 0 ? " / " + ops.cmp[i] : "")];
  if (ops.err[i] >= 0) { lines.push("error: " + s[ops.err[i]]); }
  var end = ops.t1[i] >= 0 ? ops.t1[i] : this.tMax, active = J.faultsDuring(ops.t0[i], end);
  lines.push(active.length ? "faults in force: " + active.map(function (p) {
    return p.kind + (p.targets ? " (" + p.targets + ")" : "");
  }).join("; ") : "no fault in force");
  return lines;
};

J.Timeline.prototype.bind = function () {
  var self = this, c = this.canvas, drag = null;
  c.addEventListener("wheel", function (e) {
    e.preventDefault();
    var r = c.getBoundingClientRect();
    self.zoom(e.deltaY > 0 ? 1.25 : 0.8, self.t(e.clientX - r.left));
  }, { passive: false });
  c.addEventListener("mousedown", function (e) { drag = { x: e.clientX, v0: self.v0, v1: self.v1, moved: false }; c.classList.add("dragging"); });
  window.addEventListener("mouseup", function () { drag && c.classList.remove("dragging"); setTimeout(function () { drag = null; }, 0); });
  c.addEventListener("mousemove", function (e) {
    if (drag && e.buttons) {
      var dt = (e.clientX - drag.x) / (self.w - self.left) * (drag.v1 - drag.v0);
      if (Math.abs(e.clientX - drag.x) > 3) { drag.moved = true; }
      self.v0 = drag.v0 - dt; self.v1 = drag.v1 - dt; self.draw(); J.tip(e, null); return;
    }
    var h = self.hit(e);
    if (!h) { J.tip(e, null); return; }
    if (h.event) {
      J.tip(e, [h.event.f + " at " + J.fmtTime(h.event.t) + " (history op " + h.event.index + ")", h.event.text]);
      return;
    }
    J.tip(e, h.op !== undefined ? self.describe(h.op) :
      ["fault: " + h.fault.kind, h.fault.targets, "from " + J.fmtTime(h.fault.start) + " to " +
        (h.fault.end === null ? "the end" : J.fmtTime(h.fault.end)), h.fault.error ? "error: " + h.fault.error : ""]);
  });
  c.addEventListener("mouseleave", function (e) { J.tip(e, null); });
  // The overview: press or drag to move the view there, keeping its span.
  var ov = this.overview, moveTo = function (e) {
    var r = ov.getBoundingClientRect(), L = self.left, w = r.width - L - 8;
    var t = self.tMin + (e.clientX - r.left - L) / w * (self.tMax - self.tMin), span = self.v1 - self.v0;
    self.v0 = t - span / 2; self.v1 = t + span / 2; self.draw();
  };
  ov.addEventListener("mousedown", moveTo);
  ov.addEventListener("mousemove", function (e) { if (e.buttons) { moveTo(e); } });
  c.addEventListener("dblclick", function () { self.v0 = self.tMin; self.v1 = self.tMax; self.draw(); });
  c.addEventListener("click", function (e) {
    if (drag && drag.moved) { return; }
    var h = self.hit(e);
    if (h && h.op !== undefined) { self.select(h.op); }
    if (h && h.fault) { // zoom to the fault, with a margin either side
      var p = h.fault, end = p.end === null ? self.tMax : p.end, pad = (end - p.start) * 0.1 + 1;
      self.v0 = p.start - pad; self.v1 = end + pad; self.draw();
    }
  });
};

J.Timeline.prototype.select = function (i) {
  this.selected = i;
  this.detail.hidden = false;
  this.detail.textContent = this.describe(i).join("\n");
  this.draw();
};

// Zoom to show ops ``rows`` (op indices), highlight them, select ``center``.
J.Timeline.prototype.focus = function (rows, center) {
  var ops = this.ops, lo = Infinity, hi = -Infinity, self = this;
  rows = rows.filter(function (r) { return r >= 0 && r < ops.n; });
  if (!rows.length) { return; }
  this.highlight = {};
  rows.forEach(function (r) {
    self.highlight[r] = 1;
    lo = Math.min(lo, ops.t0[r]); hi = Math.max(hi, ops.t1[r] >= 0 ? ops.t1[r] : ops.t0[r]);
  });
  var pad = Math.max((hi - lo) * 0.15, 50);
  this.v0 = lo - pad; this.v1 = hi + pad;
  if (center !== undefined && center >= 0) { this.select(center); } else { this.draw(); }
  this.canvas.scrollIntoView({ behavior: "smooth", block: "center" });
};
