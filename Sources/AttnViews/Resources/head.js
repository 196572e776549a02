// AttnLab head view: one layer, the chosen heads, lines from each token to each token.
(function () {
  'use strict';
  const AttnLab = window.AttnLab;
  const { el } = AttnLab;

  AttnLab.views.head = function (root, data) {
    const fields = data.fields;
    const initial = fields.initial;
    const state = {
      stack: initial.stack, layer: initial.layer, heads: initial.heads.slice(), filter: initial.filter || 'all',
      threshold: initial.threshold, topK: initial.topK,
    };
    const diagram = new AttnLab.AttentionDiagram(data, { onFocus: () => updateStatus() });
    const controls = el('div', { class: 'controls' });
    const squares = el('div', { class: 'head-squares', role: 'group', 'aria-label': 'Heads' });
    const status = AttnLab.statusLine();
    const help = el('div', { class: 'help' },
      'Click a head to show or hide it, double-click to show it alone. Hover a token to isolate its lines; click it to pin. P / S save what is shown as PNG / SVG, hovered token included.');
    root.append(AttnLab.header(fields, 'Head view'), controls, squares, status, el('div', { class: 'scroll' }, diagram.element), help);

    const stackOf = () => data.stacks[state.stack];

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
      controls.append(AttnLab.select('Layer', stack.layers.map((l) => [l, String(l)]), state.layer, (value) => {
        state.layer = Number(value);
        redraw();
      }, { id: 'attnlab-layer' }));
      AttnLab.addSentenceFilter(controls, data, state, (value) => {
        state.filter = value;
        redraw();
      });
      controls.append(...AttnLab.lineControls(state, (change) => { Object.assign(state, change); redraw(); }));
      controls.append(AttnLab.exportButtons(drawing, fileName));
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

    // What the self-test (head.selftest.js) reads and drives.
    return { state, diagram, drawing, squares, stackOf, redraw };
  };
})();
