// AttnLab views, shared core: reads the payload, decodes the packed numbers, draws through
// painters (canvas on screen, canvas or SVG for export), builds controls, runs the self-test.
// Tokens are data: they only ever reach the page through textContent, attributes set as
// properties, or XML-escaped SVG text.
(function () {
  'use strict';
  const AttnLab = (window.AttnLab = window.AttnLab || {});

  // ---- errors: collected for the self-test and shown to the reader ----
  const errors = (AttnLab.errors = []);
  window.addEventListener('error', (event) => {
    errors.push(String(event.message || event.error || 'error'));
  });
  window.addEventListener('unhandledrejection', (event) => {
    const reason = event.reason;
    errors.push('unhandled rejection: ' + (reason && reason.message ? reason.message : String(reason)));
  });
  const consoleError = console.error.bind(console);
  console.error = function (...args) {
    errors.push(args.map(String).join(' '));
    consoleError(...args);
  };

  const timings = (AttnLab.timings = { scriptStart: performance.now() });

  // ---- listeners of the view drawn now ----
  // A view's document and window listeners go through here, so that drawing the view again from
  // new data (see 'a host page feeding new data' below) drops the old view's listeners with it.
  const viewListeners = [];
  const listening = new Set();
  /** Adds `handler` for `type` events on `target` (document or window) until the view is drawn again. */
  AttnLab.listen = function (target, type, handler, options) {
    const key = (target === window ? 'window:' : 'document:') + type + (options && options.capture ? ':capture' : '');
    if (!listening.has(key)) {
      listening.add(key);
      target.addEventListener(type, (event) => {
        for (const entry of viewListeners.slice()) if (entry.key === key) entry.handler(event);
      }, options);
    }
    viewListeners.push({ key, handler });
  };

  // ---- DOM helpers ----
  /** An element with properties and children; strings become text nodes, never markup. */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [key, value] of Object.entries(props)) {
        if (value === undefined || value === null) continue;
        if (key === 'class') node.className = value;
        else if (key === 'style') Object.assign(node.style, value);
        else if (key === 'data') Object.assign(node.dataset, value);
        else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
        else if (key.includes('-')) node.setAttribute(key, String(value));
        else node[key] = value;
      }
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return node;
  }
  AttnLab.el = el;

  // ---- theme and colours ----
  const themes = {
    dark: { background: '#111418', panel: '#1b2027', text: '#e6e6e6', muted: '#8a939e', grid: '#2c333d', focus: '#ffffff', line: '#e6e6e6', positive: '#3d8bfd', negative: '#f28c28' },
    light: { background: '#ffffff', panel: '#f3f4f6', text: '#1d2127', muted: '#6b7280', grid: '#d9dde3', focus: '#000000', line: '#1d2127', positive: '#1565c0', negative: '#e8710a' },
  };
  AttnLab.theme = () => themes[document.body.classList.contains('mode-light') ? 'light' : 'dark'];
  AttnLab.font = '"DejaVu Sans", "Helvetica Neue", Arial, sans-serif';

  /** A distinct colour per head number; evenly spaced hues, alternating lightness. */
  AttnLab.headColour = function (head, modelHeads) {
    const count = Math.max(modelHeads || 12, 1);
    const hue = Math.round((head * 360) / count + 10) % 360;
    const light = head % 2 === 0 ? 55 : 45;
    return hslToHex(hue, 78, light);
  };
  function hslToHex(h, s, l) {
    s /= 100;
    l /= 100;
    const k = (n) => (n + h / 30) % 12;
    const a = s * Math.min(l, 1 - l);
    const f = (n) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
    const hex = (x) => Math.round(x * 255).toString(16).padStart(2, '0');
    return '#' + hex(f(0)) + hex(f(8)) + hex(f(4));
  }

  // ---- decoding ----
  /** Attention bytes back to weights: b → (b/255)². */
  const weightOf = new Float32Array(256);
  for (let b = 0; b < 256; b++) weightOf[b] = (b / 255) * (b / 255);
  AttnLab.weightOf = weightOf;
  /** The smallest byte whose weight is at least `threshold`. */
  AttnLab.codeAtLeast = function (threshold) {
    if (threshold <= 0) return 1;
    for (let b = 1; b < 256; b++) if (weightOf[b] >= threshold - 1e-9) return b;
    return 256;
  };

  let halfTable = null;
  function halfToFloat(bits) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const fraction = bits & 0x3ff;
    if (exponent === 0) return sign * Math.pow(2, -14) * (fraction / 1024);
    if (exponent === 31) return fraction ? NaN : sign * Infinity;
    return sign * Math.pow(2, exponent - 15) * (1 + fraction / 1024);
  }

  function base64Bytes(text) {
    if (typeof Uint8Array.fromBase64 === 'function') return Uint8Array.fromBase64(text);
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  // Deflate (RFC 1951) inside zlib (RFC 1950), decoded synchronously so that the first draw
  // happens while the page loads. Handles every block type, not only what AttnLab writes.
  const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
  const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
  const DISTANCE_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
  const DISTANCE_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
  const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

  /** A lookup table for a canonical Huffman code: entry = symbol << 4 | length, indexed by the next maxBits bits. */
  function huffmanTable(lengths) {
    let maxBits = 0;
    for (const length of lengths) if (length > maxBits) maxBits = length;
    if (maxBits === 0) return { table: new Uint32Array(1), maxBits: 1 };
    const counts = new Uint16Array(maxBits + 1);
    for (const length of lengths) if (length) counts[length]++;
    const next = new Uint32Array(maxBits + 2);
    let code = 0;
    for (let bits = 1; bits <= maxBits; bits++) {
      code = (code + counts[bits - 1]) << 1;
      next[bits] = code;
    }
    const table = new Uint32Array(1 << maxBits);
    for (let symbol = 0; symbol < lengths.length; symbol++) {
      const length = lengths[symbol];
      if (!length) continue;
      let c = next[length]++, reversed = 0;
      for (let i = 0; i < length; i++) { reversed = (reversed << 1) | (c & 1); c >>= 1; }
      for (let i = reversed; i < table.length; i += 1 << length) table[i] = (symbol << 4) | length;
    }
    return { table, maxBits };
  }

  /** Decodes the zlib stream `input` into `out`, which it must fill exactly. */
  function inflate(input, out) {
    const damaged = (why) => new Error('the view\'s data is damaged (' + why + '); write the page again');
    if (input.length < 6 || (input[0] & 0x0f) !== 8 || ((input[0] << 8) | input[1]) % 31 !== 0 || input[1] & 0x20) throw damaged('not a zlib stream');
    let position = 2, bitBuffer = 0, bitCount = 0, written = 0, final = 0;
    const fill = (n) => {
      while (bitCount < n) {
        if (position >= input.length) throw damaged('the stream ends early');
        bitBuffer |= input[position++] << bitCount;
        bitCount += 8;
      }
    };
    const bits = (n) => {
      fill(n);
      const value = bitBuffer & ((1 << n) - 1);
      bitBuffer >>>= n;
      bitCount -= n;
      return value;
    };
    const decodeSymbol = (code) => {
      // Near the end of the stream fewer than maxBits may remain; pad with zeros.
      while (bitCount < code.maxBits && position < input.length) { bitBuffer |= input[position++] << bitCount; bitCount += 8; }
      const entry = code.table[bitBuffer & ((1 << code.maxBits) - 1)];
      const length = entry & 15;
      if (!length || length > bitCount) throw damaged('an invalid code');
      bitBuffer >>>= length;
      bitCount -= length;
      return entry >>> 4;
    };
    let fixedCodes = null;
    while (!final) {
      final = bits(1);
      const type = bits(2);
      if (type === 0) {
        // Stored block: drop the rest of this byte, and give back whole bytes already buffered.
        position -= bitCount >> 3;
        bitBuffer = 0;
        bitCount = 0;
        const length = input[position] | (input[position + 1] << 8);
        position += 4;
        if (written + length > out.length || position + length > input.length) throw damaged('a stored block is too long');
        out.set(input.subarray(position, position + length), written);
        position += length;
        written += length;
        continue;
      }
      let literals, distances;
      if (type === 1) {
        if (!fixedCodes) {
          const lengths = new Uint8Array(288);
          lengths.fill(8, 0, 144); lengths.fill(9, 144, 256); lengths.fill(7, 256, 280); lengths.fill(8, 280, 288);
          fixedCodes = [huffmanTable(lengths), huffmanTable(new Uint8Array(30).fill(5))];
        }
        [literals, distances] = fixedCodes;
      } else if (type === 2) {
        const literalCount = bits(5) + 257, distanceCount = bits(5) + 1, codeLengthCount = bits(4) + 4;
        const codeLengthLengths = new Uint8Array(19);
        for (let i = 0; i < codeLengthCount; i++) codeLengthLengths[CODE_LENGTH_ORDER[i]] = bits(3);
        const codeLengthCode = huffmanTable(codeLengthLengths);
        const lengths = new Uint8Array(literalCount + distanceCount);
        for (let i = 0; i < lengths.length;) {
          const symbol = decodeSymbol(codeLengthCode);
          if (symbol < 16) { lengths[i++] = symbol; continue; }
          const repeat = symbol === 16 ? 3 + bits(2) : symbol === 17 ? 3 + bits(3) : 11 + bits(7);
          const value = symbol === 16 ? (i ? lengths[i - 1] : 0) : 0;
          if (i + repeat > lengths.length) throw damaged('too many code lengths');
          lengths.fill(value, i, i + repeat);
          i += repeat;
        }
        literals = huffmanTable(lengths.subarray(0, literalCount));
        distances = huffmanTable(lengths.subarray(literalCount));
      } else {
        throw damaged('an invalid block type');
      }
      // The hot loop works on local copies of the stream state (closures' variables are slower).
      const table = literals.table, maxBits = literals.maxBits, mask = (1 << maxBits) - 1, inputLength = input.length;
      let buffer = bitBuffer, count = bitCount, at = position, w = written;
      for (;;) {
        if (count < maxBits) {
          while (count <= 24 && at < inputLength) { buffer |= input[at++] << count; count += 8; }
        }
        const entry = table[buffer & mask];
        const length = entry & 15;
        if (length === 0 || length > count) throw damaged('an invalid code');
        buffer >>>= length;
        count -= length;
        const symbol = entry >>> 4;
        if (symbol < 256) {
          out[w++] = symbol; // past the end a typed array ignores the write; checked below
          continue;
        }
        if (symbol === 256) break;
        bitBuffer = buffer; bitCount = count; position = at; written = w;
        const index = symbol - 257;
        if (index >= 29) throw damaged('an invalid length code');
        const copyLength = LENGTH_BASE[index] + bits(LENGTH_EXTRA[index]);
        const distanceSymbol = decodeSymbol(distances);
        if (distanceSymbol >= 30) throw damaged('an invalid distance code');
        const distance = DISTANCE_BASE[distanceSymbol] + bits(DISTANCE_EXTRA[distanceSymbol]);
        if (distance > written || written + copyLength > out.length) throw damaged('a copy outside the data');
        if (distance === 1) {
          // A run of one byte (how AttnLab sends runs): one native fill.
          out.fill(out[written - 1], written, written + copyLength);
          written += copyLength;
        } else if (distance >= copyLength) {
          out.copyWithin(written, written - distance, written - distance + copyLength);
          written += copyLength;
        } else {
          for (let i = 0; i < copyLength; i++, written++) out[written] = out[written - distance];
        }
        buffer = bitBuffer; count = bitCount; at = position; w = written;
      }
      bitBuffer = buffer; bitCount = count; position = at; written = w;
    }
    if (written !== out.length) throw damaged(written + ' bytes decoded, ' + out.length + ' expected');
    // Adler-32 of the data, as the stream's last four bytes state it (some may already be buffered).
    position -= bitCount >> 3;
    let a = 1, b = 0;
    for (let i = 0; i < out.length;) {
      const end = Math.min(i + 5552, out.length);
      for (; i < end; i++) { a += out[i]; b += a; }
      a %= 65521;
      b %= 65521;
    }
    const stated = ((input[position] << 24) | (input[position + 1] << 16) | (input[position + 2] << 8) | input[position + 3]) >>> 0;
    if (((b << 16) | a) >>> 0 !== stated) throw damaged('checksum mismatch');
    return out;
  }
  AttnLab.inflate = inflate;

  /**
   * The decompressed numbers: one buffer, filled chunk by chunk when first needed, so that a page
   * decodes only the layers it shows.
   */
  class PackedData {
    constructor(compressed, info) {
      if (info.encoding !== 'zlib-chunks') throw new Error('unknown payload encoding "' + info.encoding + '"; this page needs a newer AttnLab');
      this.compressed = compressed;
      this.chunks = info.chunks;
      this.raw = new Uint8Array(info.length);
      this.decoded = new Uint8Array(info.chunks.length);
      this.decodedBytes = 0;
    }
    /** Makes sure bytes [offset, offset + count) are decoded. */
    ensure(offset, count) {
      const end = offset + count;
      for (let i = 0; i < this.chunks.length; i++) {
        if (this.decoded[i]) continue;
        const [at, length, from, size] = this.chunks[i];
        if (at >= end || at + length <= offset) continue;
        inflate(this.compressed.subarray(from, from + size), this.raw.subarray(at, at + length));
        this.decoded[i] = 1;
        this.decodedBytes += length;
      }
    }
  }

  /** One stack of attention (and, for the neuron view, queries, keys and values). */
  class Stack {
    constructor(spec, packed, tokens) {
      Object.assign(this, spec);
      this.queryTokenList = tokens[spec.queryTokens] || [];
      this.keyTokenList = tokens[spec.keyTokens] || [];
      this.packed = packed;
      this.bytes = packed.raw.subarray(spec.attention.offset, spec.attention.offset + spec.attention.count);
      this.matrix = spec.queries * spec.keys;
      this.ready = new Uint8Array(spec.layers.length);
      this.vectors = {};
    }
    layerIndex(layer) { return this.layers.indexOf(layer); }
    headIndex(head) { return this.heads.indexOf(head); }
    /** Decodes a layer's attention (model number) if it is not yet. */
    ensureLayer(layer) {
      const index = this.layerIndex(layer);
      if (index < 0) throw new Error('layer ' + layer + ' is not in this page');
      if (this.ready[index]) return;
      const perLayer = this.heads.length * this.matrix;
      this.packed.ensure(this.attention.offset + index * perLayer, perLayer);
      this.ready[index] = 1;
    }
    /** Offset in `bytes` of the attention matrix of (layer, head), model numbers. */
    matrixOffset(layer, head) {
      this.ensureLayer(layer);
      return (this.layerIndex(layer) * this.heads.length + this.headIndex(head)) * this.matrix;
    }
    /** Weight of query i attending to key j. */
    weight(layer, head, i, j) {
      return weightOf[this.bytes[this.matrixOffset(layer, head) + i * this.keys + j]];
    }
    get hasVectors() { return !!(this.query && this.key && this.value); }
    /** The factor q·k was multiplied by before the softmax in `layer` (model number). */
    scoreScale(layer) { return this.scoreScales ? this.scoreScales[this.layerIndex(layer)] : 1 / Math.sqrt(this.headDim); }
    /** Float32Array [n, headDim] of `what` (query, key, value) for (layer, head). */
    vectorsOf(what, layer, head) {
      const section = this[what];
      if (!section) return null;
      const cacheKey = what + ':' + layer + ':' + head;
      if (this.vectors[cacheKey]) return this.vectors[cacheKey];
      if (!halfTable) {
        halfTable = new Float32Array(65536);
        for (let bits = 0; bits < 65536; bits++) halfTable[bits] = halfToFloat(bits);
      }
      const n = what === 'query' ? this.queries : this.keys;
      // Keys and values are kept per key/value head (grouped-query attention): head h reads h / group.
      const heads = what === 'query' || !this.keyValueHeads ? this.heads : this.keyValueHeads;
      const index = heads === this.heads ? this.headIndex(head) : heads.indexOf(Math.floor(head / (this.keyValueGroup || 1)));
      const perHead = n * (what === 'value' ? this.valueDim || this.headDim : this.headDim), perLayer = perHead * heads.length;
      const layerStart = section.offset + this.layerIndex(layer) * 2 * perLayer;
      this.packed.ensure(layerStart, 2 * perLayer);
      const low = layerStart + index * perHead, high = low + perLayer;
      const raw = this.packed.raw;
      const out = new Float32Array(perHead);
      for (let i = 0; i < perHead; i++) out[i] = halfTable[raw[low + i] | (raw[high + i] << 8)];
      this.vectors[cacheKey] = out;
      return out;
    }
  }

  AttnLab.Stack = Stack;

  /** One trace's data: its fields (a view payload's) and its compressed part of the blob. */
  function traceData(fields, compressed) {
    const packed = new PackedData(compressed, fields.data);
    const stacks = {};
    for (const spec of fields.stacks) stacks[spec.kind] = new Stack(spec, packed, fields.tokens);
    return { fields, packed, stacks, stackKinds: fields.stacks.map((s) => s.kind), isPair: (fields.tokens.input || []).some((t) => t.segment === 1) };
  }

  /**
   * Reads the page's payload; numbers are decoded when a view first needs them. A payload of
   * several traces (the scan view) lists them as `sides`, each with its own view fields and its
   * `[offset, length]` in the blob; each side then gets its data as `side.data`.
   */
  AttnLab.load = function () {
    const node = document.getElementById('attnlab-payload');
    if (!node) throw new Error('the page has no payload element');
    const document_ = JSON.parse(node.textContent);
    node.textContent = '';
    const fields = document_.fields;
    const blob = base64Bytes(document_.blob);
    if (fields.sides) {
      for (const side of fields.sides) side.data = traceData(side.fields, blob.subarray(side.blob[0], side.blob[0] + side.blob[1]));
      timings.decoded = performance.now();
      const sides = fields.sides;
      return { fields, sides, packed: { get decodedBytes() { return sides.reduce((sum, side) => sum + side.data.packed.decodedBytes, 0); } } };
    }
    const data = traceData(fields, blob);
    timings.decoded = performance.now();
    return data;
  };

  // ---- token text ----
  /** What a token shows: its display form, with invisible text made visible. */
  AttnLab.tokenLabel = function (token) {
    const shown = token.display !== undefined && token.display !== null ? token.display : token.text;
    if (shown === '') return '∅';
    return shown.replace(/\n/g, '↵').replace(/\t/g, '⇥').replace(/^ +$/, (m) => '␣'.repeat(m.length));
  };
  AttnLab.tokenTitle = function (token, index) {
    return '#' + index + ' ' + JSON.stringify(token.text) + (token.segment ? ' (sentence B)' : '') + (token.special ? ' special' : '');
  };

  let measureContext = null;
  AttnLab.textWidth = function (text, size, bold) {
    if (!measureContext) measureContext = document.createElement('canvas').getContext('2d');
    measureContext.font = (bold ? 'bold ' : '') + size + 'px ' + AttnLab.font;
    return measureContext.measureText(text).width;
  };

  // ---- painters: one drawing routine, several outputs ----
  /** Draws on a 2D canvas context (device-pixel scaling is set by the caller). */
  class CanvasPainter {
    constructor(context) {
      this.context = context;
      this.dx = 0;
      this.dy = 0;
      this.kind = 'canvas';
    }
    translate(dx, dy) { this.dx += dx; this.dy += dy; }
    /** Straight segments, all of one colour and opacity: coords = [x1, y1, x2, y2, …]. */
    lines(colour, alpha, width, coords, count) {
      const c = this.context;
      c.globalAlpha = alpha;
      c.strokeStyle = colour;
      c.lineWidth = width;
      c.beginPath();
      const dx = this.dx, dy = this.dy;
      for (let i = 0; i < count * 4; i += 4) {
        c.moveTo(coords[i] + dx, coords[i + 1] + dy);
        c.lineTo(coords[i + 2] + dx, coords[i + 3] + dy);
      }
      c.stroke();
      c.globalAlpha = 1;
    }
    rect(x, y, w, h, colour, alpha, stroke) {
      const c = this.context;
      c.globalAlpha = alpha === undefined ? 1 : alpha;
      if (stroke) {
        c.strokeStyle = colour;
        c.lineWidth = stroke;
        c.strokeRect(x + this.dx, y + this.dy, w, h);
      } else {
        c.fillStyle = colour;
        c.fillRect(x + this.dx, y + this.dy, w, h);
      }
      c.globalAlpha = 1;
    }
    /** style: {colour, size, align, bold, rotate (degrees, clockwise, about (x, y))}. */
    text(x, y, text, style) {
      const c = this.context;
      c.globalAlpha = 1;
      c.fillStyle = style.colour;
      c.font = (style.bold ? 'bold ' : '') + style.size + 'px ' + AttnLab.font;
      c.textAlign = style.align || 'left';
      c.textBaseline = 'middle';
      if (style.rotate) {
        c.save();
        c.translate(x + this.dx, y + this.dy);
        c.rotate((style.rotate * Math.PI) / 180);
        c.fillText(text, 0, 0);
        c.restore();
        return;
      }
      c.fillText(text, x + this.dx, y + this.dy);
    }
    /** Text turned a quarter left (read upwards), anchored at (x, y) as `text` anchors it along its length. */
    textUp(x, y, text, style) {
      const c = this.context;
      c.save();
      c.translate(x + this.dx, y + this.dy);
      c.rotate(-Math.PI / 2);
      this.context.globalAlpha = 1;
      c.fillStyle = style.colour;
      c.font = (style.bold ? 'bold ' : '') + style.size + 'px ' + AttnLab.font;
      c.textAlign = style.align || 'left';
      c.textBaseline = 'middle';
      c.fillText(text, 0, 0);
      c.restore();
    }
    image(x, y, w, h, source) {
      const c = this.context;
      c.imageSmoothingEnabled = false;
      c.drawImage(source, x + this.dx, y + this.dy, w, h);
    }
  }

  function xmlEscaped(text) {
    return String(text)
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd')
      .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
  }
  const r1 = (v) => Math.round(v * 10) / 10;

  /** Builds an SVG document with the same calls. */
  class SvgPainter {
    constructor() {
      this.parts = [];
      this.dx = 0;
      this.dy = 0;
      this.kind = 'svg';
      this.segments = 0;
    }
    translate(dx, dy) { this.dx += dx; this.dy += dy; }
    lines(colour, alpha, width, coords, count) {
      if (count === 0) return;
      let d = '';
      for (let i = 0; i < count * 4; i += 4) {
        d += 'M' + r1(coords[i] + this.dx) + ' ' + r1(coords[i + 1] + this.dy) + 'L' + r1(coords[i + 2] + this.dx) + ' ' + r1(coords[i + 3] + this.dy);
      }
      this.segments += count;
      this.parts.push('<path class="attention" fill="none" stroke="' + colour + '" stroke-opacity="' + alpha.toFixed(4) + '" stroke-width="' + width + '" data-segments="' + count + '" d="' + d + '"/>');
    }
    rect(x, y, w, h, colour, alpha, stroke) {
      const a = alpha === undefined ? 1 : alpha;
      const paint = stroke ? 'fill="none" stroke="' + colour + '" stroke-width="' + stroke + '" stroke-opacity="' + a.toFixed(4) + '"'
        : 'fill="' + colour + '" fill-opacity="' + a.toFixed(4) + '"';
      this.parts.push('<rect x="' + r1(x + this.dx) + '" y="' + r1(y + this.dy) + '" width="' + r1(w) + '" height="' + r1(h) + '" ' + paint + '/>');
    }
    text(x, y, text, style) {
      const anchor = style.align === 'right' ? 'end' : style.align === 'center' ? 'middle' : 'start';
      const rotate = style.rotate ? ' transform="rotate(' + style.rotate + ' ' + r1(x + this.dx) + ' ' + r1(y + this.dy) + ')"' : '';
      this.parts.push('<text x="' + r1(x + this.dx) + '" y="' + r1(y + this.dy) + '" fill="' + style.colour + '" font-size="' + style.size +
        '" text-anchor="' + anchor + '" dominant-baseline="central"' + (style.bold ? ' font-weight="bold"' : '') + rotate + ' xml:space="preserve">' + xmlEscaped(text) + '</text>');
    }
    textUp(x, y, text, style) {
      const anchor = style.align === 'right' ? 'end' : style.align === 'center' ? 'middle' : 'start';
      const px = r1(x + this.dx), py = r1(y + this.dy);
      this.parts.push('<text x="' + px + '" y="' + py + '" transform="rotate(-90 ' + px + ' ' + py + ')" fill="' + style.colour + '" font-size="' + style.size +
        '" text-anchor="' + anchor + '" dominant-baseline="central"' + (style.bold ? ' font-weight="bold"' : '') + ' xml:space="preserve">' + xmlEscaped(text) + '</text>');
    }
    image(x, y, w, h, source) {
      const url = source.toDataURL('image/png');
      this.parts.push('<image x="' + r1(x + this.dx) + '" y="' + r1(y + this.dy) + '" width="' + r1(w) + '" height="' + r1(h) + '" preserveAspectRatio="none" style="image-rendering:pixelated" href="' + url + '"/>');
    }
    document(width, height, background) {
      return '<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="' + Math.ceil(width) + '" height="' + Math.ceil(height) +
        '" viewBox="0 0 ' + Math.ceil(width) + ' ' + Math.ceil(height) + '" font-family="' + xmlEscaped(AttnLab.font) + '">\n<rect width="100%" height="100%" fill="' + background + '"/>\n' +
        this.parts.join('\n') + '\n</svg>\n';
    }
  }
  AttnLab.CanvasPainter = CanvasPainter;
  AttnLab.SvgPainter = SvgPainter;
  AttnLab.xmlEscaped = xmlEscaped;

  /** A canvas sized for `width` × `height` CSS pixels at the device's pixel ratio (or `scale`). */
  AttnLab.sizedCanvas = function (canvas, width, height, scale) {
    const ratio = scale || Math.min(window.devicePixelRatio || 1, 2);
    const w = Math.max(1, Math.ceil(width)), h = Math.max(1, Math.ceil(height));
    if (canvas.width !== Math.ceil(w * ratio) || canvas.height !== Math.ceil(h * ratio)) {
      canvas.width = Math.ceil(w * ratio);
      canvas.height = Math.ceil(h * ratio);
    }
    canvas.style.width = w + 'px';
    canvas.style.height = h + 'px';
    const context = canvas.getContext('2d');
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, w, h);
    return context;
  };

  // ---- export ----
  /** `drawing` is {width, height, draw(painter)}: the current view, with its selection and focus. */
  AttnLab.exportSVG = function (drawing) {
    const painter = new SvgPainter();
    drawing.draw(painter);
    return painter.document(drawing.width, drawing.height, AttnLab.theme().background);
  };
  AttnLab.exportPNG = function (drawing) {
    const canvas = document.createElement('canvas');
    // Twice the resolution for sharp figures, unless that would exceed what a canvas holds.
    const scale = drawing.width * drawing.height * 4 < 60e6 && drawing.height * 2 < 32000 ? 2 : 1;
    const context = AttnLab.sizedCanvas(canvas, drawing.width, drawing.height, scale);
    context.fillStyle = AttnLab.theme().background;
    context.fillRect(0, 0, drawing.width, drawing.height);
    drawing.draw(new CanvasPainter(context));
    return canvas;
  };
  function download(name, url) {
    const link = el('a', { href: url, download: name });
    document.body.append(link);
    link.click();
    link.remove();
  }
  AttnLab.downloadPNG = function (drawing, name) {
    AttnLab.exportPNG(drawing).toBlob((blob) => {
      const url = URL.createObjectURL(blob);
      download(name + '.png', url);
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    }, 'image/png');
  };
  AttnLab.downloadSVG = function (drawing, name) {
    const url = URL.createObjectURL(new Blob([AttnLab.exportSVG(drawing)], { type: 'image/svg+xml' }));
    download(name + '.svg', url);
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  };

  // ---- controls ----
  AttnLab.select = function (label, options, value, onChange, extra) {
    const select = el('select', Object.assign({ onchange: () => onChange(select.value) }, extra || {}),
      options.map(([v, text]) => el('option', { value: String(v), selected: String(v) === String(value) }, text)));
    return el('label', { class: 'control' }, label + ' ', select);
  };
  AttnLab.stackNames = { encoder: 'Encoder', decoder: 'Decoder', cross: 'Cross' };
  AttnLab.filterNames = [['all', 'All'], ['aa', 'A → A'], ['bb', 'B → B'], ['ab', 'A → B'], ['ba', 'B → A']];

  /** Adds the stack selector (`#attnlab-stack`) to `controls` when there is more than one stack to show. */
  AttnLab.addStackSelect = function (controls, kinds, value, onChange) {
    if (kinds.length > 1) controls.append(AttnLab.select('Attention', kinds.map((k) => [k, AttnLab.stackNames[k]]), value, onChange, { id: 'attnlab-stack' }));
  };

  /** Adds the sentence filter (`#attnlab-filter`) to `controls` for a pair's encoder attention. */
  AttnLab.addSentenceFilter = function (controls, data, state, onChange) {
    if (data.isPair && state.stack === 'encoder') controls.append(AttnLab.select('Sentences', AttnLab.filterNames, state.filter, onChange, { id: 'attnlab-filter' }));
  };

  /** The status line under the controls (`#attnlab-status`). */
  AttnLab.statusLine = () => el('div', { class: 'status', id: 'attnlab-status' });

  /** `120 lines ≥ 0.010, top 2 per token`: what a drawing of lines shows, for a status line. */
  AttnLab.linesText = function (lines, state) {
    return lines + ' lines' + (state.threshold > 0 ? ' ≥ ' + state.threshold.toFixed(3) : '') + (state.topK ? ', top ' + state.topK + ' per token' : '');
  };

  /** `from “sick” (pinned)`: the token a diagram is focused on, for a status line; '' without one. */
  AttnLab.focusText = function (stack, diagram) {
    if (!diagram.focus) return '';
    const left = diagram.focus.side === 'left';
    const token = (left ? stack.queryTokenList : stack.keyTokenList)[diagram.focus.index];
    return (left ? 'from ' : 'to ') + '“' + AttnLab.tokenLabel(token) + '”' + (diagram.pinned ? ' (pinned)' : '');
  };

  /** Draws the page's title (cut to `length` characters) at the top of an export. */
  AttnLab.paintTitle = function (painter, fields, length) {
    const title = fields.title.length > length ? fields.title.slice(0, length - 1) + '…' : fields.title;
    painter.text(4, 12, title, { colour: AttnLab.theme().text, size: 12 });
  };

  /** Threshold slider and top-k box, calling onChange({threshold, topK}). */
  AttnLab.lineControls = function (state, onChange) {
    const readout = el('span', { class: 'readout' }, state.threshold.toFixed(2));
    const slider = el('input', {
      type: 'range', min: '0', max: '0.5', step: '0.005', value: String(state.threshold), id: 'attnlab-threshold',
      title: 'Hide lines whose weight is below this',
      oninput: () => { readout.textContent = Number(slider.value).toFixed(2); onChange({ threshold: Number(slider.value) }); },
    });
    const topK = el('input', {
      type: 'number', min: '0', max: '999', step: '1', value: String(state.topK), id: 'attnlab-topk', class: 'topk',
      title: 'Draw only each query token\'s k strongest lines (0: all)',
      onchange: () => onChange({ topK: Math.max(0, Math.floor(Number(topK.value) || 0)) }),
    });
    return [el('label', { class: 'control' }, 'Threshold ', slider, readout), el('label', { class: 'control' }, 'Top-k ', topK)];
  };

  /** PNG and SVG buttons; P and S save too, unless `options.keys` is false (a view inside another). */
  AttnLab.exportButtons = function (drawing, name, options) {
    // P and S export too: moving the mouse to a button would leave the hovered token.
    if (!options || options.keys !== false) AttnLab.listen(document, 'keydown', (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey || /^(INPUT|SELECT|TEXTAREA)$/.test(event.target.tagName || '')) return;
      if (event.key === 'p' || event.key === 'P') AttnLab.downloadPNG(drawing(), name());
      if (event.key === 's' || event.key === 'S') AttnLab.downloadSVG(drawing(), name());
    });
    return el('span', { class: 'export', title: 'Or press P or S while hovering a token' },
      el('button', { type: 'button', id: 'attnlab-export-png', title: 'Save what is shown as PNG', onclick: () => AttnLab.downloadPNG(drawing(), name()) }, 'PNG'),
      el('button', { type: 'button', id: 'attnlab-export-svg', title: 'Save what is shown as SVG', onclick: () => AttnLab.downloadSVG(drawing(), name()) }, 'SVG'));
  };

  /** The header: title, model outputs when the trace has them. */
  AttnLab.header = function (fields, viewName) {
    const facts = [];
    if (fields.outputs) {
      if (typeof fields.outputs.similarity === 'number') facts.push('similarity ' + fields.outputs.similarity.toFixed(3));
      if (fields.outputs.label) facts.push('label ' + fields.outputs.label + (typeof fields.outputs.probability === 'number' ? ' (' + fields.outputs.probability.toFixed(2) + ')' : ''));
    }
    return el('header', { class: 'title' },
      el('span', { class: 'view-name' }, viewName),
      el('span', { class: 'title-text', title: fields.title }, fields.title),
      facts.length ? el('span', { class: 'facts' }, facts.join(' · ')) : null);
  };

  // ---- self-test ----
  /** Collects named checks; a view's selftest(t) calls t.check(name, passed, detail). */
  class SelfTest {
    constructor() { this.checks = []; this.facts = {}; }
    /** A value the test harness may compare with what it knows of the trace. */
    fact(name, value) { this.facts[name] = value; }
    check(name, passed, detail) {
      this.checks.push({ name, passed: !!passed, detail: detail === undefined ? '' : detail });
      return !!passed;
    }
  }
  AttnLab.SelfTest = SelfTest;

  function fire(target, type, init) {
    const Event_ = type.startsWith('mouse') || type === 'click' || type === 'dblclick' ? MouseEvent : Event;
    target.dispatchEvent(new Event_(type, Object.assign({ bubbles: true, cancelable: true, view: window }, init || {})));
  }
  AttnLab.fire = fire;
  AttnLab.setValue = function (control, value) {
    control.value = String(value);
    fire(control, control.tagName === 'SELECT' ? 'change' : 'input');
    if (control.type === 'number') fire(control, 'change');
  };

  /** The WCAG contrast ratio of two CSS colours given as `rgb(r, g, b)` (1 to 21). */
  AttnLab.contrast = function (a, b) {
    const luminance = (colour) => {
      const [r, g, b_] = (colour.match(/[\d.]+/g) || ['0', '0', '0']).slice(0, 3).map((v) => {
        const c = Number(v) / 255;
        return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b_;
    };
    const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };

  /** A layer of `stack` other than `layer`, for a self-test to switch to: the last, or the first
   * when the page opened on the last. */
  AttnLab.otherLayer = function (stack, layer) {
    const last = stack.layers[stack.layers.length - 1];
    return last !== layer ? last : stack.layers[0];
  };

  /** Each view's self-test, by view name: `selftests.head(t, view, data)`, from `head.selftest.js`. */
  AttnLab.selftests = AttnLab.selftests || {};

  /** Runs the current view's self-test and writes the results as JSON into #attnlab-selftest. */
  AttnLab.selftest = async function () {
    const t = new SelfTest();
    const view = AttnLab.current;
    try {
      if (!view) throw new Error('the view did not start');
      t.check('first draw', timings.firstDraw > 0, 'first draw at ' + Math.round(timings.firstDraw || 0) + ' ms');
      t.check('no markup from tokens', !document.querySelector('#attnlab img, #attnlab script, #attnlab iframe') && !window.__attnlabInjected,
        'no element or global came from token text');
      const selftest = AttnLab.selftests[AttnLab.currentName];
      if (!selftest) throw new Error('the ' + AttnLab.currentName + ' view has no self-test');
      await selftest(t, view, AttnLab.data);
    } catch (error) {
      errors.push('selftest: ' + (error && error.stack ? error.stack : String(error)));
    }
    const result = {
      view: AttnLab.fields ? AttnLab.fields.view : null,
      passed: t.checks.every((c) => c.passed) && errors.length === 0,
      checks: t.checks,
      facts: t.facts,
      errors: errors.slice(),
      timings: { parsedMs: timings.decoded, firstDrawMs: timings.firstDraw, decodedBytes: AttnLab.data ? AttnLab.data.packed.decodedBytes : 0 },
    };
    let out = document.getElementById('attnlab-selftest');
    if (!out) {
      out = el('pre', { id: 'attnlab-selftest', class: 'selftest' });
      document.body.append(out);
    }
    out.textContent = JSON.stringify(result);
    document.body.dataset.selftest = result.passed ? 'passed' : 'failed';
    // Framed (a notebook's output cell), tell the parent too: a sandboxed frame cannot be read.
    if (window.parent && window.parent !== window) window.parent.postMessage({ attnlabSelftest: result }, '*');
    return result;
  };

  /** Starts a view, once every script is in: AttnLab.views[name](root, data) draws it and returns
   * what its self-test needs. The page calls it last. */
  AttnLab.views = AttnLab.views || {};
  AttnLab.boot = async function (name, keep) {
    AttnLab.currentName = name;
    viewListeners.length = 0;
    const root = document.getElementById('attnlab');
    root.textContent = '';
    const loading = el('div', { class: 'loading' }, 'Loading…');
    root.append(loading);
    try {
      const data = AttnLab.load();
      if (keep) keepSelection(data.fields, keep);
      AttnLab.fields = data.fields;
      AttnLab.data = data;
      loading.remove();
      AttnLab.current = AttnLab.views[name](root, data);
      // Reading a pixel makes the browser rasterise each canvas now, so that the time below
      // includes drawing the lines, not only recording them.
      for (const canvas of root.querySelectorAll('canvas')) if (canvas.width && canvas.height) canvas.getContext('2d').getImageData(0, 0, 1, 1);
      timings.firstDraw = performance.now();
      document.body.dataset.firstDrawMs = String(Math.round(timings.firstDraw));
      document.body.dataset.ready = 'true';
    } catch (error) {
      loading.remove();
      root.append(el('div', { class: 'failure', id: 'attnlab-failure' }, 'This view could not start: ' + (error && error.message ? error.message : String(error))));
      errors.push('boot: ' + (error && error.stack ? error.stack : String(error)));
    }
    // `#selftest` in the address, or a frame named so (an iframe srcdoc has no address of its own).
    if (location.hash === '#selftest' || window.name === 'attnlab-selftest') await AttnLab.selftest();
  };

  // ---- a host page feeding new data ----
  /** Carries the reader's choices (stack, layer, heads, sentence filter, threshold, top-k) over to
   * new data, where the new data has them. */
  function keepSelection(fields, kept) {
    const initial = fields.initial;
    const stack = fields.stacks.find((s) => s.kind === kept.stack);
    if (!stack) return;
    initial.stack = kept.stack;
    if (stack.layers.includes(kept.layer)) initial.layer = kept.layer;
    const heads = (kept.heads || (kept.head !== undefined ? [kept.head] : [])).filter((h) => stack.heads.includes(h));
    if (heads.length) initial.heads = heads;
    for (const key of ['filter', 'threshold', 'topK']) if (kept[key] !== undefined) initial[key] = kept[key];
  }

  // The page embedding a view (`attnlab serve`'s app) may post it the payload of another trace,
  // `{attnlabPayload: text, id, keep}`: the view is drawn again from it with the scripts already
  // running, keeping the reader's choices when `keep` is true, and answers `{attnlabDrawn: id}`.
  // Only the embedding page is listened to; the payload is read as data, as the page's own is.
  window.addEventListener('message', (event) => {
    const message = event.data;
    if (window.parent === window || event.source !== window.parent || !message || typeof message.attnlabPayload !== 'string') return;
    const node = document.getElementById('attnlab-payload');
    if (!node || !AttnLab.currentName) return;
    const kept = message.keep && AttnLab.current && AttnLab.current.state ? Object.assign({}, AttnLab.current.state) : null;
    node.textContent = message.attnlabPayload;
    AttnLab.boot(AttnLab.currentName, kept).then(() => {
      window.parent.postMessage({ attnlabDrawn: message.id, failed: !AttnLab.current }, '*');
    });
  });
})();
