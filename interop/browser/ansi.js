// Turns a `tmux capture-pane -e` dump into an HTML page that looks like the
// terminal, so headless Chromium can take a picture of the TUI.
"use strict";

// The 16 standard colours (xterm's defaults), for 38;5;N / 48;5;N with N < 16.
const BASIC = [
  "#000000", "#cd0000", "#00cd00", "#cdcd00", "#0000ee", "#cd00cd", "#00cdcd", "#e5e5e5",
  "#7f7f7f", "#ff0000", "#00ff00", "#ffff00", "#5c5cff", "#ff00ff", "#00ffff", "#ffffff",
];
const FG = "#d0d0d0";
const BG = "#1c1c1c";

function palette(n) {
  if (n < 16) return BASIC[n];
  if (n >= 232) {
    const v = 8 + 10 * (n - 232);
    return `rgb(${v},${v},${v})`;
  }
  const i = n - 16;
  const level = (c) => (c === 0 ? 0 : 55 + 40 * c);
  return `rgb(${level(Math.floor(i / 36))},${level(Math.floor(i / 6) % 6)},${level(i % 6)})`;
}

// Applies one SGR sequence's parameters to the current style.
function applySgr(style, params) {
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    if (p === 0) Object.assign(style, { fg: null, bg: null, bold: false });
    else if (p === 1) style.bold = true;
    else if (p === 22) style.bold = false;
    else if (p >= 30 && p <= 37) style.fg = BASIC[p - 30];
    else if (p >= 90 && p <= 97) style.fg = BASIC[p - 90 + 8];
    else if (p >= 40 && p <= 47) style.bg = BASIC[p - 40];
    else if (p >= 100 && p <= 107) style.bg = BASIC[p - 100 + 8];
    else if (p === 39) style.fg = null;
    else if (p === 49) style.bg = null;
    else if (p === 38 || p === 48) {
      const key = p === 38 ? "fg" : "bg";
      if (params[i + 1] === 5) {
        style[key] = palette(params[i + 2]);
        i += 2;
      } else if (params[i + 1] === 2) {
        style[key] = `rgb(${params[i + 2]},${params[i + 3]},${params[i + 4]})`;
        i += 4;
      }
    }
  }
}

const escapeHtml = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function cell(ch, style) {
  const fg = style.fg || FG;
  const bg = style.bg || BG;
  // Upper half blocks are drawn as two boxes, so pictures do not depend on the font.
  if (ch === "▀") return `<span style="background:linear-gradient(${fg} 50%, ${bg} 50%)">&nbsp;</span>`;
  const css = [style.fg ? `color:${fg}` : "", style.bg ? `background:${bg}` : "", style.bold ? "font-weight:bold" : ""];
  const text = escapeHtml(ch);
  const rules = css.filter(Boolean).join(";");
  return rules ? `<span style="${rules}">${text}</span>` : text;
}

/** The HTML page for an ANSI screen dump. */
function ansiToHtml(dump, title) {
  const style = { fg: null, bg: null, bold: false };
  const rows = dump.replace(/\n$/, "").split("\n").map((line) => {
    let html = "";
    const re = /\x1b\[([0-9;]*)m|([^\x1b])/gu;
    let m;
    while ((m = re.exec(line))) {
      if (m[1] !== undefined) applySgr(style, m[1] === "" ? [0] : m[1].split(";").map(Number));
      else html += cell(m[2], style);
    }
    return `<div class="row">${html}</div>`;
  });
  return `<!doctype html><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
  body { margin: 0; background: ${BG}; }
  .screen { display: inline-block; padding: 12px; color: ${FG}; background: ${BG};
            font: 15px/18px "DejaVu Sans Mono", monospace; white-space: pre; }
  .row { height: 18px; }
  .row span { display: inline-block; height: 18px; }
</style>
<div class="screen">${rows.join("")}</div>`;
}

module.exports = { ansiToHtml };
