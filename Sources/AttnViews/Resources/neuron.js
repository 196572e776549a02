// AttnLab neuron view: for one layer, head and query token, how attention is computed
// (q, k, q×k, q·k scaled, α = softmax) and what it moves (v, ‖α·v‖ per key).
(function () {
  'use strict';
  const AttnLab = window.AttnLab;
  const { el } = AttnLab;

  /** Everything the view shows for one (stack, layer, head, query), computed from the payload. */
  function compute(stack, layer, head, query) {
    const d = stack.headDim, dv = stack.valueDim || d, n = stack.keys, scale = stack.scoreScale(layer);
    const queries = stack.vectorsOf('query', layer, head), keys = stack.vectorsOf('key', layer, head), values = stack.vectorsOf('value', layer, head);
    const q = queries.subarray(query * d, (query + 1) * d);
    const products = new Float32Array(n * d), scores = new Float64Array(n), alpha = new Float64Array(n);
    const valueNorms = new Float64Array(n), contributions = new Float64Array(n);
    const output = new Float64Array(dv);
    let maxScore = -Infinity;
    const base = stack.matrixOffset(layer, head) + query * stack.keys;
    for (let j = 0; j < n; j++) {
      let dot = 0, norm = 0;
      for (let e = 0; e < d; e++) {
        const product = q[e] * keys[j * d + e];
        products[j * d + e] = product;
        dot += product;
      }
      for (let e = 0; e < dv; e++) norm += values[j * dv + e] * values[j * dv + e];
      scores[j] = dot * scale;
      if (scores[j] > maxScore) maxScore = scores[j];
      alpha[j] = AttnLab.weightOf[stack.bytes[base + j]];
      valueNorms[j] = Math.sqrt(norm);
      contributions[j] = alpha[j] * valueNorms[j];
      for (let e = 0; e < dv; e++) output[e] += alpha[j] * values[j * dv + e];
    }
    // softmax(q·k scaled) over all keys, and over the keys the model did not mask (α > 0).
    const softmax = (include) => {
      const out = new Float64Array(n);
      let sum = 0;
      for (let j = 0; j < n; j++) if (include(j)) { out[j] = Math.exp(scores[j] - maxScore); sum += out[j]; }
      for (let j = 0; j < n; j++) out[j] = sum > 0 ? out[j] / sum : 0;
      return out;
    };
    const gap = (p) => { let worst = 0; for (let j = 0; j < n; j++) worst = Math.max(worst, Math.abs(p[j] - alpha[j])); return worst; };
    const plainGap = gap(softmax(() => true));
    const maskedGap = gap(softmax((j) => alpha[j] > 0));
    let outputNorm = 0;
    for (let e = 0; e < dv; e++) outputNorm += output[e] * output[e];
    const maxAbs = (array) => { let m = 0; for (const v of array) m = Math.max(m, Math.abs(v)); return m || 1; };
    const argmax = (array) => { let best = 0; for (let j = 1; j < array.length; j++) if (array[j] > array[best]) best = j; return best; };
    return {
      q, keys, values, products, scores, alpha, valueNorms, contributions, plainGap, maskedGap,
      outputNorm: Math.sqrt(outputNorm), contributionSum: contributions.reduce((a, b) => a + b, 0),
      scale: { q: maxAbs(q), k: maxAbs(keys), product: maxAbs(products), score: maxAbs(scores), v: maxAbs(values), contribution: maxAbs(contributions) },
      alphaTop: argmax(alpha), contributionTop: argmax(contributions),
    };
  }

  /** How the scores are written: q·k, q·k/√d, or q·k × the stated scale. */
  function scoreName(stack, layer) {
    const scale = stack.scoreScale(layer), d = stack.headDim;
    if (scale === 1) return 'q·k';
    if (Math.abs(scale * Math.sqrt(d) - 1) < 1e-6) return 'q·k/√' + d;
    return 'q·k×' + scale.toPrecision(3);
  }

  AttnLab.views.neuron = function (root, data) {
    const fields = data.fields;
    const initial = fields.initial;
    const stackKinds = data.stackKinds.filter((kind) => data.stacks[kind].hasVectors);
    const first = data.stacks[initial.stack];
    const state = {
      stack: initial.stack, layer: initial.layer, head: initial.heads[0],
      query: initial.token !== null && initial.token !== undefined ? initial.token : Math.min(1, first.queries - 1),
    };
    const controls = el('div', { class: 'controls' });
    const squares = el('div', { class: 'head-squares', role: 'radiogroup', 'aria-label': 'Head' });
    const readout = el('div', { class: 'readout-line', id: 'attnlab-readout' });
    const note = el('div', { class: 'note', id: 'attnlab-note', hidden: true });
    const theme = AttnLab.theme();
    const legend = el('div', { class: 'legend' },
      el('span', null, el('span', { class: 'swatch', style: { background: theme.positive } }), 'positive'),
      el('span', null, el('span', { class: 'swatch', style: { background: theme.negative } }), 'negative'),
      el('span', { id: 'attnlab-summary' }));
    const canvas = el('canvas');
    const queryColumn = el('div', { class: 'tokens left queries' });
    const keyColumn = el('div', { class: 'tokens right keys' });
    const highlight = el('div', { style: { position: 'absolute', left: '0', height: '0', pointerEvents: 'none', outline: '1px solid var(--focus)', display: 'none' } });
    const board = el('div', { class: 'neuron', id: 'attnlab-neuron' }, canvas, queryColumn, keyColumn, highlight);
    const help = el('div', { class: 'help' },
      'Hover or click a token on the left to make it the query. Colour saturation is the size of a value relative to its column. P / S save what is shown as PNG / SVG. ',
      'α is the attention the model stored; ‖α·v‖ is what each key adds to the head\'s output, so a key can take much attention and move little.');
    root.append(AttnLab.header(fields, 'Neuron view'), controls, squares, legend, readout, note, el('div', { class: 'scroll' }, board), help);

    const stackOf = () => data.stacks[state.stack];
    let geometry = null, result = null, stats = null;

    function buildControls() {
      controls.textContent = '';
      const stack = stackOf();
      AttnLab.addStackSelect(controls, stackKinds, state.stack, (kind) => {
        state.stack = kind;
        const next = stackOf();
        if (!next.layers.includes(state.layer)) state.layer = next.layers[0];
        if (!next.heads.includes(state.head)) state.head = next.heads[0];
        state.query = Math.min(state.query, next.queries - 1);
        buildControls();
        layout();
        redraw();
      });
      controls.append(AttnLab.select('Layer', stack.layers.map((l) => [l, String(l)]), state.layer, (value) => { state.layer = Number(value); redraw(); }, { id: 'attnlab-layer' }));
      controls.append(AttnLab.select('Head', stack.heads.map((h) => [h, String(h)]), state.head, (value) => { state.head = Number(value); redraw(); }, { id: 'attnlab-head' }));
      controls.append(AttnLab.exportButtons(drawing, () => 'attnlab-neuron-' + state.stack + '-L' + state.layer + '-H' + state.head + '-q' + state.query));
      squares.textContent = '';
      for (const head of stack.heads) {
        squares.append(el('button', {
          type: 'button', class: 'head-square', title: 'Head ' + head, data: { head: String(head) }, role: 'radio',
          style: { background: AttnLab.headColour(head, stack.modelHeads), borderColor: AttnLab.headColour(head, stack.modelHeads) },
          onclick: () => { state.head = head; document.getElementById('attnlab-head').value = String(head); redraw(); },
        }, String(head)));
      }
    }

    function layout() {
      const stack = stackOf();
      const d = stack.headDim, n = Math.max(stack.queries, stack.keys);
      const rowHeight = n <= 40 ? 20 : n <= 128 ? 16 : 13;
      const fontSize = rowHeight >= 16 ? 12 : 10;
      const widthOf = (tokens) => Math.min(Math.max(Math.ceil(Math.max(0, ...tokens.map((t) => AttnLab.textWidth(AttnLab.tokenLabel(t), fontSize, true)))) + 16, 40), 160);
      const queryWidth = widthOf(stack.queryTokenList), keyWidth = widthOf(stack.keyTokenList);
      const linesWidth = 90, gap = 14, bar = 100;
      // The three vector columns (k, q × k, v) take what the page's width leaves after the tokens
      // and the bars, so that α and ‖α·v‖ are on screen without scrolling (6 px a cell at most;
      // 1 px at least, below which the page scrolls).
      const fixed = queryWidth + linesWidth + keyWidth + 6 + 5 * gap + 3 * bar + 8;
      const available = Math.max(root.clientWidth || document.documentElement.clientWidth || 1200, 400);
      const cell = Math.max(1, Math.min(6, Math.floor((available - fixed) / (2 * d + (stack.valueDim || d)))));
      const top = 2 * rowHeight + 12;
      const columns = {};
      let x = queryWidth + linesWidth + keyWidth + 6;
      columns.k = x; x += d * cell + gap;
      columns.product = x; x += d * cell + gap;
      columns.score = x; x += bar + gap;
      columns.alpha = x; x += bar + gap;
      columns.contribution = x; x += bar + gap;
      columns.v = x; x += (stack.valueDim || d) * cell;
      geometry = { rowHeight, fontSize, cell, queryWidth, keyWidth, linesWidth, bar, top, columns, width: x + 8, height: top + n * rowHeight + 8 };
      Object.assign(board.style, { width: geometry.width + 'px', height: geometry.height + 'px' });
      const fill = (column, tokens, width, left, isQuery) => {
        column.textContent = '';
        Object.assign(column.style, { left: left + 'px', top: top + 'px', width: width + 'px', fontSize: fontSize + 'px' });
        const fragment = document.createDocumentFragment();
        tokens.forEach((token, i) => fragment.append(el('div', {
          class: 'token' + (token.special ? ' special' : ''), title: AttnLab.tokenTitle(token, i), data: { index: String(i) },
          style: { height: rowHeight + 'px', lineHeight: rowHeight + 'px' },
        }, AttnLab.tokenLabel(token))));
        column.append(fragment);
        if (isQuery) {
          const choose = (event) => {
            const node = event.target.closest('.token');
            if (node && Number(node.dataset.index) !== state.query) { state.query = Number(node.dataset.index); redraw(); }
          };
          column.onmouseover = choose;
          column.onclick = choose;
        }
      };
      fill(queryColumn, stack.queryTokenList, queryWidth, 0, true);
      fill(keyColumn, stack.keyTokenList, keyWidth, queryWidth + linesWidth, false);
    }

    /** Positive blue, negative orange, as in the BertViz paper. */
    function colourOf(value) {
      return value >= 0 ? theme.positive : theme.negative;
    }

    /** Paints the columns (and, for exports, the tokens as text) through a painter. */
    function paint(painter, withText) {
      const stack = stackOf(), g = geometry, r = result, d = stack.headDim, dv = stack.valueDim || d, c = g.columns;
      const label = (x, text, align) => painter.text(x, g.rowHeight / 2 + 2, text, { colour: theme.muted, size: g.fontSize, align: align || 'left' });
      const scoreLabel = scoreName(stack, state.layer);
      label(c.k, 'k'); label(c.product, 'q × k'); label(c.score, scoreLabel); label(c.alpha, 'α (softmax)'); label(c.v, 'v'); label(c.contribution, '‖α·v‖');
      label(g.queryWidth - 8, 'query', 'right');
      label(g.queryWidth + g.linesWidth + 8, 'keys');
      let cells = 0;
      const vector = (x, y, values, offset, scale, size) => {
        for (let e = 0; e < (size || d); e++) {
          const value = values[offset + e];
          const strength = Math.min(1, Math.abs(value) / scale);
          if (strength < 0.02) continue;
          painter.rect(x + e * g.cell, y + 1, g.cell - (g.cell > 3 ? 1 : 0), g.rowHeight - 2, colourOf(value), strength);
          cells++;
        }
      };
      // The query vector, above the keys.
      const qY = g.rowHeight + 6;
      painter.text(c.k - 6, qY + g.rowHeight / 2, 'q', { colour: theme.text, size: g.fontSize, align: 'right', bold: true });
      vector(c.k, qY, r.q, 0, r.scale.q);
      const keyScale = Math.max(r.scale.k, r.scale.q);
      const colour = AttnLab.headColour(state.head, stack.modelHeads);
      const n = stack.keys;
      const xLeft = g.queryWidth - 2, xRight = g.queryWidth + g.linesWidth + 2;
      const yQuery = g.top + (state.query + 0.5) * g.rowHeight;
      // Lines from the query to every key, weighted by α.
      const coords = new Float32Array(4);
      for (let j = 0; j < n; j++) {
        if (r.alpha[j] <= 0) continue;
        coords[0] = xLeft; coords[1] = yQuery; coords[2] = xRight; coords[3] = g.top + (j + 0.5) * g.rowHeight;
        painter.lines(colour, Math.min(1, r.alpha[j]), 2, coords, 1);
      }
      painter.rect(1, g.top + state.query * g.rowHeight + 1, g.queryWidth - 2, g.rowHeight - 2, theme.focus, 0.9, 1);
      const barLength = g.bar - 50;
      const textStyle = { colour: theme.text, size: g.fontSize - 1, align: 'right' };
      for (let j = 0; j < n; j++) {
        const y = g.top + j * g.rowHeight;
        vector(c.k, y, r.keys, j * d, keyScale);
        vector(c.product, y, r.products, j * d, r.scale.product);
        vector(c.v, y, r.values, j * dv, r.scale.v, dv);
        // q·k scaled: a bar either side of zero.
        const score = r.scores[j], half = barLength / 2;
        const length = (Math.abs(score) / r.scale.score) * half;
        painter.rect(c.score + (score >= 0 ? half : half - length), y + 2, Math.max(length, 0.5), g.rowHeight - 4, colourOf(score), 0.85);
        painter.text(c.score + g.bar, y + g.rowHeight / 2, score.toFixed(2), textStyle);
        // α, on an absolute 0…1 scale.
        painter.rect(c.alpha, y + 2, Math.max(r.alpha[j] * barLength, 0.5), g.rowHeight - 4, colour, 0.9);
        painter.text(c.alpha + g.bar, y + g.rowHeight / 2, r.alpha[j].toFixed(3), textStyle);
        // ‖α·v‖, relative to the largest, with its share of the sum.
        const share = r.contributionSum > 0 ? r.contributions[j] / r.contributionSum : 0;
        painter.rect(c.contribution, y + 2, Math.max((r.contributions[j] / r.scale.contribution) * barLength, 0.5), g.rowHeight - 4, theme.text, 0.75);
        painter.text(c.contribution + g.bar, y + g.rowHeight / 2, (share * 100).toFixed(share < 0.1 ? 1 : 0) + '%', textStyle);
      }
      if (withText) {
        stack.queryTokenList.forEach((token, i) => painter.text(g.queryWidth - 8, g.top + (i + 0.5) * g.rowHeight, AttnLab.tokenLabel(token),
          { colour: token.special ? theme.muted : theme.text, size: g.fontSize, align: 'right', bold: i === state.query }));
        stack.keyTokenList.forEach((token, j) => painter.text(g.queryWidth + g.linesWidth + 8, g.top + (j + 0.5) * g.rowHeight, AttnLab.tokenLabel(token),
          { colour: token.special ? theme.muted : theme.text, size: g.fontSize, align: 'left' }));
      }
      return { cells, rows: n };
    }

    function describe(j) {
      const stack = stackOf(), r = result;
      const share = r.contributionSum > 0 ? r.contributions[j] / r.contributionSum : 0;
      return '“' + AttnLab.tokenLabel(stack.keyTokenList[j]) + '” (#' + j + '): ' + scoreName(stack, state.layer) + ' = ' + r.scores[j].toFixed(3) +
        ' · α = ' + r.alpha[j].toFixed(3) + ' · ‖v‖ = ' + r.valueNorms[j].toFixed(2) + ' · ‖α·v‖ = ' + r.contributions[j].toFixed(3) + ' (' + (share * 100).toFixed(1) + '% of Σ‖αᵢvᵢ‖)';
    }

    function redraw() {
      const stack = stackOf();
      for (const square of squares.children) {
        square.classList.toggle('off', Number(square.dataset.head) !== state.head);
        square.setAttribute('aria-checked', String(Number(square.dataset.head) === state.head));
      }
      result = compute(stack, state.layer, state.head, state.query);
      const context = AttnLab.sizedCanvas(canvas, geometry.width, geometry.height);
      stats = paint(new AttnLab.CanvasPainter(context), false);
      for (const node of queryColumn.querySelectorAll('.token.query')) node.classList.remove('query');
      const chosen = queryColumn.children[state.query];
      if (chosen) chosen.classList.add('query');
      const queryToken = stack.queryTokenList[state.query];
      document.getElementById('attnlab-summary').textContent = AttnLab.stackNames[state.stack] + ' · layer ' + state.layer + ' · head ' + state.head +
        ' · query “' + AttnLab.tokenLabel(queryToken) + '” · most attention: “' + AttnLab.tokenLabel(stack.keyTokenList[result.alphaTop]) +
        '” · most moved: “' + AttnLab.tokenLabel(stack.keyTokenList[result.contributionTop]) + '” · ‖output‖ = ' + result.outputNorm.toFixed(3);
      readout.textContent = describe(result.alphaTop);
      // Say when α is not the softmax of the scaled scores: a mask, or a bias the trace does not hold.
      if (result.plainGap <= 0.02) {
        note.hidden = true;
      } else if (result.maskedGap <= 0.02) {
        note.hidden = false;
        note.textContent = 'Keys with α = 0 are masked (a causal or padding mask); over the others α = softmax(' + scoreName(stack, state.layer) + ').';
      } else {
        note.hidden = false;
        note.textContent = 'α differs from softmax(' + scoreName(stack, state.layer) + ') by up to ' + result.maskedGap.toFixed(3) +
          ': this model adds something to the scores before the softmax (a position bias such as T5\'s or ALiBi, or a mask) that the trace does not hold. The α column is what the model used.';
      }
    }

    board.addEventListener('mousemove', (event) => {
      const rect = board.getBoundingClientRect();
      const y = event.clientY - rect.top, x = event.clientX - rect.left;
      const j = Math.floor((y - geometry.top) / geometry.rowHeight);
      if (x < geometry.queryWidth + geometry.linesWidth || j < 0 || j >= stackOf().keys) { highlight.style.display = 'none'; return; }
      readout.textContent = describe(j);
      Object.assign(highlight.style, { display: 'block', top: geometry.top + j * geometry.rowHeight + 'px', left: geometry.queryWidth + geometry.linesWidth + 'px',
        width: geometry.width - geometry.queryWidth - geometry.linesWidth - 4 + 'px', height: geometry.rowHeight + 'px' });
    });
    board.addEventListener('mouseleave', () => { highlight.style.display = 'none'; });

    function drawing() {
      const titleHeight = 24;
      return {
        width: geometry.width, height: geometry.height + titleHeight + 20,
        draw(painter) {
          AttnLab.paintTitle(painter, fields, 110);
          painter.text(4, 30, document.getElementById('attnlab-summary').textContent, { colour: theme.muted, size: 11 });
          painter.translate(0, titleHeight + 20);
          paint(painter, true);
          painter.translate(0, -(titleHeight + 20));
        },
      };
    }

    buildControls();
    layout();
    redraw();
    // A new width may give the vectors other cell sizes.
    let resizing = null;
    window.addEventListener('resize', () => {
      clearTimeout(resizing);
      resizing = setTimeout(() => { const before = geometry.cell; layout(); if (geometry.cell !== before) redraw(); }, 100);
    });

    // What the self-test (neuron.selftest.js) reads and drives.
    return {
      state, drawing, compute, redraw, stackOf, stackKinds, squares, queryColumn, keyColumn, board, readout,
      get result() { return result; },
      get stats() { return stats; },
      get geometry() { return geometry; },
    };
  };
})();
