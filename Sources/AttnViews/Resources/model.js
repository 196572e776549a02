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
      // An attention sink (the first token, which causal models attend to most) would leave every
      // other cell pale: the thumbnails leave it out and scale each head to what remains.
      hideFirstKey: !!initial.hideFirstKey,
    };
    const controls = el('div', { class: 'controls' });
    const status = AttnLab.statusLine();
    const grid = el('div', { class: 'grid', id: 'attnlab-grid' });
    const help = el('div', { class: 'help' },
      'Rows are layers, columns heads, numbered as in the model. Click a cell to open it with its tokens. P / S save what is shown as PNG / SVG. ',
      'Matrix thumbnails: queries down, keys across, opacity ∝ √weight. ',
      'First token hidden: the thumbnails leave out the first key (an attention sink) and show each head scaled to its strongest remaining weight; the opened cell shows every weight as it is.');
    const detailTitle = el('span', { class: 'detail-title' });
    const detail = new AttnLab.AttentionDiagram(data, { onFocus: () => updateDetailStatus() });
    const detailStatus = el('span', { class: 'status' });
    const closeButton = el('button', { type: 'button', class: 'close', id: 'attnlab-close', title: 'Close (Esc)', onclick: () => closeDetail() }, '×');
    const overlay = el('div', { class: 'overlay', hidden: true, id: 'attnlab-detail' },
      el('div', { class: 'detail' }, el('div', { class: 'detail-header' }, detailTitle, detailStatus, closeButton), detail.element));
    overlay.addEventListener('click', (event) => { if (event.target === overlay) closeDetail(); });
    AttnLab.listen(document, 'keydown', (event) => { if (event.key === 'Escape' && !overlay.hidden) closeDetail(); });
    root.append(AttnLab.header(fields, 'Model view'), controls, status, el('div', { class: 'scroll' }, grid), help, overlay);

    const stackOf = () => data.stacks[state.stack];
    let open = null; // {layer, head} of the enlarged cell
    let cells = [];
    let rest = null; // {timer, resolve} while layers below the first screen are still being drawn
    let drawn = Promise.resolve();
    const colours = (stack) => (head) => AttnLab.headColour(head, stack.modelHeads);

    function buildControls() {
      controls.textContent = '';
      AttnLab.addStackSelect(controls, data.stackKinds, state.stack, (kind) => {
        state.stack = kind;
        if (kind !== 'encoder') state.filter = 'all';
        closeDetail();
        buildControls();
        buildGrid();
      });
      AttnLab.addSentenceFilter(controls, data, state, (value) => { state.filter = value; redraw(); });
      controls.append(AttnLab.select('Thumbnails', [['lines', 'Lines'], ['matrix', 'Matrix']], state.thumbnails, (value) => { state.thumbnails = value; redraw(); }, { id: 'attnlab-thumbnails' }));
      controls.append(AttnLab.select('First token', [['hide', 'Hidden, rest scaled'], ['show', 'Shown']], state.hideFirstKey ? 'hide' : 'show',
        (value) => { state.hideFirstKey = value === 'hide'; redraw(); },
        { id: 'attnlab-sink', title: 'Leave the first key (an attention sink) out of the thumbnails and scale each to the rest' }));
      controls.append(...AttnLab.lineControls(state, (change) => { Object.assign(state, change); redraw(); }));
      controls.append(AttnLab.exportButtons(drawing, fileName));
    }

    function thumbnailSize(stack) {
      return stack.heads.length <= 12 ? 80 : Math.max(40, Math.floor(960 / stack.heads.length));
    }

    function buildGrid(firstScreen) {
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
      redraw(firstScreen);
    }

    /** The tokens of the thumbnails: the sides of the filter, without the first key when it is hidden. */
    function thumbnailSides(stack) {
      const sides = AttnLab.sides(stack, state.filter, data.isPair);
      if (state.hideFirstKey && sides.right.length > 1 && sides.right[0] === 0) sides.right = sides.right.slice(1);
      return sides;
    }

    /** Draws one thumbnail through a painter at (0, 0); returns what was drawn. */
    function paintThumbnail(painter, stack, layer, head, size, sides) {
      const scaled = state.hideFirstKey;
      if (state.thumbnails === 'matrix') {
        const image = AttnLab.matrixImage(stack, layer, head, sides.left, sides.right, size, colours(stack)(head), scaled);
        painter.image(1, 1, size - 2, size - 2, image);
        return { lines: 0, painted: image.painted };
      }
      const rows = Math.max(sides.left.length, 1), columns = Math.max(sides.right.length, 1);
      const geometry = { x1: 3, x2: size - 3, top: 2, rowHeight: (size - 4) / rows, rightRowHeight: (size - 4) / columns, lineWidth: 1 };
      const options = scaled ? Object.assign({}, state, { codeScale: AttnLab.codeScale(stack, layer, head, sides.left, sides.right) }) : state;
      const stats = AttnLab.drawAttentionLines(painter, stack, layer, [head], sides.left, sides.right, geometry, options, null, colours(stack));
      stats.painted = stats.lines;
      return stats;
    }

    /**
     * Draws every thumbnail. With `firstScreen` (when the page opens), only the layers a window
     * shows at once are drawn now, and the rest one layer per task after, so that a 30-layer model
     * on 512 tokens shows its first rows without decoding and drawing every layer first; `drawn`
     * resolves once all are. Any other redraw draws everything at once.
     */
    function redraw(firstScreen) {
      if (rest) {
        clearTimeout(rest.timer);
        rest.resolve();
        rest = null;
      }
      const stack = stackOf();
      const size = thumbnailSize(stack);
      const sides = thumbnailSides(stack);
      const perRow = stack.heads.length, rows = perRow ? cells.length / perRow : 0;
      const drawRow = (row) => {
        for (const entry of cells.slice(row * perRow, (row + 1) * perRow)) {
          const context = AttnLab.sizedCanvas(entry.canvas, size, size);
          entry.stats = paintThumbnail(new AttnLab.CanvasPainter(context), stack, entry.layer, entry.head, size, sides);
        }
      };
      const now = firstScreen ? Math.max(1, Math.ceil((window.innerHeight || 900) / (size + 2))) : rows;
      let row = 0;
      for (; row < Math.min(now, rows); row++) drawRow(row);
      if (row < rows) {
        for (const entry of cells.slice(row * perRow)) AttnLab.sizedCanvas(entry.canvas, size, size);
        drawn = new Promise((resolve) => {
          rest = { resolve, timer: 0 };
          const step = () => {
            drawRow(row++);
            if (row < rows) {
              rest.timer = setTimeout(step, 0);
              return;
            }
            rest = null;
            updateStatus();
            resolve();
          };
          rest.timer = setTimeout(step, 0);
        });
      } else {
        drawn = Promise.resolve();
      }
      updateStatus();
      if (open) renderDetail();
    }

    function updateStatus() {
      const stack = stackOf();
      const lines = cells.reduce((n, entry) => n + (entry.stats ? entry.stats.lines : 0), 0);
      status.textContent = stack.layers.length + ' layers × ' + stack.heads.length + ' heads' +
        (state.thumbnails === 'lines' ? ' · ' + AttnLab.linesText(lines, state) : ' · matrices') +
        (state.hideFirstKey ? ' · first token hidden, each head scaled to the rest' : '') +
        (rest ? ' · drawing…' : '');
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
      detailStatus.textContent = detail.stats.lines + ' lines' + (detail.focus ? ' · ' + AttnLab.focusText(stackOf(), detail) : '');
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
            AttnLab.paintTitle(painter, fields, 90);
            painter.text(4, 30, detailTitle.textContent, { colour: theme.muted, size: 12 });
            painter.translate(0, 40);
            detail.paint(painter, true);
            painter.translate(0, -40);
          },
        };
      }
      const size = thumbnailSize(stack), gap = 6, labelWidth = 64, top = 44;
      const sides = thumbnailSides(stack);
      return {
        width: labelWidth + stack.heads.length * (size + gap), height: top + stack.layers.length * (size + gap),
        draw(painter) {
          AttnLab.paintTitle(painter, fields, 110);
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
    buildGrid(true);

    // What the self-test (model.selftest.js) reads and drives.
    return {
      state, detail, drawing, grid, overlay, detailTitle, closeButton, stackOf,
      get cells() { return cells; },
      get open() { return open; },
      /** Resolves once every thumbnail is drawn (the page draws the first screen first). */
      get drawn() { return drawn; },
    };
  };
})();
