// faceprint's web page: plain JavaScript, no build step, nothing loaded from elsewhere.
// Every call to the service carries the API key from this tab's sessionStorage. Whatever comes from the gallery or
// from a file name is put on the page as text (textContent), never as HTML.
"use strict";

const KEY = "faceprint-api-key";
const $ = (id) => document.getElementById(id);
let limits = null; // {max_files, max_body_bytes, max_pixels, model, thumbnails, scope, label}
let pile = null; // the pile being sorted: its id
let session = 0; // counts sign-ins and sign-outs: an answer to a call made in an earlier session is dropped
let preview = null; // the identify photo's blob: URL
const thumbs = new Map(); // thumbnail URL path -> blob: URL
const RANK = { read: 0, write: 1, admin: 2 };

class ApiError extends Error {
  constructor(status, detail, stale = false) { super(detail); this.status = status; this.stale = stale; }
}

// What the key may do (the server says, in /limits): the page shows only that.
function may(scope) { return limits !== null && RANK[limits.scope] >= RANK[scope]; }

function put(node, ...children) {
  node.replaceChildren(...children.filter((c) => c != null));
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else if (k.startsWith("data")) node.setAttribute(k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase()), v);
    else node[k] = v;
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

async function api(method, path, body) {
  const started = session;
  const headers = { "X-API-Key": sessionStorage.getItem(KEY) || "" };
  if (body && !(body instanceof FormData)) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body, cache: "no-store" });
  } catch (e) {
    throw new ApiError(0, "the service did not answer (is `faceprint serve` still running?)", started !== session);
  }
  if (started !== session) throw new ApiError(0, "signed out meanwhile", true); // nothing of it reaches the page
  if (res.status === 401) {
    signOut("That API key was not accepted.");
    throw new ApiError(401, "wrong API key");
  }
  if (!res.ok) {
    let detail = `${res.status} ${res.statusText}`;
    try {
      const j = await res.json();
      if (typeof j.detail === "string") detail = j.detail;
      else if (Array.isArray(j.detail)) detail = j.detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
    } catch (e) { /* not JSON */ }
    throw new ApiError(res.status, detail);
  }
  const type = res.headers.get("content-type") || "";
  const out = await (type.includes("application/json") ? res.json() : res.blob());
  if (started !== session) throw new ApiError(0, "signed out meanwhile", true);
  return out;
}

// -- thumbnails: fetched with the key, shown from blob: URLs, a few at a time ------------------------------------
const queue = [];
let inFlight = 0;
const pending = new WeakMap(); // img -> what to fetch once it comes into view
const watcher = new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (!e.isIntersecting || !pending.has(e.target)) continue;
    queue.push(pending.get(e.target));
    pending.delete(e.target);
    watcher.unobserve(e.target);
  }
  pump();
}, { rootMargin: "600px" });

function thumbnail(path, img, fallback) {
  if (thumbs.has(path)) { img.src = thumbs.get(path); return; }
  pending.set(img, { path, img, fallback }); // fetched when near the window: a big gallery loads what is seen
  watcher.observe(img);
}
function pump() {
  while (inFlight < 6 && queue.length) {
    const { path, img, fallback } = queue.shift();
    inFlight++;
    api("GET", path).then((blob) => {
      const url = URL.createObjectURL(blob);
      thumbs.set(path, url);
      img.src = url;
    }).catch((e) => { if (fallback && !e.stale) fallback(); }).finally(() => { inFlight--; pump(); });
  }
}

// -- signing in --------------------------------------------------------------------------------------------------
async function signIn(key) {
  sessionStorage.setItem(KEY, key);
  $("signin-error").textContent = "";
  $("sign-in").disabled = true;
  try {
    limits = await api("GET", "/limits");
  } catch (e) {
    if (e.status !== 401) $("signin-error").textContent = e.message;
    sessionStorage.removeItem(KEY);
    return false;
  } finally {
    $("sign-in").disabled = false;
  }
  session++;
  $("signin").hidden = true;
  $("app").hidden = $("nav").hidden = $("session").hidden = false;
  $("model").textContent = `model ${limits.model} · ${limits.label} (${limits.scope})`;
  // a key that may only read sees people and identify; enrolling and sorting need write, deleting needs admin
  for (const id of ["enroll", "pile", "nav-enroll", "nav-pile"]) $(id).hidden = !may("write") || limits.library;
  for (const id of ["library", "lib-queue", "nav-library"]) $(id).hidden = !limits.library;
  if (limits.library) await libReset();
  await loadPeople();
  return true;
}

function signOut(message) {
  if (pile) dropPile(pile); // the server forgets it now, not two hours from now (sent while the key is still here)
  pile = null;
  session++; // answers still on their way are dropped
  sessionStorage.removeItem(KEY);
  limits = null; // nothing seen under the key stays on the page
  for (const id of ["people-list", "names", "enroll-result", "identify-result", "clusters"]) put($(id));
  libSignOut();
  for (const url of thumbs.values()) URL.revokeObjectURL(url);
  thumbs.clear();
  if (preview) { URL.revokeObjectURL(preview); preview = null; }
  queue.length = 0;
  $("pile-status").hidden = true;
  $("app").hidden = $("nav").hidden = $("session").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
  $("api-key").value = "";
  $("api-key").focus();
}

// -- people ------------------------------------------------------------------------------------------------------
async function loadPeople() {
  $("people-error").textContent = "";
  let people;
  try {
    people = (await api("GET", "/people")).people;
  } catch (e) {
    if (!e.stale) $("people-error").textContent = e.message;
    return;
  }
  const list = $("people-list");
  put(list, ...people.map(personCard));
  $("people-empty").hidden = people.length > 0;
  $("people-count").textContent = people.length ? `${people.length} ${people.length === 1 ? "person" : "people"}` : "";
  put($("names"), ...people.map((p) => el("option", { value: p.name })));
}

function placeholder(name) {
  return el("div", { class: "face-ph", text: (name.trim()[0] || "?").toUpperCase(), ariaHidden: "true" });
}

function personCard(p) {
  const card = el("div", { class: "person", dataTestid: "person" });
  card.dataset.name = p.name;
  let face = placeholder(p.name);
  if (limits && limits.thumbnails) {
    const img = el("img", { class: "face", alt: `face of ${p.name}`, width: 112, height: 112 });
    thumbnail(`/people/${encodeURIComponent(p.name)}/thumbnail`, img, () => img.replaceWith(placeholder(p.name)));
    face = img;
  }
  const del = el("button", { class: "quiet", type: "button", text: "Delete", dataTestid: "person-delete" });
  del.addEventListener("click", () => {
    const yes = el("button", { class: "danger", type: "button", text: "Delete", dataTestid: "person-delete-confirm" });
    const no = el("button", { class: "quiet", type: "button", text: "Cancel" });
    const box = el("div", { class: "confirm" },
      el("span", { text: `Delete ${p.name} and ${p.faces} face${p.faces === 1 ? "" : "s"}?` }), yes, no);
    del.replaceWith(box);
    no.addEventListener("click", () => box.replaceWith(del));
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      try {
        await api("DELETE", `/people/${encodeURIComponent(p.name)}`);
      } catch (e) {
        if (e.stale) return;
        $("people-error").textContent = e.message;
      }
      await loadPeople();
    });
  });
  card.append(face, el("div", { class: "name", text: p.name }),
    el("div", { class: "muted", text: `${p.faces} face${p.faces === 1 ? "" : "s"}` }));
  if (may("admin") && !limits.library) card.append(del); // a library's people are corrected in its view
  return card;
}

// -- uploads within the service's limits --------------------------------------------------------------------------
const OVERHEAD = 2048; // bytes of multipart framing allowed per file

function batches(files, most = Infinity) {
  const perRequest = Math.min(limits.max_files, most);
  const out = [], tooBig = [];
  let cur = [], size = 0;
  for (const f of files) {
    if (f.size + OVERHEAD * 2 > limits.max_body_bytes) {
      tooBig.push(`${f.name}: ${(f.size / 2 ** 20).toFixed(1)} MB is over the service's limit of ` +
        `${(limits.max_body_bytes / 2 ** 20).toFixed(1)} MB a request`);
      continue;
    }
    if (cur.length && (cur.length >= perRequest || size + f.size + OVERHEAD > limits.max_body_bytes - 1024)) {
      out.push(cur); cur = []; size = 0;
    }
    cur.push(f); size += f.size + OVERHEAD;
  }
  if (cur.length) out.push(cur);
  return { batches: out, tooBig };
}

function images(files) {
  return [...files].filter((f) => f.type === "" || f.type.startsWith("image/") || /\.(jpe?g|png|webp|bmp|tiff?|gif)$/i.test(f.name));
}

function dropZone(zone, input) {
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const dt = new DataTransfer();
    for (const f of e.dataTransfer.files) if (input.multiple || dt.files.length === 0) dt.items.add(f);
    input.files = dt.files;
    input.dispatchEvent(new Event("change"));
  });
}

function resultList(title, items) {
  return items.length ? el("div", {}, el("div", { text: title }), el("ul", {}, ...items.map((s) => el("li", { text: s })))) : null;
}

// -- enroll -------------------------------------------------------------------------------------------------------
async function enroll(e) {
  e.preventDefault();
  const name = $("enroll-name").value.trim();
  const files = images($("enroll-files").files);
  const out = $("enroll-result");
  if (!name || !files.length) {
    put(out, el("p", { class: "error", text: !name ? "Type the person's name." : "Choose one or more photos." }));
    return;
  }
  const { batches: parts, tooBig } = batches(files);
  const bar = $("enroll-progress");
  bar.hidden = false; bar.max = files.length; bar.value = 0;
  $("enroll-submit").disabled = true;
  let added = 0, present = 0, skipped = [...tooBig], error = null;
  try {
    for (const part of parts) {
      const form = new FormData();
      form.append("name", name);
      for (const f of part) form.append("images", f, f.name);
      const r = await api("POST", "/enroll", form);
      added += r.added; present += r.already_present; skipped.push(...r.skipped);
      bar.value += part.length;
    }
  } catch (err) {
    error = err.message;
    if (err.stale) return;
  } finally {
    $("enroll-submit").disabled = false;
    bar.hidden = true;
  }
  put(out,
    el("p", { class: added ? "ok" : "", text: `${name}: ${added} face${added === 1 ? "" : "s"} added, ${present} already there, ${skipped.length} file${skipped.length === 1 ? "" : "s"} skipped.` }),
    resultList("Skipped:", skipped),
    error ? el("p", { class: "error", text: error }) : null);
  if (!error) $("enroll-files").value = "";
  await loadPeople();
}

// -- identify ----------------------------------------------------------------------------------------------------
async function identify(e) {
  e.preventDefault();
  const file = $("identify-file").files[0];
  const out = $("identify-result");
  if (!file) { put(out, el("p", { class: "error", text: "Choose a photo." })); return; }
  $("identify-submit").disabled = true;
  put(out, el("p", { class: "muted", text: "Looking…" }));
  try {
    const form = new FormData();
    form.append("image", file, file.name);
    const r = await api("POST", "/identify?k=3", form);
    if (preview) URL.revokeObjectURL(preview);
    preview = URL.createObjectURL(file);
    const img = el("img", { alt: file.name });
    const figure = el("div", { class: "figure" }, img);
    const list = el("ol", { class: "faces-list" });
    img.addEventListener("load", () => {
      const w = img.naturalWidth, h = img.naturalHeight;
      r.faces.forEach((f, i) => {
        const [x1, y1, x2, y2] = f.box;
        const box = el("div", { class: "box" + (f.identity === "unknown" ? " unknown" : "") },
          el("span", { class: "tag", text: `${i + 1}. ${f.identity} ${f.distance.toFixed(2)}` }));
        box.style.left = `${(100 * x1) / w}%`; box.style.top = `${(100 * y1) / h}%`;
        box.style.width = `${(100 * (x2 - x1)) / w}%`; box.style.height = `${(100 * (y2 - y1)) / h}%`;
        figure.append(box);
      });
    }, { once: true });
    img.src = preview;
    r.faces.forEach((f) => {
      const near = f.candidates.length ? `nearest ${f.candidates[0].identity}, ` : "";
      list.append(el("li", {}, el("span", { class: "who", text: f.identity }),
        el("span", { class: "muted", text: ` — distance ${f.distance.toFixed(3)} (${near}threshold ${f.threshold.toFixed(3)})` })));
    });
    put(out,
      el("p", { text: r.faces.length ? `${r.faces.length} face${r.faces.length === 1 ? "" : "s"} in ${file.name}:` : `No face found in ${file.name}.` }),
      figure, list);
  } catch (err) {
    if (!err.stale) put(out, el("p", { class: "error", text: err.message }));
  } finally {
    $("identify-submit").disabled = false;
  }
}

// -- sort a pile -------------------------------------------------------------------------------------------------
async function sortPile(e) {
  e.preventDefault();
  const files = images($("pile-files").files);
  $("pile-error").textContent = "";
  if (!files.length) { $("pile-error").textContent = "Choose photos to sort."; return; }
  const { batches: parts, tooBig } = batches(files, 8); // small requests: the progress bar moves often
  const skipped = [...tooBig];
  // a new sort replaces the last one: its rows go now (an old row must never act on the new pile) and so does
  // the old pile on the server
  if (pile) dropPile(pile);
  pile = null;
  put($("clusters"));
  $("pile-new").hidden = $("pile-regroup").hidden = true;
  $("pile-submit").disabled = true;
  $("pile-status").hidden = false;
  const bar = $("pile-progress"), text = $("pile-text");
  bar.hidden = false;
  bar.max = files.length; bar.value = 0;
  try {
    pile = (await api("POST", "/piles")).pile;
    let faces = 0, done = 0;
    for (const part of parts) {
      text.textContent = `Finding faces: ${done} of ${files.length} photos, ${faces} faces so far`;
      const form = new FormData();
      for (const f of part) form.append("images", f, f.name);
      const r = await api("POST", `/piles/${pile}/photos`, form);
      faces = r.total_faces; skipped.push(...r.skipped);
      done += part.length; bar.value = done;
    }
    text.textContent = `Grouping ${faces} faces…`;
    bar.removeAttribute("value");
    await showClusters();
    text.textContent = `${done} photos, ${faces} faces.` + (skipped.length ? ` Skipped ${skipped.length}: ${skipped.slice(0, 5).join("; ")}${skipped.length > 5 ? "; …" : ""}` : "");
    bar.hidden = true;
    $("pile-new").hidden = $("pile-regroup").hidden = false;
  } catch (err) {
    if (err.stale) return;
    $("pile-error").textContent = err.message;
    $("pile-status").hidden = true;
  } finally {
    $("pile-submit").disabled = false;
  }
}

function dropPile(id) {
  api("DELETE", `/piles/${id}`).catch(() => {});
}

async function showClusters() {
  const of = pile; // the rows act on this pile, whatever the page sorts later
  const r = await api("GET", `/piles/${of}/clusters`);
  if (of !== pile) return; // another sort began meanwhile
  const box = $("clusters");
  put(box, ...r.clusters.map((c) => clusterRow(c, of)));
  if (!r.clusters.length) box.append(el("p", { class: "muted", text: r.enrolled_faces ? "Every face of this pile is enrolled." : "No faces found in these photos." }));
}

function clusterRow(c, of) {
  const row = el("div", { class: "cluster", dataTestid: "cluster" });
  row.dataset.pile = of;
  const dropped = new Set();
  const n = c.faces.length;
  const known = c.faces.filter((f) => f.name).length;
  row.append(el("div", { class: "meta" },
    el("strong", { text: `${n} face${n === 1 ? "" : "s"}` }),
    c.offer ? el("span", { class: "muted", text: `${known} recognised as ${c.offer}` }) : null));
  const strip = el("div", { class: "faces" });
  for (const f of c.faces) {
    const img = el("img", { alt: `face from ${f.photo}`, width: 104, height: 104 });
    thumbnail(`/piles/${of}/faces/${f.id}/thumbnail`, img);
    const b = el("button", { class: "pface", type: "button", title: `${f.photo} — click to leave out`, dataTestid: "cluster-face" },
      img, el("span", { class: "lbl", text: f.name || f.photo }));
    b.dataset.face = f.id;
    b.addEventListener("click", () => {
      if (dropped.has(f.id)) dropped.delete(f.id); else dropped.add(f.id);
      b.classList.toggle("dropped", dropped.has(f.id));
      b.setAttribute("aria-pressed", dropped.has(f.id) ? "true" : "false");
    });
    strip.append(b);
  }
  const name = el("input", { placeholder: "Name this person", maxLength: 200, dataTestid: "cluster-name" });
  name.setAttribute("list", "names");
  if (c.offer) name.value = c.offer;
  const go = el("button", { type: "button", text: "Enroll", dataTestid: "cluster-enroll" });
  const note = el("div", { class: "error" });
  go.addEventListener("click", async () => {
    const who = name.value.trim();
    const faces = c.faces.map((f) => f.id).filter((id) => !dropped.has(id));
    if (!who) { note.textContent = "Type a name first."; return; }
    if (!faces.length) { note.textContent = "Every face is left out."; return; }
    go.disabled = true;
    try {
      const r = await api("POST", `/piles/${of}/enroll`, { name: who, faces, dropped: [...dropped] });
      put(row, el("div", { class: "done", text: `Enrolled ${r.added} face${r.added === 1 ? "" : "s"} as ${r.name}` + (r.already_present ? ` (${r.already_present} already there)` : "") + "." }),
        resultList("Skipped:", r.skipped));
      await loadPeople();
    } catch (err) {
      if (err.stale) return;
      note.textContent = err.message;
      go.disabled = false;
    }
  });
  row.append(strip, el("div", { class: "enroll" }, name, go), note);
  return row;
}

function newPile() {
  if (pile) dropPile(pile);
  pile = null;
  put($("clusters"));
  $("pile-status").hidden = true;
  $("pile-progress").hidden = false;
  $("pile-files").value = "";
  $("pile-new").hidden = $("pile-regroup").hidden = true;
}

async function regroup() {
  $("pile-error").textContent = "";
  try { await showClusters(); } catch (err) { if (!err.stale) $("pile-error").textContent = err.message; }
}

// -- the photo library (`faceprint serve --library`): people in pages, a person's faces, the queue, the viewer ------
const LIB_PAGE = 60; // people per request: 10,000 people arrive as the list is scrolled, never at once
const FACE_PAGE = 100;
const lib = { gen: 0, offset: 0, total: 0, loading: false, selected: new Set(), person: null, faces: 0,
  facesTotal: 0, queue: 0, queueTotal: 0, photo: null };

function libLabel(p) { return p.name !== null ? p.name : `Suggested person ${p.id}`; }
function plural(n, one, many) { return `${n} ${n === 1 ? one : many}`; }

async function libReset() {
  lib.gen++;
  lib.offset = 0; lib.total = 0; lib.loading = false;
  lib.selected.clear();
  libMergeButton();
  put($("lib-people"));
  $("lib-error").textContent = "";
  await libMore();
  await queueReset();
}

async function libMore() {
  if (lib.loading || (lib.offset > 0 && lib.offset >= lib.total)) return;
  lib.loading = true;
  const gen = lib.gen;
  try {
    const hidden = $("lib-hidden").checked;
    const r = await api("GET", `/library/people?offset=${lib.offset}&limit=${LIB_PAGE}&hidden=${hidden}`);
    if (gen !== lib.gen) return;
    lib.total = r.total;
    lib.offset += r.people.length;
    $("lib-people").append(...r.people.map(libCard));
    $("lib-counts").textContent = `${plural(r.named, "named person", "named people")}, ${r.suggested} suggested, ` +
      `${plural(r.unassigned, "face", "faces")} in no one · ${plural(r.photos, "photo", "photos")}`;
    $("lib-more").textContent = lib.offset < lib.total ? `${lib.offset} of ${lib.total} shown…` :
      (lib.total ? "" : "No one yet: scan a folder with `faceprint library scan`.");
    for (const p of r.people) if (p.name !== null) $("lib-names").append(el("option", { value: p.name }));
  } catch (e) {
    if (!e.stale && gen === lib.gen) $("lib-error").textContent = e.message;
    return;
  } finally {
    if (gen === lib.gen) lib.loading = false;
  }
  const edge = $("lib-more").getBoundingClientRect();
  if (lib.offset < lib.total && edge.top < window.innerHeight + 800) libMore(); // the page is not full yet
}

const libWatcher = new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting)) libMore();
}, { rootMargin: "800px" });

function libFace(faceId, label) {
  if (!(limits && limits.thumbnails) || faceId == null) return placeholder(label);
  const img = el("img", { class: "face", alt: `face of ${label}`, width: 112, height: 112 });
  thumbnail(`/library/faces/${faceId}/thumbnail`, img, () => img.replaceWith(placeholder(label)));
  return img;
}

function libCard(p) {
  const label = libLabel(p);
  const card = el("div", { class: "person lib", dataTestid: "lib-person-card", title: `Open ${label}` });
  card.dataset.person = p.id;
  const tick = el("input", { type: "checkbox", class: "tick", dataTestid: "lib-select", ariaLabel: `select ${label}` });
  tick.addEventListener("click", (e) => {
    e.stopPropagation();
    if (tick.checked) lib.selected.add(p.id); else lib.selected.delete(p.id);
    card.classList.toggle("selected", tick.checked);
    libMergeButton();
  });
  card.addEventListener("click", () => openPerson(p));
  card.append(tick, libFace(p.cover, label), el("div", { class: "name", text: label }),
    el("div", { class: "kind", text: `${plural(p.photos, "photo", "photos")}${p.hidden ? " · hidden" : ""}` }));
  if (!may("write")) tick.hidden = true;
  return card;
}

function libMergeButton() {
  $("lib-merge").hidden = lib.selected.size < 2 || !may("write");
  $("lib-merge").textContent = `Merge ${lib.selected.size} people`;
}

async function libMerge() {
  $("lib-error").textContent = "";
  $("lib-merge").disabled = true;
  try {
    await api("POST", "/library/merge", { people: [...lib.selected] });
    closePerson();
    await libReset();
  } catch (e) {
    if (!e.stale) $("lib-error").textContent = e.message;
  } finally {
    $("lib-merge").disabled = false;
  }
}

async function openPerson(p) {
  lib.person = p;
  lib.faces = 0; lib.facesTotal = 0;
  $("lib-person").hidden = false;
  $("lib-person-title").textContent = libLabel(p);
  $("lib-name").value = p.name || "";
  $("lib-hide").textContent = p.hidden ? "Show again" : "Hide";
  $("lib-person-error").textContent = "";
  for (const id of ["lib-name-form", "lib-hide"]) $(id).hidden = !may("write");
  put($("lib-faces"));
  put($("lib-faces-more"));
  $("lib-person").scrollIntoView({ block: "start" });
  await personFaces();
}

function closePerson() {
  lib.person = null;
  $("lib-person").hidden = true;
  put($("lib-faces"));
}

function moreButton(box, testid, more) {
  const b = el("button", { class: "quiet", type: "button", text: "Show more", dataTestid: testid });
  b.addEventListener("click", more);
  put(box, b);
}

async function personFaces() {
  const p = lib.person;
  if (!p) return;
  try {
    const r = await api("GET", `/library/people/${p.id}/faces?offset=${lib.faces}&limit=${FACE_PAGE}`);
    if (lib.person !== p) return;
    lib.facesTotal = r.total;
    lib.faces += r.faces.length;
    $("lib-faces").append(...r.faces.map((f) => faceTile(f, "person")));
    $("lib-person-count").textContent = plural(r.total, "face", "faces");
    if (lib.faces < lib.facesTotal) moreButton($("lib-faces-more"), "lib-faces-more", personFaces);
    else put($("lib-faces-more"));
  } catch (e) {
    if (!e.stale) $("lib-person-error").textContent = e.message;
  }
}

async function queueReset() {
  lib.queue = 0; lib.queueTotal = 0;
  put($("lib-queue-list"));
  put($("lib-queue-more"));
  await queueMore();
}

async function queueMore() {
  const gen = lib.gen;
  try {
    const r = await api("GET", `/library/unassigned?offset=${lib.queue}&limit=${FACE_PAGE}`);
    if (gen !== lib.gen) return;
    lib.queueTotal = r.total;
    lib.queue += r.faces.length;
    $("lib-queue-list").append(...r.faces.map((f) => faceTile(f, "queue")));
    $("lib-queue-count").textContent = plural(r.total, "face", "faces");
    if (lib.queue < lib.queueTotal) moreButton($("lib-queue-more"), "lib-queue-more", queueMore);
    else put($("lib-queue-more"));
  } catch (e) {
    if (!e.stale) $("lib-queue-error").textContent = e.message;
  }
}

function faceTile(f, mode) {
  const tile = el("div", { class: "lface", dataTestid: mode === "person" ? "lib-face" : "lib-queue-face" });
  tile.dataset.face = f.id;
  const shot = el("button", { class: "shot", type: "button", title: `${f.photo}: open the photo`,
    dataTestid: "lib-open-photo" }, libFace(f.id, f.photo));
  shot.addEventListener("click", () => showPhoto(f));
  const where = el("div", { class: "where", text: f.photo, title: f.photo });
  const note = el("div", { class: "error" });
  const acts = el("div", { class: "acts" });
  const act = async (method, path, body, done) => {
    note.textContent = "";
    for (const b of acts.querySelectorAll("button")) b.disabled = true;
    try {
      await api(method, path, body);
      tile.remove();
      await done();
    } catch (e) {
      if (e.stale) return;
      note.textContent = e.message;
      for (const b of acts.querySelectorAll("button")) b.disabled = false;
    }
  };
  const afterPerson = async () => {
    lib.facesTotal--; lib.faces--;
    $("lib-person-count").textContent = plural(lib.facesTotal, "face", "faces");
    await libReset(); // counts and covers changed; a suggestion left empty is gone
    if (lib.facesTotal <= 0) closePerson();
  };
  const afterQueue = async () => {
    lib.queueTotal--; lib.queue--;
    $("lib-queue-count").textContent = plural(lib.queueTotal, "face", "faces");
  };
  const notFace = el("button", { class: "quiet", type: "button", text: "Not a face", dataTestid: "lib-not-a-face" });
  notFace.addEventListener("click", () => act("POST", `/library/faces/${f.id}/remove`, { not_a_face: true },
    mode === "person" ? afterPerson : afterQueue));
  if (mode === "person") {
    const out = el("button", { class: "quiet", type: "button", text: "Not them", dataTestid: "lib-not-them" });
    out.addEventListener("click", () =>
      act("POST", `/library/faces/${f.id}/remove`, { not_a_face: false }, afterPerson));
    acts.append(out, notFace);
  } else {
    const who = el("input", { placeholder: "Who is this?", maxLength: 200, dataTestid: "lib-queue-name" });
    who.setAttribute("list", "lib-names");
    const go = el("button", { class: "quiet", type: "button", text: "This is them", dataTestid: "lib-queue-assign" });
    go.addEventListener("click", () => {
      const name = who.value.trim();
      if (!name) { note.textContent = "Type a name first."; return; }
      act("POST", `/library/faces/${f.id}/assign`, { name }, async () => { await afterQueue(); await libReset(); });
    });
    acts.append(who, go, notFace);
  }
  tile.append(shot, where, may("write") ? acts : null, note);
  return tile;
}

async function showPhoto(f) {
  const fig = $("viewer-figure");
  $("viewer-title").textContent = f.photo + (f.taken ? ` · ${f.taken.replace("T", " ")}` : "");
  put(fig, el("p", { class: "muted", text: "Loading the photo…" }));
  $("viewer").hidden = false;
  $("viewer-close").focus();
  try {
    const blob = await api("GET", `/library/faces/${f.id}/photo`);
    if (lib.photo) URL.revokeObjectURL(lib.photo);
    lib.photo = URL.createObjectURL(blob);
    const img = el("img", { alt: f.photo, src: lib.photo });
    const [x1, y1, x2, y2] = f.box;
    const box = el("div", { class: "box", dataTestid: "lib-viewer-box" });
    box.style.left = `${(100 * x1) / f.width}%`; box.style.top = `${(100 * y1) / f.height}%`;
    box.style.width = `${(100 * (x2 - x1)) / f.width}%`; box.style.height = `${(100 * (y2 - y1)) / f.height}%`;
    put(fig, img, box);
  } catch (e) {
    if (!e.stale) put(fig, el("p", { class: "error", text: e.message }));
  }
}

function closePhoto() {
  $("viewer").hidden = true;
  put($("viewer-figure"));
  if (lib.photo) { URL.revokeObjectURL(lib.photo); lib.photo = null; }
}

async function libName(e) {
  e.preventDefault();
  const p = lib.person, name = $("lib-name").value.trim();
  if (!p) return;
  if (!name) { $("lib-person-error").textContent = "Type a name first."; return; }
  $("lib-name-save").disabled = true;
  try {
    await api("POST", `/library/people/${p.id}/name`, { name });
    p.name = name;
    $("lib-person-title").textContent = name;
    $("lib-person-error").textContent = "";
    await libReset();
  } catch (err) {
    if (!err.stale) $("lib-person-error").textContent = err.message;
  } finally {
    $("lib-name-save").disabled = false;
  }
}

async function libHide() {
  const p = lib.person;
  if (!p) return;
  try {
    await api("POST", `/library/people/${p.id}/hide`, { hidden: !p.hidden });
    closePerson();
    await libReset();
  } catch (e) {
    if (!e.stale) $("lib-person-error").textContent = e.message;
  }
}

function libSignOut() {
  lib.gen++;
  lib.selected.clear();
  closePerson();
  closePhoto();
  for (const id of ["lib-people", "lib-queue-list", "lib-queue-more", "lib-names", "lib-counts"]) put($(id));
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (e) => { e.preventDefault(); signIn($("api-key").value.trim()); });
  $("sign-out").addEventListener("click", () => signOut(""));
  $("people-refresh").addEventListener("click", loadPeople);
  $("enroll-form").addEventListener("submit", enroll);
  $("identify-form").addEventListener("submit", identify);
  $("pile-form").addEventListener("submit", sortPile);
  $("pile-new").addEventListener("click", newPile);
  $("pile-regroup").addEventListener("click", regroup);
  $("lib-refresh").addEventListener("click", libReset);
  $("lib-hidden").addEventListener("change", libReset);
  $("lib-merge").addEventListener("click", libMerge);
  $("lib-close").addEventListener("click", closePerson);
  $("lib-name-form").addEventListener("submit", libName);
  $("lib-hide").addEventListener("click", libHide);
  $("viewer-close").addEventListener("click", closePhoto);
  $("viewer").addEventListener("click", (e) => { if (e.target === $("viewer")) closePhoto(); });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !$("viewer").hidden) closePhoto(); });
  libWatcher.observe($("lib-more"));
  dropZone($("enroll-drop"), $("enroll-files"));
  dropZone($("identify-drop"), $("identify-file"));
  dropZone($("pile-drop"), $("pile-files"));
  const saved = sessionStorage.getItem(KEY);
  if (saved) signIn(saved); else $("api-key").focus();
});
