// The neuron view's self-test (the page runs it when opened with #selftest): the vectors and α,
// choosing the query, layer and head, facts per head for the harness, exports, every stack.
(function () {
  'use strict';
  const AttnLab = window.AttnLab;

  AttnLab.selftests.neuron = async function (t, view, data) {
    const { state, drawing, compute, redraw, stackOf, stackKinds, squares, queryColumn, keyColumn, board, readout } = view;
    const initial = data.fields.initial;
    const stack = stackOf();
    const queryNodes = () => queryColumn.querySelectorAll('.token');
    t.check('tokens shown', queryNodes().length === stack.queries && keyColumn.querySelectorAll('.token').length === stack.keys,
      queryNodes().length + ' queries, ' + keyColumn.querySelectorAll('.token').length + ' keys');
    t.check('vectors drawn', view.stats.rows === stack.keys && view.stats.cells > stack.keys, view.stats.cells + ' cells for ' + view.stats.rows + ' keys');
    // In a window 1,280 pixels wide, α and ‖α·v‖ are on screen without scrolling sideways.
    const right = board.getBoundingClientRect().left + view.geometry.columns.contribution + view.geometry.bar;
    t.fact('window width', window.innerWidth);
    t.check('α fits the window', window.innerWidth < 1280 || right <= document.documentElement.clientWidth,
      '‖α·v‖ ends at ' + Math.round(right) + ' px of ' + document.documentElement.clientWidth + ' (cells of ' + view.geometry.cell + ' px)');
    let alphaSum = 0;
    for (const a of view.result.alpha) alphaSum += a;
    t.check('α is a distribution', Math.abs(alphaSum - 1) < 0.05, 'Σα = ' + alphaSum.toFixed(4));
    const other = state.query === 0 ? Math.min(2, stack.queries - 1) : 0;
    AttnLab.fire(queryNodes()[other], 'mouseover');
    const summary = document.getElementById('attnlab-summary').textContent;
    t.check('hover a token makes it the query', state.query === other && queryNodes()[other].classList.contains('query') &&
      summary.includes('query “' + AttnLab.tokenLabel(stack.queryTokenList[other]) + '”'), 'query ' + state.query + ': ' + summary);
    if (stack.layers.length > 1) {
      // Another layer than the one the page opened on (which may be the last).
      const scores = view.result.scores.slice(), target = AttnLab.otherLayer(stack, state.layer);
      AttnLab.setValue(document.getElementById('attnlab-layer'), target);
      t.check('select layer', state.layer === target && view.result.scores.some((s, j) => s !== scores[j]), 'layer ' + state.layer);
      AttnLab.setValue(document.getElementById('attnlab-layer'), stack.layers[0]);
    }
    if (stack.heads.length > 1) {
      const last = stack.heads[stack.heads.length - 1];
      AttnLab.fire(squares.querySelector('[data-head="' + last + '"]'), 'click');
      t.check('select head', state.head === last && document.getElementById('attnlab-head').value === String(last), 'head ' + state.head);
    }
    // Facts for the harness: per head of the first layer, for query 1 (or 0).
    const query = Math.min(1, stack.queries - 1);
    const perHead = {};
    for (const head of stack.heads) {
      const r = compute(stack, stack.layers[0], head, query);
      perHead[head] = {
        alphaTop: r.alphaTop, contributionTop: r.contributionTop, softmaxGap: Number(r.plainGap.toFixed(4)), maskedGap: Number(r.maskedGap.toFixed(4)),
        // How much attention the most attended key takes, and what share of Σ‖αᵢvᵢ‖ it moves.
        alphaTopWeight: Number(r.alpha[r.alphaTop].toFixed(4)),
        alphaTopShare: Number((r.contributionSum > 0 ? r.contributions[r.alphaTop] / r.contributionSum : 0).toFixed(4)),
      };
    }
    t.fact('layer ' + stack.layers[0] + ', query ' + query, perHead);
    state.query = query;
    state.head = stack.heads[0];
    state.layer = stack.layers[0];
    redraw();
    const svgText = AttnLab.exportSVG(drawing());
    const svg = new DOMParser().parseFromString(svgText, 'image/svg+xml');
    t.check('export SVG', !svg.querySelector('parsererror') && svg.querySelectorAll('rect').length >= view.stats.cells && svg.querySelectorAll('text').length >= stack.queries + stack.keys,
      svg.querySelectorAll('rect').length + ' rects, ' + svgText.length + ' bytes');
    const png = AttnLab.exportPNG(drawing());
    t.check('export PNG', png.toDataURL('image/png').length > 1000, png.width + '×' + png.height);
    AttnLab.fire(board, 'mousemove', { clientX: board.getBoundingClientRect().left + view.geometry.columns.alpha + 4, clientY: board.getBoundingClientRect().top + view.geometry.top + view.geometry.rowHeight / 2 });
    t.check('hover a key row shows its numbers', readout.textContent.includes('#0') && readout.textContent.includes('‖α·v‖'), readout.textContent);
    if (stackKinds.length > 1) {
      for (const kind of stackKinds) {
        AttnLab.setValue(document.getElementById('attnlab-stack'), kind);
        const shown = stackOf();
        t.check('stack ' + kind, state.stack === kind && queryNodes().length === shown.queries && keyColumn.querySelectorAll('.token').length === shown.keys && view.stats.rows === shown.keys,
          queryNodes().length + ' queries, ' + shown.keys + ' keys');
      }
      AttnLab.setValue(document.getElementById('attnlab-stack'), initial.stack);
    }
  };
})();
