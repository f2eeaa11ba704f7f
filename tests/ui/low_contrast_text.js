() => {
  // Text that axe-core does not reach (it skips text in some nested shadow roots): every visible text
  // node's colour against the first opaque background behind it, walking out through shadow hosts.
  const parse = (c) => { const m = c.match(/[\d.]+/g); if (!m) return null; const v = m.map(Number); return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
  const lum = ([r, g, b]) => { const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const up = (e) => e.parentElement || (e.getRootNode && e.getRootNode().host) || null;
  const blend = (top, under) => { const a = top[3]; return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat([1]); };
  const behind = (el) => {
    const layers = [];
    for (let e = el; e; e = up(e)) {
      const s = getComputedStyle(e);
      if (s.backgroundImage && s.backgroundImage !== 'none') return null;  // an image or gradient: not judged here
      const c = parse(s.backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let colour = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) colour = blend(layers[i], colour);
    return colour;
  };
  const out = [];
  const seen = new Set();
  const visit = (root) => {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT);
    for (let e = walker.currentNode; e; e = walker.nextNode()) {
      if (e.shadowRoot) visit(e.shadowRoot);
      const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
      if (!own || seen.has(e)) continue;
      if (!/[\p{L}\p{N}]/u.test(e.textContent)) continue;  // symbols only (a toolbar's "⋯"): not text to read
      if (e.matches(':disabled, [aria-disabled="true"]') || e.closest(':disabled, [aria-disabled="true"]')) continue;  // WCAG exempts inactive controls
      seen.add(e);
      const s = getComputedStyle(e);
      const r = e.getBoundingClientRect();
      if (r.width < 1 || r.height < 1 || s.visibility !== 'visible' || ['SCRIPT', 'STYLE', 'OPTION', 'TITLE'].includes(e.tagName)) continue;
      let opacity = 1, hidden = false;
      for (let a = e; a; a = up(a)) { const as = getComputedStyle(a); opacity *= Number(as.opacity); if (as.display === 'none') hidden = true; }
      if (hidden || opacity === 0) continue;
      const bg = behind(e);
      if (!bg) continue;
      const fg0 = parse(s.color);
      const fg = blend([fg0[0], fg0[1], fg0[2], fg0[3] * opacity], bg);
      const [l1, l2] = [lum(fg), lum(bg)].sort((a, b) => b - a);
      const ratio = (l1 + 0.05) / (l2 + 0.05);
      const size = parseFloat(s.fontSize), bold = Number(s.fontWeight) >= 700;
      const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
      if (ratio < need - 0.05) out.push(`${e.tagName.toLowerCase()} "${e.textContent.trim().slice(0, 50)}" ${ratio.toFixed(2)}:1 (${s.color} on rgb(${bg.slice(0, 3).map(Math.round).join(', ')}))`);
    }
  };
  visit(document);
  return out;
}
