/**
 * Cell size of a language x language heatmap: a handful of languages (3-10) gets large cells, with room for each
 * cell's value, instead of a thumbnail; many keep the 13 px cells that fit 100 languages in a scrollable canvas.
 */
export const CELL_MIN = 13;
export const CELL_MAX = 48;
/** About the width the matrix should take when it has few rows (the layer explorer's half of the page). */
const TARGET_PX = 480;

export function readableCell(n: number): number {
  return Math.max(CELL_MIN, Math.min(CELL_MAX, Math.floor(TARGET_PX / Math.max(1, n))));
}

/** Cells this large show their value as text. */
export const CELL_WITH_VALUE = 34;
