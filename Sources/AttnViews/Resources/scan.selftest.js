// The scan view's self-test (the page runs it when opened with #selftest): the grid and its colours,
// the values and the ranking shown, the raw toggle, hover, opening cells (from the grid and from the
// ranking) into the two head views, a token hovered in one side shown in the other, export.
(function () {
  'use strict';
  const AttnLab = window.AttnLab;

  AttnLab.selftests.scan = async function (t, view, data) {
    const fields = data.fields;
    const scan = fields.scan;
    const { state, canvas, geometry, sides, open, drawing, valueOf, colourOf, scaleEnd, stats, counterpart } = view;
    const rows = scan.layers.length, columns = scan.columns.length;
    const isHeads = scan.site === 'head';
    const hasSource = typeof scan.source_value === 'number';

    t.check('grid of layers × columns', stats().cells === rows * columns && canvas.width > 0, stats().cells + ' cells');
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) painted++;
    t.check('canvas painted', painted > 0, painted + ' pixels');

    // Colours follow the values: the strongest cell is fully coloured, signs pick the colour.
    const strongest = fields.ranked[0];
    const row = scan.layers.indexOf(strongest.layer);
    const end = scaleEnd();
    const top = colourOf(valueOf(row, strongest.column), end);
    const theme = AttnLab.theme();
    t.check('strongest cell fully coloured', Math.abs(top.alpha - 1) < 1e-9, 'alpha ' + top.alpha + ' of ' + strongest.name);
    let signsAgree = true;
    for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) {
      const value = valueOf(r, c);
      if (value === null) continue;
      const colour = colourOf(value, end).colour;
      if ((value > 0 && colour !== theme.positive) || (value < 0 && colour !== theme.negative)) signsAgree = false;
    }
    t.check('colours follow the sign', signsAgree, 'positive blue, negative orange');
    t.fact('strongest', strongest.name);
    t.fact('cells', stats().cells);
    t.fact('values', state.values);

    // The target's and the source's values, and the ranking.
    const shown = document.getElementById('attnlab-values-shown').textContent;
    t.check('target and source values shown', shown.includes(scan.target_value.toFixed(4)) && (!hasSource || shown.includes(scan.source_value.toFixed(4))), shown);
    const rankedRows = document.querySelectorAll('#attnlab-ranked tr.ranked-cell');
    t.check('ranked cells listed', rankedRows.length === Math.min(10, fields.ranked.length) && rankedRows[0].children[1].textContent === strongest.name,
      rankedRows.length + ' rows, first ' + (rankedRows[0] ? rankedRows[0].children[1].textContent : '–'));

    // Raw and normalised: the scale's end is the largest |value| of the values shown.
    const select = document.getElementById('attnlab-values');
    const largest = (values) => {
      let end = 0;
      scan.layers.forEach((layer, r) => scan.columns.forEach((_, c) => {
        const value = values === 'raw' ? scan.effects[r][c] : scan.normalized[r][c];
        if (!(scan.skipped || []).includes(layer + ',' + c) && value !== null && isFinite(value)) end = Math.max(end, Math.abs(value));
      }));
      return end;
    };
    if (hasSource) {
      const first = state.values, other = first === 'raw' ? 'normalized' : 'raw';
      const before = stats().signature;
      AttnLab.setValue(select, other);
      t.check('raw toggle', state.values === other && Math.abs(stats().end - largest(other)) < 1e-9 && Math.abs(stats().end - largest(first)) > 1e-9,
        first + ' → ' + other + ', scale ±' + stats().end);
      AttnLab.setValue(select, first);
      t.check('toggle back', state.values === first && stats().signature === before && Math.abs(stats().end - largest(first)) < 1e-9,
        'signature ' + stats().signature);
    }

    // Hover a cell: the status line tells its numbers.
    const rect = canvas.getBoundingClientRect();
    const point = (layer, column) => ({
      clientX: rect.left + geometry.left + (column + 0.5) * geometry.cellWidth,
      clientY: rect.top + geometry.top + (scan.layers.indexOf(layer) + 0.5) * geometry.cellHeight,
    });
    const second = fields.ranked[Math.min(1, fields.ranked.length - 1)];
    AttnLab.fire(canvas, 'mousemove', point(second.layer, second.column));
    const status = document.getElementById('attnlab-status').textContent;
    t.check('hover shows a cell', state.hover && state.hover.layer === second.layer && state.hover.column === second.column &&
      status.includes('Layer ' + second.layer) && status.includes(second.effect >= 0 ? '+' + second.effect.toFixed(4) : second.effect.toFixed(4)), status);
    AttnLab.fire(canvas, 'mouseleave');

    // Click a cell: the head views of target and source open at its layer (and head).
    AttnLab.fire(canvas, 'click', point(second.layer, second.column));
    const expectedSides = fields.sides.length;
    const atCell = sides.length === expectedSides && sides.every((side) => side.view.state.layer === second.layer &&
      (isHeads ? side.view.state.heads.length === 1 && side.view.state.heads[0] === Number(scan.columns[second.column]) : true));
    t.check('click opens the head views', state.open && state.open.layer === second.layer && atCell,
      sides.map((s) => s.side.role + ' layer ' + s.view.state.layer + ' heads ' + s.view.state.heads.join(',')).join('; '));
    t.check('head views drawn', sides.every((side) => side.view.diagram.stats && side.view.diagram.stats.lines > 0),
      sides.map((s) => s.view.diagram.stats && s.view.diagram.stats.lines).join(', ') + ' lines');
    if (expectedSides === 2) {
      const [a, b] = sides.map((side) => side.element.getBoundingClientRect());
      const wide = window.innerWidth >= 1000;
      t.check('target and source side by side', !wide || Math.abs(a.top - b.top) < 2 && b.left > a.left, wide ? 'tops ' + a.top + ', ' + b.top : 'narrow window: stacked');
      t.check('element ids stay unique', new Set([...document.querySelectorAll('[id]')].map((n) => n.id)).size === document.querySelectorAll('[id]').length, '');

      // A token hovered in the target focuses its counterpart in the source, and back.
      const target = sides[0].view.diagram, source = sides[1].view.diagram;
      target.setFocus(null, false);
      // Prefer a word the source changed (sick → terrific): its counterpart is found through the words.
      const targetTokens = fields.sides[0].fields.tokens.input, sourceTokens = fields.sides[1].fields.tokens.input;
      const tokens = [...target.leftColumn.querySelectorAll('.token')].sort((x, y) => {
        const changed = (node) => {
          const other = counterpart(0, Number(node.dataset.index));
          return other !== null && sourceTokens[other].text !== targetTokens[Number(node.dataset.index)].text ? 0 : 1;
        };
        return changed(x) - changed(y);
      });
      let mirrored = false, detail = 'no token has a counterpart';
      for (const node of tokens) {
        const index = Number(node.dataset.index);
        const other = counterpart(0, index);
        if (other === null) continue;
        AttnLab.fire(node, 'mouseover');
        mirrored = source.focus && source.focus.index === other && source.focus.side === 'left';
        detail = 'target token ' + index + ' "' + targetTokens[index].text + '" → source token ' + (source.focus ? source.focus.index : 'none') +
          ' "' + (source.focus ? sourceTokens[source.focus.index].text : '') + '" (expected ' + other + ')';
        t.fact('mirrored', [targetTokens[index].text, source.focus ? sourceTokens[source.focus.index].text : null]);
        break;
      }
      t.check('hover mirrors to the other side', mirrored, detail);
      AttnLab.fire(target.leftColumn, 'mouseleave');
      t.check('leaving clears both sides', !target.focus && !source.focus, '');
    }

    // A ranked row opens its cell.
    AttnLab.fire(rankedRows[0], 'click');
    t.check('ranked row opens its cell', state.open.layer === strongest.layer && state.open.column === strongest.column &&
      sides.every((side) => side.view.state.layer === strongest.layer), 'open ' + state.open.layer + ',' + state.open.column);

    // Export what is shown.
    const svg = AttnLab.exportSVG(drawing());
    t.check('export SVG', svg.startsWith('<?xml') && (svg.match(/<rect /g) || []).length >= rows * columns && svg.includes('Layer ' + scan.layers[0]),
      svg.length + ' characters');
    const png = AttnLab.exportPNG(drawing());
    t.check('export PNG', png.width > 0 && png.height > 0, png.width + ' × ' + png.height);
    t.fact('open', [state.open.layer, state.open.column]);
  };
})();
