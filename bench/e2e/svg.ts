/** A horizontal bar chart of pairs/s as a stand-alone SVG, with the FLOP ceiling as a dashed line. */

export interface Bar {
  label: string;
  value: number;
  failed: boolean;
}

const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function barChartSvg(bars: Bar[], ceiling: number): string {
  const labelWidth = 430;
  const plotWidth = 420;
  const rowHeight = 26;
  const top = 40;
  const width = labelWidth + plotWidth + 80;
  const height = top + bars.length * rowHeight + 40;
  const max = Math.max(ceiling, ...bars.map((b) => b.value)) * 1.05;
  const x = (value: number): number => labelWidth + (value / max) * plotWidth;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">Rerank TREC DL 2020 BM25 top-100, MiniLM-L6 cross-encoder: pairs/s (higher is better)</text>`,
  ];
  bars.forEach((bar, i) => {
    const y = top + i * rowHeight;
    const colour = bar.failed ? '#bbbbbb' : bar.label.startsWith('crossrank') ? '#d9480f' : '#1c7ed6';
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + 17}" text-anchor="end">${escape(bar.label)}${bar.failed ? ' (FAILED)' : ''}</text>`,
      `<rect x="${labelWidth}" y="${y + 4}" width="${Math.max(1, x(bar.value) - labelWidth).toFixed(1)}" height="${rowHeight - 8}" fill="${colour}"/>`,
      `<text x="${(x(bar.value) + 6).toFixed(1)}" y="${y + 17}">${bar.value.toFixed(1)}</text>`,
    );
  });
  const bottom = top + bars.length * rowHeight;
  parts.push(
    `<line x1="${x(ceiling).toFixed(1)}" y1="${top}" x2="${x(ceiling).toFixed(1)}" y2="${bottom}" stroke="#2b8a3e" stroke-dasharray="5,4" stroke-width="2"/>`,
    `<text x="${x(ceiling).toFixed(1)}" y="${bottom + 18}" text-anchor="middle" fill="#2b8a3e">FLOP ceiling ${ceiling.toFixed(1)}</text>`,
    `<line x1="${labelWidth}" y1="${top}" x2="${labelWidth}" y2="${bottom}" stroke="black"/>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}
