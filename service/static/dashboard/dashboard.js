// biosig dashboard: live traces, gesture label and scores, embedding trajectory, vocabulary, recordings.
// Talks to the service's REST API (Authorization header) and to WebSocket /v1/watch (key as subprotocol).
"use strict";

const TRACE_SECONDS = 5;
const TRAIL = 60; // results kept in the trajectory
const $ = (id) => document.getElementById(id);

const app = {
  key: null,
  ws: null,
  streams: new Map(), // stream key -> {info, closed, rate, start, bufs, head, trail, last}
  selected: null,
  projection: null,
  vocabulary: [],
  retry: 1000,
};

// -- key ------------------------------------------------------------------------------------------------------

function readKey() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("key")) {
    sessionStorage.setItem("biosig-key", hash.get("key"));
    history.replaceState(null, "", location.pathname); // the key leaves the address bar
  }
  return sessionStorage.getItem("biosig-key");
}

function say(text, error = false) {
  const el = $("message");
  el.textContent = text;
  el.className = error ? "error" : "";
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: `Bearer ${app.key}` }, options.headers || {});
  if (options.body && typeof options.body !== "string") {
    headers["Content-Type"] = "application/json";
    options = Object.assign({}, options, { body: JSON.stringify(options.body) });
  }
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch (_) { /* not JSON */ }
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }
  return response;
}

// -- the watch connection -------------------------------------------------------------------------------------

function setStatus(text, cls) {
  const el = $("status");
  el.textContent = text;
  el.className = `status ${cls}`;
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/v1/watch`, ["biosig.v1", `key.${app.key}`]);
  app.ws = ws;
  ws.onopen = () => { setStatus("connected", "on"); app.retry = 1000; };
  ws.onmessage = (ev) => handle(JSON.parse(ev.data));
  ws.onclose = (ev) => {
    setStatus("disconnected", "off");
    if (ev.code === 1008) {
      say(`key refused: ${ev.reason || "unauthorized"}`, true);
      sessionStorage.removeItem("biosig-key");
      $("key-form").hidden = false;
      return;
    }
    setTimeout(connect, app.retry);
    app.retry = Math.min(app.retry * 2, 15000);
  };
}

function stream(name) {
  if (!app.streams.has(name)) {
    app.streams.set(name, { info: null, closed: false, rate: 0, start: 0, bufs: [], head: 0, trail: [], last: null });
  }
  return app.streams.get(name);
}

function handle(msg) {
  switch (msg.type) {
    case "snapshot":
      $("tenant").textContent = `tenant ${msg.tenant}`;
      for (const info of msg.streams) { stream(info.stream).info = info; }
      if (msg.projection) app.projection = msg.projection;
      renderStreams();
      break;
    case "stream": {
      const s = stream(msg.stream);
      s.info = msg;
      s.closed = msg.event === "closed";
      if (!s.closed) { s.bufs = []; s.trail = []; }
      renderStreams();
      if (msg.event === "closed") loadRecordings();
      break;
    }
    case "progress":
      stream(msg.stream).info = Object.assign(stream(msg.stream).info || {}, msg);
      renderStreams();
      break;
    case "samples":
      pushSamples(stream(msg.stream), msg);
      break;
    case "result":
      onResult(stream(msg.stream), msg);
      break;
    case "projection":
      app.projection = msg;
      for (const s of app.streams.values()) s.trail = [];
      loadVocabulary();
      break;
    case "error":
      say(msg.message, true);
      break;
  }
}

// -- streams --------------------------------------------------------------------------------------------------

function renderStreams() {
  const list = $("streams");
  list.innerHTML = "";
  if (!app.selected || !app.streams.has(app.selected)) {
    const open = [...app.streams.entries()].find(([, s]) => !s.closed);
    app.selected = open ? open[0] : null;
  }
  if (app.streams.size === 0) {
    list.innerHTML = '<li class="empty">no live stream</li>';
    return;
  }
  for (const [name, s] of app.streams) {
    const i = s.info || {};
    const li = document.createElement("li");
    li.dataset.stream = name;
    li.className = (name === app.selected ? "selected " : "") + (s.closed ? "closed" : "");
    const kind = (i.device && (i.device.kind || i.device.source)) || "device";
    li.innerHTML = `<div class="name"></div><div class="meta"></div><div class="meta"></div>`;
    const [title, device, counts] = li.children;
    title.textContent = `${name}${s.closed ? " (ended)" : ""}`;
    device.textContent = `${kind} · ${(i.channels || []).length} ch @ ${i.sfreq || "?"} Hz · ${i.model || "no model"}`;
    counts.textContent = `${(i.samples || 0).toLocaleString()} samples · ${i.gaps || 0} gaps · ` +
      `${i.rejected || 0} rejected · ${i.results || 0} results sent`;
    li.onclick = () => { app.selected = name; renderStreams(); };
    list.appendChild(li);
  }
  $("stream-name").textContent = app.selected ? `(${app.selected})` : "";
}

function pushSamples(s, msg) {
  const n = msg.data[0].length;
  if (!s.bufs.length || s.rate !== msg.rate || s.bufs.length !== msg.data.length) {
    s.rate = msg.rate;
    const cap = Math.ceil(TRACE_SECONDS * msg.rate);
    s.bufs = msg.data.map(() => new Float32Array(cap).fill(NaN));
    s.head = 0;
  }
  const cap = s.bufs[0].length;
  for (let c = 0; c < msg.data.length; c++) {
    const row = msg.data[c];
    for (let k = 0; k < n; k++) s.bufs[c][(s.head + k) % cap] = row[k];
  }
  s.head = (s.head + n) % cap;
}

function onResult(s, msg) {
  s.last = msg;
  if (msg.xy) {
    s.trail.push(msg.xy);
    if (s.trail.length > TRAIL) s.trail.shift();
  }
  if (msg.stream !== app.selected) return;
  setStatus("live", "live");
  const label = $("label");
  label.textContent = msg.label !== undefined ? msg.label : "(no gesture model)";
  label.className = msg.unknown ? "unknown" : "";
  $("score").textContent = msg.score !== undefined
    ? `score ${msg.score.toFixed(3)}${msg.unknown ? `, nearest ${msg.nearest}` : ""}` : "";
  $("latency").textContent = `window end ${msg.end_s.toFixed(2)} s · ${msg.latency_ms.toFixed(1)} ms after receipt`;
  renderScores(msg.scores || {});
}

function renderScores(scores) {
  const box = $("scores");
  box.innerHTML = "";
  const entries = Object.entries(scores).sort((a, b) => b[1] - a[1]);
  const hi = entries.length ? entries[0][1] : 1;
  const lo = entries.length ? entries[entries.length - 1][1] : 0;
  entries.forEach(([name, value], i) => {
    const label = document.createElement("div");
    label.textContent = name;
    label.dataset.gesture = name;
    if (i === 0) label.className = "top";
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("div");
    // cosine similarities: the bar spans the range of this result's scores, so small differences show
    fill.style.width = `${hi > lo ? 8 + 92 * ((value - lo) / (hi - lo)) : 100}%`;
    bar.appendChild(fill);
    const num = document.createElement("div");
    num.textContent = value.toFixed(2);
    box.append(label, bar, num);
  });
}

// -- drawing --------------------------------------------------------------------------------------------------

function drawTraces() {
  const canvas = $("traces");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const s = app.selected && app.streams.get(app.selected);
  if (!s || !s.bufs.length) return;
  const n = s.bufs.length;
  const cap = s.bufs[0].length;
  const h = canvas.height / n;
  const names = (s.info && s.info.channels) || [];
  for (let c = 0; c < n; c++) {
    const buf = s.bufs[c];
    let lo = Infinity, hi = -Infinity;
    for (const v of buf) if (!Number.isNaN(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const span = hi > lo ? hi - lo : 1;
    ctx.strokeStyle = `hsl(${(c * 47) % 360} 60% 40%)`;
    ctx.beginPath();
    let pen = false;
    for (let k = 0; k < cap; k++) {
      const v = buf[(s.head + k) % cap];
      if (Number.isNaN(v)) { pen = false; continue; }
      const x = (k / (cap - 1)) * canvas.width;
      const y = c * h + h - ((v - lo) / span) * (h - 4) - 2;
      if (pen) ctx.lineTo(x, y); else { ctx.moveTo(x, y); pen = true; }
    }
    ctx.stroke();
    ctx.fillStyle = "#6b7280";
    ctx.font = "11px sans-serif";
    ctx.fillText(names[c] || `ch${c}`, 4, c * h + 12);
  }
}

function drawTrajectory() {
  const canvas = $("trajectory");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const p = app.projection;
  if (!p) {
    ctx.fillStyle = "#6b7280";
    ctx.fillText("no gesture model: no projection", 10, 20);
    return;
  }
  const s = app.selected && app.streams.get(app.selected);
  const points = Object.values(p.gestures).concat(s ? s.trail : []);
  let xs = points.map((q) => q[0]), ys = points.map((q) => q[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const pad = 30;
  const sx = (x) => pad + ((x - x0) / ((x1 - x0) || 1)) * (canvas.width - 2 * pad);
  const sy = (y) => canvas.height - pad - ((y - y0) / ((y1 - y0) || 1)) * (canvas.height - 2 * pad);
  ctx.font = "12px sans-serif";
  for (const [name, [x, y]] of Object.entries(p.gestures)) {
    ctx.fillStyle = "#2563eb";
    ctx.beginPath(); ctx.arc(sx(x), sy(y), 5, 0, 2 * Math.PI); ctx.fill();
    ctx.fillStyle = "#1d2330";
    ctx.fillText(name, sx(x) + 7, sy(y) - 6);
  }
  if (s && s.trail.length) {
    for (let i = 1; i < s.trail.length; i++) {
      ctx.strokeStyle = `rgba(220, 38, 38, ${0.1 + 0.9 * (i / s.trail.length)})`;
      ctx.beginPath();
      ctx.moveTo(sx(s.trail[i - 1][0]), sy(s.trail[i - 1][1]));
      ctx.lineTo(sx(s.trail[i][0]), sy(s.trail[i][1]));
      ctx.stroke();
    }
    const [x, y] = s.trail[s.trail.length - 1];
    ctx.fillStyle = "#dc2626";
    ctx.beginPath(); ctx.arc(sx(x), sy(y), 6, 0, 2 * Math.PI); ctx.fill();
  }
}

function frame() {
  drawTraces();
  drawTrajectory();
  requestAnimationFrame(frame);
}

// -- vocabulary -----------------------------------------------------------------------------------------------

async function loadVocabulary() {
  try {
    const body = await (await api("/v1/gestures")).json();
    app.vocabulary = body.data;
  } catch (err) {
    app.vocabulary = [];
    $("vocab-list").innerHTML = `<li class="empty"></li>`;
    $("vocab-list").firstChild.textContent = err.status === 503 ? "no gesture model loaded" : err.message;
    return;
  }
  const list = $("vocab-list");
  list.innerHTML = "";
  for (const g of app.vocabulary) {
    const li = document.createElement("li");
    li.dataset.name = g.name;
    const name = document.createElement("span");
    name.textContent = g.name;
    const origin = document.createElement("span");
    origin.className = "origin";
    origin.textContent = g.origin + (g.static ? "" : `, ${g.n_frames} frames`);
    name.appendChild(origin);
    const del = document.createElement("button");
    del.type = "button";
    del.textContent = "delete";
    del.onclick = () => deleteGesture(g.name);
    li.append(name, del);
    list.appendChild(li);
  }
  for (const id of ["add-base", "record-gesture"]) {
    const select = $(id);
    const keep = select.value;
    select.innerHTML = "";
    for (const g of app.vocabulary) select.add(new Option(g.name, g.name));
    if (keep && app.vocabulary.some((g) => g.name === keep)) select.value = keep;
  }
  if (!$("add-pose").value && app.vocabulary.length) await fillPose();
}

async function fillPose() {
  const base = $("add-base").value;
  if (!base) return;
  try {
    const g = await (await api(`/v1/gestures/${encodeURIComponent(base)}`)).json();
    $("add-pose").value = JSON.stringify(g.pose.map((v) => Math.round(v * 1000) / 1000));
  } catch (err) { say(err.message, true); }
}

async function addGesture(ev) {
  ev.preventDefault();
  let pose;
  try { pose = JSON.parse($("add-pose").value); } catch (_) {
    say("the pose must be a JSON list of angles in radians, e.g. [0.1, 0.35, ...]", true);
    return;
  }
  const name = $("add-name").value.trim();
  try {
    await api("/v1/gestures", { method: "POST", body: { name, pose, description: $("add-description").value } });
    say(`added gesture ${name}`);
    $("add-name").value = "";
    await loadVocabulary();
  } catch (err) { say(`could not add ${name}: ${err.message}`, true); }
}

async function deleteGesture(name) {
  try {
    await api(`/v1/gestures/${encodeURIComponent(name)}`, { method: "DELETE" });
    say(`deleted gesture ${name}`);
    await loadVocabulary();
  } catch (err) { say(`could not delete ${name}: ${err.message}`, true); }
}

async function recordExamples(ev) {
  ev.preventDefault();
  if (!app.selected) { say("no live stream to record from", true); return; }
  const gesture = $("record-gesture").value;
  const seconds = Number($("record-seconds").value);
  try {
    const r = await (await api(`/v1/streams/${encodeURIComponent(app.selected)}/examples`, {
      method: "POST", body: { gesture, seconds },
    })).json();
    say(`recorded ${r.added} windows of ${gesture} for ${r.user} (${r.total} in all)`);
  } catch (err) { say(`could not record: ${err.message}`, true); }
}

// -- recordings -----------------------------------------------------------------------------------------------

async function loadRecordings() {
  try {
    const body = await (await api("/v1/recordings")).json();
    const list = $("recordings");
    list.innerHTML = "";
    for (const r of body.data.slice(-12).reverse()) {
      const li = document.createElement("li");
      li.textContent = `#${r.id} ${r.stream} · ${r.samples.toLocaleString()} samples${r.live ? " · live" : ""}`;
      for (const fmt of ["edf", "emg2pose", "npz"]) {
        const a = document.createElement("a");
        a.href = "#";
        a.textContent = fmt;
        a.onclick = (e) => { e.preventDefault(); download(r.id, fmt); };
        li.appendChild(a);
      }
      list.appendChild(li);
    }
    if (!body.data.length) list.innerHTML = '<li class="empty">none yet</li>';
  } catch (err) { say(err.message, true); }
}

async function download(id, fmt) {
  try {
    const response = await api(`/v1/recordings/${id}/export?format=${fmt}`);
    const name = (response.headers.get("content-disposition") || "").match(/filename="?([^";]+)/);
    const url = URL.createObjectURL(await response.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = name ? name[1] : `recording-${id}.${fmt}`;
    a.click();
    URL.revokeObjectURL(url);
  } catch (err) { say(`export failed: ${err.message}`, true); }
}

// -- start ----------------------------------------------------------------------------------------------------

function start() {
  connect();
  loadVocabulary();
  loadRecordings();
}

$("key-form").onsubmit = (ev) => {
  ev.preventDefault();
  app.key = $("key-input").value.trim();
  sessionStorage.setItem("biosig-key", app.key);
  $("key-form").hidden = true;
  start();
};
$("add-form").onsubmit = addGesture;
$("add-base").onchange = fillPose;
$("record-form").onsubmit = recordExamples;
$("refresh-recordings").onclick = loadRecordings;

app.key = readKey();
if (app.key) start(); else { $("key-form").hidden = false; say("enter an API key (biosig keys create)"); }
requestAnimationFrame(frame);
