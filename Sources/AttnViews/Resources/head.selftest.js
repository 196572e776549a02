// The head view's self-test (the page runs it when opened with #selftest): select layers, toggle
// and solo heads, hover and pin tokens, export, threshold and top-k, every sentence filter and stack.
(function () {
  'use strict';
  const AttnLab = window.AttnLab;

  AttnLab.selftests.head = async function (t, view, data) {
    const { state, diagram, drawing, squares, stackOf, redraw } = view;
    const initial = data.fields.initial;
    const stack = stackOf();
    const leftTokens = () => diagram.leftColumn.querySelectorAll('.token');
    const rightTokens = () => diagram.rightColumn.querySelectorAll('.token');
    const stats = () => diagram.stats;
    // Start from a known state: all heads, no focus, no filter.
    if (document.getElementById('attnlab-filter')) AttnLab.setValue(document.getElementById('attnlab-filter'), 'all');
    diagram.setFocus(null, false);
    state.heads = stack.heads.slice();
    state.threshold = 0;
    state.topK = 0;
    redraw();
    t.check('tokens shown', leftTokens().length === stack.queries && rightTokens().length === stack.keys,
      leftTokens().length + ' left, ' + rightTokens().length + ' right');
    t.check('head squares', squares.querySelectorAll('.head-square').length === stack.heads.length, squares.children.length + ' squares');
    const all = stats();
    t.check('lines drawn for every head', all.lines > 0 && stack.heads.every((h) => all.perHead[h] > 0), JSON.stringify(all.perHead));
    const pixels = diagram.canvas.getContext('2d').getImageData(0, 0, diagram.canvas.width, diagram.canvas.height).data;
    let painted = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) painted++;
    t.check('canvas painted', painted > 0, painted + ' pixels');
    t.check('raw token on hover', leftTokens()[0].title.includes(JSON.stringify(stack.queryTokenList[0].text)), leftTokens()[0].title);

    // Layer selector.
    const layerSelect = document.getElementById('attnlab-layer');
    if (stack.layers.length > 1) {
      // Another layer than the one the page opened on (which may be the last).
      const before = all.signature, opened = state.layer;
      const target = AttnLab.otherLayer(stack, opened);
      AttnLab.setValue(layerSelect, target);
      t.check('select layer', state.layer === target && stats().signature !== before,
        'layer ' + opened + ' → ' + state.layer + ', signature ' + before + ' → ' + stats().signature);
      AttnLab.setValue(layerSelect, stack.layers[0]);
    }
    const base = stats();

    // Head squares: click toggles, double-click solos.
    const firstHead = stack.heads[0];
    const square = squares.querySelector('[data-head="' + firstHead + '"]');
    AttnLab.fire(square, 'click');
    t.check('toggle head off', !state.heads.includes(firstHead) && !(stats().perHead[firstHead] > 0) && square.classList.contains('off') &&
      stats().lines === base.lines - base.perHead[firstHead], stats().lines + ' lines after hiding head ' + firstHead);
    // A hidden head stays visible, in light mode too: its number in the text colour, outlined in its own colour.
    const look = getComputedStyle(square), page = getComputedStyle(document.body).backgroundColor;
    t.check('hidden head stays visible', AttnLab.contrast(look.color, page) >= 4.5 && look.borderTopColor !== page &&
      !/rgba\(.*, 0\)|transparent/.test(look.borderTopColor) && Number(look.opacity) === 1,
      'text ' + look.color + ' on ' + page + ' (contrast ' + AttnLab.contrast(look.color, page).toFixed(1) + '), outline ' + look.borderTopColor);
    AttnLab.fire(square, 'click');
    t.check('toggle head on', state.heads.includes(firstHead) && stats().lines === base.lines, stats().lines + ' lines');
    const lastHead = stack.heads[stack.heads.length - 1];
    AttnLab.fire(squares.querySelector('[data-head="' + lastHead + '"]'), 'dblclick');
    t.check('double-click solos', state.heads.length === 1 && state.heads[0] === lastHead && Object.keys(stats().perHead).length === 1 &&
      stats().lines === base.perHead[lastHead], 'heads ' + state.heads.join(','));
    state.heads = stack.heads.slice();
    redraw();

    // Hover a token on each side.
    const hoverIndex = Math.min(2, stack.queries - 1);
    AttnLab.fire(leftTokens()[hoverIndex], 'mouseover');
    const hovered = stats();
    t.check('hover isolates lines', diagram.focus && hovered.lines > 0 && hovered.leftUsed.size === 1 && hovered.leftUsed.has(hoverIndex),
      hovered.lines + ' lines from ' + [...hovered.leftUsed].join(','));
    t.check('hover shades the other side per head', hovered.shaded > 0 && hovered.shaded <= stack.keys * state.heads.length, hovered.shaded + ' strips');
    const strongest = {};
    for (const head of stack.heads) {
      let best = 0;
      for (let j = 1; j < stack.keys; j++) if (stack.weight(state.layer, head, hoverIndex, j) > stack.weight(state.layer, head, hoverIndex, best)) best = j;
      strongest[head] = best;
    }
    t.fact('strongest key from token ' + hoverIndex + ', layer ' + state.layer, strongest);
    // Pressing S while hovering exports with the hovered token.
    const download = AttnLab.downloadSVG;
    let saved = null;
    AttnLab.downloadSVG = (drawn, name) => { saved = { svg: AttnLab.exportSVG(drawn), name }; };
    document.body.dispatchEvent(new KeyboardEvent('keydown', { key: 's', bubbles: true }));
    AttnLab.downloadSVG = download;
    const savedSegments = saved ? [...new DOMParser().parseFromString(saved.svg, 'image/svg+xml').querySelectorAll('path.attention')]
      .reduce((n, path) => n + Number(path.getAttribute('data-segments')), 0) : -1;
    t.check('S exports the hovered token', saved && saved.name.endsWith('-left' + hoverIndex) && savedSegments === hovered.lines,
      saved ? saved.name + ', ' + savedSegments + ' segments' : 'nothing exported');
    AttnLab.fire(diagram.leftColumn, 'mouseleave');
    t.check('leaving restores all lines', !diagram.focus && stats().lines === base.lines, stats().lines + ' lines');
    const rightIndex = stack.keys - 1;
    AttnLab.fire(rightTokens()[rightTokens().length - 1], 'mouseover');
    t.check('hover a key isolates its lines', stats().rightUsed.size === 1 && stats().rightUsed.has(rightIndex) && stats().shaded > 0,
      stats().lines + ' lines into ' + [...stats().rightUsed].join(','));
    AttnLab.fire(diagram.rightColumn, 'mouseleave');

    // Pinning survives leaving.
    AttnLab.fire(leftTokens()[hoverIndex], 'click');
    AttnLab.fire(diagram.leftColumn, 'mouseleave');
    t.check('click pins a token', diagram.pinned && diagram.focus && diagram.focus.index === hoverIndex, JSON.stringify(diagram.focus));

    // Export with the pinned token: the SVG holds the same lines as the screen.
    const svgText = AttnLab.exportSVG(drawing());
    const svg = new DOMParser().parseFromString(svgText, 'image/svg+xml');
    const segments = [...svg.querySelectorAll('path.attention')].reduce((n, path) => n + Number(path.getAttribute('data-segments')), 0);
    const texts = svg.querySelectorAll('text').length;
    t.check('export SVG', !svg.querySelector('parsererror') && segments === stats().lines && svg.querySelectorAll('rect').length >= stats().shaded &&
      texts >= stack.queries + stack.keys, segments + ' segments, ' + texts + ' texts, ' + svgText.length + ' bytes');
    const png = AttnLab.exportPNG(drawing());
    const url = png.toDataURL('image/png');
    t.check('export PNG', url.startsWith('data:image/png;base64,') && url.length > 1000 && png.width >= diagram.geometry.width, png.width + '×' + png.height);
    const labels = [...svg.querySelectorAll('text')].map((node) => node.textContent);
    const tricky = stack.queryTokenList.find((token) => /[<>&]/.test(token.display));
    if (tricky) t.check('export keeps token text as text', labels.includes(AttnLab.tokenLabel(tricky)), AttnLab.tokenLabel(tricky));
    AttnLab.fire(leftTokens()[hoverIndex], 'click');
    t.check('click again unpins', !diagram.pinned && !diagram.focus, JSON.stringify(diagram.focus));

    // Threshold and top-k.
    const threshold = document.getElementById('attnlab-threshold');
    AttnLab.setValue(threshold, 0.3);
    t.check('threshold hides weak lines', state.threshold === 0.3 && stats().lines < base.lines && (stats().lines === 0 || stats().minWeight >= 0.3 - 1e-6),
      stats().lines + ' lines, weakest ' + stats().minWeight);
    AttnLab.setValue(threshold, 0);
    const topK = document.getElementById('attnlab-topk');
    AttnLab.setValue(topK, 1);
    t.check('top-k per token', state.topK === 1 && stats().maxPerRow === 1 && stats().lines === stack.queries * state.heads.length,
      stats().lines + ' lines, at most ' + stats().maxPerRow + ' per token and head');
    AttnLab.setValue(topK, 0);

    // Sentence filter.
    if (data.isPair && state.stack === 'encoder') {
      const filter = document.getElementById('attnlab-filter');
      const tokens = stack.queryTokenList;
      for (const [value, name] of AttnLab.filterNames.slice(1)) {
        AttnLab.setValue(filter, value);
        const want = (side) => (value[side] === 'a' ? 0 : 1);
        const lefts = [...leftTokens()].map((node) => tokens[Number(node.dataset.index)].segment);
        const rights = [...rightTokens()].map((node) => tokens[Number(node.dataset.index)].segment);
        const usedOk = [...stats().leftUsed].every((i) => tokens[i].segment === want(0)) && [...stats().rightUsed].every((j) => tokens[j].segment === want(1));
        t.check('filter ' + name, lefts.length > 0 && lefts.every((s) => s === want(0)) && rights.every((s) => s === want(1)) && usedOk && stats().lines > 0,
          lefts.length + ' left, ' + rights.length + ' right, ' + stats().lines + ' lines');
      }
      AttnLab.setValue(filter, 'all');
      t.check('filter All restores', leftTokens().length === stack.queries && stats().lines === base.lines, stats().lines + ' lines');
    }

    // Stack selector.
    if (data.stackKinds.length > 1) {
      for (const kind of data.stackKinds) {
        AttnLab.setValue(document.getElementById('attnlab-stack'), kind);
        const shown = stackOf();
        const leftTexts = [...leftTokens()].map((node) => node.textContent);
        t.check('stack ' + kind, state.stack === kind && leftTokens().length === shown.queries && rightTokens().length === shown.keys && stats().lines > 0 &&
          leftTexts[0] === AttnLab.tokenLabel(shown.queryTokenList[0]),
          leftTokens().length + ' queries (' + shown.queryTokens + '), ' + rightTokens().length + ' keys (' + shown.keyTokens + ')');
      }
      AttnLab.setValue(document.getElementById('attnlab-stack'), initial.stack);
    }
  };
})();
