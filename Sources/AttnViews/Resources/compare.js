// AttnLab compare view: a base (A) and a variant (B) of one input, for one layer and head. Three
// word × word matrices (A and B on one colour scale, and B − A), the changed words marked, then
// each side's attention lines as the head view draws them, hover tied across both. A is always
// the base or the older revision.
(function () {
  'use strict';
  const AttnLab = window.AttnLab;
  const { el } = AttnLab;

  /** A colour between two `#rrggbb` colours, `t` from 0 to 1. */
  function mix(from, to, t) {
    const channel = (hex, i) => parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16);
    return [0, 1, 2].map((i) => Math.round(channel(from, i) + (channel(to, i) - channel(from, i)) * Math.max(0, Math.min(1, t))));
  }
  const hex = (rgb) => '#' + rgb.map((v) => v.toString(16).padStart(2, '0')).join('');

  AttnLab.views.compare = function (root, data) {
    const fields = data.fields, comparison = fields.comparison, initial = fields.initial;
    const stackA = data.stacks.encoder;
    const stackB = new AttnLab.Stack(comparison.stack, data.packed, fields.tokens);
    const words = comparison.words, n = words.length;
    const ranking = comparison.ranking;
    const state = {
      stack: 'encoder', layer: initial.layer, head: initial.heads[0], filter: 'all', threshold: initial.threshold, topK: initial.topK,
      hover: null,
    };
    const theme = AttnLab.theme();
    const names = comparison.names;

    // ---- the numbers: word × word, rows the mean over a word's query tokens, columns the sum over its key tokens ----
    function wordMatrix(stack, side) {
      const matrix = new Float32Array(n * n);
      for (let r = 0; r < n; r++) {
        const queries = words[r][side];
        for (let c = 0; c < n; c++) {
          let total = 0;
          for (const q of queries) for (const k of words[c][side]) total += stack.weight(state.layer, state.head, q, k);
          matrix[r * n + c] = total / queries.length;
        }
      }
      return matrix;
    }
    let numbers = null;
    function compute() {
      const a = wordMatrix(stackA, 'a'), b = wordMatrix(stackB, 'b'), delta = new Float32Array(n * n);
      let largest = 0, largestDelta = 0, strongest = 0;
      for (let i = 0; i < n * n; i++) {
        delta[i] = b[i] - a[i];
        largest = Math.max(largest, a[i], b[i]);
        if (Math.abs(delta[i]) > largestDelta) { largestDelta = Math.abs(delta[i]); strongest = i; }
      }
      numbers = { a, b, delta, largest: largest || 1, largestDelta: largestDelta || 1, strongest };
    }

    // ---- words as shown: the base's word, `sick→terrific` when the variant changed it ----
    const label = (w) => (w.changedTo ? w.text + '→' + w.changedTo : w.text) || '∅';
    const named = (w) => (data.isPair && !w.special ? (w.segment ? 'B:' : 'A:') : '') + label(w);

    // ---- layout ----
    const board = el('div', { class: 'compare-board', id: 'attnlab-compare' });
    const canvas = el('canvas');
    board.append(canvas);
    let geometry = null;
    function layout() {
      const fontSize = n <= 40 ? 12 : 10;
      let widest = 0;
      for (const w of words) widest = Math.max(widest, AttnLab.textWidth(label(w), fontSize, true));
      const labelWidth = Math.min(Math.ceil(widest) + 12, 150), gap = 24, titleHeight = 22, legendHeight = 40;
      const available = Math.max(root.clientWidth || document.documentElement.clientWidth || 1200, 480);
      const cell = Math.max(3, Math.min(26, Math.floor((available - labelWidth - 2 * gap - 8) / (3 * Math.max(n, 1)))));
      const side = n * cell;
      const panels = [labelWidth, labelWidth + side + gap, labelWidth + 2 * (side + gap)];
      const top = titleHeight + labelWidth;
      geometry = { fontSize, labelWidth, gap, cell, side, panels, top, titleHeight, width: panels[2] + side + 8, height: top + side + legendHeight };
      Object.assign(board.style, { width: geometry.width + 'px', height: geometry.height + 'px' });
    }

    // ---- drawing: each matrix is an image of one pixel per cell, scaled up without smoothing ----
    const colours = {
      attention: (v) => mix(theme.background, theme.text, v / numbers.largest),
      delta: (v) => mix(theme.background, v >= 0 ? theme.positive : theme.negative, Math.abs(v) / numbers.largestDelta),
    };
    function matrixImage(values, colour) {
      const image = document.createElement('canvas');
      image.width = Math.max(n, 1);
      image.height = Math.max(n, 1);
      const context = image.getContext('2d');
      const pixels = context.createImageData(image.width, image.height);
      for (let i = 0; i < n * n; i++) {
        const [r, g, b] = colour(values[i]);
        pixels.data.set([r, g, b, 255], i * 4);
      }
      context.putImageData(pixels, 0, 0);
      return image;
    }

    /** The three panels, their labels and legends, through any painter. */
    function paint(painter) {
      const g = geometry, images = [matrixImage(numbers.a, colours.attention), matrixImage(numbers.b, colours.attention),
        matrixImage(numbers.delta, colours.delta)];
      const titles = ['A: ' + names[0], 'B: ' + names[1], 'B − A'];
      const changed = theme.negative;
      images.forEach((image, p) => {
        const x0 = g.panels[p];
        painter.text(x0, g.titleHeight / 2, titles[p], { colour: theme.text, size: 12, bold: true });
        painter.image(x0, g.top, g.side, g.side, image);
        painter.rect(x0, g.top, g.side, g.side, theme.grid, 1, 1);
        // Sentence A | B dividers.
        for (let i = 1; i < n; i++) {
          if (words[i].segment === words[i - 1].segment) continue;
          painter.rect(x0 + i * g.cell - 0.5, g.top, 1, g.side, theme.muted, 0.8);
          painter.rect(x0, g.top + i * g.cell - 0.5, g.side, 1, theme.muted, 0.8);
        }
        // Column labels, read upwards, above each panel.
        if (g.cell >= 7) {
          words.forEach((w, c) => painter.textUp(x0 + (c + 0.5) * g.cell, g.top - 4, label(w),
            { colour: w.changedTo ? changed : w.special ? theme.muted : theme.text, size: Math.min(g.fontSize, g.cell), align: 'left', bold: !!w.changedTo }));
        }
      });
      if (g.cell >= 7) {
        words.forEach((w, r) => painter.text(g.labelWidth - 6, g.top + (r + 0.5) * g.cell, label(w),
          { colour: w.changedTo ? changed : w.special ? theme.muted : theme.text, size: Math.min(g.fontSize, g.cell), align: 'right', bold: !!w.changedTo }));
      }
      // The hovered cell, outlined in every panel.
      if (state.hover) {
        for (const x0 of g.panels) {
          painter.rect(x0 + state.hover.c * g.cell, g.top, g.cell, g.side, theme.focus, 0.35, 1);
          painter.rect(x0, g.top + state.hover.r * g.cell, g.side, g.cell, theme.focus, 0.35, 1);
          painter.rect(x0 + state.hover.c * g.cell, g.top + state.hover.r * g.cell, g.cell, g.cell, theme.focus, 1, 2);
        }
      }
      // Legends: one scale for A and B, one for the difference.
      const y = g.top + g.side + 12, barWidth = Math.min(g.side * 0.5, 120);
      const gradient = (x, colourAt, left, right, caption) => {
        for (let i = 0; i < 32; i++) painter.rect(x + (i * barWidth) / 32, y, barWidth / 32 + 0.5, 10, hex(colourAt(i / 31)), 1);
        painter.rect(x, y, barWidth, 10, theme.grid, 1, 1);
        painter.text(x, y + 20, left, { colour: theme.muted, size: 10 });
        painter.text(x + barWidth, y + 20, right, { colour: theme.muted, size: 10, align: 'right' });
        painter.text(x + barWidth + 8, y + 5, caption, { colour: theme.muted, size: 10 });
      };
      const attention = (t) => colours.attention(t * numbers.largest);
      gradient(g.panels[0], attention, '0', numbers.largest.toFixed(3), 'one scale for A and B');
      gradient(g.panels[1], attention, '0', numbers.largest.toFixed(3), 'one scale for A and B');
      gradient(g.panels[2], (t) => colours.delta((2 * t - 1) * numbers.largestDelta), '−' + numbers.largestDelta.toFixed(3),
        '+' + numbers.largestDelta.toFixed(3), 'B − A');
    }

    function draw() {
      const context = AttnLab.sizedCanvas(canvas, geometry.width, geometry.height);
      paint(new AttnLab.CanvasPainter(context));
    }

    // ---- the page ----
    const controls = el('div', { class: 'controls' });
    const squares = el('div', { class: 'head-squares', role: 'radiogroup', 'aria-label': 'Head' });
    const status = AttnLab.statusLine();
    const rankingList = el('div', { class: 'ranking', id: 'attnlab-ranking' });
    const changes = el('div', { class: 'changes', id: 'attnlab-changes' });
    const changedWords = words.filter((w) => w.changedTo);
    if (changedWords.length) changes.append(el('span', { class: 'changed' }, 'changed: ' + changedWords.map((w) => named(w).replace('→', ' → ')).join(', ')));
    if (comparison.onlyA.length) changes.append(el('span', null, 'only in A: ' + comparison.onlyA.join(', ')));
    if (comparison.onlyB.length) changes.append(el('span', null, 'only in B: ' + comparison.onlyB.join(', ')));
    if (!changes.children.length) changes.append(el('span', null, 'the same words on both sides'));
    const facts = [];
    const outputs = (o) => (o && typeof o.similarity === 'number' ? 'similarity ' + o.similarity.toFixed(3) : o && o.label ? o.label : null);
    if (outputs(fields.outputs) || outputs(comparison.outputs)) facts.push('A ' + (outputs(fields.outputs) || '–') + ' → B ' + (outputs(comparison.outputs) || '–'));
    const header = el('header', { class: 'title' }, el('span', { class: 'view-name' }, 'Compare'),
      el('span', { class: 'title-text', title: fields.title }, fields.title), facts.length ? el('span', { class: 'facts' }, facts.join(' · ')) : null);
    const diagramData = (stack) => ({ stacks: { encoder: stack }, isPair: data.isPair });
    let syncing = false;
    const diagramA = new AttnLab.AttentionDiagram(diagramData(stackA), { linesWidth: 160, onFocus: (focus, pinned) => follow(diagramB, focus, pinned, 'a', 'b') });
    const diagramB = new AttnLab.AttentionDiagram(diagramData(stackB), { linesWidth: 160, onFocus: (focus, pinned) => follow(diagramA, focus, pinned, 'b', 'a') });
    /** Hovering a token on one side focuses its word's first token on the other. */
    function follow(other, focus, pinned, from, to) {
      if (syncing) return;
      syncing = true;
      let mapped = null;
      if (focus) {
        const word = words.find((w) => w[from].includes(focus.index));
        if (word) mapped = { side: focus.side, index: word[to][0] };
      }
      other.setFocus(mapped, pinned);
      syncing = false;
      updateStatus();
    }
    const lines = el('div', { class: 'compare-lines' },
      el('div', null, el('div', { class: 'caption' }, 'A: ' + names[0]), el('div', { class: 'scroll' }, diagramA.element)),
      el('div', null, el('div', { class: 'caption' }, 'B: ' + names[1]), el('div', { class: 'scroll' }, diagramB.element)));
    const help = el('div', { class: 'help' },
      'A is the base (or the older revision), B the variant. The matrices read word by word: a row is the mean over the word\'s tokens as queries, ' +
      'a column the sum over its tokens as keys, over the words both sides share. Hover a cell to read A, B and B − A; hover a token below to see its lines on both sides. ' +
      'P / S save the matrices as PNG / SVG.');
    root.append(header, controls, squares, rankingList, status, changes, el('div', { class: 'scroll' }, board), lines, help);

    function buildControls() {
      controls.textContent = '';
      controls.append(AttnLab.select('Layer', stackA.layers.map((l) => [l, String(l)]), state.layer, (value) => { state.layer = Number(value); redraw(); },
        { id: 'attnlab-layer' }));
      controls.append(AttnLab.select('Head', stackA.heads.map((h) => [h, String(h)]), state.head, (value) => { state.head = Number(value); redraw(); },
        { id: 'attnlab-head' }));
      controls.append(...AttnLab.lineControls(state, (change) => { Object.assign(state, change); redraw(); }));
      controls.append(AttnLab.exportButtons(drawing, () => 'attnlab-compare-L' + state.layer + '-H' + state.head));
      squares.textContent = '';
      for (const head of stackA.heads) {
        const colour = AttnLab.headColour(head, stackA.modelHeads);
        squares.append(el('button', {
          type: 'button', class: 'head-square', title: 'Head ' + head, data: { head: String(head) }, role: 'radio',
          style: { background: colour, borderColor: colour },
          onclick: () => { state.head = head; redraw(); },
        }, String(head)));
      }
      rankingList.textContent = '';
      rankingList.append(el('span', { class: 'caption' }, 'Changed most:'));
      for (const [layer, head, js] of ranking.slice(0, 8)) {
        if (!stackA.layers.includes(layer) || !stackA.heads.includes(head)) continue;
        rankingList.append(el('button', {
          type: 'button', class: 'rank', data: { layer: String(layer), head: String(head) }, title: 'Jensen–Shannon divergence of the words\' attention, in bits',
          onclick: () => { state.layer = layer; state.head = head; redraw(); },
        }, 'L' + layer + ' H' + head + ' · ' + js.toFixed(3)));
      }
    }

    function cellAt(event) {
      const rect = canvas.getBoundingClientRect(), g = geometry;
      const x = event.clientX - rect.left, y = event.clientY - rect.top;
      const r = Math.floor((y - g.top) / g.cell);
      for (const x0 of g.panels) {
        const c = Math.floor((x - x0) / g.cell);
        if (x >= x0 && c < n && r >= 0 && r < n) return { r, c };
      }
      return null;
    }
    canvas.addEventListener('mousemove', (event) => {
      const cell = cellAt(event);
      if ((cell && state.hover && cell.r === state.hover.r && cell.c === state.hover.c) || (!cell && !state.hover)) return;
      state.hover = cell;
      draw();
      updateStatus();
    });
    canvas.addEventListener('mouseleave', () => { state.hover = null; draw(); updateStatus(); });

    const rankOf = () => ranking.findIndex(([l, h]) => l === state.layer && h === state.head);
    function describeCell(cell) {
      const i = cell.r * n + cell.c, sign = numbers.delta[i] >= 0 ? '+' : '−';
      return '“' + named(words[cell.r]) + '” → “' + named(words[cell.c]) + '”: A ' + numbers.a[i].toFixed(3) + ' · B ' + numbers.b[i].toFixed(3) +
        ' · B − A ' + sign + Math.abs(numbers.delta[i]).toFixed(3);
    }
    function updateStatus() {
      const rank = rankOf();
      const parts = ['Layer ' + state.layer + ', head ' + state.head];
      if (rank >= 0) parts.push('JS ' + ranking[rank][2].toFixed(3) + ' (changed most: ' + (rank + 1) + ' of ' + ranking.length + ')');
      if (state.hover) parts.push(describeCell(state.hover));
      else parts.push('largest change: ' + describeCell({ r: Math.floor(numbers.strongest / n), c: numbers.strongest % n }));
      status.textContent = parts.join(' · ');
    }

    function redraw() {
      document.getElementById('attnlab-layer').value = String(state.layer);
      document.getElementById('attnlab-head').value = String(state.head);
      for (const square of squares.children) {
        square.classList.toggle('off', Number(square.dataset.head) !== state.head);
        square.setAttribute('aria-checked', String(Number(square.dataset.head) === state.head));
      }
      for (const button of rankingList.querySelectorAll('.rank')) {
        button.classList.toggle('current', Number(button.dataset.layer) === state.layer && Number(button.dataset.head) === state.head);
      }
      compute();
      draw();
      const lineState = { stack: 'encoder', layer: state.layer, heads: [state.head], filter: 'all', threshold: state.threshold, topK: state.topK };
      diagramA.render(lineState);
      diagramB.render(lineState);
      updateStatus();
    }

    /** What the export buttons save: the title and the three matrices with their legends. */
    function drawing() {
      const headerHeight = 40;
      return {
        width: Math.max(geometry.width, 400), height: geometry.height + headerHeight,
        draw(painter) {
          AttnLab.paintTitle(painter, fields, 110);
          painter.text(4, 30, 'layer ' + state.layer + ' · head ' + state.head + (state.hover ? ' · ' + describeCell(state.hover) : ''), { colour: theme.muted, size: 11 });
          painter.translate(0, headerHeight);
          paint(painter);
          painter.translate(0, -headerHeight);
        },
      };
    }

    buildControls();
    layout();
    redraw();
    let resizing = null;
    window.addEventListener('resize', () => {
      clearTimeout(resizing);
      resizing = setTimeout(() => { layout(); draw(); }, 100);
    });

    // What the self-test (compare.selftest.js) reads and drives.
    return {
      state, stackA, stackB, words, ranking, canvas, diagramA, diagramB, squares, rankingList, status, changes, drawing, redraw, label,
      get numbers() { return numbers; },
      get geometry() { return geometry; },
    };
  };
})();
