// AttnLab head view: one layer, the chosen heads, lines from each token to each token.
(function () {
  'use strict';
  const AttnLab = window.AttnLab;
  const { el } = AttnLab;

  /**
   * Draws the head view into `root`. `options` (a view inside another page, such as the scan view):
   * `keys: false` leaves P / S to the page; `onFocus(focus, pinned)` hears the hovered or pinned token;
   * `linesWidth` narrows the diagram.
   */
  AttnLab.views.head = function (root, data, options) {
    options = options || {};
    const fields = data.fields;
    const initial = fields.initial;
    const state = {
      stack: initial.stack, layer: initial.layer, heads: initial.heads.slice(), filter: initial.filter || 'all',
      threshold: initial.threshold, topK: initial.topK,
    };
    const diagram = new AttnLab.AttentionDiagram(data, {
      linesWidth: options.linesWidth,
      onFocus: (focus, pinned) => {
        updateStatus();
        if (options.onFocus) options.onFocus(focus, pinned);
      },
    });
    const controls = el('div', { class: 'controls' });
    const squares = el('div', { class: 'head-squares', role: 'group', 'aria-label': 'Heads' });
    const status = AttnLab.statusLine();
    const help = el('div', { class: 'help' },
      'Click a head to show or hide it, double-click to show it alone. Hover a token to isolate its lines; click it to pin. P / S save what is shown as PNG / SVG, hovered token included.');
    root.append(AttnLab.header(fields, 'Head view'), controls, squares, status, el('div', { class: 'scroll' }, diagram.element), help);

    const stackOf = () => data.stacks[state.stack];
    let layerSelect = null;

    function buildControls() {
      controls.textContent = '';
      const stack = stackOf();
      AttnLab.addStackSelect(controls, data.stackKinds, state.stack, (kind) => {
        state.stack = kind;
        const next = stackOf();
        if (!next.layers.includes(state.layer)) state.layer = next.layers[0];
        state.heads = state.heads.filter((h) => next.heads.includes(h));
        if (!state.heads.length) state.heads = next.heads.slice();
        if (kind !== 'encoder') state.filter = 'all';
        buildControls();
        buildSquares();
        redraw();
      });
      const layerControl = AttnLab.select('Layer', stack.layers.map((l) => [l, String(l)]), state.layer, (value) => {
        state.layer = Number(value);
        redraw();
      }, { id: 'attnlab-layer' });
      layerSelect = layerControl.querySelector('select');
      controls.append(layerControl);
      AttnLab.addSentenceFilter(controls, data, state, (value) => {
        state.filter = value;
        redraw();
      });
      controls.append(...AttnLab.lineControls(state, (change) => { Object.assign(state, change); redraw(); }));
      controls.append(AttnLab.exportButtons(drawing, fileName, { keys: options.keys }));
    }

    function buildSquares() {
      squares.textContent = '';
      const stack = stackOf();
      for (const head of stack.heads) {
        const square = el('button', {
          type: 'button', class: 'head-square', title: 'Head ' + head, data: { head: String(head) },
          style: { background: AttnLab.headColour(head, stack.modelHeads), borderColor: AttnLab.headColour(head, stack.modelHeads) },
          onclick: () => {
            state.heads = state.heads.includes(head) ? state.heads.filter((h) => h !== head) : stack.heads.filter((h) => h === head || state.heads.includes(h));
            redraw();
          },
          ondblclick: () => {
            state.heads = [head];
            redraw();
          },
        }, String(head));
        squares.append(square);
      }
    }

    function updateSquares() {
      for (const square of squares.children) square.classList.toggle('off', !state.heads.includes(Number(square.dataset.head)));
    }

    function updateStatus() {
      const parts = ['Layer ' + state.layer, state.heads.length ? 'heads ' + state.heads.join(', ') : 'no head selected'];
      if (diagram.focus) parts.push(AttnLab.focusText(stackOf(), diagram));
      if (diagram.stats) parts.push(AttnLab.linesText(diagram.stats.lines, state));
      status.textContent = parts.join(' · ');
    }

    function redraw() {
      updateSquares();
      diagram.render(state);
      updateStatus();
    }

    function fileName() {
      return 'attnlab-head-' + state.stack + '-L' + state.layer + '-H' + state.heads.join('_') + (diagram.focus ? '-' + diagram.focus.side + diagram.focus.index : '');
    }

    /** What the export buttons save: the header line, the head legend, the diagram with its focus. */
    function drawing() {
      const g = diagram.geometry, theme = AttnLab.theme(), stack = stackOf();
      const headerHeight = 48;
      const width = Math.max(g.width, 360);
      return {
        width, height: g.height + headerHeight,
        draw(painter) {
          AttnLab.paintTitle(painter, fields, 90);
          painter.text(4, 32, AttnLab.stackNames[state.stack] + ' · layer ' + state.layer + ' · heads', { colour: theme.muted, size: 12 });
          let x = 4 + AttnLab.textWidth(AttnLab.stackNames[state.stack] + ' · layer ' + state.layer + ' · heads', 12) + 8;
          for (const head of state.heads) {
            painter.rect(x, 25, 14, 14, AttnLab.headColour(head, stack.modelHeads), 1);
            painter.text(x + 7, 32, String(head), { colour: '#ffffff', size: 9, align: 'center' });
            x += 18;
          }
          painter.translate(0, headerHeight);
          diagram.paint(painter, true);
          painter.translate(0, -headerHeight);
        },
      };
    }

    buildControls();
    buildSquares();
    if (initial.token !== null && initial.token !== undefined) {
      diagram.render(state);
      diagram.setFocus({ side: 'left', index: initial.token }, true);
    }
    redraw();

    /** Shows `layer` with `heads` (model numbers), and pins query token `token` when given (null unpins). */
    function show(layer, heads, token) {
      const stack = stackOf();
      if (stack.layers.includes(layer)) state.layer = layer;
      const shown = heads.filter((h) => stack.heads.includes(h));
      state.heads = shown.length ? shown : stack.heads.slice();
      if (layerSelect) layerSelect.value = String(state.layer);
      redraw();
      if (token !== undefined) diagram.setFocus(token === null ? null : { side: 'left', index: token }, token !== null);
    }

    // What the self-test (head.selftest.js) and a page embedding the view read and drive.
    return { state, diagram, drawing, squares, stackOf, redraw, show };
  };
})();
