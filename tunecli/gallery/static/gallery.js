// tunecli gallery: written for this project, inlined into every index.html (no network).
// The page data comes from the JSON block #gallery-data; text reaches the DOM only through
// textContent and element properties, never through innerHTML.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("gallery-data").textContent);
  var entries = data.entries;
  var state = { entry: 0, a: 0, b: Math.min(1, entries[0].views.length - 1), split: 50 };
  var $ = function (id) { return document.getElementById(id); };
  var stage = $("stage"), imgA = $("img-a"), imgB = $("img-b"), divider = $("divider");
  var split = $("split"), pickEntry = $("pick-entry"), pickA = $("pick-a"), pickB = $("pick-b");
  var lightbox = $("lightbox"), lightboxImg = $("lightbox-img"), lightboxCaption = $("lightbox-caption");
  var lightboxView = null;

  function views() { return entries[state.entry].views; }

  function fillOptions(select, list) {
    while (select.firstChild) { select.removeChild(select.firstChild); }
    list.forEach(function (view, index) {
      var option = document.createElement("option");
      option.value = String(index);
      option.textContent = view.label;
      select.appendChild(option);
    });
  }

  function fitStage() {
    var w = imgA.naturalWidth, h = imgA.naturalHeight;
    if (!w || !h) { return; }
    var maxW = stage.parentNode.clientWidth, maxH = Math.max(200, window.innerHeight * 0.72);
    var scale = Math.min(maxW / w, maxH / h);
    stage.style.width = Math.round(w * scale) + "px";
    stage.style.height = Math.round(h * scale) + "px";
    stage.classList.toggle("pixels", scale > 1);
  }

  function applySplit() {
    imgB.style.clipPath = "inset(0 0 0 " + state.split + "%)";
    divider.style.left = state.split + "%";
    split.value = String(state.split);
  }

  function render() {
    var list = views();
    var a = list[state.a], b = list[state.b];
    if (imgA.getAttribute("src") !== a.src) { imgA.src = a.src; }
    if (imgB.getAttribute("src") !== b.src) { imgB.src = b.src; }
    $("tag-a").textContent = a.label;
    $("tag-b").textContent = b.label;
    pickA.value = String(state.a);
    pickB.value = String(state.b);
    document.querySelectorAll("figure[data-view]").forEach(function (figure) {
      var mine = Number(figure.dataset.entry) === state.entry;
      figure.classList.toggle("is-a", mine && Number(figure.dataset.view) === state.a);
      figure.classList.toggle("is-b", mine && Number(figure.dataset.view) === state.b);
    });
    stage.dataset.a = String(state.a);
    stage.dataset.b = String(state.b);
    applySplit();
  }

  function selectEntry(index) {
    state.entry = index;
    state.a = 0;
    state.b = Math.min(1, views().length - 1);
    fillOptions(pickA, views());
    fillOptions(pickB, views());
    if (pickEntry) { pickEntry.value = String(index); }
    render();
  }

  function step(side, delta) {
    var count = views().length;
    var first = side === "b" ? 1 : 0;  // the right side steps through the alphas only
    var next = Math.min(count - 1, Math.max(first, state[side] + delta));
    if (count === 1) { next = 0; }
    state[side] = next;
    render();
  }

  function openLightbox(entry, view) {
    var target = entries[entry].views[view];
    lightboxView = { entry: entry, view: view };
    lightboxImg.src = target.src;
    lightboxImg.alt = target.label;
    lightboxCaption.textContent = entries[entry].name + " \u2014 " + target.label;
    lightbox.hidden = false;
  }

  function closeLightbox() {
    lightbox.hidden = true;
    lightboxView = null;
  }

  function splitFromPointer(event) {
    var rect = stage.getBoundingClientRect();
    state.split = Math.round(Math.min(100, Math.max(0, (event.clientX - rect.left) / rect.width * 100)) * 10) / 10;
    applySplit();
  }

  if (pickEntry) {
    fillOptions(pickEntry, entries.map(function (entry) { return { label: entry.name }; }));
    pickEntry.addEventListener("change", function () { selectEntry(Number(pickEntry.value)); });
  }
  pickA.addEventListener("change", function () { state.a = Number(pickA.value); render(); });
  pickB.addEventListener("change", function () { state.b = Number(pickB.value); render(); });
  split.addEventListener("input", function () { state.split = Number(split.value); applySplit(); });
  stage.addEventListener("pointerdown", function (event) {
    stage.setPointerCapture(event.pointerId);
    splitFromPointer(event);
  });
  stage.addEventListener("pointermove", function (event) {
    if (stage.hasPointerCapture(event.pointerId)) { splitFromPointer(event); }
  });
  imgA.addEventListener("load", fitStage);
  window.addEventListener("resize", fitStage);

  document.querySelectorAll("figure[data-view]").forEach(function (figure) {
    var entry = Number(figure.dataset.entry), view = Number(figure.dataset.view);
    figure.querySelector("a.full").addEventListener("click", function (event) {
      event.preventDefault();
      openLightbox(entry, view);
    });
    var pick = document.createElement("div");
    pick.className = "pick";
    [["a", "left"], ["b", "right"]].forEach(function (pair) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = "compare " + pair[1];
      button.addEventListener("click", function () {
        if (state.entry !== entry) { selectEntry(entry); }
        state[pair[0]] = view;
        render();
        stage.scrollIntoView({ block: "nearest" });
      });
      pick.appendChild(button);
    });
    figure.appendChild(pick);
  });

  lightbox.addEventListener("click", closeLightbox);
  document.addEventListener("keydown", function (event) {
    var tag = event.target && event.target.tagName;
    if (!lightbox.hidden) {
      if (event.key === "Escape") { closeLightbox(); event.preventDefault(); }
      if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
        var list = entries[lightboxView.entry].views;
        var next = lightboxView.view + (event.key === "ArrowRight" ? 1 : -1);
        if (next >= 0 && next < list.length) { openLightbox(lightboxView.entry, next); }
        event.preventDefault();
      }
      return;
    }
    if (tag === "SELECT" || tag === "INPUT" || event.altKey || event.ctrlKey || event.metaKey) { return; }
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      step(event.shiftKey ? "a" : "b", event.key === "ArrowRight" ? 1 : -1);
      event.preventDefault();
    }
  });

  document.getElementById("compare").hidden = false;
  selectEntry(0);
})();
