// The compare view's self-test (the page runs it when opened with #selftest): the three matrices,
// one colour scale for A and B, B − A recomputed from the stored weights, the changed words, hover,
// layer, head and ranking, the line diagrams tied across sides, exports.
(function () {
  'use strict';
  const AttnLab = window.AttnLab;

  AttnLab.selftests.compare = async function (t, view) {
    const { state, stackA, stackB, words, ranking, canvas, diagramA, diagramB, squares, rankingList, status, changes, drawing } = view;
    const n = words.length;
    const g = () => view.geometry;
    const context = canvas.getContext('2d');
    const ratio = canvas.width / g().width;
    const pixel = (x, y) => Array.from(context.getImageData(Math.floor(x * ratio), Math.floor(y * ratio), 1, 1).data.slice(0, 3));
    const cellCentre = (panel, r, c) => [g().panels[panel] + (c + 0.5) * g().cell, g().top + (r + 0.5) * g().cell];

    // Three panels, each painted.
    const painted = [0, 1, 2].map((p) => {
      let count = 0;
      for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (pixel(...cellCentre(p, r, c)).some((v, i) => v !== [0, 0, 0][i])) count++;
      return count;
    });
    t.check('three panels drawn', painted.every((count) => count > 0), painted.join(', ') + ' cells painted of ' + n * n);

    // One colour scale: the larger maximum is drawn in the full colour, the other side's maximum
    // lighter (two scales would draw both in the full colour).
    const argmax = (values) => values.reduce((best, v, i) => (v > values[best] ? i : best), 0);
    const { a, b } = view.numbers;
    const [ia, ib] = [argmax(a), argmax(b)];
    const topA = pixel(...cellCentre(0, Math.floor(ia / n), ia % n)), topB = pixel(...cellCentre(1, Math.floor(ib / n), ib % n));
    const darkness = (rgb) => rgb.reduce((s, v) => s + v, 0);
    const theme = AttnLab.theme(), light = theme.background === '#ffffff';
    const strongerFirst = a[ia] >= b[ib];
    const ordered = light ? darkness(strongerFirst ? topA : topB) <= darkness(strongerFirst ? topB : topA) : darkness(strongerFirst ? topA : topB) >= darkness(strongerFirst ? topB : topA);
    t.check('one colour scale for A and B', Math.abs(view.numbers.largest - Math.max(a[ia], b[ib])) < 1e-6 && ordered && (a[ia] === b[ib] || topA.join() !== topB.join()),
      'max A ' + a[ia].toFixed(3) + ' ' + topA + ', max B ' + b[ib].toFixed(3) + ' ' + topB);

    // B − A, recomputed from the stored weights for the cell that changed most.
    const strongest = view.numbers.strongest, r0 = Math.floor(strongest / n), c0 = strongest % n;
    const wordWeight = (stack, side) => {
      let total = 0;
      for (const q of words[r0][side]) for (const k of words[c0][side]) total += stack.weight(state.layer, state.head, q, k);
      return total / words[r0][side].length;
    };
    const wa = wordWeight(stackA, 'a'), wb = wordWeight(stackB, 'b');
    t.check('difference is B − A', Math.abs(view.numbers.delta[strongest] - (wb - wa)) < 1e-6,
      view.label(words[r0]) + ' → ' + view.label(words[c0]) + ': ' + wa.toFixed(4) + ' → ' + wb.toFixed(4));
    t.fact('largest change', { layer: state.layer, head: state.head, from: view.label(words[r0]), to: view.label(words[c0]), a: wa, b: wb });
    t.fact('ranking', ranking.slice(0, 3));

    const changed = words.filter((w) => w.changedTo);
    t.check('changed words marked', changed.every((w) => changes.textContent.includes(w.text) && changes.textContent.includes(w.changedTo)) &&
      (changed.length === 0 || changes.querySelector('.changed')), changes.textContent);
    t.fact('changed words', changed.map((w) => w.text + '→' + w.changedTo));

    // Hover a cell of B: the status reads A, B and B − A, and the cell is outlined in every panel.
    const [hx, hy] = cellCentre(1, Math.min(1, n - 1), 0);
    const rect = canvas.getBoundingClientRect();
    AttnLab.fire(canvas, 'mousemove', { clientX: rect.left + hx, clientY: rect.top + hy });
    t.check('hover a cell reads A, B and B − A', state.hover && state.hover.r === Math.min(1, n - 1) && state.hover.c === 0 &&
      / A \d\.\d{3} · B \d\.\d{3} · B − A [+−]\d\.\d{3}/.test(status.textContent), status.textContent);
    AttnLab.fire(canvas, 'mouseleave');

    // Layer, head and the ranking.
    const before = Array.from(view.numbers.b);
    if (stackA.layers.length > 1) {
      const opened = state.layer, target = AttnLab.otherLayer(stackA, opened);
      AttnLab.setValue(document.getElementById('attnlab-layer'), target);
      t.check('select layer', state.layer === target && view.numbers.b.some((v, i) => v !== before[i]), 'layer ' + opened + ' → ' + state.layer);
    }
    if (stackA.heads.length > 1) {
      const other = stackA.heads.find((h) => h !== state.head);
      AttnLab.fire(squares.querySelector('[data-head="' + other + '"]'), 'click');
      t.check('select head', state.head === other && document.getElementById('attnlab-head').value === String(other), 'head ' + state.head);
    }
    const firstRank = rankingList.querySelector('.rank');
    if (firstRank) {
      AttnLab.fire(firstRank, 'click');
      t.check('ranking jumps to the head', state.layer === ranking[0][0] && state.head === ranking[0][1] && firstRank.classList.contains('current') &&
        status.textContent.includes('changed most: 1 of ' + ranking.length), status.textContent);
    }

    // The line diagrams: both drawn; hovering a token of A focuses its word on B.
    t.check('lines on both sides', diagramA.stats && diagramA.stats.lines > 0 && diagramB.stats && diagramB.stats.lines > 0,
      (diagramA.stats ? diagramA.stats.lines : 0) + ' and ' + (diagramB.stats ? diagramB.stats.lines : 0) + ' lines');
    const shared = words.find((w) => !w.special && !w.changedTo) || words[0];
    const token = diagramA.leftColumn.querySelector('.token[data-index="' + shared.a[0] + '"]');
    AttnLab.fire(token, 'mouseover');
    t.check('hover follows the word across', diagramA.focus && diagramB.focus && diagramB.focus.index === shared.b[0],
      'A token ' + shared.a[0] + ' → B token ' + (diagramB.focus ? diagramB.focus.index : 'none'));
    AttnLab.fire(diagramA.leftColumn, 'mouseleave');

    // Exports.
    const svgText = AttnLab.exportSVG(drawing());
    const svg = new DOMParser().parseFromString(svgText, 'image/svg+xml');
    t.check('export SVG', !svg.querySelector('parsererror') && svg.querySelectorAll('image').length === 3 && svgText.includes('B − A'),
      svg.querySelectorAll('image').length + ' images, ' + svgText.length + ' bytes');
    const png = AttnLab.exportPNG(drawing());
    t.check('export PNG', png.width >= drawing().width && png.height >= drawing().height, png.width + ' × ' + png.height);
  };
})();
