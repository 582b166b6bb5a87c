// jepsy report: shared helpers. Every string from the history or a checker is
// untrusted (it came from the database under test): it reaches the page only
// through textContent or SVG text nodes, never parsed as markup.
"use strict";
var J = {};

J.errors = [];
J.reportError = function (where, err) {
  var text = where + ": " + (err && err.stack ? err.stack : String(err));
  J.errors.push(text);
  var box = document.getElementById("jepsy-errors");
  if (box) { box.textContent = J.errors.join("\n"); }
};
window.onerror = function (msg, src, line, col, err) {
  J.reportError("uncaught", err || (msg + " at " + line + ":" + col));
};
window.addEventListener("unhandledrejection", function (e) { J.reportError("promise", e.reason); });

// el("div", {class: "x", onclick: f}, "text", child, ...): children are nodes or text.
J.el = function (tag, attrs) {
  var svg = J.SVG_TAGS[tag];
  var node = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  if (attrs) {
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) { return; }
      if (k.slice(0, 2) === "on") { node.addEventListener(k.slice(2), v); }
      else if (k === "text") { node.textContent = String(v); }
      else { node.setAttribute(k, String(v)); }
    });
  }
  for (var i = 2; i < arguments.length; i++) { J.append(node, arguments[i]); }
  return node;
};
J.append = function (node, child) {
  if (child === null || child === undefined || child === false) { return; }
  if (Array.isArray(child)) { child.forEach(function (c) { J.append(node, c); }); return; }
  node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
};
J.SVG_TAGS = { svg: 1, g: 1, rect: 1, line: 1, path: 1, text: 1, circle: 1, polyline: 1, title: 1,
  defs: 1, marker: 1, tspan: 1 };

J.verdictWord = function (v) { return v === true ? "valid" : v === false ? "INVALID" : "unknown"; };
J.verdictClass = function (v) { return v === true ? "valid" : v === false ? "invalid" : "unknown"; };
J.verdict = function (v) { return J.el("span", { "class": "verdict " + J.verdictClass(v), text: J.verdictWord(v) }); };

J.TYPE_NAMES = ["ok", "fail", "info", "never completed"];
J.TYPE_COLORS = ["#4caf6a", "#e0706a", "#f0b429", "#a98bd3"];
J.PALETTE = ["#2f6fdb", "#e8710a", "#1e8e3e", "#d93025", "#9334e6", "#12a4af", "#c5221f", "#7b5e00",
  "#e52592", "#5f6368"];
J.FAULT_COLORS = { partition: "#5b8def", kill: "#d9534f", pause: "#8e6bd8", clock: "#e3a21a",
  packet: "#1aa3a3", fault: "#7a869a" };
J.faultColor = function (kind) {
  var k = Object.keys(J.FAULT_COLORS).filter(function (n) { return kind.indexOf(n) >= 0; })[0];
  return J.FAULT_COLORS[k || "fault"];
};

// Times on the page are microseconds since the test started, nanoseconds for
// very short histories, or op positions; J.perSec is page time units per second.
J.perSec = 1e6;
J.fmtTime = function (t) {
  if (J.timeUnit === "op") { return "op " + Math.round(t); }
  if (t === null || t === undefined || t < 0) { return "-"; }
  var s = t / J.perSec;
  return s >= 100 ? s.toFixed(1) + " s" : s >= 10 ? s.toFixed(2) + " s" : s.toFixed(3) + " s";
};
// A tick label: as many decimals as the spacing of the ticks needs.
J.fmtTick = function (t, step) {
  if (J.timeUnit === "op") { return "op " + Math.round(t); }
  var digits = Math.max(0, Math.min(9, Math.ceil(-Math.log10(step / J.perSec) - 1e-9)));
  return (t / J.perSec).toFixed(digits) + " s";
};
J.fmtDur = function (d) {
  if (J.timeUnit === "op") { return Math.round(d) + " ops"; }
  if (J.timeUnit === "ns" && d < 1000) { return d.toFixed(0) + " ns"; }
  var us = d * 1e6 / J.perSec;
  if (us < 1000) { return us.toFixed(0) + " µs"; }
  if (us < 1e6) { return (us / 1000).toFixed(us < 1e4 ? 2 : 1) + " ms"; }
  return (us / 1e6).toFixed(2) + " s";
};
// Round values from lo to hi, about n of them (whole numbers on op-position axes).
J.niceTicks = function (lo, hi, n, integer) {
  var span = hi - lo;
  if (!(span > 0)) { return [lo]; }
  var step = Math.pow(10, Math.floor(Math.log10(span / n)));
  var err = span / n / step;
  step *= err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1;
  if (J.timeUnit === "op" && integer) { step = Math.max(1, step); }
  var out = [];
  for (var v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) { out.push(v); }
  return out;
};

// One tooltip for the page; lines are text.
J.tip = function (evt, lines) {
  var t = document.getElementById("tooltip");
  if (!lines) { t.hidden = true; return; }
  t.textContent = Array.isArray(lines) ? lines.join("\n") : lines;
  t.hidden = false;
  var x = evt.clientX + 14, y = evt.clientY + 14;
  var w = t.offsetWidth, h = t.offsetHeight;
  if (x + w > window.innerWidth - 8) { x = Math.max(8, evt.clientX - w - 14); }
  if (y + h > window.innerHeight - 8) { y = Math.max(8, evt.clientY - h - 14); }
  t.style.left = x + "px"; t.style.top = y + "px";
};

// A canvas sized to its box and the device pixel ratio; returns its 2d context.
J.fitCanvas = function (canvas, height) {
  var ratio = window.devicePixelRatio || 1;
  var width = canvas.clientWidth || (canvas.parentNode && canvas.parentNode.clientWidth) || 1000;
  canvas.style.height = height + "px";
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  var ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { ctx: ctx, width: width, height: height };
};

J.opLink = function (historyIndex, label) {
  return J.el("a", { "class": "oplink", title: "show on the timeline",
    onclick: function () { J.focusHistoryIndex(historyIndex); } }, label || ("op " + historyIndex));
};

J.jsonText = function (v) {
  try { return JSON.stringify(v, null, 2); } catch (e) { return String(v); }
};
J.rawDetails = function (title, value) {
  return J.el("details", null, J.el("summary", { text: title }),
    J.el("pre", { "class": "json", text: J.jsonText(value) }));
};
