// jepsy report: one time window for the timeline and the time charts.
// The timeline owns the window (J.Timeline v0..v1); whenever it draws, it
// publishes the window here, and the latency, throughput and clock charts and
// the availability windows redraw to show the same span. The charts steer it
// back: drag across a chart to zoom the timeline (and so every chart) to that
// span, double-click for the whole run. The view is null when the timeline
// shows the whole run: each chart then shows its own whole extent.
"use strict";
J.view = null;
J.viewers = [];
// The time charts drawn, for the self-test: {name, full: its own extent, plot() -> the J.Plot shown}.
J.charts = [];
J.viewPending = false;

// fn(view) is called with [t0, t1] or null after every change of the window.
J.onView = function (fn) { J.viewers.push(fn); };

// Called by the timeline's draw. Redraws of the charts are batched into one
// animation frame (a drag draws the timeline at every mouse move).
J.setView = function (v) {
  var same = v === null ? J.view === null : J.view !== null && J.view[0] === v[0] && J.view[1] === v[1];
  if (same) { return; }
  J.view = v;
  if (J.viewPending) { return; }
  J.viewPending = true;
  if (window.requestAnimationFrame) { window.requestAnimationFrame(J.flushView); } else { J.flushView(); }
};

// Tell every chart now (the self-test calls it instead of waiting for a frame).
J.flushView = function () {
  if (!J.viewPending) { return; }
  J.viewPending = false;
  J.viewers.forEach(function (fn) {
    try { fn(J.view); } catch (e) { J.reportError("view", e); }
  });
};

// The span a chart whose own extent is full ([t0, t1]) shows now: the same
// array until the window changes, so that a chart can cache what it computed.
J.window = function (full) { return J.view || full; };

// Set the timeline to [t0, t1] (null: the whole run); it redraws and publishes.
J.showSpan = function (t0, t1) {
  var t = J.timeline;
  if (!t) { return; }
  if (t0 === null) { t.v0 = t.tMin; t.v1 = t.tMax; }
  else { var mid = (t0 + t1) / 2, half = Math.max(t1 - t0, 2) / 2; t.v0 = mid - half; t.v1 = mid + half; }
  t.draw();
};

// Let a chart's canvas steer the window: drag across it to zoom to that span
// (a shaded band follows the mouse), double-click for the whole run. plot() is
// the chart's current J.Plot. Returns a function telling whether the last
// mouse-up ended a drag (a click handler then ignores it).
J.brush = function (canvas, plot) {
  var band = J.el("div", { "class": "brush" }), drag = null, dragged = false;
  band.hidden = true;
  canvas.parentNode.appendChild(band);
  canvas.classList.add("zoomable");
  var at = function (e) { var r = canvas.getBoundingClientRect(); return e.clientX - r.left; };
  canvas.addEventListener("mousedown", function (e) {
    var x = at(e), p = plot();
    if (x < p.L || x > p.W - p.R) { return; }
    drag = { x: x }; dragged = false;
  });
  canvas.addEventListener("mousemove", function (e) {
    if (!drag || !e.buttons) { return; }
    var p = plot(), x = Math.max(p.L, Math.min(p.W - p.R, at(e)));
    if (Math.abs(x - drag.x) > 3) { dragged = true; }
    band.hidden = !dragged;
    band.style.left = Math.min(x, drag.x) + "px"; band.style.width = Math.abs(x - drag.x) + "px";
    band.style.top = p.T + "px"; band.style.height = (p.H - p.T - p.B) + "px";
  });
  window.addEventListener("mouseup", function (e) {
    if (!drag) { return; }
    var p = plot(), x = Math.max(p.L, Math.min(p.W - p.R, at(e)));
    band.hidden = true;
    if (dragged && Math.abs(x - drag.x) > 3) {
      var a = p.tAt(Math.min(x, drag.x)), b = p.tAt(Math.max(x, drag.x));
      J.showSpan(a, b);
    }
    drag = null;
  });
  canvas.addEventListener("dblclick", function () { J.showSpan(null); });
  return function () { var d = dragged; dragged = false; return d; };
};
