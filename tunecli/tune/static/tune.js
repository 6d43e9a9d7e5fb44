// tunecli tune: the page. Everything it shows comes from this server (tunecli/tune/server.py).
//
// The output is drawn as regions rendered at full resolution by the engine: in the fitted view
// the photo is covered by fill regions (nearest the centre first); at 1:1 the visible region is
// rendered first as one piece, then the rest fills in. One request is in flight at a time; a
// slider move aborts it (the server also drops or stops any request a newer one overtakes).
// With one alpha axis, the view is also rendered at a few anchor alphas while idle: a slider
// move then shows at once a blend of the two nearest, labelled approximate until the exact
// render replaces it (an alpha rendered before shows exactly at once).
"use strict";

(() => {
  const token = new URLSearchParams(location.search).get("token") || "";
  const $ = (id) => document.getElementById(id);
  const api = (path, params) => `${path}?${new URLSearchParams({ ...(params || {}), token })}`;

  const state = {
    info: null,
    weights: [], // slider values in hundredths
    alpha: "", // the current alpha in --alpha syntax
    failed: null, // an alpha the server refused (not asked again)
    zoom: false,
    k: 1, // display pixels per output pixel
    left: 0, // content offset in the stage
    top: 0,
    split: 0.5, // split position, fraction of the viewer's width
    tiles: [],
    detail: null, // {region, alpha} of the 1:1 region shown
    anchors: null, // {key, images: Map(hundredths -> {image, url})}: exact renders of the view region
    approximation: null, // what the approximate view blends, while it shows
    inflight: null, // {key, controller}
    changedAt: performance.now(),
    viewSeconds: null,
    retry: null,
  };

  // ---- alpha ---------------------------------------------------------------------------
  const number = (h) => (h === 0 ? "0" : h === 100 ? "1" : String(h / 100));

  // same text as tunecli.tune.command.alpha_text
  function alphaText() {
    const space = state.info.space;
    if (space.scalar) return number(state.weights[0]);
    const pairs = space.axes.map((axis, i) => [axis.name, state.weights[i]]);
    const shown = space.domain === "box" ? pairs : pairs.filter(([, h]) => h !== 0);
    return shown.map(([name, h]) => `${name}=${number(h)}`).join(",");
  }

  // integers summing to total, each as near to values[i] as that allows
  function largestRemainder(values, total) {
    const floors = values.map(Math.floor);
    let left = total - floors.reduce((a, b) => a + b, 0);
    const order = values.map((v, i) => [v - Math.floor(v), i]).sort((a, b) => b[0] - a[0]);
    for (let j = 0; left > 0 && order.length; j = (j + 1) % order.length, left--) floors[order[j][1]]++;
    return floors;
  }

  function initialWeights(space, omega) {
    if (space.scalar) return [Math.round(omega[1] * 100)];
    if (space.domain === "box") return omega.map((v) => Math.round(v * 100));
    return largestRemainder(omega.map((v) => v * 100), 100);
  }

  // a simplex slider moved: the other weights share what is left in their proportions
  function rebalance(k, value) {
    const w = state.weights;
    const others = w.map((_, i) => i).filter((i) => i !== k);
    const rest = 100 - value;
    const sum = others.reduce((a, i) => a + w[i], 0);
    const shares = others.map((i) => (sum > 0 ? (w[i] * rest) / sum : rest / others.length));
    const ints = largestRemainder(shares, rest);
    others.forEach((i, j) => (w[i] = ints[j]));
    w[k] = value;
  }

  function sliderRow(id, name, meaning) {
    const row = document.createElement("div");
    row.className = "slider";
    const label = document.createElement("label");
    label.htmlFor = id;
    const title = document.createElement("span");
    title.textContent = name;
    const value = document.createElement("output");
    value.id = `${id}-value`;
    label.append(title, value);
    const input = document.createElement("input");
    Object.assign(input, { type: "range", id, min: "0", max: "100", step: "1" });
    row.append(label, input);
    for (const line of meaning) {
      const p = document.createElement("p");
      p.className = "meaning";
      p.textContent = line;
      row.append(p);
    }
    $("sliders").append(row);
    return input;
  }

  function buildSliders() {
    const space = state.info.space;
    const axes = space.axes;
    let rows;
    if (space.scalar) {
      const low = space.low || axes[0].meaning || axes[0].name;
      const high = space.high || axes[1].meaning || axes[1].name;
      rows = [["alpha", [`0 = ${low}`, `1 = ${high}`]]];
    } else {
      rows = axes.map((axis) => [axis.name, axis.meaning ? [axis.meaning] : []]);
    }
    const inputs = rows.map(([name, meaning], i) => sliderRow(`alpha-${i}`, name, meaning));
    inputs.forEach((input, i) =>
      input.addEventListener("input", () => {
        const value = Number(input.value);
        if (space.domain === "simplex" && !space.scalar) rebalance(i, value);
        else state.weights[i] = value;
        alphaChanged();
      })
    );
    state.inputs = inputs;
    $("weights").hidden = space.scalar || space.domain !== "simplex";
  }

  function showAlpha() {
    const space = state.info.space;
    state.inputs.forEach((input, i) => {
      input.value = String(state.weights[i]);
      $(`alpha-${i}-value`).textContent = (state.weights[i] / 100).toFixed(2);
    });
    if (!$("weights").hidden) {
      const parts = space.axes.map((axis, i) => `${axis.name} ${(state.weights[i] / 100).toFixed(2)}`);
      $("weights").textContent = `weights (sum 1): ${parts.join(" · ")}`;
    }
    $("alpha-text").textContent = state.alpha;
  }

  function alphaChanged() {
    state.alpha = alphaText();
    state.changedAt = performance.now();
    state.viewSeconds = null;
    state.failed = null;
    showAlpha();
    approximate();
    pump();
  }

  // ---- layout --------------------------------------------------------------------------
  const out = () => ({ w: state.info.width * state.info.scale, h: state.info.height * state.info.scale });

  function layout() {
    const stage = $("stage");
    const size = out();
    const content = $("content");
    content.style.width = `${size.w}px`;
    content.style.height = `${size.h}px`;
    if (state.zoom) {
      state.k = 1;
      state.left = Math.max(0, (stage.clientWidth - size.w) / 2);
      state.top = Math.max(0, (stage.clientHeight - size.h) / 2);
      content.style.transform = "none";
    } else {
      state.k = Math.min(stage.clientWidth / size.w, stage.clientHeight / size.h);
      state.left = (stage.clientWidth - size.w * state.k) / 2;
      state.top = (stage.clientHeight - size.h * state.k) / 2;
      content.style.transform = `scale(${state.k})`;
    }
    content.style.left = `${state.left}px`;
    content.style.top = `${state.top}px`;
    stage.classList.toggle("zoomed", state.zoom);
    $("zoom").textContent = state.zoom ? "Fit" : "1:1";
    placeSplit();
  }

  function placeSplit() {
    const viewer = $("viewer");
    const stage = $("stage");
    const x = state.split * viewer.clientWidth;
    $("split-line").style.left = `${x}px`;
    $("split").value = String(Math.round(state.split * 1000));
    const inContent = (x + stage.scrollLeft - state.left) / state.k;
    const clip = Math.min(Math.max(inContent, 0), out().w);
    $("after").style.clipPath = `inset(0 0 0 ${clip}px)`;
  }

  // the input pixels visible at 1:1
  function visibleRegion() {
    const stage = $("stage");
    const s = state.info.scale;
    const size = out();
    const x0 = Math.max(0, stage.scrollLeft - state.left);
    const y0 = Math.max(0, stage.scrollTop - state.top);
    const x1 = Math.min(size.w, stage.scrollLeft - state.left + stage.clientWidth);
    const y1 = Math.min(size.h, stage.scrollTop - state.top + stage.clientHeight);
    const x = Math.floor(x0 / s);
    const y = Math.floor(y0 / s);
    return { x, y, w: Math.max(1, Math.ceil(x1 / s) - x), h: Math.max(1, Math.ceil(y1 / s) - y) };
  }

  function zoomAt(outputX, outputY) {
    state.zoom = true;
    layout();
    const stage = $("stage");
    stage.scrollLeft = outputX + state.left - stage.clientWidth / 2;
    stage.scrollTop = outputY + state.top - stage.clientHeight / 2;
    placeSplit();
    pump();
  }

  function fit() {
    state.zoom = false;
    $("stage").scrollTo(0, 0);
    layout();
    pump();
  }

  // ---- regions -------------------------------------------------------------------------
  function splits(length, side) {
    const count = Math.ceil(length / side);
    const edges = Array.from({ length: count + 1 }, (_, i) => Math.round((i * length) / count));
    return edges.slice(0, -1).map((start, i) => [start, edges[i + 1] - start]);
  }

  function buildTiles() {
    const { width, height, scale, fill_tile: side } = state.info;
    for (const [y, h] of splits(height, side)) {
      for (const [x, w] of splits(width, side)) {
        const img = document.createElement("img");
        img.className = "tile";
        img.alt = "";
        img.draggable = false;
        Object.assign(img.style, { left: `${x * scale}px`, top: `${y * scale}px`, width: `${w * scale}px`, height: `${h * scale}px` });
        $("after").insertBefore(img, $("detail"));
        state.tiles.push({ region: { x, y, w, h }, img, alpha: null });
      }
    }
  }

  const same = (a, b) => a.x === b.x && a.y === b.y && a.w === b.w && a.h === b.h;
  const regionKey = (r) => `${r.x},${r.y},${r.w},${r.h}`;
  const keyOf = (item) => `${item.alpha}|${regionKey(item.region)}`;
  // alphas rendered for the view while idle, so a slider move can show a blend at once
  const ANCHORS = [0, 25, 50, 75, 100];
  const KEPT_RENDERS = 12;

  // "the view": the 1:1 region, or the photo when one fill region covers it
  function viewRegion() {
    if (state.zoom) return visibleRegion();
    return state.tiles.length === 1 ? state.tiles[0].region : null;
  }

  // what to render next, most wanted first: the view, the rest of the photo, then anchors
  function wanted() {
    if (state.failed === state.alpha) return [];
    const alpha = state.alpha;
    const list = [];
    let cx = state.info.width / 2;
    let cy = state.info.height / 2;
    let view = null;
    if (state.zoom) {
      view = visibleRegion();
      cx = view.x + view.w / 2;
      cy = view.y + view.h / 2;
      const shown = state.detail && state.detail.alpha === alpha && same(state.detail.region, view);
      if (!shown) list.push({ kind: "detail", region: view, alpha });
    }
    const overlaps = (r) => view && r.x < view.x + view.w && view.x < r.x + r.w && r.y < view.y + view.h && view.y < r.y + r.h;
    const distance = (r) => (overlaps(r) ? 0 : 1e12) + Math.hypot(r.x + r.w / 2 - cx, r.y + r.h / 2 - cy);
    const stale = state.tiles.filter((t) => t.alpha !== alpha);
    stale.sort((a, b) => distance(a.region) - distance(b.region));
    list.push(...stale.map((tile) => ({ kind: "tile", tile, region: tile.region, alpha })));
    if (list.length === 0) {
      const anchor = anchorWanted();
      if (anchor) list.push(anchor);
    }
    return list;
  }

  function anchorsFor(region) {
    const key = regionKey(region);
    if (!state.anchors || state.anchors.key !== key) {
      const old = state.anchors;
      state.anchors = { key, images: new Map() };
      $("stage").dataset.anchors = "0";
      if (old) for (const entry of old.images.values()) release(entry.url);
    }
    return state.anchors;
  }

  function anchorWanted() {
    const view = viewRegion();
    if (!state.info.space.scalar || !view) return null;
    const images = anchorsFor(view).images;
    const missing = ANCHORS.find((h) => !images.has(h));
    return missing === undefined ? null : { kind: "anchor", region: view, alpha: number(missing) };
  }

  // a blob URL is revoked once no image shows it and no anchor keeps it
  function release(url) {
    if (!url) return;
    const shown = [...document.querySelectorAll("#after img")].some((img) => img.dataset.url === url);
    const kept = state.anchors && [...state.anchors.images.values()].some((entry) => entry.url === url);
    if (!shown && !kept) URL.revokeObjectURL(url);
  }

  function keep(region, alpha, image, url) {
    const view = viewRegion();
    if (!state.info.space.scalar || !view || !same(view, region)) return false;
    const images = anchorsFor(region).images;
    images.set(Math.round(Number(alpha) * 100), { image, url });
    // the anchors stay; of the other renders, the newest few
    const others = [...images.keys()].filter((h) => !ANCHORS.includes(h));
    for (const h of others.slice(0, Math.max(0, others.length - KEPT_RENDERS))) {
      const old = images.get(h);
      images.delete(h);
      release(old.url);
    }
    $("stage").dataset.anchors = String(images.size);
    return true;
  }

  // put a rendered region on the page (the 1:1 region or a fill region)
  function show(item, alpha, url) {
    const { x, y, w, h } = item.region;
    const img = item.kind === "detail" ? $("detail") : item.tile.img;
    const old = img.dataset.url;
    img.src = url;
    Object.assign(img.dataset, { url, alpha, x: String(x), y: String(y), w: String(w), h: String(h) });
    if (old && old !== url) release(old);
    if (item.kind === "detail") {
      const s = state.info.scale;
      Object.assign(img.style, { left: `${x * s}px`, top: `${y * s}px`, width: `${w * s}px`, height: `${h * s}px` });
      img.hidden = false;
      state.detail = { region: item.region, alpha };
    } else {
      item.tile.alpha = alpha;
    }
    if (alpha === state.alpha) hideApproximation();
  }

  // a slider move: an alpha rendered before shows at once; else a blend of the two nearest anchors
  function approximate() {
    const view = viewRegion();
    if (!state.info.space.scalar || !view || !state.anchors || state.anchors.key !== regionKey(view)) {
      hideApproximation();
      return;
    }
    const images = state.anchors.images;
    const h = state.weights[0];
    if (images.has(h)) {
      const item = state.zoom ? { kind: "detail", region: view } : { kind: "tile", tile: state.tiles[0], region: view };
      show(item, state.alpha, images.get(h).url);
      state.viewSeconds = (performance.now() - state.changedAt) / 1000;
      return;
    }
    const keys = [...images.keys()];
    const below = Math.max(...keys.filter((k) => k < h));
    const above = Math.min(...keys.filter((k) => k > h));
    if (!Number.isFinite(below) || !Number.isFinite(above)) {
      hideApproximation();
      return;
    }
    const s = state.info.scale;
    const canvas = $("approx");
    canvas.width = view.w * s;
    canvas.height = view.h * s;
    Object.assign(canvas.style, { left: `${view.x * s}px`, top: `${view.y * s}px`, width: `${view.w * s}px`, height: `${view.h * s}px` });
    const context = canvas.getContext("2d");
    context.globalAlpha = 1;
    context.drawImage(images.get(below).image, 0, 0);
    context.globalAlpha = (h - below) / (above - below);
    context.drawImage(images.get(above).image, 0, 0);
    canvas.hidden = false;
    $("tag-approx").hidden = false;
    state.approximation = `blend of alpha ${number(below)} and ${number(above)}`;
  }

  function hideApproximation() {
    $("approx").hidden = true;
    $("tag-approx").hidden = true;
    state.approximation = null;
  }

  function pump() {
    if (!state.info) return;
    clearTimeout(state.retry);
    const list = wanted();
    const next = list[0];
    if (state.inflight) {
      if (next && state.inflight.key === keyOf(next)) return;
      state.inflight.controller.abort();
      state.inflight = null;
    }
    status(list);
    if (next) render(next);
  }

  async function render(item) {
    const controller = new AbortController();
    const key = keyOf(item);
    const alpha = item.alpha;
    state.inflight = { key, controller };
    const { x, y, w, h } = item.region;
    let url = null;
    try {
      const response = await fetch(api("api/render", { alpha, x, y, w, h }), { signal: controller.signal });
      if (response.status === 409) {
        // overtaken by a request this page did not send (another tab): ask again soon
        if (state.inflight && state.inflight.key === key) state.inflight = null;
        state.retry = setTimeout(pump, 200);
        return;
      }
      if (!response.ok) {
        const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
        state.failed = alpha;
        showError(body.error);
        return;
      }
      url = URL.createObjectURL(await response.blob());
      const image = new Image();
      image.src = url;
      await image.decode();
      if (controller.signal.aborted) return;
      const kept = keep(item.region, alpha, image, url);
      if (item.kind !== "anchor") {
        show(item, alpha, url);
        if (state.viewSeconds === null && alpha === state.alpha && (item.kind === "detail" || !state.zoom)) {
          state.viewSeconds = (performance.now() - state.changedAt) / 1000;
        }
      }
      if (kept || item.kind !== "anchor") url = null;
      showError(null);
    } catch (error) {
      if (error.name !== "AbortError") showError(String(error));
      return;
    } finally {
      if (url) URL.revokeObjectURL(url);
      if (state.inflight && state.inflight.key === key) state.inflight = null;
    }
    pump();
  }

  function status(list) {
    const total = state.tiles.length;
    const left = state.tiles.filter((t) => t.alpha !== state.alpha).length;
    const next = list[0];
    let text;
    if (state.failed === state.alpha) text = "not rendered: see the error below";
    else if (!next || next.kind === "anchor") text = "up to date";
    else if (next.kind === "detail") text = "rendering the visible region at 1:1…";
    else text = `rendering… ${total - left} of ${total} region${total === 1 ? "" : "s"} done`;
    if (state.approximation && next && next.kind !== "anchor") text = `approximate view (${state.approximation}); the exact view follows…`;
    if (state.viewSeconds !== null) text += ` · exact view ${state.viewSeconds.toFixed(2)} s after the last change`;
    if (!state.info.tile_exact) text += " · regions cut from a whole-image render (the model normalizes over the whole photo)";
    $("status").textContent = text;
  }

  // what went wrong rendering (id "error") or saving (id "save-error"), or null to clear it
  function showError(message, id = "error") {
    $(id).hidden = !message;
    $(id).textContent = message || "";
  }

  // ---- interaction ---------------------------------------------------------------------
  function splitDrag() {
    const line = $("split-line");
    const move = (event) => {
      const rect = $("viewer").getBoundingClientRect();
      state.split = Math.min(Math.max((event.clientX - rect.left) / rect.width, 0), 1);
      placeSplit();
    };
    line.addEventListener("pointerdown", (event) => {
      line.setPointerCapture(event.pointerId);
      move(event);
      line.addEventListener("pointermove", move);
      line.addEventListener("pointerup", () => line.removeEventListener("pointermove", move), { once: true });
      event.preventDefault();
    });
    $("split").addEventListener("input", () => {
      state.split = Number($("split").value) / 1000;
      placeSplit();
    });
  }

  function stagePointer() {
    const stage = $("stage");
    let press = null;
    stage.addEventListener("pointerdown", (event) => {
      press = { x: event.clientX, y: event.clientY, left: stage.scrollLeft, top: stage.scrollTop, moved: false };
      if (state.zoom) {
        stage.setPointerCapture(event.pointerId);
        stage.classList.add("panning");
      }
      event.preventDefault();
    });
    stage.addEventListener("pointermove", (event) => {
      if (!press) return;
      const dx = event.clientX - press.x;
      const dy = event.clientY - press.y;
      if (Math.abs(dx) + Math.abs(dy) > 4) press.moved = true;
      if (state.zoom && press.moved) {
        stage.scrollLeft = press.left - dx;
        stage.scrollTop = press.top - dy;
      }
    });
    stage.addEventListener("pointerup", (event) => {
      stage.classList.remove("panning");
      const was = press;
      press = null;
      if (!was || was.moved) return;
      if (state.zoom) {
        fit();
        return;
      }
      const rect = $("content").getBoundingClientRect();
      zoomAt((event.clientX - rect.left) / state.k, (event.clientY - rect.top) / state.k);
    });
    let settle = null;
    stage.addEventListener("scroll", () => {
      placeSplit();
      clearTimeout(settle);
      settle = setTimeout(pump, 120);
    });
  }

  async function save() {
    const button = $("save");
    const bar = $("save-progress");
    button.disabled = true;
    $("save-box").hidden = false;
    $("saved").hidden = true;
    bar.removeAttribute("value");
    showError(null, "save-error");
    const poll = setInterval(async () => {
      const progress = await (await fetch(api("api/progress"))).json();
      if (progress.total) {
        bar.max = progress.total;
        bar.value = progress.done;
      }
    }, 250);
    try {
      const response = await fetch(api("api/save"), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ alpha: state.alpha }),
      });
      const body = await response.json();
      if (!response.ok) {
        showError(body.error, "save-error");
        $("save-box").hidden = true;
        return;
      }
      bar.max = 1;
      bar.value = 1;
      $("saved-path").textContent = body.output;
      $("command").textContent = body.command;
      $("saved").hidden = false;
    } catch (error) {
      showError(String(error), "save-error");
    } finally {
      clearInterval(poll);
      button.disabled = false;
    }
  }

  async function start() {
    const response = await fetch(api("api/info"));
    state.info = await response.json();
    const info = state.info;
    document.title = `tune · ${info.image}`;
    $("title").textContent = info.image;
    $("model").textContent = `${info.model} · ${info.task} · ${info.width}×${info.height}${info.scale > 1 ? ` → ×${info.scale}` : ""} · ${info.compute}`;
    $("where").textContent =
      `Save writes the full-resolution image ${info.output ? `into ${info.output}` : "next to the input"}; ` +
      (info.overwrite ? "an existing file is replaced (--overwrite)." : "an existing file is kept (start with --overwrite to replace it).");
    $("before").src = api("api/source.png");
    state.weights = initialWeights(info.space, info.alpha);
    buildSliders();
    buildTiles();
    state.alpha = alphaText();
    showAlpha();
    layout();
    splitDrag();
    stagePointer();
    $("zoom").addEventListener("click", () => (state.zoom ? fit() : zoomAt(out().w / 2, out().h / 2)));
    $("save").addEventListener("click", save);
    window.addEventListener("resize", () => {
      layout();
      pump();
    });
    pump();
  }

  start().catch((error) => showError(String(error)));
})();
