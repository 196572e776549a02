// AttnLab scan view: a scan's layers × heads (or layers × words) coloured by effect, the target's and
// the source's values and the ranked cells; a click on a cell opens that layer and head in the head
// view (head.js) for the target and the source side by side.
(function () {
  'use strict';
  const AttnLab = window.AttnLab;
  const { el } = AttnLab;

  /** `+0.0184` for raw effects, `0.142` for normalised ones; `–` for a cell without a value. */
  function formatValue(value, values) {
    if (value === null || value === undefined || !isFinite(value)) return '–';
    return values === 'raw' ? (value >= 0 ? '+' : '') + value.toFixed(4) : value.toFixed(3);
  }

  AttnLab.views.scan = function (root, data) {
    const fields = data.fields;
    const scan = fields.scan;
    const rows = scan.layers.length, columns = scan.columns.length;
    const hasSource = typeof scan.source_value === 'number';
    const isHeads = scan.site === 'head';
    const state = { values: fields.initial.values, open: null, hover: null };
    const skipped = new Set(scan.skipped || []);
    const rankOf = new Map(fields.ranked.map((cell, index) => [cell.layer + ',' + cell.column, index]));

    // ---- values and colours ----
    /** The value a cell is coloured by (null: none, e.g. a cell that could not be patched). */
    function valueOf(row, column) {
      if (skipped.has(scan.layers[row] + ',' + column)) return null;
      const value = state.values === 'raw' ? scan.effects[row][column] : scan.normalized[row][column];
      return value === null || value === undefined || !isFinite(value) ? null : value;
    }
    /** The colour scale's end: the largest |value| shown (one scale for both signs). */
    function scaleEnd() {
      let largest = 0;
      for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) {
        const value = valueOf(r, c);
        if (value !== null) largest = Math.max(largest, Math.abs(value));
      }
      return largest > 0 ? largest : 1;
    }
    /** {colour, alpha}: blue towards the source (positive), orange away from it; opacity ∝ |value|. */
    function colourOf(value, end) {
      const theme = AttnLab.theme();
      if (value === null) return { colour: theme.muted, alpha: 0.25 };
      return { colour: value >= 0 ? theme.positive : theme.negative, alpha: Math.min(1, Math.abs(value) / end) };
    }
    const cellName = (row, column) => isHeads ? scan.layers[row] + '.' + scan.columns[column] : scan.layers[row] + ':' + scan.columns[column];

    // ---- layout ----
    const cellWidth = isHeads ? 38 : 34, cellHeight = 28;
    const columnLabelHeight = isHeads ? 18 : Math.min(120, Math.max(...scan.columns.map((c) => AttnLab.textWidth(c, 11))) + 10);
    const geometry = { left: 64, top: 28 + columnLabelHeight, cellWidth, cellHeight };
    const scaleLabels = { raw: 'raw effect on ' + scan.metric + ' (patched − target)', normalized: 'normalised effect (0 = target, 1 = source)' };
    geometry.barWidth = Math.min(240, Math.max(120, columns * cellWidth * 0.6));
    const labelWidth = Math.max(AttnLab.textWidth(scaleLabels.raw, 11), AttnLab.textWidth(scaleLabels.normalized, 11));
    geometry.width = Math.max(geometry.left + columns * cellWidth + 16, geometry.left + geometry.barWidth + 12 + labelWidth + 8);
    geometry.gridBottom = geometry.top + rows * cellHeight;
    geometry.height = geometry.gridBottom + 56;

    // ---- page ----
    const facts = ['target ' + scan.target + ' ' + scan.metric + ' ' + scan.target_value.toFixed(4)];
    if (hasSource) facts.push('source ' + scan.source + ' ' + scan.source_value.toFixed(4));
    const header = el('header', { class: 'title' },
      el('span', { class: 'view-name' }, 'Scan view'),
      el('span', { class: 'title-text', title: fields.title }, fields.title),
      el('span', { class: 'facts', id: 'attnlab-values-shown' }, facts.join(' · ')));
    const controls = el('div', { class: 'controls' });
    const status = AttnLab.statusLine();
    const canvas = el('canvas', { class: 'scan-grid', id: 'attnlab-scan-grid' });
    const ranked = el('table', { class: 'ranked', id: 'attnlab-ranked' });
    const sidesTitle = el('h3', { class: 'sides-title', id: 'attnlab-sides-title' });
    const sidesRow = el('div', { class: 'scan-sides', id: 'attnlab-sides' });
    const help = el('div', { class: 'help' },
      'Each cell ' + (scan.mode === 'patch' ? 'copies one ' + (isHeads ? 'head\'s output' : 'word\'s ' + scan.site) + ' from the source run into the target run'
        : 'zeroes one ' + (isHeads ? 'head\'s output' : 'word\'s ' + scan.site)) + ' and measures ' + scan.metric +
      '. Blue raises it towards the source, orange lowers it. Hover a cell for its numbers; click it (or a ranked row) to open that layer and ' +
      (isHeads ? 'head' : 'word') + ' in the head view of the target and the source, side by side; hovering a token in one shows its counterpart in the other. P / S save the grid as PNG / SVG.');
    const note = fields.note ? el('div', { class: 'note', id: 'attnlab-note' }, fields.note) : null;
    root.append(header, controls, status,
      el('div', { class: 'scan-top' }, el('div', { class: 'scroll' }, canvas), ranked),
      sidesTitle, note, sidesRow, help);

    function buildControls() {
      controls.textContent = '';
      const choices = [['raw', 'Raw effect (patched − target)']];
      if (hasSource) choices.unshift(['normalized', 'Normalised (0 = target, 1 = source)']);
      controls.append(AttnLab.select('Colour by', choices, state.values, (value) => {
        state.values = value;
        drawGrid();
        buildRanked();
        updateStatus();
      }, { id: 'attnlab-values' }));
      controls.append(AttnLab.exportButtons(drawing, () => 'attnlab-scan-' + scan.site + '-' + state.values));
    }

    // ---- the grid, through a painter (screen and export) ----
    let drawn = null;
    function paintGrid(painter, withTitle) {
      const theme = AttnLab.theme(), g = geometry, end = scaleEnd();
      const stats = { cells: 0, strongest: null, signature: 0 };
      if (withTitle) AttnLab.paintTitle(painter, fields, 110);
      painter.text(g.left + (columns * g.cellWidth) / 2, 34 - 14, isHeads ? 'Head' : 'Word', { colour: theme.muted, size: 11, align: 'center' });
      for (let c = 0; c < columns; c++) {
        const x = g.left + (c + 0.5) * g.cellWidth;
        if (isHeads) painter.text(x, g.top - 9, scan.columns[c], { colour: theme.text, size: 11, align: 'center' });
        else painter.text(x, g.top - 5, scan.columns[c], { colour: theme.text, size: 11, align: 'left', rotate: -90 });
      }
      for (let r = 0; r < rows; r++) {
        const y = g.top + r * g.cellHeight;
        painter.text(g.left - 8, y + g.cellHeight / 2, 'Layer ' + scan.layers[r], { colour: theme.text, size: 11, align: 'right' });
        for (let c = 0; c < columns; c++) {
          const x = g.left + c * g.cellWidth;
          const value = valueOf(r, c);
          const { colour, alpha } = colourOf(value, end);
          painter.rect(x + 1, y + 1, g.cellWidth - 2, g.cellHeight - 2, theme.panel, 1);
          painter.rect(x + 1, y + 1, g.cellWidth - 2, g.cellHeight - 2, colour, alpha);
          if (value === null) painter.text(x + g.cellWidth / 2, y + g.cellHeight / 2, '×', { colour: theme.muted, size: 11, align: 'center' });
          stats.cells++;
          stats.signature = (stats.signature + Math.round(alpha * 255) * (r * 131 + c + 7) * (colour === theme.positive ? 1 : 3)) % 1000000007;
          const rank = rankOf.get(scan.layers[r] + ',' + c);
          if (rank !== undefined && rank < 5 && value !== null) {
            painter.text(x + g.cellWidth / 2, y + g.cellHeight / 2, formatValue(value, state.values).replace(/^\+?0\./, '.').replace(/^-0\./, '−.'),
              { colour: alpha > 0.55 ? '#ffffff' : theme.text, size: 10, align: 'center', bold: rank === 0 });
          }
        }
      }
      const outline = (cell, width) => {
        const r = scan.layers.indexOf(cell.layer);
        if (r >= 0) painter.rect(g.left + cell.column * g.cellWidth + 0.5, g.top + r * g.cellHeight + 0.5, g.cellWidth - 1, g.cellHeight - 1, theme.focus, 1, width);
      };
      if (state.hover) outline(state.hover, 1);
      if (state.open) outline(state.open, 2.5);
      // The scale: orange (away from the source) through nothing to blue (towards it).
      const barX = g.left, barY = g.gridBottom + 14, barWidth = g.barWidth, steps = 24;
      for (let i = 0; i < steps; i++) {
        const t = (i + 0.5) / steps * 2 - 1;
        painter.rect(barX + (i * barWidth) / steps, barY, barWidth / steps + 0.5, 10, t >= 0 ? theme.positive : theme.negative, Math.abs(t));
      }
      painter.rect(barX, barY, barWidth, 10, theme.grid, 1, 1);
      const label = scaleLabels[state.values];
      painter.text(barX, barY + 22, '−' + formatValue(end, state.values).replace('+', ''), { colour: theme.muted, size: 10, align: 'left' });
      painter.text(barX + barWidth / 2, barY + 22, '0', { colour: theme.muted, size: 10, align: 'center' });
      painter.text(barX + barWidth, barY + 22, formatValue(end, state.values), { colour: theme.muted, size: 10, align: 'right' });
      painter.text(barX + barWidth + 12, barY + 5, label, { colour: theme.muted, size: 11, align: 'left' });
      stats.end = end;
      return stats;
    }

    function drawGrid() {
      const context = AttnLab.sizedCanvas(canvas, geometry.width, geometry.height);
      drawn = paintGrid(new AttnLab.CanvasPainter(context), false);
    }

    /** What the export buttons save: the title and the grid with its scale, open cell outlined. */
    function drawing() {
      return {
        width: Math.max(geometry.width, 520), height: geometry.height + 20,
        draw(painter) {
          painter.translate(0, 20);
          paintGrid(painter, false);
          painter.translate(0, -20);
          AttnLab.paintTitle(painter, fields, 110);
        },
      };
    }

    /** The cell under a mouse event, or null. */
    function cellAt(event) {
      const rect = canvas.getBoundingClientRect();
      const x = event.clientX - rect.left - geometry.left, y = event.clientY - rect.top - geometry.top;
      const column = Math.floor(x / geometry.cellWidth), row = Math.floor(y / geometry.cellHeight);
      if (x < 0 || y < 0 || column >= columns || row >= rows) return null;
      return { layer: scan.layers[row], column };
    }
    canvas.addEventListener('mousemove', (event) => {
      const cell = cellAt(event);
      const same = (cell && state.hover && cell.layer === state.hover.layer && cell.column === state.hover.column) || (!cell && !state.hover);
      if (same) return;
      state.hover = cell;
      canvas.style.cursor = cell ? 'pointer' : 'default';
      drawGrid();
      updateStatus();
    });
    canvas.addEventListener('mouseleave', () => {
      if (!state.hover) return;
      state.hover = null;
      drawGrid();
      updateStatus();
    });
    canvas.addEventListener('click', (event) => {
      const cell = cellAt(event);
      if (cell) open(cell.layer, cell.column);
    });

    function describe(cell) {
      const row = scan.layers.indexOf(cell.layer);
      const rank = rankOf.get(cell.layer + ',' + cell.column);
      let text = (isHeads ? 'Layer ' + cell.layer + ', head ' + scan.columns[cell.column] : 'Layer ' + cell.layer + ', ' + scan.columns[cell.column]) +
        ': effect ' + formatValue(scan.effects[row][cell.column], 'raw');
      if (hasSource) text += ', normalised ' + formatValue(scan.normalized[row][cell.column], 'normalized');
      if (skipped.has(cell.layer + ',' + cell.column)) text += ' (could not be patched: the word is split differently in the two inputs)';
      else if (rank !== undefined) text += ' · rank ' + (rank + 1) + ' of ' + fields.ranked.length;
      return text;
    }

    function updateStatus() {
      const parts = [];
      if (state.hover) parts.push(describe(state.hover));
      else if (state.open) parts.push('Open: ' + describe(state.open));
      else parts.push(rows + ' layers × ' + columns + (isHeads ? ' heads' : ' words') + '; click a cell to open it');
      status.textContent = parts.join(' · ');
    }

    // ---- ranked cells ----
    function buildRanked() {
      ranked.textContent = '';
      ranked.append(el('caption', null, 'Strongest cells'));
      ranked.append(el('tr', null, el('th', null, '#'), el('th', null, 'cell'), el('th', null, 'effect'), hasSource ? el('th', null, 'normalised') : null));
      fields.ranked.slice(0, 10).forEach((cell, index) => {
        const row = el('tr', {
          class: 'ranked-cell', data: { layer: String(cell.layer), column: String(cell.column) }, title: 'Open ' + cell.name,
          onclick: () => open(cell.layer, cell.column),
        }, el('td', null, String(index + 1)), el('td', null, cell.name), el('td', null, formatValue(cell.effect, 'raw')),
        hasSource ? el('td', null, formatValue(cell.normalized, 'normalized')) : null);
        if (state.open && state.open.layer === cell.layer && state.open.column === cell.column) row.classList.add('current');
        ranked.append(row);
      });
    }

    // ---- the two head views ----
    const sides = [];
    let mirroring = false;
    /** The token of the other side that `index` of side `from` corresponds to (through the words). */
    function counterpart(from, index) {
      for (const [target, source] of fields.tokenMap) {
        if (from === 0 && target === index) return source;
        if (from === 1 && source === index) return target;
      }
      return null;
    }
    function mirror(from, focus, pinned) {
      if (mirroring || sides.length < 2) return;
      const other = sides[1 - from];
      if (other.view.state.stack !== 'encoder' || sides[from].view.state.stack !== 'encoder') return;
      const index = focus ? counterpart(from, focus.index) : null;
      mirroring = true;
      try {
        other.view.diagram.setFocus(index === null ? null : { side: focus.side, index }, pinned);
      } finally {
        mirroring = false;
      }
    }

    function ensureSides() {
      if (sides.length) return;
      fields.sides.forEach((side, index) => {
        const body = el('div');
        const value = typeof side.value === 'number' ? ' · ' + scan.metric + ' ' + side.value.toFixed(4) : '';
        const element = el('div', { class: 'scan-side', data: { role: side.role } },
          el('h4', null, (side.role === 'target' ? 'Target' : 'Source') + ': ' + side.name + value), body);
        sidesRow.append(element);
        const view = AttnLab.views.head(body, side.data, { keys: false, linesWidth: 180, onFocus: (focus, pinned) => mirror(index, focus, pinned) });
        // Two head views in one page: keep their element ids apart.
        for (const node of body.querySelectorAll('[id]')) node.id = side.role + '-' + node.id;
        sides.push({ side, element, view });
      });
    }

    function open(layer, column) {
      state.open = { layer, column };
      ensureSides();
      const heads = isHeads ? [Number(scan.columns[column])] : [];
      sides.forEach((entry, index) => {
        const token = fields.columnTokens ? fields.columnTokens[column][index] : undefined;
        entry.view.show(layer, heads, token === undefined ? undefined : token);
      });
      sidesTitle.textContent = (isHeads ? 'Layer ' + layer + ', head ' + scan.columns[column] : 'Layer ' + layer + ', ' + scan.columns[column] + ' (all heads)') +
        (sides.length > 1 ? ': target and source' : ': target');
      drawGrid();
      buildRanked();
      updateStatus();
    }

    buildControls();
    drawGrid();
    buildRanked();
    if (fields.initial.cell) open(fields.initial.cell[0], fields.initial.cell[1]);
    updateStatus();

    // What the self-test (scan.selftest.js) reads and drives.
    return { state, canvas, geometry, sides, open, drawing, valueOf, colourOf, scaleEnd, stats: () => drawn, counterpart, ranked };
  };
})();
