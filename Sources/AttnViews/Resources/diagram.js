// AttnLab views: the attention diagram (tokens on the left attend to tokens on the right, one
// line per pair, opacity = weight, one colour per head), shared by the head view and the model
// view's enlarged cell. Lines go on a canvas, tokens are DOM text laid over it.
(function () {
  'use strict';
  const AttnLab = window.AttnLab;
  const { el, weightOf } = AttnLab;

  /** Token positions shown on each side for a stack and a sentence filter. */
  AttnLab.sides = function (stack, filter, isPair) {
    const pick = (tokens, segment) => {
      const out = [];
      for (let i = 0; i < tokens.length; i++) if (segment === null || tokens[i].segment === segment) out.push(i);
      return out;
    };
    let left = null, right = null;
    if (isPair && stack.kind === 'encoder' && filter && filter !== 'all') {
      left = filter[0] === 'a' ? 0 : 1;
      right = filter[1] === 'a' ? 0 : 1;
    }
    return { left: pick(stack.queryTokenList, left), right: pick(stack.keyTokenList, right) };
  };

  // Scratch space reused between draws: one entry per candidate line.
  let scratchPairs = new Uint32Array(0), scratchCodes = new Uint8Array(0), scratchOrder = new Uint32Array(0);
  let scratchCoords = new Float32Array(0);
  const histogram = new Uint32Array(256);

  /**
   * Draws the attention lines of `heads` (model numbers) of one layer through `painter`.
   * geometry: {x1, x2, top, rowHeight, lineWidth}; left/right: token indices shown on each side;
   * focus: {side, index} or null; returns stats of what was drawn, for the self-test.
   */
  AttnLab.drawAttentionLines = function (painter, stack, layer, heads, left, right, geometry, options, focus, colours) {
    const stats = { lines: 0, painted: 0, perHead: {}, minWeight: Infinity, maxPerRow: 0, leftUsed: new Set(), rightUsed: new Set(), signature: 0 };
    // Lines wholly above or below the clip window are counted but not painted.
    const clipTop = geometry.clipTop === undefined ? -Infinity : geometry.clipTop;
    const clipBottom = geometry.clipBottom === undefined ? Infinity : geometry.clipBottom;
    const minCode = AttnLab.codeAtLeast(options.threshold || 0);
    const topK = options.topK > 0 && options.topK < right.length ? options.topK : 0;
    const K = stack.keys;
    const bytes = stack.bytes;
    let rows = left.map((_, p) => p), cols = right.map((_, q) => q);
    if (focus && focus.side === 'left') rows = rows.filter((p) => left[p] === focus.index);
    if (focus && focus.side === 'right') cols = cols.filter((q) => right[q] === focus.index);
    const capacity = rows.length * cols.length;
    if (scratchPairs.length < capacity) {
      scratchPairs = new Uint32Array(capacity);
      scratchCodes = new Uint8Array(capacity);
      scratchOrder = new Uint32Array(capacity);
    }
    const focusColumn = focus && focus.side === 'right' ? cols[0] : -1;
    const rightRowHeight = geometry.rightRowHeight || geometry.rowHeight;
    for (const head of heads) {
      const base = stack.matrixOffset(layer, head);
      let count = 0;
      for (const p of rows) {
        const rowBase = base + left[p] * K;
        // Top-k: the cut-off code of this row, and how many lines at exactly the cut-off may pass.
        let cutoff = minCode, equalAllowed = Infinity;
        if (topK) {
          histogram.fill(0);
          for (let q = 0; q < right.length; q++) histogram[bytes[rowBase + right[q]]]++;
          let above = 0;
          for (let c = 255; c >= minCode; c--) {
            if (above + histogram[c] >= topK) { cutoff = c; equalAllowed = topK - above; break; }
            above += histogram[c];
          }
        }
        let equalSeen = 0, rowCount = 0;
        if (focusColumn >= 0 && topK) {
          // Whether the focused key survives top-k depends on the keys before it in the row.
          for (let q = 0; q < focusColumn; q++) if (bytes[rowBase + right[q]] === cutoff) equalSeen++;
        }
        for (const q of cols) {
          const code = bytes[rowBase + right[q]];
          if (code < cutoff) continue;
          if (code === cutoff && topK) {
            if (equalSeen >= equalAllowed) continue;
            equalSeen++;
          }
          scratchPairs[count] = (p << 16) | q;
          scratchCodes[count] = code;
          count++;
          rowCount++;
        }
        if (rowCount > stats.maxPerRow) stats.maxPerRow = rowCount;
      }
      stats.perHead[head] = count;
      stats.lines += count;
      if (count === 0) continue;
      // Counting sort by code, so that each opacity is one path, weakest drawn first.
      histogram.fill(0);
      for (let i = 0; i < count; i++) histogram[scratchCodes[i]]++;
      const starts = new Uint32Array(257);
      for (let c = 0; c < 256; c++) starts[c + 1] = starts[c] + histogram[c];
      const fill = starts.slice(0, 256);
      for (let i = 0; i < count; i++) scratchOrder[fill[scratchCodes[i]]++] = i;
      if (scratchCoords.length < count * 4) scratchCoords = new Float32Array(count * 4);
      const colour = colours(head);
      for (let c = 0; c < 256; c++) {
        const n = starts[c + 1] - starts[c];
        if (!n) continue;
        let k = 0;
        for (let s = starts[c]; s < starts[c + 1]; s++) {
          const pair = scratchPairs[scratchOrder[s]];
          const p = pair >>> 16, q = pair & 0xffff;
          stats.leftUsed.add(left[p]);
          stats.rightUsed.add(right[q]);
          stats.signature = (stats.signature + c * (p * 31 + q + 7) * (head + 1)) % 1000000007;
          const y1 = geometry.top + (p + 0.5) * geometry.rowHeight, y2 = geometry.top + (q + 0.5) * rightRowHeight;
          if ((y1 < clipTop && y2 < clipTop) || (y1 > clipBottom && y2 > clipBottom)) continue;
          scratchCoords[k++] = geometry.x1;
          scratchCoords[k++] = y1;
          scratchCoords[k++] = geometry.x2;
          scratchCoords[k++] = y2;
        }
        if (weightOf[c] < stats.minWeight) stats.minWeight = weightOf[c];
        stats.painted += k / 4;
        const opacity = options.codeScale ? weightOf[options.codeScale[c]] : weightOf[c];
        if (k) painter.lines(colour, opacity, geometry.lineWidth, scratchCoords, k / 4);
      }
    }
    return stats;
  };

  /**
   * A head's attention as a small image: one pixel per block of queries × keys, the block's
   * strongest weight as the opacity of the head's colour (opacity ∝ √weight, the stored byte).
   * With `normalise`, the opacities are scaled so that the strongest cell shown is opaque (the
   * model view does this once it has left out an attention sink).
   */
  AttnLab.matrixImage = function (stack, layer, head, left, right, size, colour, normalise) {
    const rows = Math.min(size, left.length), cols = Math.min(size, right.length);
    const canvas = document.createElement('canvas');
    canvas.width = Math.max(cols, 1);
    canvas.height = Math.max(rows, 1);
    const context = canvas.getContext('2d');
    const image = context.createImageData(canvas.width, canvas.height);
    const r = parseInt(colour.slice(1, 3), 16), g = parseInt(colour.slice(3, 5), 16), b = parseInt(colour.slice(5, 7), 16);
    const base = stack.matrixOffset(layer, head), K = stack.keys, bytes = stack.bytes;
    const colOf = new Uint32Array(right.length);
    for (let q = 0; q < right.length; q++) colOf[q] = Math.floor((q * cols) / right.length);
    // The strongest code of each pixel's block, one byte per pixel; a causal stack's keys after
    // the query are masked (0), so a row stops there (the sides list tokens in order).
    const strongest = new Uint8Array(rows * cols);
    const causal = !!stack.causal && stack.queryTokens === stack.keyTokens;
    let top = 0;
    for (let p = 0; p < left.length; p++) {
      const y = Math.floor((p * rows) / left.length) * cols;
      const rowBase = base + left[p] * K;
      const last = causal ? left[p] : Infinity;
      for (let q = 0; q < right.length && right[q] <= last; q++) {
        const code = bytes[rowBase + right[q]];
        const o = y + colOf[q];
        if (code > strongest[o]) {
          strongest[o] = code;
          if (code > top) top = code;
        }
      }
    }
    // Normalised, codes are scaled so that the strongest shown becomes 255 (b ∝ √weight, so every
    // weight is scaled by the same factor).
    const factor = normalise && top > 0 ? 255 / top : 1;
    const pixels = image.data;
    let painted = 0;
    for (let o = 0; o < strongest.length; o++) {
      if (!strongest[o]) continue;
      painted++;
      pixels[4 * o] = r; pixels[4 * o + 1] = g; pixels[4 * o + 2] = b;
      pixels[4 * o + 3] = Math.min(255, Math.round(strongest[o] * factor));
    }
    context.putImageData(image, 0, 0);
    canvas.painted = painted;
    return canvas;
  };

  AttnLab.identityCodes = new Uint8Array(256).map((_, b) => b);

  /**
   * Codes scaled so that the strongest of (layer, head) among the shown queries and keys becomes
   * 255: `b → round(255·b / max)`, which scales each weight by the same factor (b ∝ √weight).
   */
  AttnLab.codeScale = function (stack, layer, head, left, right) {
    const base = stack.matrixOffset(layer, head), K = stack.keys, bytes = stack.bytes;
    const causal = !!stack.causal && stack.queryTokens === stack.keyTokens;
    let strongest = 0;
    for (let p = 0; p < left.length && strongest < 255; p++) {
      const rowBase = base + left[p] * K, last = causal ? left[p] : Infinity;
      for (let q = 0; q < right.length && right[q] <= last; q++) if (bytes[rowBase + right[q]] > strongest) strongest = bytes[rowBase + right[q]];
    }
    if (strongest === 0 || strongest === 255) return AttnLab.identityCodes;
    const table = new Uint8Array(256);
    for (let b = 0; b < 256; b++) table[b] = Math.min(255, Math.round((b * 255) / strongest));
    return table;
  };

  /**
   * The interactive diagram: tokens as text on both sides, lines between on a canvas. The owner
   * calls render(state) with {stack, layer, heads, filter, threshold, topK}; hover and pinning are
   * kept here. Hovering a token isolates its lines and shades the other side by weight, per head.
   */
  class AttentionDiagram {
    constructor(data, options) {
      this.data = data;
      this.options = options || {};
      this.focus = null;
      this.pinned = false;
      this.canvas = el('canvas', { class: 'lines' });
      this.leftColumn = el('div', { class: 'tokens left' });
      this.rightColumn = el('div', { class: 'tokens right' });
      this.element = el('div', { class: 'diagram' }, this.canvas, this.leftColumn, this.rightColumn);
      this.layoutKey = null;
      this.cache = null;
      this.stats = null;
      this.window = null;
      // Long inputs make a tall diagram: the canvas covers a window around what is visible and
      // follows scrolling (of the page or of any scrolling ancestor).
      let scheduled = false;
      AttnLab.listen(document, 'scroll', () => {
        if (scheduled || !this.state || !this.element.isConnected) return;
        scheduled = true;
        requestAnimationFrame(() => {
          scheduled = false;
          if (this.needsNewWindow()) this.draw();
        });
      }, { capture: true, passive: true });
      AttnLab.listen(window, 'resize', () => { if (this.state && this.needsNewWindow()) this.draw(); });
      for (const [column, side] of [[this.leftColumn, 'left'], [this.rightColumn, 'right']]) {
        column.addEventListener('mouseover', (event) => {
          const token = event.target.closest('.token');
          if (token && !this.pinned) this.setFocus({ side, index: Number(token.dataset.index) }, false);
        });
        column.addEventListener('mouseleave', () => { if (!this.pinned) this.setFocus(null, false); });
        column.addEventListener('click', (event) => {
          const token = event.target.closest('.token');
          if (!token) return;
          const index = Number(token.dataset.index);
          const same = this.pinned && this.focus && this.focus.side === side && this.focus.index === index;
          this.setFocus(same ? null : { side, index }, !same);
        });
      }
    }

    colours(stack) {
      return (head) => AttnLab.headColour(head, stack.modelHeads);
    }

    setFocus(focus, pinned) {
      this.focus = focus;
      this.pinned = !!(focus && pinned);
      if (this.state) this.draw();
      if (this.options.onFocus) this.options.onFocus(this.focus, this.pinned);
    }

    /** Lays out tokens (when the stack or filter changed) and draws. */
    render(state) {
      this.state = state;
      const stack = this.data.stacks[state.stack];
      const key = state.stack + '|' + state.filter;
      if (key !== this.layoutKey) {
        this.layoutKey = key;
        this.layout(stack, state);
        if (this.focus && !(this.focus.side === 'left' ? this.sides.left : this.sides.right).includes(this.focus.index)) {
          this.focus = null;
          this.pinned = false;
        }
      }
      this.draw();
    }

    layout(stack, state) {
      this.sides = AttnLab.sides(stack, state.filter, this.data.isPair);
      const rows = Math.max(this.sides.left.length, this.sides.right.length, 1);
      const rowHeight = rows <= 40 ? 22 : rows <= 128 ? 18 : 15;
      const fontSize = rowHeight >= 18 ? 13 : 11;
      const widthOf = (tokens, indices) => {
        let widest = 0;
        // Bold, because a focused token is shown bold.
        for (const i of indices) widest = Math.max(widest, AttnLab.textWidth(AttnLab.tokenLabel(tokens[i]), fontSize, true));
        return Math.min(Math.max(Math.ceil(widest) + 16, 40), 180);
      };
      const leftWidth = widthOf(stack.queryTokenList, this.sides.left);
      const rightWidth = widthOf(stack.keyTokenList, this.sides.right);
      const linesWidth = this.options.linesWidth || 240;
      this.geometry = { rowHeight, fontSize, leftWidth, rightWidth, linesWidth, top: 4, width: leftWidth + linesWidth + rightWidth, height: rows * rowHeight + 8 };
      const g = this.geometry;
      Object.assign(this.element.style, { width: g.width + 'px', height: g.height + 'px' });
      const fill = (column, tokens, indices, width, x) => {
        column.textContent = '';
        Object.assign(column.style, { left: x + 'px', top: g.top + 'px', width: width + 'px', fontSize: fontSize + 'px' });
        const fragment = document.createDocumentFragment();
        for (const i of indices) {
          const token = tokens[i];
          fragment.append(el('div', {
            class: 'token' + (token.special ? ' special' : '') + (token.segment ? ' segment-b' : ''),
            title: AttnLab.tokenTitle(token, i),
            data: { index: String(i) },
            style: { height: rowHeight + 'px', lineHeight: rowHeight + 'px' },
          }, AttnLab.tokenLabel(token)));
        }
        column.append(fragment);
      };
      fill(this.leftColumn, stack.queryTokenList, this.sides.left, leftWidth, 0);
      fill(this.rightColumn, stack.keyTokenList, this.sides.right, rightWidth, leftWidth + linesWidth);
      this.cache = null;
    }

    /** The part of the diagram (its own coordinates) that is on screen. */
    visibleRange() {
      const rect = this.element.getBoundingClientRect();
      const viewport = window.innerHeight || document.documentElement.clientHeight || 900;
      const top = Math.max(0, -rect.top), bottom = Math.min(this.geometry.height, viewport - rect.top);
      return { top: Math.min(top, this.geometry.height), bottom: Math.max(bottom, Math.min(top, this.geometry.height)), viewport };
    }

    /** The canvas window for what is visible: the whole diagram when it is short, else the visible part and a screen above and below. */
    chooseWindow() {
      const g = this.geometry;
      const visible = this.visibleRange();
      const height = Math.max(2 * visible.viewport + (visible.bottom - visible.top), 1800);
      if (g.height <= height) return { top: 0, height: g.height };
      const top = Math.max(0, Math.min(g.height - height, Math.round(visible.top - visible.viewport)));
      return { top, height };
    }

    needsNewWindow() {
      if (!this.window) return true;
      const visible = this.visibleRange();
      const w = this.window;
      return (visible.top < w.top && w.top > 0) || (visible.bottom > w.top + w.height && w.top + w.height < this.geometry.height);
    }

    /** Draws on screen. Leaving a token is instant: the unfocused drawing is copied before focusing. */
    draw() {
      const g = this.geometry, state = this.state;
      this.window = this.chooseWindow();
      const cacheKey = [state.stack, state.layer, state.heads.join(','), state.filter, state.threshold, state.topK, g.width, g.height, this.window.top, this.window.height].join('|');
      for (const [column, side] of [[this.leftColumn, 'left'], [this.rightColumn, 'right']]) {
        for (const node of column.querySelectorAll('.token.focus')) node.classList.remove('focus', 'pinned');
        if (this.focus && this.focus.side === side) {
          const node = column.querySelector('.token[data-index="' + this.focus.index + '"]');
          if (node) node.classList.add('focus', ...(this.pinned ? ['pinned'] : []));
        }
      }
      if (this.focus && this.shown && this.shown.key === cacheKey && !this.shown.focused && (!this.cache || this.cache.key !== cacheKey)) {
        const copy = this.cache ? this.cache.canvas : document.createElement('canvas');
        copy.width = this.canvas.width;
        copy.height = this.canvas.height;
        copy.getContext('2d').drawImage(this.canvas, 0, 0);
        this.cache = { key: cacheKey, canvas: copy, stats: this.stats };
      }
      const context = AttnLab.sizedCanvas(this.canvas, g.width, this.window.height);
      this.canvas.style.top = this.window.top + 'px';
      this.shown = { key: cacheKey, focused: !!this.focus };
      if (!this.focus && this.cache && this.cache.key === cacheKey) {
        context.save();
        context.setTransform(1, 0, 0, 1, 0, 0);
        context.drawImage(this.cache.canvas, 0, 0);
        context.restore();
        this.stats = this.cache.stats;
        return;
      }
      const painter = new AttnLab.CanvasPainter(context);
      painter.translate(0, -this.window.top);
      this.stats = this.paint(painter, false, this.window);
    }

    /** The drawing itself, for the screen (tokens are DOM; only `clip` is painted) or an export (everything, tokens as text). */
    paint(painter, withText, clip) {
      const g = this.geometry, state = this.state, theme = AttnLab.theme();
      const stack = this.data.stacks[state.stack];
      const colours = this.colours(stack);
      const heads = state.heads;
      const focus = this.focus;
      let shaded = 0;
      const rightX = g.leftWidth + g.linesWidth;
      if (focus) {
        // Shade the other side by weight: one strip per selected head.
        const otherIndices = focus.side === 'left' ? this.sides.right : this.sides.left;
        const x0 = focus.side === 'left' ? rightX : 0;
        const width = focus.side === 'left' ? g.rightWidth : g.leftWidth;
        const strip = heads.length ? width / heads.length : width;
        otherIndices.forEach((j, position) => {
          heads.forEach((head, k) => {
            const weight = focus.side === 'left' ? stack.weight(state.layer, head, focus.index, j) : stack.weight(state.layer, head, j, focus.index);
            if (weight <= 0) return;
            painter.rect(x0 + k * strip, g.top + position * g.rowHeight + 1, strip, g.rowHeight - 2, colours(head), Math.min(1, weight));
            shaded++;
          });
        });
        const own = (focus.side === 'left' ? this.sides.left : this.sides.right).indexOf(focus.index);
        if (own >= 0) {
          painter.rect((focus.side === 'left' ? 0 : rightX) + 1, g.top + own * g.rowHeight + 1,
            (focus.side === 'left' ? g.leftWidth : g.rightWidth) - 2, g.rowHeight - 2, theme.focus, 0.9, this.pinned ? 2 : 1);
        }
      }
      // Two-pixel lines as BertViz draws them while there are few; hairlines, which rasterise about
      // twenty times faster without a GPU, when there are many.
      const candidates = (focus ? 1 : Math.min(this.sides.left.length, this.sides.right.length)) * Math.max(this.sides.left.length, this.sides.right.length) * heads.length;
      const geometry = { x1: g.leftWidth - 2, x2: rightX + 2, top: g.top, rowHeight: g.rowHeight, lineWidth: candidates <= 6000 ? 2 : 1,
        clipTop: clip ? clip.top : undefined, clipBottom: clip ? clip.top + clip.height : undefined };
      const stats = AttnLab.drawAttentionLines(painter, stack, state.layer, heads, this.sides.left, this.sides.right,
        geometry, state, focus, colours);
      stats.shaded = shaded;
      if (withText) {
        const label = (tokens, indices, x, align) => indices.forEach((i, position) => {
          painter.text(x, g.top + (position + 0.5) * g.rowHeight, AttnLab.tokenLabel(tokens[i]),
            { colour: tokens[i].special ? theme.muted : theme.text, size: g.fontSize, align, bold: !!(focus && focus.index === i && (align === 'right') === (focus.side === 'left')) });
        });
        label(stack.queryTokenList, this.sides.left, g.leftWidth - 8, 'right');
        label(stack.keyTokenList, this.sides.right, rightX + 8, 'left');
      }
      return stats;
    }
  }
  AttnLab.AttentionDiagram = AttentionDiagram;
})();
