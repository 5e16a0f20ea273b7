import type { Band } from '../../../../api/contract';

const BAND_COLOURS: Record<Band['name'], string> = { early: 'rgba(59,111,216,0.08)', middle: 'rgba(46,160,67,0.10)', late: 'rgba(230,120,30,0.10)' };

/** ECharts markArea shading the early/middle/late bands on a category axis of layer labels. */
export function bandMarkArea(bands: Band[], label: (layer: number) => string) {
  return {
    silent: true,
    label: { position: 'insideTop', color: '#5a6478', fontSize: 11 },
    data: bands.map((b) => [
      { name: b.name, xAxis: label(b.layers[0]), itemStyle: { color: BAND_COLOURS[b.name] } },
      { xAxis: label(b.layers[1]) },
    ]),
  };
}

export const layerLabel = (decoderLayer: number) => `L${decoderLayer}`;
