// Parses base64 `data:` URLs (RFC 2397) in one linear pass with a bounded header: the header is
// found within its first few hundred characters and split on ';', so a URL carrying millions of
// `;param` segments costs one bounded scan and a clear refusal instead of a regular expression's
// backtracking or recursion.

/** `data:` + media type + parameters + `;base64`: far more than any real image URL declares. */
export const maxDataUrlHeaderLength = 256;

const mediaTypePattern = /^[\w.+-]+\/[\w.+-]+$/;
const parameterPattern = /^[\w.+-]+=[^;,]*$/;

export type DataUrlParse =
  | { ok: true; data: Buffer; mediaType: string | undefined }
  | { ok: false; problem: 'not_data_url' | 'header_too_long' | 'not_base64' | 'malformed_header' };

/** Decodes a base64 data URL; anything else comes back as a problem for the caller to word. */
export function parseBase64DataUrl(text: string): DataUrlParse {
  if (text.slice(0, 5).toLowerCase() !== 'data:') return { ok: false, problem: 'not_data_url' };
  // Only the bounded prefix is searched for the comma that ends the header.
  const comma = text.slice(0, 5 + maxDataUrlHeaderLength + 1).indexOf(',');
  if (comma === -1) return { ok: false, problem: text.length > 5 + maxDataUrlHeaderLength ? 'header_too_long' : 'malformed_header' };
  const segments = text.slice(5, comma).split(';');
  if (segments.length < 2 || segments.at(-1)?.toLowerCase() !== 'base64') return { ok: false, problem: 'not_base64' };
  const mediaType = segments[0] ?? '';
  if (mediaType !== '' && !mediaTypePattern.test(mediaType)) return { ok: false, problem: 'malformed_header' };
  for (const parameter of segments.slice(1, -1)) {
    if (!parameterPattern.test(parameter)) return { ok: false, problem: 'malformed_header' };
  }
  return { ok: true, data: Buffer.from(text.slice(comma + 1), 'base64'), mediaType: mediaType === '' ? undefined : mediaType.toLowerCase() };
}

/** The sentence a client reads for each problem, after the name of the field. */
export function describeDataUrlProblem(problem: Exclude<DataUrlParse, { ok: true }>['problem']): string {
  switch (problem) {
    case 'header_too_long':
      return `has a data: URL whose header (before the first ',') is longer than ${maxDataUrlHeaderLength} characters`;
    case 'not_base64':
      return "has a data: URL that is not base64-encoded (it must end its header with ';base64')";
    case 'malformed_header':
      return 'has a data: URL whose media type or parameters are malformed';
    case 'not_data_url':
      return 'is not a data: URL';
  }
}
