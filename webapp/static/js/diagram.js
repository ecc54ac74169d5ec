/* YanXun: the read-only process diagram (templates/inbox/_diagram.html), drawn with bpmn-js.
 *
 * Every element with data-diagram-xml gets a viewer: the BPMN XML is fetched from that URL, the ids in
 * data-diagram-open (JSON list) are highlighted as the current position and those in data-diagram-done
 * marked as completed. The diagram is fitted to its box; when that would make it too small to read (a
 * phone), the drawing keeps a readable size and the box scrolls sideways instead, centred on the current
 * step. Buttons marked data-diagram-zoom (in, out, fit) in the same card zoom.
 */
(function () {
  "use strict";

  var MIN_READABLE_SCALE = 0.6;
  var MARGIN = 24;
  var STYLE_ID = "yx-diagram-style";
  var STYLE = [
    ".yx-diagram { position: relative; overflow: auto; -webkit-overflow-scrolling: touch; background: #fff; }",
    ".yx-diagram-stage { height: 420px; min-width: 100%; }",
    "@media (max-width: 767.98px) { .yx-diagram-stage { height: 320px; } }",
    ".yx-diagram-message { padding: 1rem; margin: 0; color: var(--bs-secondary-color); }",
    ".yx-diagram .djs-element.yx-current:not(.djs-connection) .djs-visual > :nth-child(1) {",
    "  stroke: #fd7e14 !important; stroke-width: 4px !important; fill: #fff3cd !important; }",
    ".yx-diagram .djs-element.yx-done:not(.djs-connection) .djs-visual > :nth-child(1) {",
    "  stroke: #198754 !important; fill: #d1e7dd !important; }"
  ].join("\n");

  function injectStyle() {
    if (document.getElementById(STYLE_ID)) {
      return;
    }
    var style = document.createElement("style");
    style.id = STYLE_ID;
    style.textContent = STYLE;
    document.head.appendChild(style);
  }

  function idList(element, name) {
    try {
      var value = JSON.parse(element.getAttribute(name) || "[]");
      return Array.isArray(value) ? value.filter(function (id) { return typeof id === "string"; }) : [];
    } catch (error) {
      return [];
    }
  }

  function showMessage(container, text, isError) {
    var message = container.querySelector(".yx-diagram-message");
    if (!text) {
      if (message) {
        message.remove();
      }
      return;
    }
    if (!message) {
      message = document.createElement("p");
      message.className = "yx-diagram-message small";
      container.insertBefore(message, container.firstChild);
    }
    message.textContent = text;
    message.setAttribute("role", isError ? "alert" : "status");
    if (isError) {
      message.classList.add("text-danger");
    }
  }

  function mark(viewer, ids, marker) {
    var registry = viewer.get("elementRegistry");
    var canvas = viewer.get("canvas");
    var found = [];
    ids.forEach(function (id) {
      var element = registry.get(id);
      if (element) {
        canvas.addMarker(id, marker);
        found.push(element);
      }
    });
    return found;
  }

  /* Fit the whole diagram; if it would be unreadably small, widen the stage and let the box scroll. */
  function layout(container, stage, viewer, focus) {
    var canvas = viewer.get("canvas");
    stage.style.width = "";
    canvas.resized();
    canvas.zoom("fit-viewport", "auto");
    var box = canvas.viewbox();
    var inner = box.inner;
    if (!inner || !inner.width || box.scale >= MIN_READABLE_SCALE) {
      return;
    }
    var height = stage.clientHeight;
    var scale = Math.max(box.scale, Math.min(1, (height - 2 * MARGIN) / inner.height));
    if (scale <= box.scale) {
      return;
    }
    stage.style.width = Math.ceil(inner.width * scale + 2 * MARGIN) + "px";
    canvas.resized();
    canvas.viewbox({
      x: inner.x - MARGIN / scale,
      y: inner.y - (height / scale - inner.height) / 2,
      width: stage.clientWidth / scale,
      height: height / scale
    });
    if (focus) {
      var left = (focus.x + focus.width / 2 - inner.x) * scale + MARGIN;
      container.scrollLeft = Math.max(0, left - container.clientWidth / 2);
    }
  }

  function wireControls(card, container, stage, viewer, focus) {
    var controls = card && card.querySelector("[data-diagram-controls]");
    if (!controls) {
      return;
    }
    controls.classList.remove("d-none");
    controls.addEventListener("click", function (event) {
      var button = event.target.closest("[data-diagram-zoom]");
      if (!button) {
        return;
      }
      var canvas = viewer.get("canvas");
      var action = button.getAttribute("data-diagram-zoom");
      if (action === "fit") {
        layout(container, stage, viewer, focus);
      } else {
        canvas.zoom(canvas.zoom() * (action === "in" ? 1.25 : 0.8), "auto");
      }
    });
  }

  function render(container) {
    var url = container.getAttribute("data-diagram-xml");
    var errorText = container.getAttribute("data-msg-error") || "The diagram could not be shown.";
    if (typeof window.BpmnJS !== "function") {
      showMessage(container, errorText, true);
      return;
    }
    showMessage(container, container.getAttribute("data-msg-loading") || "…", false);
    var stage = document.createElement("div");
    stage.className = "yx-diagram-stage";
    container.appendChild(stage);
    var viewer = new window.BpmnJS({ container: stage });
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/xml" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (xml) {
        return viewer.importXML(xml);
      })
      .then(function (result) {
        var warnings = (result && result.warnings) || [];
        container.setAttribute("data-diagram-warnings", String(warnings.length));
        if (warnings.length && window.console) {
          window.console.warn("diagram warnings:", warnings);
        }
        showMessage(container, null);
        mark(viewer, idList(container, "data-diagram-done"), "yx-done");
        var current = mark(viewer, idList(container, "data-diagram-open"), "yx-current");
        var focus = current.length ? current[0] : null;
        layout(container, stage, viewer, focus);
        wireControls(container.closest(".card"), container, stage, viewer, focus);
        container.setAttribute("data-diagram-ready", "1");
        var resizing = null;
        window.addEventListener("resize", function () {
          window.clearTimeout(resizing);
          resizing = window.setTimeout(function () { layout(container, stage, viewer, focus); }, 150);
        });
      })
      .catch(function (error) {
        stage.remove();
        showMessage(container, errorText, true);
        container.setAttribute("data-diagram-ready", "error");
        if (window.console) {
          window.console.error("diagram:", error);
        }
      });
  }

  function start() {
    var containers = document.querySelectorAll("[data-diagram-xml]");
    if (!containers.length) {
      return;
    }
    injectStyle();
    Array.prototype.forEach.call(containers, render);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
