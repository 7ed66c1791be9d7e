'use strict';
// The Video tab: upload a clip's frames, click objects on a frame, track them (SAM 2) and play the masks back.
(() => {
  const $ = id => document.getElementById(id);
  const { api, say } = window.tesseraPage;
  const stage = $('video-stage'), img = $('video-frame'), overlay = $('video-overlay'), marks = $('video-marks');
  const slider = $('video-slider'), objectSelect = $('video-object');
  // prompts: key "object@frame" → { frame, object_id, points: [[x, y, label]], box }
  const v = { id: null, n: 0, w: 0, h: 0, frame: 0, object: 1, objects: [1], prompts: new Map(), tracked: new Set(), run: 0, playing: false, drag: null, limits: null };
  // What the page shows, for tests: the clip, the last track request and run status, the frames shown in order, and the
  // frame whose masks the overlay holds (-1: none).
  window.tesseraVideo = { id: null, request: null, status: null, shown: [], overlayFrame: -1, shownFrame: -1 };

  window.addEventListener('tessera-video', e => { v.limits = e.detail; });

  // Object colours as the server paints them (MaskOverlay.Colour(id − 1): hues 137.508° apart, chroma 0.85, plus 0.1).
  function colour(id) {
    const h = ((id - 1) * 137.508) % 360 / 60, c = 0.85, x = c * (1 - Math.abs(h % 2 - 1));
    const [r, g, b] = h < 1 ? [c, x, 0] : h < 2 ? [x, c, 0] : h < 3 ? [0, c, x] : h < 4 ? [0, x, c] : h < 5 ? [x, 0, c] : [c, 0, x];
    return `rgb(${[r, g, b].map(t => Math.floor((t + 0.1) * 255)).join(',')})`;
  }

  const url = (what, f) => `/api/sam/videos/${v.id}/${what}/${f}`;
  const load = src => new Promise((ok, fail) => { const i = new Image(); i.onload = () => ok(i); i.onerror = () => fail(new Error(`cannot load ${src}`)); i.src = src; });

  async function openClip(files) {
    const list = [...files].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
    // one video file (decoded on the server by ffmpeg), or the frames as images
    const video = list.length === 1 && (list[0].type.startsWith('video/') || /\.(mp4|mkv|webm|avi|mov|m4v)$/i.test(list[0].name));
    if (!video && v.limits && list.length > v.limits.max_frames) { say(`${list.length} frames: this server takes at most ${v.limits.max_frames}`, true); return; }
    const form = new FormData();
    for (const f of list) form.append(video ? 'video' : 'frames', f, f.name);
    say(video ? `uploading ${list[0].name}…` : `uploading ${list.length} frames…`);
    try {
      if (v.id) fetch(`/api/sam/videos/${v.id}`, { method: 'DELETE' }).catch(() => {});
      const r = await fetch('/api/sam/videos', { method: 'POST', body: form });
      const json = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
      if (!r.ok) throw new Error(json.error || `HTTP ${r.status}`);
      Object.assign(v, { id: json.id, n: json.frames, w: json.width, h: json.height, frame: 0, prompts: new Map(), tracked: new Set(), object: 1, objects: [1] });
      window.tesseraVideo.id = v.id;
      objectSelect.replaceChildren(new Option('1', '1', true, true));
      for (const c of [overlay, marks]) { c.width = v.w; c.height = v.h; c.hidden = false; }
      img.hidden = false; $('video-drop').hidden = true; stage.classList.add('loaded');
      img.style.width = v.w < 640 ? `${Math.min(640, 4 * v.w)}px` : '';
      slider.max = v.n - 1; slider.disabled = false; $('video-track').disabled = false;
      $('video-play').disabled = true;
      await show(0);
      say(`${v.n} frames of ${v.w}×${v.h} ready: click the object on a frame, then Track`);
    } catch (e) { say(e.message, true); }
  }

  // Shows frame f: the frame, its tracked masks (if any) and the clicks on it.
  async function show(f) {
    v.frame = f; slider.value = f;
    $('video-frame-no').textContent = `frame ${f} / ${v.n - 1}`;
    const frame = load(url('frames', f)), labels = v.tracked.has(f) ? load(url('labels', f) + `?run=${v.run}`) : null;
    img.src = (await frame).src;
    window.tesseraVideo.shownFrame = f;
    window.tesseraVideo.shown.push(f);
    const ctx = overlay.getContext('2d');
    ctx.clearRect(0, 0, v.w, v.h);
    window.tesseraVideo.overlayFrame = -1;
    if (labels) {
      // The label PNG's palette colours, opaque where an object is and clear elsewhere (the canvas's CSS opacity blends it).
      const l = await labels;
      ctx.drawImage(l, 0, 0);
      const d = ctx.getImageData(0, 0, v.w, v.h);
      for (let i = 0; i < d.data.length; i += 4) d.data[i + 3] = d.data[i] || d.data[i + 1] || d.data[i + 2] ? 255 : 0;
      ctx.putImageData(d, 0, 0);
      if (v.frame === f) window.tesseraVideo.overlayFrame = f;
    }
    drawMarks();
  }

  function drawMarks() {
    const ctx = marks.getContext('2d'), s = Math.max(1, Math.max(v.w, v.h) / 160);
    ctx.clearRect(0, 0, marks.width, marks.height);
    for (const p of v.prompts.values()) {
      if (p.frame !== v.frame) continue;
      ctx.strokeStyle = colour(p.object_id); ctx.lineWidth = s;
      if (p.box) ctx.strokeRect(p.box[0], p.box[1], p.box[2] - p.box[0], p.box[3] - p.box[1]);
      for (const [x, y, label] of p.points) {
        ctx.beginPath(); ctx.arc(x, y, 2.5 * s, 0, 2 * Math.PI);
        ctx.fillStyle = label ? colour(p.object_id) : '#000'; ctx.fill(); ctx.lineWidth = s / 2; ctx.strokeStyle = '#fff'; ctx.stroke();
      }
    }
    if (v.drag && v.drag.end) {
      const a = v.drag.start, b = v.drag.end;
      ctx.strokeStyle = colour(v.object); ctx.lineWidth = s; ctx.setLineDash([3 * s, 2 * s]);
      ctx.strokeRect(a.x, a.y, b.x - a.x, b.y - a.y); ctx.setLineDash([]);
    }
    $('video-prompts').replaceChildren(...[...v.prompts.values()].sort((a, b) => a.object_id - b.object_id || a.frame - b.frame).map(p => {
      const li = document.createElement('li'), sw = document.createElement('span');
      sw.className = 'swatch'; sw.style.background = colour(p.object_id);
      li.append(sw, `object ${p.object_id}, frame ${p.frame}: ${p.points.length} click${p.points.length === 1 ? '' : 's'}${p.box ? ', a box' : ''}`);
      return li;
    }));
  }

  function prompt() {
    const key = `${v.object}@${v.frame}`;
    if (!v.prompts.has(key)) v.prompts.set(key, { frame: v.frame, object_id: v.object, points: [], box: null });
    return v.prompts.get(key);
  }
  const round = x => Math.round(x * 100) / 100;
  function toFrame(e) {
    const r = img.getBoundingClientRect();
    return { x: round(Math.min(v.w, Math.max(0, (e.clientX - r.left) / r.width * v.w))), y: round(Math.min(v.h, Math.max(0, (e.clientY - r.top) / r.height * v.h))) };
  }

  stage.addEventListener('mousedown', e => { if (e.button === 0 && v.id) v.drag = { start: toFrame(e), end: null, x: e.clientX, y: e.clientY }; });
  window.addEventListener('mousemove', e => {
    if (v.drag && Math.hypot(e.clientX - v.drag.x, e.clientY - v.drag.y) > 5) { v.drag.end = toFrame(e); drawMarks(); }
  });
  window.addEventListener('mouseup', e => {
    if (!v.drag || e.button !== 0) return;
    const d = v.drag; v.drag = null;
    const p = prompt();
    if (d.end) p.box = [Math.min(d.start.x, d.end.x), Math.min(d.start.y, d.end.y), Math.max(d.start.x, d.end.x), Math.max(d.start.y, d.end.y)];
    else p.points.push([d.start.x, d.start.y, 1]);
    drawMarks();
  });
  stage.addEventListener('contextmenu', e => { e.preventDefault(); if (v.id) { const q = toFrame(e); prompt().points.push([q.x, q.y, 0]); drawMarks(); } });

  $('video-files').addEventListener('change', e => { if (e.target.files.length) openClip(e.target.files); });
  objectSelect.addEventListener('change', () => { v.object = Number(objectSelect.value); });
  $('video-new-object').addEventListener('click', () => {
    const id = Math.max(...v.objects) + 1;
    if (id > 255) return;
    v.objects.push(id); v.object = id;
    objectSelect.append(new Option(String(id), String(id), true, true));
  });
  $('video-clear').addEventListener('click', () => { for (const [k, p] of v.prompts) if (p.frame === v.frame) v.prompts.delete(k); drawMarks(); });
  slider.addEventListener('input', () => { pause(); show(Number(slider.value)); });

  // Track: the prompts to the server, then its progress polled until the run ends.
  $('video-track').addEventListener('click', async () => {
    const prompts = [...v.prompts.values()].filter(p => p.points.length || p.box).map(p => {
      const q = { frame: p.frame, object_id: p.object_id, points: p.points };
      if (p.box) q.box = p.box;
      return q;
    });
    if (!prompts.length) { say('click an object on a frame first', true); return; }
    pause();
    $('video-track').disabled = true; $('video-cancel').disabled = false;
    try {
      const body = { prompts, direction: $('video-direction').value };
      window.tesseraVideo.request = body;
      let s = await api(`/api/sam/videos/${v.id}/track`, body);
      v.run = s.run; v.tracked = new Set();
      while (s.state === 'queued' || s.state === 'tracking') {
        window.tesseraVideo.status = s;
        $('video-progress').max = Math.max(1, s.total); $('video-progress').value = s.done;
        say(s.state === 'queued' ? 'waiting for the model…' : `tracking: ${s.done} of ${s.total} frame steps`);
        await new Promise(ok => setTimeout(ok, 250));
        s = await api(`/api/sam/videos/${v.id}/track`);
      }
      window.tesseraVideo.status = s;
      v.tracked = new Set(s.frames);
      $('video-progress').value = s.done;
      $('video-play').disabled = !s.frames.length;
      if (s.state === 'done') say(`tracked objects ${s.object_ids.join(', ')} over ${s.frames.length} frames, ${(1000 * s.seconds_per_frame).toFixed(0)} ms per frame: play it`);
      else say(s.state === 'failed' ? `tracking failed: ${s.error}` : 'tracking cancelled', s.state === 'failed');
      await show(v.frame);
    } catch (e) { say(e.message, true); }
    finally { $('video-track').disabled = false; $('video-cancel').disabled = true; }
  });
  $('video-cancel').addEventListener('click', () => fetch(`/api/sam/videos/${v.id}/track`, { method: 'DELETE' }).catch(e => say(e.message, true)));

  // Playback: the tracked frames in order, about 8 per second, once through.
  function pause() { v.playing = false; $('video-play').textContent = 'Play'; }
  $('video-play').addEventListener('click', async () => {
    if (v.playing) { pause(); return; }
    const frames = [...v.tracked].sort((a, b) => a - b);
    if (!frames.length) return;
    v.playing = true; $('video-play').textContent = 'Pause';
    let i = frames.indexOf(v.frame);
    if (i < 0 || i === frames.length - 1) i = -1;
    while (v.playing && ++i < frames.length) {
      const t0 = performance.now();
      await show(frames[i]);
      await new Promise(ok => setTimeout(ok, Math.max(0, 125 - (performance.now() - t0))));
    }
    pause();
  });
})();
