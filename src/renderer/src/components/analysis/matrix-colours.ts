/** Colour ramps for matrix heatmaps, as 256-entry lookup tables (a 100 x 100 matrix is 10^4 lookups per draw). */
export type Ramp = readonly string[];

export const BLUES: Ramp = ['#f7fbff', '#6baed6', '#08306b'];
export const BLUES_REVERSED: Ramp = ['#08306b', '#6baed6', '#f7fbff'];
/** Diverging, for differences: blue below zero, white at zero, red above. */
export const DIVERGING: Ramp = ['#2166ac', '#f7f7f7', '#b2182b'];

const rgb = (hex: string): [number, number, number] => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];

export function rampTable(ramp: Ramp): string[] {
  const stops = ramp.map(rgb);
  return Array.from({ length: 256 }, (_, i) => {
    const t = (i / 255) * (stops.length - 1);
    const s = Math.min(Math.floor(t), stops.length - 2);
    const f = t - s;
    const [a, b] = [stops[s]!, stops[s + 1]!];
    const c = a.map((v, k) => Math.round(v + (b[k]! - v) * f));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  });
}

/** Text colour readable on a table colour (`rgb(r,g,b)`): dark on light cells, white on dark ones (luma). */
export function textOn(colour: string): string {
  const [r, g, b] = (colour.match(/\d+/g) ?? ['0', '0', '0']).map(Number);
  return 0.299 * r! + 0.587 * g! + 0.114 * b! > 150 ? '#1f2430' : '#ffffff';
}
