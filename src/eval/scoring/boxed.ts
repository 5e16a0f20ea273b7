/**
 * Answer extraction for MGSM and PolyMath as arXiv 2601.14050's code does it (extract_boxed_content in
 * conctsai/Multilingualism-in-Mixture-of-Experts-LLMs steer/vllm_steer_polymath.py and
 * intervention/vllm_intervention_mgsm.py): remove every ASCII space, find each "boxed{" (so "\boxed{" and a bare
 * "boxed{" both count), read to its matching "}", keep the balanced ones, and take the first. "\boxed 5",
 * "\fbox{5}" or a box never closed give no answer; "\boxed{}" gives the empty string.
 * The two named alternatives (never applied unless asked for) live here too: the last-number fallback and the
 * lenient clean-up of units and currency.
 */

export function extractBoxed(output: string): string | null {
  const text = output.replace(/ /g, '');
  let from = 0;
  for (;;) {
    const at = text.indexOf('boxed{', from);
    if (at < 0) return null;
    const start = at + 'boxed{'.length;
    let depth = 1;
    let i = start;
    while (i < text.length && depth > 0) {
      if (text[i] === '{') depth++;
      else if (text[i] === '}') depth--;
      i++;
    }
    if (depth === 0) return text.slice(start, i - 1);
    from = at + 1; // an unbalanced box: a later "boxed{" (even one inside it) may still close
  }
}

/**
 * The last number in the output, as PolyMath's extract_answer falls back to it: commas deleted, then the last
 * match of -?\d*\.?\d+ where \d is any Unicode decimal digit (Python's re semantics).
 */
export function extractLastNumber(output: string): string | null {
  const matches = output.replace(/,/g, '').match(/-?\p{Nd}*\.?\p{Nd}+/gu);
  return matches ? matches[matches.length - 1]! : null;
}

/**
 * Lenient clean-up (NOT the reference's rule): unwrap \text{}/\mathrm{}/\mbox{}, drop currency signs (\$ and
 * every Unicode currency symbol), degree marks, thin and no-break spaces between digits, read the Unicode minus
 * as "-", and when a number is followed by a unit word keep the number.
 */
export function lenientClean(extracted: string): string {
  let s = extracted;
  // Innermost first, until nothing is left to unwrap (nested \text{\textbf{...}}).
  for (let prev = ''; prev !== s; ) {
    prev = s;
    s = s.replace(/\\(?:text|textbf|mathrm|mbox|operatorname)\{([^{}]*)\}/g, '$1');
  }
  s = s
    .replace(/\\\$|\$|\p{Sc}/gu, '')
    .replace(/\^\{?\\circ\}?|°/g, '')
    .replace(/[\u2212\u2012\u2013\uFE63\uFF0D]/g, '-')
    .replace(/(\p{Nd})[\u00a0\u2009\u202f\u2007'’ ](?=\p{Nd})/gu, '$1')
    .trim();
  const unit = /^([-+]?(?:\p{Nd}[\p{Nd},]*)?\.?\p{Nd}+(?:\/\p{Nd}+)?%?)\s*[\p{L}\p{M}][\p{L}\p{M}\s.²³/]*$/u.exec(s);
  return unit ? unit[1]! : s;
}
