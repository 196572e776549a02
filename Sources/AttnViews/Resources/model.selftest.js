// The model view's self-test (the page runs it when opened with #selftest): the grid and its axes,
// both kinds of thumbnail, opening, hovering and closing a cell, threshold, top-k, every sentence
// filter and stack, and the exports.
(function () {
  'use strict';
  const AttnLab = window.AttnLab;

  AttnLab.selftests.model = async function (t, view, data) {
    const { state, detail, drawing, grid, overlay, detailTitle, closeButton, stackOf } = view;
    const initial = data.fields.initial;
    await view.drawn;
    if (document.getElementById('attnlab-filter')) AttnLab.setValue(document.getElementById('attnlab-filter'), 'all');
    const stack = stackOf();
    const rowLabels = [...grid.querySelectorAll('.axis.row')].map((node) => node.textContent);
    const columnLabels = [...grid.querySelectorAll('.axis.column')].map((node) => node.textContent);
    t.check('grid of layers × heads', view.cells.length === stack.layers.length * stack.heads.length && grid.querySelectorAll('.cell canvas').length === view.cells.length,
      stack.layers.length + ' × ' + stack.heads.length);
    t.check('axes keep the model\'s numbers', rowLabels.join() === stack.layers.map((l) => 'Layer ' + l).join() && columnLabels.join() === stack.heads.map((h) => 'Head ' + h).join(),
      rowLabels.join(',') + ' / ' + columnLabels.join(','));
    t.fact('layers', stack.layers);
    t.fact('heads', stack.heads);
    t.fact('thumbnails', state.thumbnails);
    const allPainted = () => view.cells.every((entry) => entry.stats.painted > 0);
    t.check('every thumbnail drawn', allPainted(), view.cells.filter((entry) => !(entry.stats.painted > 0)).length + ' empty');
    // The first key is hidden from the thumbnails by default for causal models; the checks below
    // compare thumbnails with the opened cell, which shows every key, so show it until the end.
    const sink = document.getElementById('attnlab-sink');
    const causal = data.fields.stacks.some((s) => s.causal);
    t.fact('hideFirstKey', state.hideFirstKey);
    t.check('first token hidden by default for causal models only', state.hideFirstKey === causal && !!sink && sink.value === (causal ? 'hide' : 'show'),
      'causal ' + causal + ', hidden ' + state.hideFirstKey);
    AttnLab.setValue(sink, 'show');
    const thumbnails = document.getElementById('attnlab-thumbnails');
    const first = state.thumbnails;
    const other = first === 'lines' ? 'matrix' : 'lines';
    // Every head has lines at threshold 0; top-2 keeps long inputs quick to draw.
    AttnLab.setValue(document.getElementById('attnlab-threshold'), 0);
    AttnLab.setValue(document.getElementById('attnlab-topk'), 2);
    AttnLab.setValue(thumbnails, other);
    t.check('switch thumbnails to ' + other, state.thumbnails === other && allPainted(), view.cells.reduce((n, e) => n + e.stats.painted, 0) + ' painted');
    AttnLab.setValue(thumbnails, 'lines');
    const totalLines = () => view.cells.reduce((n, e) => n + e.stats.lines, 0);
    const allLines = totalLines();
    t.check('lines thumbnails', allLines > 0, allLines + ' lines');

    // Open a cell, hover in it, close it.
    const last = view.cells[view.cells.length - 1];
    AttnLab.fire(last.cell, 'click');
    const leftTokens = detail.leftColumn.querySelectorAll('.token');
    t.check('click opens the cell', !overlay.hidden && detailTitle.textContent.includes('layer ' + last.layer) && detailTitle.textContent.includes('head ' + last.head) &&
      leftTokens.length === stack.queries && detail.stats.lines > 0 && Object.keys(detail.stats.perHead).join() === String(last.head),
      detailTitle.textContent + ', ' + leftTokens.length + ' tokens, ' + detail.stats.lines + ' lines');
    t.check('open cell has the thumbnail\'s lines', detail.stats.lines === last.stats.lines, detail.stats.lines + ' vs ' + last.stats.lines);
    AttnLab.fire(leftTokens[Math.min(1, leftTokens.length - 1)], 'mouseover');
    t.check('hover in the open cell', detail.stats.leftUsed.size === 1 && detail.stats.shaded > 0, detail.stats.lines + ' lines, ' + detail.stats.shaded + ' shaded');
    AttnLab.fire(leftTokens[Math.min(1, leftTokens.length - 1)], 'click');
    const cellSvg = new DOMParser().parseFromString(AttnLab.exportSVG(drawing()), 'image/svg+xml');
    t.check('export the open cell', !cellSvg.querySelector('parsererror') && cellSvg.querySelectorAll('text').length >= stack.queries + stack.keys,
      cellSvg.querySelectorAll('text').length + ' texts');
    document.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape' }));
    t.check('Escape closes it', overlay.hidden && !view.open, overlay.hidden ? 'closed' : 'open');

    // Threshold and top-k apply to thumbnails.
    AttnLab.setValue(document.getElementById('attnlab-threshold'), 0.3);
    t.check('threshold thins thumbnails', totalLines() < allLines && view.cells.every((e) => e.stats.lines === 0 || e.stats.minWeight >= 0.3 - 1e-6), totalLines() + ' lines');
    AttnLab.setValue(document.getElementById('attnlab-threshold'), 0);
    t.check('top-k thins thumbnails', view.cells.every((e) => e.stats.maxPerRow <= 2), 'at most ' + Math.max(...view.cells.map((e) => e.stats.maxPerRow)) + ' lines per token');

    if (data.isPair && state.stack === 'encoder') {
      const filter = document.getElementById('attnlab-filter');
      for (const [value, name] of AttnLab.filterNames.slice(1)) {
        AttnLab.setValue(filter, value);
        const want = (side) => (value[side] === 'a' ? 0 : 1);
        const ok = view.cells.every((e) => [...e.stats.leftUsed].every((i) => stack.queryTokenList[i].segment === want(0)) &&
          [...e.stats.rightUsed].every((j) => stack.keyTokenList[j].segment === want(1)));
        t.check('filter ' + name, ok && totalLines() > 0 && totalLines() < allLines, totalLines() + ' lines');
      }
      AttnLab.setValue(filter, 'all');
    }

    const svgText = AttnLab.exportSVG(drawing());
    const svg = new DOMParser().parseFromString(svgText, 'image/svg+xml');
    const segments = [...svg.querySelectorAll('path.attention')].reduce((n, path) => n + Number(path.getAttribute('data-segments')), 0);
    t.check('export SVG of the grid', !svg.querySelector('parsererror') && segments === totalLines() && svg.querySelectorAll('text').length === view.cells.length / stack.heads.length + stack.heads.length + 1,
      segments + ' segments, ' + svgText.length + ' bytes');
    const png = AttnLab.exportPNG(drawing());
    t.check('export PNG of the grid', png.toDataURL('image/png').length > 1000, png.width + '×' + png.height);
    AttnLab.setValue(thumbnails, 'matrix');
    const matrixSvg = new DOMParser().parseFromString(AttnLab.exportSVG(drawing()), 'image/svg+xml');
    t.check('export SVG of matrices', matrixSvg.querySelectorAll('image').length === view.cells.length, matrixSvg.querySelectorAll('image').length + ' images');
    AttnLab.setValue(thumbnails, first);
    AttnLab.setValue(document.getElementById('attnlab-topk'), initial.topK);
    AttnLab.setValue(document.getElementById('attnlab-threshold'), initial.threshold);

    // The first token's toggle: hidden, no thumbnail draws a line to key 0 and each is scaled to
    // the rest; shown, the lines to it are back.
    AttnLab.setValue(document.getElementById('attnlab-threshold'), 0);
    AttnLab.setValue(thumbnails, 'lines');
    const toFirst = () => view.cells.filter((e) => e.stats.rightUsed.has(0)).length;
    const shownToFirst = toFirst();
    AttnLab.setValue(sink, 'hide');
    t.check('hide the first token', state.hideFirstKey && toFirst() === 0 && allPainted() && document.getElementById('attnlab-status').textContent.includes('first token hidden'),
      shownToFirst + ' → ' + toFirst() + ' cells with lines to the first token');
    AttnLab.setValue(thumbnails, 'matrix');
    t.check('hidden first token in matrices', allPainted(), view.cells.reduce((n, e) => n + e.stats.painted, 0) + ' painted');
    AttnLab.setValue(sink, 'show');
    AttnLab.setValue(thumbnails, 'lines');
    t.check('show the first token', !state.hideFirstKey && toFirst() === shownToFirst && shownToFirst > 0, toFirst() + ' cells with lines to it');
    AttnLab.setValue(sink, initial.hideFirstKey ? 'hide' : 'show');
    AttnLab.setValue(thumbnails, first);
    AttnLab.setValue(document.getElementById('attnlab-threshold'), initial.threshold);

    if (data.stackKinds.length > 1) {
      for (const kind of data.stackKinds) {
        AttnLab.setValue(document.getElementById('attnlab-stack'), kind);
        const shown = stackOf();
        AttnLab.fire(view.cells[0].cell, 'click');
        const opened = detail.leftColumn.querySelectorAll('.token').length;
        t.check('stack ' + kind, view.cells.length === shown.layers.length * shown.heads.length && allPainted() && opened === shown.queries &&
          detail.rightColumn.querySelectorAll('.token').length === shown.keys,
          view.cells.length + ' cells, open cell ' + opened + ' × ' + shown.keys);
        AttnLab.fire(closeButton, 'click');
      }
      AttnLab.setValue(document.getElementById('attnlab-stack'), initial.stack);
    }
  };
})();
