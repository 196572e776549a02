// AttnLab model view: every included layer × head as a thumbnail; click one to open it large.
(function () {
  'use strict';
  const AttnLab = window.AttnLab;
  const { el } = AttnLab;

  AttnLab.views.model = function (root, data) {
    const fields = data.fields;
    const initial = fields.initial;
    const longest = Math.max(...fields.stacks.map((s) => Math.max(s.queries, s.keys)));
    const state = {
      stack: initial.stack, filter: initial.filter || 'all', threshold: initial.threshold, topK: initial.topK,
      thumbnails: longest > 64 ? 'matrix' : 'lines',
    };
    const controls = el('div', { class: 'controls' });
    const status = el('div', { class: 'status', id: 'attnlab-status' });
    const grid = el('div', { class: 'grid', id: 'attnlab-grid' });
    const help = el('div', { class: 'help' },
      'Rows are layers, columns heads, numbered as in the model. Click a cell to open it with its tokens. P / S save what is shown as PNG / SVG. ',
      'Matrix thumbnails: queries down, keys across, opacity ∝ √weight.');
    const detailTitle = el('span', { class: 'detail-title' });
    const detail = new AttnLab.AttentionDiagram(data, { onFocus: () => updateDetailStatus() });
    const detailStatus = el('span', { class: 'status' });
    const closeButton = el('button', { type: 'button', class: 'close', id: 'attnlab-close', title: 'Close (Esc)', onclick: () => closeDetail() }, '×');
    const overlay = el('div', { class: 'overlay', hidden: true, id: 'attnlab-detail' },
      el('div', { class: 'detail' }, el('div', { class: 'detail-header' }, detailTitle, detailStatus, closeButton), detail.element));
    overlay.addEventListener('click', (event) => { if (event.target === overlay) closeDetail(); });
    document.addEventListener('keydown', (event) => { if (event.key === 'Escape' && !overlay.hidden) closeDetail(); });
    root.append(AttnLab.header(fields, 'Model view'), controls, status, el('div', { class: 'scroll' }, grid), help, overlay);

    const stackOf = () => data.stacks[state.stack];
    let open = null; // {layer, head} of the enlarged cell
    let cells = [];
    const colours = (stack) => (head) => AttnLab.headColour(head, stack.modelHeads);

    function buildControls() {
      controls.textContent = '';
      if (data.stackKinds.length > 1) {
        controls.append(AttnLab.select('Attention', data.stackKinds.map((k) => [k, AttnLab.stackNames[k]]), state.stack, (kind) => {
          state.stack = kind;
          if (kind !== 'encoder') state.filter = 'all';
          closeDetail();
          buildControls();
          buildGrid();
        }, { id: 'attnlab-stack' }));
      }
      if (data.isPair && state.stack === 'encoder') {
        controls.append(AttnLab.select('Sentences', AttnLab.filterNames, state.filter, (value) => { state.filter = value; redraw(); }, { id: 'attnlab-filter' }));
      }
      controls.append(AttnLab.select('Thumbnails', [['lines', 'Lines'], ['matrix', 'Matrix']], state.thumbnails, (value) => { state.thumbnails = value; redraw(); }, { id: 'attnlab-thumbnails' }));
      controls.append(...AttnLab.lineControls(state, (change) => { Object.assign(state, change); redraw(); }));
      controls.append(AttnLab.exportButtons(drawing, fileName));
    }

    function thumbnailSize(stack) {
      return stack.heads.length <= 12 ? 80 : Math.max(40, Math.floor(960 / stack.heads.length));
    }

    function buildGrid() {
      const stack = stackOf();
      const size = thumbnailSize(stack);
      grid.textContent = '';
      grid.style.gridTemplateColumns = 'max-content repeat(' + stack.heads.length + ', ' + (size + 2) + 'px)';
      grid.append(el('div', { class: 'axis corner' }));
      for (const head of stack.heads) grid.append(el('div', { class: 'axis column', data: { head: String(head) } }, 'Head ' + head));
      cells = [];
      for (const layer of stack.layers) {
        grid.append(el('div', { class: 'axis row', data: { layer: String(layer) } }, 'Layer ' + layer));
        for (const head of stack.heads) {
          const canvas = el('canvas');
          const cell = el('button', {
            type: 'button', class: 'cell', title: 'Layer ' + layer + ', head ' + head + ': click to open', data: { layer: String(layer), head: String(head) },
            onclick: () => openDetail(layer, head),
          }, canvas);
          grid.append(cell);
          cells.push({ layer, head, cell, canvas, stats: null });
        }
      }
      redraw();
    }

    /** Draws one thumbnail through a painter at (0, 0); returns what was drawn. */
    function paintThumbnail(painter, stack, layer, head, size, sides) {
      if (state.thumbnails === 'matrix') {
        const image = AttnLab.matrixImage(stack, layer, head, sides.left, sides.right, size, colours(stack)(head));
        painter.image(1, 1, size - 2, size - 2, image);
        return { lines: 0, painted: image.painted };
      }
      const rows = Math.max(sides.left.length, 1), columns = Math.max(sides.right.length, 1);
      const geometry = { x1: 3, x2: size - 3, top: 2, rowHeight: (size - 4) / rows, rightRowHeight: (size - 4) / columns, lineWidth: 1 };
      const stats = AttnLab.drawAttentionLines(painter, stack, layer, [head], sides.left, sides.right, geometry, state, null, colours(stack));
      stats.painted = stats.lines;
      return stats;
    }

    function redraw() {
      const stack = stackOf();
      const size = thumbnailSize(stack);
      const sides = AttnLab.sides(stack, state.filter, data.isPair);
      let lines = 0;
      for (const entry of cells) {
        const context = AttnLab.sizedCanvas(entry.canvas, size, size);
        entry.stats = paintThumbnail(new AttnLab.CanvasPainter(context), stack, entry.layer, entry.head, size, sides);
        lines += entry.stats.lines;
      }
      status.textContent = stack.layers.length + ' layers × ' + stack.heads.length + ' heads' +
        (state.thumbnails === 'lines' ? ' · ' + lines + ' lines' + (state.threshold > 0 ? ' ≥ ' + state.threshold.toFixed(3) : '') + (state.topK ? ', top ' + state.topK + ' per token' : '') : ' · matrices');
      if (open) renderDetail();
    }

    function openDetail(layer, head) {
      open = { layer, head };
      for (const entry of cells) entry.cell.classList.toggle('current', entry.layer === layer && entry.head === head);
      overlay.hidden = false;
      detailTitle.textContent = AttnLab.stackNames[state.stack] + ' · layer ' + layer + ' · head ' + head;
      renderDetail();
    }
    function renderDetail() {
      detail.render({ stack: state.stack, layer: open.layer, heads: [open.head], filter: state.filter, threshold: state.threshold, topK: state.topK });
      updateDetailStatus();
    }
    function updateDetailStatus() {
      if (!open || !detail.stats) return;
      const stack = stackOf();
      let text = detail.stats.lines + ' lines';
      if (detail.focus) {
        const tokens = detail.focus.side === 'left' ? stack.queryTokenList : stack.keyTokenList;
        text += ' · ' + (detail.focus.side === 'left' ? 'from ' : 'to ') + '“' + AttnLab.tokenLabel(tokens[detail.focus.index]) + '”' + (detail.pinned ? ' (pinned)' : '');
      }
      detailStatus.textContent = text;
    }
    function closeDetail() {
      open = null;
      overlay.hidden = true;
      detail.setFocus(null, false);
      for (const entry of cells) entry.cell.classList.remove('current');
    }

    function fileName() {
      return 'attnlab-model-' + state.stack + (open ? '-L' + open.layer + '-H' + open.head : '') + (open && detail.focus ? '-' + detail.focus.side + detail.focus.index : '');
    }

    /** The export: the enlarged cell when one is open, else the whole grid. */
    function drawing() {
      const theme = AttnLab.theme(), stack = stackOf();
      if (open) {
        const g = detail.geometry;
        return {
          width: Math.max(g.width, 320), height: g.height + 40,
          draw(painter) {
            painter.text(4, 12, fields.title.length > 90 ? fields.title.slice(0, 89) + '…' : fields.title, { colour: theme.text, size: 12 });
            painter.text(4, 30, detailTitle.textContent, { colour: theme.muted, size: 12 });
            painter.translate(0, 40);
            detail.paint(painter, true);
            painter.translate(0, -40);
          },
        };
      }
      const size = thumbnailSize(stack), gap = 6, labelWidth = 64, top = 44;
      const sides = AttnLab.sides(stack, state.filter, data.isPair);
      return {
        width: labelWidth + stack.heads.length * (size + gap), height: top + stack.layers.length * (size + gap),
        draw(painter) {
          painter.text(4, 12, fields.title.length > 110 ? fields.title.slice(0, 109) + '…' : fields.title, { colour: theme.text, size: 12 });
          stack.heads.forEach((head, column) => painter.text(labelWidth + column * (size + gap) + size / 2, top - 10, 'Head ' + head, { colour: theme.muted, size: 11, align: 'center' }));
          stack.layers.forEach((layer, row) => {
            const y = top + row * (size + gap);
            painter.text(labelWidth - 8, y + size / 2, 'Layer ' + layer, { colour: theme.muted, size: 11, align: 'right' });
            stack.heads.forEach((head, column) => {
              const x = labelWidth + column * (size + gap);
              painter.rect(x, y, size, size, theme.grid, 1, 1);
              painter.translate(x, y);
              paintThumbnail(painter, stack, layer, head, size, sides);
              painter.translate(-x, -y);
            });
          });
        },
      };
    }

    buildControls();
    buildGrid();

    return {
      state, detail, drawing,
      async selftest(t) {
        if (document.getElementById('attnlab-filter')) AttnLab.setValue(document.getElementById('attnlab-filter'), 'all');
        const stack = stackOf();
        const rowLabels = [...grid.querySelectorAll('.axis.row')].map((node) => node.textContent);
        const columnLabels = [...grid.querySelectorAll('.axis.column')].map((node) => node.textContent);
        t.check('grid of layers × heads', cells.length === stack.layers.length * stack.heads.length && grid.querySelectorAll('.cell canvas').length === cells.length,
          stack.layers.length + ' × ' + stack.heads.length);
        t.check('axes keep the model\'s numbers', rowLabels.join() === stack.layers.map((l) => 'Layer ' + l).join() && columnLabels.join() === stack.heads.map((h) => 'Head ' + h).join(),
          rowLabels.join(',') + ' / ' + columnLabels.join(','));
        t.fact('layers', stack.layers);
        t.fact('heads', stack.heads);
        t.fact('thumbnails', state.thumbnails);
        const allPainted = () => cells.every((entry) => entry.stats.painted > 0);
        t.check('every thumbnail drawn', allPainted(), cells.filter((entry) => !(entry.stats.painted > 0)).length + ' empty');
        const thumbnails = document.getElementById('attnlab-thumbnails');
        const first = state.thumbnails;
        const other = first === 'lines' ? 'matrix' : 'lines';
        // Every head has lines at threshold 0; top-2 keeps long inputs quick to draw.
        AttnLab.setValue(document.getElementById('attnlab-threshold'), 0);
        AttnLab.setValue(document.getElementById('attnlab-topk'), 2);
        AttnLab.setValue(thumbnails, other);
        t.check('switch thumbnails to ' + other, state.thumbnails === other && allPainted(), cells.reduce((n, e) => n + e.stats.painted, 0) + ' painted');
        AttnLab.setValue(thumbnails, 'lines');
        const totalLines = () => cells.reduce((n, e) => n + e.stats.lines, 0);
        const allLines = totalLines();
        t.check('lines thumbnails', allLines > 0, allLines + ' lines');

        // Open a cell, hover in it, close it.
        const last = cells[cells.length - 1];
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
        t.check('Escape closes it', overlay.hidden && !open, overlay.hidden ? 'closed' : 'open');

        // Threshold and top-k apply to thumbnails.
        AttnLab.setValue(document.getElementById('attnlab-threshold'), 0.3);
        t.check('threshold thins thumbnails', totalLines() < allLines && cells.every((e) => e.stats.lines === 0 || e.stats.minWeight >= 0.3 - 1e-6), totalLines() + ' lines');
        AttnLab.setValue(document.getElementById('attnlab-threshold'), 0);
        t.check('top-k thins thumbnails', cells.every((e) => e.stats.maxPerRow <= 2), 'at most ' + Math.max(...cells.map((e) => e.stats.maxPerRow)) + ' lines per token');

        if (data.isPair && state.stack === 'encoder') {
          const filter = document.getElementById('attnlab-filter');
          for (const [value, name] of AttnLab.filterNames.slice(1)) {
            AttnLab.setValue(filter, value);
            const want = (side) => (value[side] === 'a' ? 0 : 1);
            const ok = cells.every((e) => [...e.stats.leftUsed].every((i) => stack.queryTokenList[i].segment === want(0)) &&
              [...e.stats.rightUsed].every((j) => stack.keyTokenList[j].segment === want(1)));
            t.check('filter ' + name, ok && totalLines() > 0 && totalLines() < allLines, totalLines() + ' lines');
          }
          AttnLab.setValue(filter, 'all');
        }

        const svgText = AttnLab.exportSVG(drawing());
        const svg = new DOMParser().parseFromString(svgText, 'image/svg+xml');
        const segments = [...svg.querySelectorAll('path.attention')].reduce((n, path) => n + Number(path.getAttribute('data-segments')), 0);
        t.check('export SVG of the grid', !svg.querySelector('parsererror') && segments === totalLines() && svg.querySelectorAll('text').length === cells.length / stack.heads.length + stack.heads.length + 1,
          segments + ' segments, ' + svgText.length + ' bytes');
        const png = AttnLab.exportPNG(drawing());
        t.check('export PNG of the grid', png.toDataURL('image/png').length > 1000, png.width + '×' + png.height);
        AttnLab.setValue(thumbnails, 'matrix');
        const matrixSvg = new DOMParser().parseFromString(AttnLab.exportSVG(drawing()), 'image/svg+xml');
        t.check('export SVG of matrices', matrixSvg.querySelectorAll('image').length === cells.length, matrixSvg.querySelectorAll('image').length + ' images');
        AttnLab.setValue(thumbnails, first);
        AttnLab.setValue(document.getElementById('attnlab-topk'), initial.topK);
        AttnLab.setValue(document.getElementById('attnlab-threshold'), initial.threshold);

        if (data.stackKinds.length > 1) {
          for (const kind of data.stackKinds) {
            AttnLab.setValue(document.getElementById('attnlab-stack'), kind);
            const shown = stackOf();
            AttnLab.fire(cells[0].cell, 'click');
            const opened = detail.leftColumn.querySelectorAll('.token').length;
            t.check('stack ' + kind, cells.length === shown.layers.length * shown.heads.length && allPainted() && opened === shown.queries &&
              detail.rightColumn.querySelectorAll('.token').length === shown.keys,
              cells.length + ' cells, open cell ' + opened + ' × ' + shown.keys);
            AttnLab.fire(closeButton, 'click');
          }
          AttnLab.setValue(document.getElementById('attnlab-stack'), initial.stack);
        }
      },
    };
  };

  AttnLab.boot('model');
})();
