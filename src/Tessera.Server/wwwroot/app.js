'use strict';
// The Tessera page: plain DOM and fetch, no libraries (it must work offline).
(() => {
  const $ = id => document.getElementById(id);
  const statusLine = $('status');
  const say = (text, error) => { statusLine.textContent = text; statusLine.classList.toggle('error', !!error); };

  async function api(path, body, type) {
    const init = { method: body === undefined ? 'GET' : 'POST' };
    if (body !== undefined) {
      init.body = type ? body : JSON.stringify(body);
      init.headers = { 'Content-Type': type || 'application/json' };
    }
    const r = await fetch(path, init);
    const json = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
    if (!r.ok) { const e = new Error(json.error || `HTTP ${r.status}`); e.status = r.status; e.code = json.code; throw e; }
    return json;
  }

  // Shared with video.js.
  window.tesseraPage = { api, say };

  // ---- tabs (arrow keys move between them) ----
  const tabs = ['sam', 'video', 'sample', 'seg'].map(n => $('tab-' + n));
  const shown = () => tabs.filter(t => !t.hidden);
  function select(tab) {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute('aria-selected', on); t.tabIndex = on ? 0 : -1;
      $(t.getAttribute('aria-controls')).hidden = !on;
    }
    tab.focus();
  }
  tabs.forEach(t => {
    t.addEventListener('click', () => select(t));
    t.addEventListener('keydown', e => {
      const on = shown(), k = on.indexOf(t);
      if (e.key === 'ArrowRight') select(on[(k + 1) % on.length]);
      if (e.key === 'ArrowLeft') select(on[(k + on.length - 1) % on.length]);
    });
  });

  // ---- SAM ----
  const stage = $('sam-stage'), img = $('sam-image'), overlay = $('sam-overlay'), marks = $('sam-marks');
  const sam = { file: null, id: null, w: 0, h: 0, states: [], cursor: null, drag: null, busy: false };
  // What the page last received, for tests and curious users: the request, the answer and the shown mask (0/1 per pixel).
  window.tessera = { request: null, response: null, mask: null, masks: 0, latencies: [] };

  async function upload(file) {
    say('encoding image…');
    const r = await api('/api/sam/images', file, file.type || 'application/octet-stream');
    sam.id = r.id; sam.w = r.width; sam.h = r.height;
    return r;
  }

  async function openImage(file) {
    try {
      sam.file = file; sam.states = []; window.tessera.masks = 0;
      const url = URL.createObjectURL(file);
      await new Promise((ok, fail) => { img.onload = ok; img.onerror = () => fail(new Error('the browser cannot show this image')); img.src = url; });
      const r = await upload(file);
      for (const c of [overlay, marks]) { c.width = r.width; c.height = r.height; c.hidden = false; }
      img.hidden = false; $('sam-drop').hidden = true; stage.classList.add('loaded');
      // Small images are shown enlarged (pixelated), so that single pixels can be clicked.
      img.style.width = r.width < 512 ? `${Math.min(512, 8 * r.width)}px` : '';
      sam.cursor = { x: r.width / 2, y: r.height / 2 };
      render();
      say(`${r.width}×${r.height} image ready (${r.cached ? 'cached' : `encoded in ${r.encode_ms.toFixed(0)} ms`}); click on it`);
      stage.focus();
    } catch (e) { say(e.message, true); }
  }

  const top = () => sam.states[sam.states.length - 1];

  async function predict(points, box) {
    if (!sam.id || sam.busy) return;
    sam.busy = true;
    const t0 = sam.t0 || performance.now();
    const prev = top();
    const body = { id: sam.id, points: points.map(p => [p.x, p.y, p.label]) };
    if (box) body.box = box;
    if (prev && prev.response && points.length > 1) body.mask_input = prev.response.masks[prev.selected].logits;
    try {
      let r;
      try { r = await api('/api/sam/predict', body); }
      catch (e) {
        if (e.status !== 404 || !(e.code === 'evicted' || e.code === 'unknown_image' || e.code === 'unknown_mask_input')) throw e;
        await upload(sam.file); // the server forgot the image: upload it again and retry without the old logits
        body.id = sam.id; delete body.mask_input;
        r = await api('/api/sam/predict', body);
      }
      window.tessera.request = body;
      sam.states.push({ points, box, response: r, selected: r.best });
      await render();
      window.tessera.latencies.push(performance.now() - t0); // input event → overlay painted
      say(`${r.masks.length} mask${r.masks.length > 1 ? 's' : ''}, best IoU ${r.masks[r.best].score.toFixed(3)}, decoder ${r.decode_ms.toFixed(0)} ms`);
    } catch (e) { say(e.message, true); }
    finally { sam.busy = false; sam.t0 = 0; }
  }

  function addPoint(x, y, label) {
    const s = top();
    predict([...(s ? s.points : []), { x: round(x), y: round(y), label }], s ? s.box : null);
  }
  const round = v => Math.round(v * 100) / 100;

  function toImage(e) {
    const r = img.getBoundingClientRect();
    return { x: Math.min(sam.w, Math.max(0, (e.clientX - r.left) / r.width * sam.w)), y: Math.min(sam.h, Math.max(0, (e.clientY - r.top) / r.height * sam.h)) };
  }

  stage.addEventListener('mousedown', e => { sam.t0 = performance.now(); if (e.button === 0 && sam.id) sam.drag = { start: toImage(e), end: null, x: e.clientX, y: e.clientY }; });
  window.addEventListener('mousemove', e => {
    if (!sam.drag) return;
    if (Math.hypot(e.clientX - sam.drag.x, e.clientY - sam.drag.y) > 5) { sam.drag.end = toImage(e); drawMarks(); }
  });
  window.addEventListener('mouseup', e => {
    if (!sam.drag || e.button !== 0) return;
    const d = sam.drag; sam.drag = null;
    if (d.end) {
      const s = top();
      const box = [Math.min(d.start.x, d.end.x), Math.min(d.start.y, d.end.y), Math.max(d.start.x, d.end.x), Math.max(d.start.y, d.end.y)].map(round);
      predict(s ? s.points : [], box);
    } else addPoint(d.start.x, d.start.y, 1);
  });
  stage.addEventListener('contextmenu', e => { sam.t0 = performance.now(); e.preventDefault(); if (sam.id) { const p = toImage(e); addPoint(p.x, p.y, 0); } });
  stage.addEventListener('keydown', e => {
    if (!sam.id) return;
    const step = Math.max(1, Math.round(Math.max(sam.w, sam.h) / 100)) * (e.shiftKey ? 5 : 1);
    const c = sam.cursor, moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[e.key]) { c.x = Math.min(sam.w, Math.max(0, c.x + moves[e.key][0])); c.y = Math.min(sam.h, Math.max(0, c.y + moves[e.key][1])); drawMarks(); }
    else if (e.key === 'Enter' || e.key === ' ') addPoint(c.x, c.y, e.shiftKey ? 0 : 1);
    else if (e.key === 'Backspace') undo();
    else if (e.key === 'Escape') clear();
    else return;
    e.preventDefault();
  });
  stage.addEventListener('dragover', e => { e.preventDefault(); stage.classList.add('dragover'); });
  stage.addEventListener('dragleave', () => stage.classList.remove('dragover'));
  stage.addEventListener('drop', e => { e.preventDefault(); stage.classList.remove('dragover'); if (e.dataTransfer.files[0]) openImage(e.dataTransfer.files[0]); });
  $('sam-file').addEventListener('change', e => { if (e.target.files[0]) openImage(e.target.files[0]); });

  function undo() { sam.states.pop(); render(); }
  function clear() { sam.states = []; render(); }
  $('sam-undo').addEventListener('click', undo);
  $('sam-clear').addEventListener('click', clear);

  $('sam-auto').addEventListener('click', async () => {
    if (!sam.id) { say('choose an image first', true); return; }
    say('segmenting everything…');
    try {
      let r;
      try { r = await api('/api/sam/auto', { id: sam.id }); }
      catch (e) { if (e.code !== 'evicted') throw e; await upload(sam.file); r = await api('/api/sam/auto', { id: sam.id }); }
      sam.states = [];
      const shown = await loadImage('data:image/png;base64,' + r.overlay_png);
      const g = overlay.getContext('2d'); g.clearRect(0, 0, overlay.width, overlay.height); g.drawImage(shown, 0, 0);
      drawMarks(); setDownloads(null);
      $('sam-candidates').replaceChildren();
      $('sam-info').textContent = `${r.annotations.length} masks`;
      say(`segment everything: ${r.annotations.length} masks in ${r.ms.toFixed(0)} ms`);
    } catch (e) { say(e.message, true); }
  });

  const loadImage = src => new Promise((ok, fail) => { const i = new Image(); i.onload = () => ok(i); i.onerror = fail; i.src = src; });

  // Decodes a 0/255 mask PNG into 0/1 per pixel.
  async function maskPixels(b64, w, h) {
    const i = await loadImage('data:image/png;base64,' + b64);
    const c = document.createElement('canvas'); c.width = w; c.height = h;
    const g = c.getContext('2d'); g.drawImage(i, 0, 0);
    const rgba = g.getImageData(0, 0, w, h).data, m = new Uint8Array(w * h);
    for (let p = 0; p < m.length; p++) m[p] = rgba[4 * p] > 127 ? 1 : 0;
    return m;
  }

  async function render() {
    const s = top(), g = overlay.getContext('2d');
    g.clearRect(0, 0, overlay.width, overlay.height);
    const list = $('sam-candidates'); list.replaceChildren();
    if (!s) { window.tessera.response = null; window.tessera.mask = null; setDownloads(null); $('sam-info').textContent = ''; drawMarks(); return; }
    const m = s.response.masks[s.selected];
    const pixels = await maskPixels(m.png, sam.w, sam.h);
    const paint = g.createImageData(sam.w, sam.h);
    for (let p = 0; p < pixels.length; p++) if (pixels[p]) paint.data.set([47, 111, 222, 150], 4 * p);
    g.putImageData(paint, 0, 0);
    window.tessera.response = s.response; window.tessera.mask = pixels; window.tessera.masks++;
    s.response.masks.forEach((c, i) => {
      const li = document.createElement('li'), b = document.createElement('button'), t = document.createElement('img');
      t.src = 'data:image/png;base64,' + c.png; t.alt = '';
      b.append(t, `#${i + 1}  IoU ${c.score.toFixed(3)}  (${c.area} px)`);
      b.setAttribute('aria-pressed', i === s.selected);
      b.addEventListener('click', () => { s.selected = i; render(); });
      li.append(b); list.append(li);
    });
    $('sam-info').textContent = `${s.points.length} point${s.points.length === 1 ? '' : 's'}${s.box ? ', a box' : ''}`;
    setDownloads(m);
    drawMarks();
    stage.dataset.masks = window.tessera.masks;
  }

  function setDownloads(m) {
    const png = $('sam-png'), rle = $('sam-rle');
    if (rle.href.startsWith('blob:')) URL.revokeObjectURL(rle.href);
    if (!m) { for (const a of [png, rle]) { a.removeAttribute('href'); a.setAttribute('aria-disabled', 'true'); } return; }
    png.href = 'data:image/png;base64,' + m.png;
    rle.href = URL.createObjectURL(new Blob([JSON.stringify(m.rle)], { type: 'application/json' }));
    for (const a of [png, rle]) a.setAttribute('aria-disabled', 'false');
  }

  function drawMarks() {
    const g = marks.getContext('2d'), s = top(), r = Math.max(2, Math.max(sam.w, sam.h) / 80);
    g.clearRect(0, 0, marks.width, marks.height);
    g.lineWidth = Math.max(1, r / 3);
    const box = sam.drag && sam.drag.end ? [sam.drag.start.x, sam.drag.start.y, sam.drag.end.x, sam.drag.end.y] : s && s.box;
    if (box) { g.strokeStyle = '#ffd000'; g.strokeRect(box[0], box[1], box[2] - box[0], box[3] - box[1]); }
    for (const p of s ? s.points : []) {
      g.beginPath(); g.arc(p.x, p.y, r, 0, 2 * Math.PI);
      g.fillStyle = p.label ? '#1fbf4a' : '#e0333a'; g.fill(); g.strokeStyle = '#fff'; g.stroke();
    }
    if (sam.cursor && document.activeElement === stage) {
      g.strokeStyle = '#fff'; g.beginPath();
      g.moveTo(sam.cursor.x - 2 * r, sam.cursor.y); g.lineTo(sam.cursor.x + 2 * r, sam.cursor.y);
      g.moveTo(sam.cursor.x, sam.cursor.y - 2 * r); g.lineTo(sam.cursor.x, sam.cursor.y + 2 * r); g.stroke();
    }
  }
  stage.addEventListener('focus', drawMarks);
  stage.addEventListener('blur', drawMarks);

  // ---- sampling ----
  const form = $('sample-form');
  form.addEventListener('submit', async e => {
    e.preventDefault();
    const v = id => $(id).value;
    const body = { sampler: v('sample-sampler'), steps: +v('sample-steps'), seed: +v('sample-seed'), count: +v('sample-count'), guidance: +v('sample-guidance') };
    if (v('sample-class') !== '') body.class = +v('sample-class');
    $('sample-go').disabled = true; $('sample-progress').value = 0; say('sampling…');
    try {
      const r = await fetch('/api/diffusion/sample', { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' }, body: JSON.stringify(body) });
      if (!r.ok || !(r.headers.get('Content-Type') || '').startsWith('text/event-stream')) {
        const j = await r.json().catch(() => ({})); throw new Error(j.error || `HTTP ${r.status}`);
      }
      const reader = r.body.getReader(), text = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += text.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
          const name = (block.match(/^event: (.*)$/m) || [])[1], data = JSON.parse((block.match(/^data: (.*)$/m) || [])[1] || '{}');
          if (name === 'step') {
            $('sample-progress').max = data.steps; $('sample-progress').value = data.step + 1;
            $('sample-sigma').textContent = `step ${data.step + 1}/${data.steps}, σ = ${data.sigma.toPrecision(4)}`;
            $('sample-preview').src = 'data:image/png;base64,' + data.preview_png;
          } else if (name === 'result') {
            $('sample-grid').src = 'data:image/png;base64,' + data.grid_png;
            $('sample-progress').value = $('sample-progress').max;
            say(`${data.count} samples in ${(data.ms / 1000).toFixed(1)} s`);
          } else if (name === 'error') throw new Error(data.error);
        }
      }
    } catch (err) { say(err.message, true); }
    finally { $('sample-go').disabled = false; }
  });

  // ---- segmentation ----
  $('seg-file').addEventListener('change', async e => {
    const file = e.target.files[0];
    if (!file) return;
    say('segmenting…');
    try {
      const r = await api('/api/seg/predict', file, file.type || 'application/octet-stream');
      $('seg-overlay').src = 'data:image/png;base64,' + r.overlay_png;
      $('seg-legend').replaceChildren(...r.classes.map(c => {
        const li = document.createElement('li'), sw = document.createElement('span');
        sw.className = 'swatch'; sw.style.background = c.color;
        li.append(sw, `${c.class} ${c.name}: ${(100 * c.share).toFixed(1)} %`);
        return li;
      }));
      say(`segmented in ${r.ms.toFixed(0)} ms`);
    } catch (err) { say(err.message, true); }
  });

  // ---- what is loaded ----
  api('/api/models').then(m => {
    if (m.diffusion) {
      $('sample-sampler').replaceChildren(...m.diffusion.samplers.map(s => new Option(s, s, s === 'heun', s === 'heun')));
      for (let c = 0; c < m.diffusion.classes; c++) $('sample-class').append(new Option(String(c), String(c)));
      $('sample-count').max = m.diffusion.max_samples;
    } else { form.querySelectorAll('input, select, button').forEach(x => x.disabled = true); $('sample-sigma').textContent = 'no diffusion model loaded'; }
    if (!m.sam) { $('sam-drop').textContent = 'no SAM model loaded'; $('sam-file').disabled = true; }
    // The Video tab only where the server has a SAM 2 model with its video weights.
    $('tab-video').hidden = !(m.sam && m.sam.video);
    if (m.sam && m.sam.video) window.dispatchEvent(new CustomEvent('tessera-video', { detail: m.sam.video }));
    if (!m.seg) $('seg-file').disabled = true;
    say('ready: ' + Object.keys(m).join(', '));
  }).catch(e => say(e.message, true));
})();
