/** Downloads made in the page (charts as PNG/SVG, tables as CSV): no server round trip, nothing written elsewhere. */
export function download(fileName: string, data: Blob | string): void {
  const url = typeof data === 'string' && data.startsWith('data:') ? data : URL.createObjectURL(data instanceof Blob ? data : new Blob([data]));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  document.body.append(a);
  a.click();
  a.remove();
  if (url.startsWith('blob:')) setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** RFC 4180: fields with a comma, quote or line break are quoted, quotes doubled; numbers written in full. */
export function toCsv(header: string[], rows: (string | number | null)[][]): string {
  const cell = (v: string | number | null) => {
    const s = v === null ? '' : String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [header, ...rows].map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
}

export function downloadCsv(fileName: string, header: string[], rows: (string | number | null)[][]): void {
  download(fileName, new Blob([toCsv(header, rows)], { type: 'text/csv;charset=utf-8' }));
}
