// AttnLab serve: the app. Every number comes from the server, which calls the library the command
// line calls; this script only keeps what the person chose and draws the answers. Tokens and
// texts reach the page through textContent and properties only, never as markup.
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const session = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');

  /** An element with properties and children; strings become text nodes. */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'style') Object.assign(node.style, value);
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else if (key === 'title' || key === 'href' || key === 'target' || key === 'rel' || key === 'value' || key === 'type' || key === 'id' || key === 'checked' || key === 'selected' || key === 'disabled' || key === 'placeholder') node[key] = value;
      else node.setAttribute(key, String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
    }
    return node;
  }
  const fixed = (x, n) => (typeof x === 'number' && isFinite(x) ? x.toFixed(n === undefined ? 4 : n) : String(x));
  const slug = (text) => String(text).toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '-').replace(/^-+|-+$/g, '');

  const EXAMPLE = { a: 'the eminem tune was totally awesome.', b: 'dude, that song from eminem was sick!' };
  const state = {
    files: '/files/', models: [], info: null,
    input: { id: 'input', base: 'base', a: EXAMPLE.a, b: EXAMPLE.b, decoder: '' },
    chat: false, messages: [{ role: 'user', content: 'What is the capital of France?' }],
    chosen: null,          // the word being edited: {text, segment}
    perturbation: null,    // the current perturbation (ExperimentDraft.Perturbation)
    kept: [],              // perturbations kept for the experiment
    ablated: [],           // "L.H"
    expectations: [],
    result: null,
    view: { kind: 'head', layer: null, heads: null, left: null, right: null, scanCell: null },
    scan: null,
  };

  // ---- requests ----
  const controllers = {};
  /** A request of a lane: the one before it in the same lane is aborted (and cancelled on the server). */
  async function call(lane, path, body) {
    if (controllers[lane]) controllers[lane].abort();
    const controller = (controllers[lane] = new AbortController());
    const url = path + (path.includes('?') ? '&' : '?') + 'session=' + session + '&lane=' + encodeURIComponent(lane);
    const response = await fetch(url, {
      method: body === undefined ? 'GET' : 'POST', signal: controller.signal,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({ error: 'HTTP ' + response.status }));
    if (response.status === 409 && /superseded/.test(data.error || '')) throw Object.assign(new Error('superseded'), { superseded: true });
    if (!response.ok) throw new Error(data.error || 'HTTP ' + response.status);
    return data;
  }
  const isAbort = (error) => error && (error.name === 'AbortError' || error.superseded);
  function showError(error) { $('error').textContent = error ? String(error.message || error) : ''; }

  // ---- the model ----
  function modelDraft() {
    const task = $('task').value || null;
    const draft = { id: $('model').value, task: task, topK: 5 };
    const effective = task || (state.result && state.result.task) || (state.info && (hasPair() ? state.info.taskPair : state.info.taskSingle));
    if (effective === 'similarity') {
      const threshold = Number($('threshold').value);
      if (isFinite(threshold)) { draft.threshold = threshold; draft.labels = ['not-paraphrase', 'paraphrase']; }
    }
    return draft;
  }
  const hasPair = () => !$('b-field').hidden && state.input.b.trim() !== '';

  async function chooseModel(id) {
    $('status').textContent = 'loading ' + id + '…';
    try {
      const info = await call('model', '/api/model?id=' + encodeURIComponent(id));
      state.info = info;
      const decoderOnly = info.outputHeads.includes('causal-lm');
      $('b-field').hidden = decoderOnly || info.encoderDecoder;
      $('decoder-field').hidden = !info.encoderDecoder;
      $('chat-field').hidden = !info.chat;
      if (!info.chat) setChat(false);
      $('a-label').textContent = decoderOnly ? 'Text' : info.encoderDecoder ? 'Encoder text' : 'Sentence A';
      if (decoderOnly && state.input.a === EXAMPLE.a) { state.input.a = 'The capital of France is'; $('text-a').value = state.input.a; }
      const tasks = ['similarity', 'classification', 'masked-lm', 'causal-lm', 'seq2seq', 'attention'];
      $('task').replaceChildren(el('option', { value: '' }, 'auto (' + info.taskPair + ' for a pair)'), ...tasks.map((t) => el('option', { value: t }, t)));
      state.ablated = [];
      state.scan = null;
      $('scan').replaceChildren();
      refresh();
    } catch (error) {
      if (!isAbort(error)) { showError(error); $('status').textContent = 'could not load ' + id; }
    }
  }

  function setChat(on) {
    state.chat = on;
    $('chat').checked = on;
    $('texts').hidden = on;
    $('messages').hidden = !on;
    $('rendered').hidden = !on;
    if (on) drawMessages();
  }

  function drawMessages() {
    const roles = ['system', 'user', 'assistant'];
    $('messages').replaceChildren(...state.messages.map((message, index) => el('div', { class: 'message' },
      el('select', { onchange: (event) => { message.role = event.target.value; refresh(); } },
        roles.map((role) => el('option', { value: role, selected: role === message.role }, role))),
      el('textarea', { rows: 2, value: message.content, oninput: (event) => { message.content = event.target.value; refresh(); } }),
      el('button', { class: 'small', title: 'remove', onclick: () => { state.messages.splice(index, 1); drawMessages(); refresh(); } }, '×'))),
    el('button', { class: 'small', onclick: () => { state.messages.push({ role: 'user', content: '' }); drawMessages(); } }, '+ message'));
  }

  // ---- the experiment draft ----
  function inputDraft() {
    const input = { id: state.input.id, base: state.input.base, a: state.input.a };
    if (!$('b-field').hidden && state.input.b !== '') input.b = state.input.b;
    if (!$('decoder-field').hidden) input.decoder = state.input.decoder;
    return input;
  }

  function interventionDraft() {
    if (!state.ablated.length) return null;
    const mode = $('ablation-mode').value;
    const heads = state.ablated.slice().sort((x, y) => { const [a, b] = x.split('.').map(Number), [c, d] = y.split('.').map(Number); return a - c || b - d; });
    return { id: 'ablate-' + heads.join('-') + (mode === 'mean' ? '-mean' : ''), intervention: { kind: 'ablate', stack: 'encoder', heads, mode } };
  }

  function analyzeRequest() {
    const request = { model: modelDraft(), input: inputDraft(), expectations: state.expectations };
    if (state.chat) request.messages = state.messages;
    if (state.perturbation) request.perturbation = state.perturbation;
    const intervention = interventionDraft();
    if (intervention) request.intervention = intervention;
    return request;
  }

  // ---- update: outputs first, then the views; timed from the change to the views' load ----
  const App = (window.AttnLabApp = { latencies: [], updates: 0, waiters: [], viewTimes: [] });
  let generation = 0;

  let running = 0;
  /** True when no update is under way (every answer drawn, every view loaded). */
  App.idle = () => running === 0;

  async function refresh() {
    if (!state.info) return;
    running++;
    try {
      await update();
    } finally {
      running--;
    }
  }

  async function update() {
    const started = performance.now();
    const mine = ++generation;
    try {
      const result = await call('analyze', '/api/analyze', analyzeRequest());
      if (mine !== generation) return;
      const answered = performance.now();
      state.result = result;
      showError(null);
      drawResult();
      const drawn = performance.now();
      state.view.scanCell = null;
      // The first comparison opens the views at the head that changed most; later ones keep what
      // the reader chose in the views.
      let keep = true;
      if (!state.view.chosen && result.diff && result.diff.heads.length) {
        state.view.chosen = true;
        state.view.layer = result.diff.heads[0].layer;
        state.view.heads = [result.diff.heads[0].head];
        keep = false;
      }
      await loadViews(keep);
      if (mine !== generation) return;
      const ms = performance.now() - started;
      App.latencies.push({ ms, server: result.milliseconds, answer: answered - started, draw: drawn - answered, views: performance.now() - drawn });
      App.updates++;
      $('status').textContent = 'updated in ' + Math.round(ms) + ' ms (model ' + Math.round(result.milliseconds) + ' ms)';
      for (const waiter of App.waiters.splice(0)) waiter(ms);
    } catch (error) {
      if (isAbort(error) || mine !== generation) return;
      showError(error);
      $('status').textContent = 'error';
      for (const waiter of App.waiters.splice(0)) waiter(null);
    }
  }

  function variantOf(role) { return state.result && state.result.variants.find((v) => v.role === role); }

  function drawResult() {
    const result = state.result;
    const base = variantOf('base');
    if (state.chat) $('rendered').textContent = 'rendered: ' + result.input.a;
    $('threshold-field').hidden = result.task !== 'similarity';
    drawWords(base);
    drawEditor();
    drawKept();
    drawCards(result);
    drawPinned(result);
    drawDiff(result);
    drawHeadGrid(result);
    drawViewControls(result);
  }

  function drawWords(base) {
    const moved = new Set(((state.result.diff && state.result.diff.words) || []).slice(0, 3).map((w) => w.segment + ':' + w.text));
    const sentences = [0, 1].map((segment) => base.words.filter((w) => w.segment === segment || (segment === 0 && w.special && w.segment === 0)));
    $('words').replaceChildren(...sentences.map((words, segment) => words.length === 0 || (segment === 1 && !base.b) ? null :
      el('div', { class: 'sentence' }, el('b', {}, base.b ? (segment === 0 ? 'A' : 'B') : ''),
        words.map((word) => word.special ? el('span', { class: 'word special', title: 'special token' }, word.text) :
          el('span', {
            class: 'word' + (state.chosen && state.chosen.text === word.text && state.chosen.segment === word.segment ? ' chosen' : '') + (moved.has(word.segment + ':' + word.text) ? ' moved' : ''),
            title: 'click to perturb “' + word.text + '”', 'data-word': word.text, 'data-segment': word.segment,
            onclick: () => { state.chosen = { text: word.text, segment: word.segment }; drawWords(base); drawEditor(); const box = $('replacement'); if (box) box.focus(); },
          }, word.text)))));
  }

  /** The perturbation of the chosen word: replace (typed live), delete, mask, insert. */
  function drawEditor() {
    const chosen = state.chosen;
    if (!chosen) { $('editor').replaceChildren(); return; }
    const where = state.result && variantOf('base').b ? (chosen.segment === 0 ? 'a' : 'b') : 'both';
    const current = state.perturbation && state.perturbation.word === chosen.text ? state.perturbation : null;
    const make = (kind, extra) => {
      const p = Object.assign({ kind, word: chosen.text, in: where }, extra);
      const name = kind === 'replace' ? slug(p.with) || 'replace' : kind === 'delete' ? 'no-' + (slug(p.word) || 'word') : kind === 'mask' ? 'mask-' + (slug(p.word) || 'word') : (slug(p.text) || 'insert') + '-' + (p.after ? 'after' : 'before') + '-' + (slug(p.word) || 'word');
      p.id = name === state.input.base ? name + '-2' : name;
      return p;
    };
    const replacement = el('input', {
      type: 'text', id: 'replacement', placeholder: 'replacement', value: current && current.kind === 'replace' ? current.with : '',
      oninput: (event) => { const text = event.target.value.trim(); state.perturbation = text ? make('replace', { with: text }) : null; drawKept(); refresh(); },
    });
    const insertion = el('input', { type: 'text', id: 'insertion', placeholder: 'text to insert', value: current && current.kind === 'insert' ? current.text : '' });
    const set = (p) => { state.perturbation = p; drawKept(); refresh(); };
    $('editor').replaceChildren(
      el('div', { class: 'row' }, el('span', {}, '“', el('b', {}, chosen.text), '”' + (where === 'both' ? '' : ' in sentence ' + where.toUpperCase()) + ':'),
        el('label', { class: 'field' }, 'replace with', replacement),
        el('button', { id: 'do-delete', onclick: () => set(make('delete')) }, 'delete'),
        el('button', { id: 'do-mask', disabled: !(state.info && state.info.maskToken), onclick: () => set(make('mask')) }, 'mask'),
        el('span', {}, insertion,
          el('button', { id: 'do-insert-before', onclick: () => insertion.value.trim() && set(make('insert', { text: insertion.value.trim(), after: false })) }, 'insert before'),
          el('button', { id: 'do-insert-after', onclick: () => insertion.value.trim() && set(make('insert', { text: insertion.value.trim(), after: true })) }, 'after')),
        el('button', { class: 'small', onclick: () => { state.chosen = null; state.perturbation = null; drawEditor(); drawKept(); refresh(); } }, 'none')));
  }

  function describe(p) {
    return p.kind === 'replace' ? '“' + p.word + '” → “' + p.with + '”' : p.kind === 'insert' ? 'insert “' + p.text + '” ' + (p.after ? 'after' : 'before') + ' “' + p.word + '”' : p.kind + ' “' + p.word + '”';
  }

  /** Perturbations kept for the experiment; the current one is shown beside the base. */
  function drawKept() {
    const all = state.kept.slice();
    const current = state.perturbation;
    if (current && !all.some((p) => p.id === current.id)) all.push(current);
    if (!all.length) { $('kept').replaceChildren(); return; }
    $('kept').replaceChildren(el('span', { class: 'muted' }, 'variants: '), ...all.map((p) => {
      const isKept = state.kept.some((k) => k.id === p.id);
      return el('span', { class: 'chip' + (current && current.id === p.id ? ' current' : '') },
        el('a', { href: '#', onclick: (event) => { event.preventDefault(); state.perturbation = p; state.chosen = { text: p.word, segment: p.in === 'b' ? 1 : 0 }; drawEditor(); drawKept(); refresh(); } }, p.id + ': ' + describe(p)),
        isKept ? el('button', { class: 'small', title: 'leave out of the experiment', onclick: () => { state.kept = state.kept.filter((k) => k.id !== p.id); drawKept(); } }, '×')
          : el('button', { class: 'small', id: 'keep', title: 'keep this variant in the experiment, to try another', onclick: () => { state.kept.push(p); drawKept(); } }, 'keep'));
    }));
  }

  function outputsOf(variant) {
    const o = variant.outputs, parts = [];
    if (typeof o.similarity === 'number') parts.push(el('div', { class: 'value', 'data-output': 'similarity' }, 'similarity ' + fixed(o.similarity)));
    if (o.probabilities && o.labels) {
      const order = o.probabilities.map((p, i) => i).sort((i, j) => o.probabilities[j] - o.probabilities[i]).slice(0, 5);
      parts.push(el('ol', {}, order.map((i) => el('li', {}, o.labels[i] + ' ' + fixed(o.probabilities[i], 3)))));
    }
    if (o.topk && o.topk.length) {
      const lm = variant.task === 'causal-lm' || variant.task === 'seq2seq';
      const shown = lm ? o.topk.slice(-1) : o.topk.slice(0, 3);
      const tokens = variant.task === 'seq2seq' ? variant.decoderTokens || [] : variant.tokens;
      for (const prediction of shown) {
        const at = tokens[prediction.position];
        parts.push(el('div', { class: 'what' }, (lm ? 'next after “' : 'at “') + (at ? at.display : '#' + prediction.position) + '”'));
        parts.push(el('ol', {}, prediction.candidates.map((c) => el('li', {}, c.token + ' ' + fixed(c.probability, 3)))));
      }
    }
    if (!parts.length) parts.push(el('div', { class: 'what' }, 'attention only'));
    return parts;
  }

  function drawCards(result) {
    const base = variantOf('base');
    $('cards').replaceChildren(...result.variants.map((variant) => {
      const o = variant.outputs;
      let delta = null;
      const reference = variant.role === 'base' ? null : variant.role === 'variant+intervention' ? variantOf('variant') : base;
      if (reference && typeof o.similarity === 'number' && typeof reference.outputs.similarity === 'number') {
        const d = o.similarity - reference.outputs.similarity;
        delta = el('span', { class: 'delta ' + (d >= 0 ? 'up' : 'down') }, ' ' + (d >= 0 ? '+' : '−') + fixed(Math.abs(d)) + ' vs ' + reference.name);
      }
      const pins = [];
      if (variant.label) pins.push(el('button', { class: 'small pin-label', onclick: () => pin({ variant: variant.path, check: 'label', label: variant.label }) }, 'pin: must be ' + variant.label));
      if (variant.role !== 'base' && typeof o.similarity === 'number') {
        pins.push(el('button', { class: 'small', onclick: () => pin({ variant: variant.path, check: 'invariant', output: 'similarity', tolerance: 0.05 }) }, 'pin: within ±0.05 of base'));
      }
      return el('div', { class: 'card', 'data-role': variant.role, 'data-variant': variant.name },
        el('h3', {}, variant.name + (variant.role === 'base' ? ' (base)' : '')),
        el('div', { class: 'what' }, [variant.perturbation, ...variant.interventions].filter(Boolean).join(' · ') || 'as typed'),
        ...outputsOf(variant),
        variant.label ? el('div', {}, 'label ', el('span', { class: 'label' }, variant.label), delta) : delta,
        el('div', { class: 'pins' }, pins));
    }));
  }

  function pin(expectation) {
    if (!state.expectations.some((e) => JSON.stringify(e) === JSON.stringify(expectation))) state.expectations.push(expectation);
    refresh();
  }

  function drawPinned(result) {
    if (!state.expectations.length) return;
    let index = 0;
    $('pinned').replaceChildren(...state.expectations.map((expectation, i) => {
      const outcome = result.expectations.filter((r) => r.line === i + 1);
      index++;
      const passed = outcome.length > 0 && outcome.every((r) => r.passed);
      return el('li', {},
        el('span', { class: passed ? 'pass' : 'fail' }, passed ? 'pass ' : 'fail '),
        expectation.variant + ': ' + (outcome[0] ? outcome[0].expectation + ' — ' + outcome[0].actual : ''),
        ' ', el('button', { class: 'small', title: 'unpin', onclick: () => { state.expectations.splice(i, 1); if (!state.expectations.length) $('pinned').replaceChildren(); refresh(); } }, '×'));
    }));
  }

  function drawDiff(result) {
    const diff = result.diff;
    $('diff-title').textContent = diff ? diff.from + ' → ' + diff.to : '';
    if (!diff) { $('diff').replaceChildren(el('p', { class: 'muted' }, 'Perturb a word to compare the variant with the base.')); return; }
    const changed = diff.changed.map(([a, b]) => (a === null ? '+' + b : b === null ? '−' + a : a + ' → ' + b)).join(', ');
    $('diff').replaceChildren(
      el('div', { class: 'muted' }, 'changed words: ' + (changed || 'none')),
      el('table', { id: 'changed-heads' }, el('tr', {}, el('th', {}, 'most-changed heads'), el('th', {}, 'JS'), el('th', {}, 'L1'), el('th', {}, 'top-3'), el('th', {}, 'A↔B mass')),
        diff.heads.slice(0, 6).map((h) => el('tr', { class: 'click', title: 'show this head in the views', onclick: () => openHead(h.layer, h.head) },
          el('td', {}, 'layer ' + h.layer + ', head ' + h.head), el('td', {}, fixed(h.js_divergence, 3)), el('td', {}, fixed(h.l1, 3)),
          el('td', {}, Math.round(h.top_k_change * 100) + '%'), el('td', {}, h.mass_change === undefined || h.mass_change === null ? '–' : fixed(h.mass_change, 3))))),
      el('table', { id: 'moved-words', style: { marginTop: '8px' } }, el('tr', {}, el('th', {}, 'words whose attention moved'), el('th', {}, 'JS'), el('th', {}, 'most in')),
        diff.words.slice(0, 5).map((w) => el('tr', { class: 'click', onclick: () => openHead(w.layer, w.head) },
          el('td', {}, w.text + (variantOf('base').b ? (w.segment ? ' (B)' : ' (A)') : '')), el('td', {}, fixed(w.js_divergence, 3)), el('td', {}, 'layer ' + w.layer + ', head ' + w.head)))));
  }

  function openHead(layer, head) {
    state.view.chosen = true;
    state.view.kind = 'head';
    state.view.layer = layer;
    state.view.heads = [head];
    state.view.scanCell = null;
    drawViewControls(state.result);
    loadViews(false);
  }

  /** Layers × heads, coloured by the change between base and variant; a click ablates. */
  function drawHeadGrid(result) {
    const info = result.model;
    const grid = result.diff ? result.diff.grid : null;
    const top = grid ? Math.max(1e-9, ...grid.flat()) : 1;
    const cells = [el('div', { class: 'axis' }, '')];
    for (let h = 0; h < info.heads; h++) cells.push(el('div', { class: 'axis' }, String(h)));
    for (let l = 0; l < info.layers; l++) {
      cells.push(el('div', { class: 'axis' }, 'L' + l));
      for (let h = 0; h < info.heads; h++) {
        const name = l + '.' + h, value = grid ? grid[l][h] : 0, ablated = state.ablated.includes(name);
        cells.push(el('div', {
          class: 'cell' + (ablated ? ' ablated' : ''), 'data-head': name,
          title: 'layer ' + l + ', head ' + h + (grid ? ' · JS ' + fixed(value, 3) : '') + (ablated ? ' · ablated (click to restore)' : ' · click to ablate'),
          style: { background: 'rgba(21,101,192,' + (grid ? Math.sqrt(value / top) * 0.85 : 0.04).toFixed(3) + ')' },
          onclick: () => { state.ablated = ablated ? state.ablated.filter((x) => x !== name) : state.ablated.concat([name]); refresh(); },
        }, ablated ? '×' : ''));
      }
    }
    const gridNode = el('div', { class: 'grid', id: 'heads-grid', style: { gridTemplateColumns: '30px repeat(' + info.heads + ', 26px)' } }, cells);
    $('head-grid').replaceChildren(gridNode);
    const intervention = interventionDraft();
    $('ablated').textContent = intervention ? 'ablated: ' + intervention.intervention.heads.join(', ') + ' (' + intervention.intervention.mode + ')' : '';
  }

  // ---- views: the static pages' own view code, in sandboxed frames ----
  // Each frame opens a view page once (per view kind); later traces are sent to it as payloads,
  // which its own code draws again, keeping the layer and heads the reader chose in it.
  const frames = { left: { kind: null, trace: null, loaded: false, seq: 0, waiting: null }, right: { kind: null, trace: null, loaded: false, seq: 0, waiting: null } };
  window.addEventListener('message', (event) => {
    const message = event.data;
    if (!message || message.attnlabDrawn === undefined) return;
    for (const side of ['left', 'right']) {
      const f = frames[side];
      if (event.source === $('frame-' + side).contentWindow && f.waiting && f.waiting.id === message.attnlabDrawn) {
        f.drawn = (f.drawn || 0) + (message.failed ? 0 : 1);
        f.waiting.resolve();
        f.waiting = null;
      }
    }
  });

  function drawViewControls(result) {
    $('view-kind').value = state.view.kind;
    const names = result.variants.map((v) => [v.role, v.name]);
    const fallbackRight = ['variant', 'base+intervention', 'variant+intervention'].find((r) => variantOf(r)) || 'base';
    if (!variantOf(state.view.left)) state.view.left = 'base';
    if (!variantOf(state.view.right) || state.view.right === 'base') state.view.right = fallbackRight;
    for (const side of ['left', 'right']) {
      $('view-' + side).replaceChildren(...names.map(([role, name]) => el('option', { value: role, selected: role === state.view[side] }, name)));
    }
  }

  function viewParams(trace, side, caption) {
    const v = state.view;
    const params = new URLSearchParams({ trace, view: v.kind, mode: 'light', title: caption });
    if (v.layer !== null && v.kind !== 'model') params.set('layer', String(v.layer));
    if (v.heads && v.kind !== 'model') params.set('heads', v.heads.join(','));
    params.set('session', session);
    params.set('lane', 'view-' + side);
    return params.toString();
  }

  /** The payload of a view, as text (the frame parses it); a newer one of the side aborts it. */
  async function payload(side, params) {
    const lane = 'payload-' + side;
    if (controllers[lane]) controllers[lane].abort();
    const controller = (controllers[lane] = new AbortController());
    const response = await fetch('/api/payload?' + params, { signal: controller.signal });
    if (!response.ok) throw new Error((await response.text()).trim());
    return response.text();
  }

  /** Shows `trace` in a side's frame: opens the view page when the frame has none of this kind,
   * else sends it the payload. `keep`: keep the layer and heads chosen in the view. */
  async function showView(side, trace, caption, keep) {
    const f = frames[side], frame = $('frame-' + side);
    $('caption-' + side).textContent = caption;
    if (f.kind !== state.view.kind || !f.loaded) {
      f.kind = state.view.kind;
      f.trace = trace;
      f.loaded = false;
      // A newer load of the frame replaces `onload`; the older updates waiting on it resolve too
      // (else their update never ends and the page never counts as idle).
      await new Promise((resolve) => {
        (f.loadWaiters = f.loadWaiters || []).push(resolve);
        frame.onload = () => { f.loaded = true; for (const waiter of f.loadWaiters.splice(0)) waiter(); };
        frame.src = '/api/view?' + viewParams(trace, side, caption);
      });
      return;
    }
    if (f.trace === trace && keep) return f.pending;
    const asked = performance.now();
    const text = await payload(side, viewParams(trace, side, caption));
    App.viewTimes.push({ side, fetch: performance.now() - asked, bytes: text.length });
    const posted = performance.now();
    f.trace = trace;
    const id = ++f.seq;
    const record = App.viewTimes[App.viewTimes.length - 1];
    await (f.pending = new Promise((resolve) => {
      if (f.waiting) f.waiting.resolve();
      f.waiting = { id, resolve: () => { record.drawn = performance.now() - posted; resolve(); } };
      frame.contentWindow.postMessage({ attnlabPayload: text, id, keep }, '*');
      // A frame that does not answer is opened again next time.
      setTimeout(() => { if (f.waiting && f.waiting.id === id) { f.waiting = null; f.loaded = false; resolve(); } }, 5000);
    }));
  }

  /** Shows the chosen traces in both frames; resolves when both have drawn them. */
  function loadViews(keep) {
    if (!state.result) return Promise.resolve();
    const cell = state.view.scanCell;
    const sides = cell ? [['left', cell.source, cell.sourceName], ['right', cell.target, cell.targetName]]
      : ['left', 'right'].map((side) => { const v = variantOf(state.view[side]); return [side, v.trace, v.name]; });
    $('view-note').textContent = cell ? 'scan cell: layer ' + state.view.layer + ', head ' + state.view.heads[0] + ' (source left, target right)' : '';
    return Promise.all(sides.map(([side, trace, name]) => showView(side, trace, name, keep !== false))).catch((error) => {
      if (!isAbort(error)) showError(error);
    });
  }

  // ---- scan ----
  async function runScan() {
    const result = state.result;
    const base = variantOf('base'), variant = variantOf('variant');
    if (!variant) { $('scan-note').textContent = 'Perturb a word first: the scan patches from the variant into the base.'; return; }
    $('scan').replaceChildren(el('p', { class: 'muted' }, 'scanning ' + result.model.layers * result.model.heads + ' heads…'));
    try {
      const scan = await call('scan', '/api/scan', {
        model: modelDraft(), target: { id: 'target', a: base.a, b: base.b, decoder: base.decoder }, source: { id: 'source', a: variant.a, b: variant.b, decoder: variant.decoder },
        targetName: base.name, sourceName: variant.name, site: 'head', mode: 'patch', metric: $('scan-metric').value.trim() || null,
      });
      state.scan = scan;
      drawScan(scan);
    } catch (error) {
      if (!isAbort(error)) $('scan').replaceChildren(el('p', { class: 'error' }, String(error.message || error)));
    }
  }

  function drawScan(response) {
    const scan = response.scan;
    const values = scan.normalized.map((row, r) => row.map((n, c) => (n === null ? scan.effects[r][c] : n)));
    const top = Math.max(1e-9, ...values.flat().map((x) => Math.abs(x)).filter(isFinite));
    const cells = [el('div', { class: 'axis' }, '')];
    for (const column of scan.columns) cells.push(el('div', { class: 'axis' }, column));
    scan.layers.forEach((layer, r) => {
      cells.push(el('div', { class: 'axis' }, 'L' + layer));
      scan.columns.forEach((column, c) => {
        const value = values[r][c], shade = Math.min(1, Math.abs(value) / top);
        const open = state.view.scanCell && state.view.layer === layer && state.view.heads && state.view.heads[0] === Number(column);
        cells.push(el('div', {
          class: 'cell' + (open ? ' open' : ''), 'data-cell': layer + '.' + column,
          title: 'layer ' + layer + ', head ' + column + ': effect ' + fixed(scan.effects[r][c]) + (scan.normalized[r][c] === null ? '' : ', normalised ' + fixed(scan.normalized[r][c], 3)) + ' · click to open',
          style: { background: (value >= 0 ? 'rgba(21,101,192,' : 'rgba(232,113,10,') + (shade * 0.9).toFixed(3) + ')' },
          onclick: () => {
            state.view.scanCell = { source: response.sourceTrace, target: response.targetTrace, sourceName: scan.source + ' (source)', targetName: scan.target + ' (target)' };
            state.view.kind = 'head';
            state.view.layer = layer;
            state.view.heads = [Number(column)];
            drawViewControls(state.result);
            drawScan(response);
            loadViews(false);
            $('frame-left').scrollIntoView({ block: 'nearest' });
          },
        }, ''));
      });
    });
    $('scan').replaceChildren(
      el('div', { class: 'muted' }, scan.metric + ': target ' + fixed(scan.target_value) + (scan.source_value === undefined || scan.source_value === null ? '' : ', source ' + fixed(scan.source_value)) + ' · ' + Math.round(response.milliseconds) + ' ms'),
      el('div', { class: 'grid', id: 'scan-grid', style: { gridTemplateColumns: '30px repeat(' + scan.columns.length + ', 26px)' } }, cells),
      el('table', {}, el('tr', {}, el('th', {}, 'strongest cells'), el('th', {}, 'effect'), el('th', {}, 'normalised')),
        response.top.slice(0, 5).map((cell) => el('tr', {}, el('td', {}, 'layer ' + cell.layer + ', head ' + cell.label), el('td', {}, fixed(cell.effect)),
          el('td', {}, cell.normalized === undefined || cell.normalized === null ? '–' : fixed(cell.normalized, 3))))));
  }

  // ---- save, runs, reviews ----
  function experimentDraft() {
    const perturbations = state.kept.slice();
    if (state.perturbation && !perturbations.some((p) => p.id === state.perturbation.id)) perturbations.push(state.perturbation);
    const intervention = interventionDraft();
    const input = inputDraft();
    if (state.chat && state.result) input.a = state.result.input.a;
    const model = modelDraft();
    if (state.result) model.task = state.result.task;
    return {
      name: $('save-name').value.trim(), description: $('save-description').value.trim() || null,
      models: [model], inputs: [input], perturbations, interventions: intervention ? [intervention] : [],
      expectations: state.expectations, capture: ['qkv'], views: [],
    };
  }

  async function save() {
    try {
      const saved = await call('save', '/api/save', { draft: experimentDraft(), overwrite: $('save-overwrite').checked });
      $('save-result').replaceChildren(el('p', { id: 'saved-path' }, 'wrote ' + saved.path + ' — run it with ', el('code', {}, 'attnlab run ' + saved.path)),
        el('pre', { class: 'yaml' }, saved.yaml));
    } catch (error) {
      if (!isAbort(error)) $('save-result').replaceChildren(el('p', { class: 'error', id: 'save-error' }, String(error.message || error)));
    }
  }

  async function listRuns() {
    try {
      const runs = await call('runs', '/api/runs');
      $('runs').replaceChildren(runs.length ? el('table', {}, el('tr', {}, el('th', {}, 'experiment'), el('th', {}, 'run'), el('th', {}, 'variants'), el('th', {}, 'expectations'), el('th', {}, '')),
        runs.map((run) => el('tr', {}, el('td', {}, run.experiment), el('td', {}, run.run), el('td', {}, run.variants === undefined ? '–' : String(run.variants)),
          el('td', {}, run.expectations === undefined ? '–' : (run.passed ? el('span', { class: 'pass' }, 'passed') : el('span', { class: 'fail' }, run.failed + ' failed')), run.expectations === undefined ? '' : ' of ' + run.expectations),
          el('td', {}, run.report ? el('a', { href: state.files + run.report, target: '_blank', rel: 'noopener' }, 'report') : '',
            run.manifest ? ' ' : '', run.manifest ? el('a', { href: state.files + run.manifest, target: '_blank', rel: 'noopener' }, 'manifest') : '')))) : el('p', { class: 'muted' }, 'No runs yet under runs/: save an experiment and run it with attnlab run.'));
    } catch (error) {
      if (!isAbort(error)) $('runs').replaceChildren(el('p', { class: 'error' }, String(error.message || error)));
    }
  }

  function reviewURL() {
    const params = new URLSearchParams();
    for (const [key, id] of [['a', 'review-a'], ['b', 'review-b'], ['experiment', 'review-experiment']]) if ($(id).value.trim()) params.set(key, $(id).value.trim());
    return '/api/review?' + params.toString();
  }

  // ---- wiring ----
  function wire() {
    $('model').addEventListener('change', () => chooseModel($('model').value));
    $('task').addEventListener('change', refresh);
    $('threshold').addEventListener('input', refresh);
    $('chat').addEventListener('change', () => { setChat($('chat').checked); refresh(); });
    for (const [id, key] of [['text-a', 'a'], ['text-b', 'b'], ['text-decoder', 'decoder']]) {
      $(id).value = state.input[key];
      $(id).addEventListener('input', () => { state.input[key] = $(id).value; refresh(); });
    }
    $('ablation-mode').addEventListener('change', () => { if (state.ablated.length) refresh(); });
    $('clear-ablation').addEventListener('click', () => { state.ablated = []; refresh(); });
    $('view-kind').addEventListener('change', () => { state.view.kind = $('view-kind').value; loadViews(); });
    for (const side of ['left', 'right']) $('view-' + side).addEventListener('change', () => { state.view[side] = $('view-' + side).value; state.view.scanCell = null; loadViews(); });
    $('scan-run').addEventListener('click', runScan);
    $('save').addEventListener('click', save);
    $('runs-refresh').addEventListener('click', listRuns);
    $('review-open').addEventListener('click', () => { $('review-open').href = reviewURL(); });
  }

  // ---- for tests and `attnlab bench --serve` ----
  /** What each frame shows: its view kind, trace, and how many payloads its view has drawn. */
  App.frames = () => ({ left: Object.assign({ src: $('frame-left').getAttribute('src') }, frames.left, { waiting: undefined, loadWaiters: undefined }),
    right: Object.assign({ src: $('frame-right').getAttribute('src') }, frames.right, { waiting: undefined, loadWaiters: undefined }) });
  /** The last answer of the server (what the page shows). */
  App.result = () => state.result;
  /** Resolves with the latency of the next completed update (null on an error). */
  App.nextUpdate = () => new Promise((resolve) => App.waiters.push(resolve));
  /** Sets sentence A and B as if typed. */
  App.type = function (id, text) {
    const box = $(id);
    box.value = text;
    box.dispatchEvent(new Event('input', { bubbles: true }));
    return App.nextUpdate();
  };
  /** `count` edits, alternating a change of sentence A's last word and of the word replacing the
   * chosen one, each awaited; returns each one's milliseconds from the change to the views' load. */
  App.bench = async function (count) {
    const endings = ['along', 'loud', 'too', 'again', 'all', 'twice', 'once', 'live', 'hard', 'well'];
    const words = ['terrific', 'great', 'fine', 'awesome', 'cool', 'bad', 'superb', 'nice', 'ok', 'wild'];
    const a = $('text-a').value, times = [];
    for (let i = 0; i < count; i++) {
      let done;
      if (i % 2 === 0) {
        done = App.type('text-a', a.replace(/\S+$/, endings[i % endings.length] + '.'));
      } else {
        const box = $('replacement');
        box.value = words[i % words.length];
        done = App.nextUpdate();
        box.dispatchEvent(new Event('input', { bubbles: true }));
      }
      times.push(await done);
    }
    return times;
  };

  async function start() {
    wire();
    try {
      const st = await call('state', '/api/state');
      state.files = st.files;
      $('model').replaceChildren(...st.models.map((id) => el('option', { value: id }, id)));
      if (!st.models.length) { showError('No models found: run `make setup`, or put a model folder under Models/.'); return; }
      const preferred = st.models.find((id) => /MiniLM/i.test(id)) || st.models[0];
      $('model').value = preferred;
      await chooseModel(preferred);
      App.ready = true;
    } catch (error) {
      showError(error);
    }
  }
  start();
})();
