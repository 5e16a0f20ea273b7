import type { AnalysisOverview } from '../../../../api/contract';
import { downloadCsv } from '../../export';

/** The per-layer numbers behind the alignment, family-agreement and expert-count charts, as one CSV. */
export function downloadLayerCsv(overview: AnalysisOverview): void {
  const { k, thr } = overview.specialisation;
  downloadCsv(
    `per-layer-run${overview.runId}.csv`,
    ['moe_layer', 'decoder_layer', 'band', `alignment_with_${overview.pivot ?? 'pivot'}`, 'alignment_mean_pair', 'cophenetic', 'ari', `shared_k${k}_thr${thr}`, `exclusive_k${k}_thr${thr}`],
    overview.layers.map((l) => [l.layer, l.decoderLayer, l.band, l.alignmentToPivot, l.alignmentMeanPair, l.cophenetic, l.ari, l.shared, l.exclusive]),
  );
}
