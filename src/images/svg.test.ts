import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { encodeSvg, isSvgDocument, maxSvgBytes, svgProblem } from './svg.js';

const picture = '<?xml version="1.0" encoding="UTF-8"?>\n<!-- made by a vector model -->\n<svg xmlns="http://www.w3.org/2000/svg" width="300" height="200" viewBox="0 0 300 200"><rect width="300" height="200" fill="#c33"/><path d="M0 0L300 200" stroke="#000"/></svg>';

describe('isSvgDocument', () => {
  it('recognises an SVG after a BOM, an XML declaration, comments and a doctype', () => {
    expect(isSvgDocument(Buffer.from(picture))).toBe(true);
    expect(isSvgDocument(Buffer.from(`\uFEFF<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n<svg width="1" height="1"/>`))).toBe(true);
  });

  it('rejects HTML, other XML and raster bytes', () => {
    expect(isSvgDocument(Buffer.from('<html><body><svg></svg></body></html>'))).toBe(false);
    expect(isSvgDocument(Buffer.from('<?xml version="1.0"?><feed/>'))).toBe(false);
    expect(isSvgDocument(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(false);
  });
});

describe('svgProblem', () => {
  it('accepts a plain picture', () => {
    expect(svgProblem(Buffer.from(picture))).toBeUndefined();
  });

  it.each([
    ['<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>', 'a <script> element'],
    ['<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>', 'an event-handler attribute'],
    ['<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><body xmlns="http://www.w3.org/1999/xhtml"/></foreignObject></svg>', 'a <foreignObject> element'],
    ['<svg xmlns="http://www.w3.org/2000/svg"><a href="javascript:alert(1)"><rect/></a></svg>', 'a script link'],
    ['<!DOCTYPE svg [<!ENTITY a "aaaaaaaa">]><svg xmlns="http://www.w3.org/2000/svg"><text>&a;</text></svg>', 'an XML entity declaration'],
  ])('refuses active content: %s', (svg, what) => {
    expect(svgProblem(Buffer.from(svg))).toBe(`it contains ${what}`);
  });

  it('refuses an SVG above the size bound', () => {
    const huge = Buffer.concat([Buffer.from('<svg xmlns="http://www.w3.org/2000/svg">'), Buffer.alloc(maxSvgBytes, 0x20), Buffer.from('</svg>')]);
    expect(svgProblem(huge)).toMatch(/above the \d+-byte limit/);
  });
});

describe('encodeSvg', () => {
  it('keeps the document for svg and rasterises it at its own size for png and webp', async () => {
    const data = Buffer.from(picture);
    expect(await encodeSvg(data, { format: 'svg' })).toBe(data);
    const png = await sharp(await encodeSvg(data, { format: 'png' })).metadata();
    expect([png.format, png.width, png.height]).toEqual(['png', 300, 200]);
    const webp = await sharp(await encodeSvg(data, { format: 'webp', compression: 50 })).metadata();
    expect([webp.format, webp.width, webp.height]).toEqual(['webp', 300, 200]);
  });
});
