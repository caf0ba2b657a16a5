// Apple XML property lists, the format of INbreast's annotation files (OsiriX ROI exports):
// <plist><dict><key>..</key><value/>..</dict></plist> with dict, array, string, integer, real,
// true, false, date and data values. Only that subset of XML is read (no attributes are needed,
// no namespaces); anything else, or a document cut short, is a DatasetError naming the element.

import { DatasetError } from '../../domain/errors.js';

export type PlistValue = string | number | boolean | Date | PlistValue[] | { [key: string]: PlistValue };

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(text: string, where: () => string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (whole, name: string) => {
    if (name.startsWith('#x')) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(Number(name.slice(1)));
    const value = ENTITIES[name];
    if (value === undefined) throw new DatasetError(where(), `unknown XML entity ${whole}`);
    return value;
  });
}

type Token = { kind: 'open' | 'close' | 'empty'; name: string; line: number } | { kind: 'text'; text: string; line: number };

function tokenize(xml: string, source: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  let line = 1;
  const advance = (to: number) => {
    for (let i = at; i < to; i++) if (xml.charCodeAt(i) === 10) line++;
    at = to;
  };
  while (at < xml.length) {
    const lt = xml.indexOf('<', at);
    if (lt < 0) {
      const rest = xml.slice(at).trim();
      if (rest !== '') throw new DatasetError(`${source} line ${line}`, `the document ends in text '${rest.slice(0, 30)}' (cut short?)`);
      break;
    }
    if (lt > at) {
      tokens.push({ kind: 'text', text: xml.slice(at, lt), line });
      advance(lt);
    }
    const skipTo = (terminator: string, what: string) => {
      const end = xml.indexOf(terminator, at);
      if (end < 0) throw new DatasetError(`${source} line ${line}`, `${what} is not closed`);
      advance(end + terminator.length);
    };
    if (xml.startsWith('<!--', at)) skipTo('-->', 'a comment');
    else if (xml.startsWith('<?', at)) skipTo('?>', 'a processing instruction');
    else if (xml.startsWith('<![CDATA[', at)) {
      const end = xml.indexOf(']]>', at);
      if (end < 0) throw new DatasetError(`${source} line ${line}`, 'a CDATA section is not closed');
      tokens.push({ kind: 'text', text: xml.slice(at + 9, end).replace(/&/g, '&amp;').replace(/</g, '&lt;'), line });
      advance(end + 3);
    } else if (xml.startsWith('<!', at)) skipTo('>', 'a declaration');
    else {
      const end = xml.indexOf('>', at);
      if (end < 0) throw new DatasetError(`${source} line ${line}`, 'a tag is not closed');
      const body = xml.slice(at + 1, end).trim();
      const match = /^(\/?)([A-Za-z_][\w.-]*)(?:\s[^]*?)?(\/?)$/.exec(body);
      if (!match) throw new DatasetError(`${source} line ${line}`, `malformed tag <${body.slice(0, 40)}>`);
      const [, closing, name, selfClosing] = match as unknown as [string, string, string, string];
      tokens.push({ kind: closing ? 'close' : selfClosing ? 'empty' : 'open', name: name, line });
      advance(end + 1);
    }
  }
  return tokens;
}

/**
 * Parses a property list document into plain values: dict -> object, array -> array, integer
 * and real -> number, true/false -> boolean, date -> Date, data -> its base64 text, string ->
 * string. Messages name the file, the line and the path of keys to the bad element.
 */
export function parsePlist(xml: string, source: string): PlistValue {
  const tokens = tokenize(xml, source);
  let i = 0;
  const where = (path: string, line: number) => `${source} line ${line}${path ? ` (${path})` : ''}`;
  const skipSpace = () => {
    while (i < tokens.length) {
      const t = tokens[i]!;
      if (t.kind !== 'text' || t.text.trim() !== '') break;
      i++;
    }
  };
  const endLine = xml.split('\n').length;
  const lastLine = () => endLine;
  const expectClose = (name: string, path: string) => {
    skipSpace();
    const t = tokens[i];
    if (!t) throw new DatasetError(where(path, lastLine()), `the document ends before </${name}>`);
    if (t.kind !== 'close' || t.name !== name) throw new DatasetError(where(path, t.line), `expected </${name}>, found ${describe(t)}`);
    i++;
  };
  const textOf = (name: string, path: string, line: number): string => {
    let text = '';
    while (i < tokens.length && tokens[i]!.kind === 'text') text += (tokens[i++] as { text: string }).text;
    expectClose(name, path);
    return decodeEntities(text, () => where(path, line));
  };
  const value = (path: string): PlistValue => {
    skipSpace();
    const t = tokens[i];
    if (!t) throw new DatasetError(where(path, lastLine()), 'the document ends where a value was expected');
    if (t.kind === 'text') throw new DatasetError(where(path, t.line), `text '${t.text.trim().slice(0, 30)}' where an element was expected`);
    if (t.kind === 'close') throw new DatasetError(where(path, t.line), `unexpected </${t.name}> where a value was expected`);
    i++;
    if (t.kind === 'empty') {
      switch (t.name) {
        case 'true':
          return true;
        case 'false':
          return false;
        case 'string':
        case 'data':
          return '';
        case 'array':
          return [];
        case 'dict':
          return {};
        default:
          throw new DatasetError(where(path, t.line), `<${t.name}/> is not a property list value`);
      }
    }
    switch (t.name) {
      case 'dict': {
        const out: Record<string, PlistValue> = {};
        for (;;) {
          skipSpace();
          const k = tokens[i];
          if (!k) throw new DatasetError(where(path, lastLine()), 'the document ends inside a <dict>');
          if (k.kind === 'close' && k.name === 'dict') {
            i++;
            return out;
          }
          if (k.kind !== 'open' || k.name !== 'key') throw new DatasetError(where(path, k.line), `expected <key> in a <dict>, found ${describe(k)}`);
          i++;
          const key = textOf('key', path, k.line);
          out[key] = value(path ? `${path}.${key}` : key);
        }
      }
      case 'array': {
        const out: PlistValue[] = [];
        for (;;) {
          skipSpace();
          const e = tokens[i];
          if (!e) throw new DatasetError(where(path, lastLine()), 'the document ends inside an <array>');
          if (e.kind === 'close' && e.name === 'array') {
            i++;
            return out;
          }
          out.push(value(`${path}[${out.length}]`));
        }
      }
      case 'string':
      case 'data':
        return textOf(t.name, path, t.line);
      case 'integer':
      case 'real': {
        const text = textOf(t.name, path, t.line).trim();
        const number = Number(text);
        if (text === '' || !Number.isFinite(number) || (t.name === 'integer' && !Number.isInteger(number))) {
          throw new DatasetError(where(path, t.line), `<${t.name}> holds '${text.slice(0, 30)}'`);
        }
        return number;
      }
      case 'date': {
        const text = textOf('date', path, t.line).trim();
        const date = new Date(text);
        if (Number.isNaN(date.getTime())) throw new DatasetError(where(path, t.line), `<date> holds '${text.slice(0, 30)}'`);
        return date;
      }
      case 'true':
      case 'false':
        expectClose(t.name, path);
        return t.name === 'true';
      default:
        throw new DatasetError(where(path, t.line), `<${t.name}> is not a property list value`);
    }
  };
  skipSpace();
  const root = tokens[i];
  if (!root || root.kind !== 'open' || root.name !== 'plist') throw new DatasetError(where('', root?.line ?? 1), 'not a property list: no <plist> element');
  i++;
  const result = value('');
  expectClose('plist', '');
  skipSpace();
  if (i < tokens.length) throw new DatasetError(where('', tokens[i]!.line), `${describe(tokens[i]!)} after </plist>`);
  return result;
}

function describe(t: Token): string {
  return t.kind === 'text' ? `text '${t.text.trim().slice(0, 30)}'` : t.kind === 'close' ? `</${t.name}>` : `<${t.name}${t.kind === 'empty' ? '/' : ''}>`;
}
