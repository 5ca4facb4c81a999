/**
 * A small reader of nginx configuration files for tests: directives with their arguments (quotes
 * removed) and blocks, comments dropped. Enough for deploy/nginx/nginx.conf and src/local-cluster.ts
 * `nginxConf`; nginx itself (`nginx -t`) remains the judge of validity.
 */

/** One directive: `name args…;` or `name args… { block }`. */
export interface Directive {
  name: string;
  args: string[];
  block?: Directive[];
}

function tokens(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) i++;
    else if (c === '#') while (i < text.length && text[i] !== '\n') i++;
    else if (c === '{' || c === '}' || c === ';') out.push(text[i++]!);
    else if (c === '"' || c === "'") {
      let v = '';
      for (i++; i < text.length && text[i] !== c; i++) v += text[i] === '\\' ? text[++i] : text[i];
      i++;
      out.push(`\u0000${v}`); // quoted: never a structural token
    } else {
      let v = '';
      while (i < text.length && !/[\s{};]/.test(text[i]!)) v += text[i++];
      out.push(v);
    }
  }
  return out;
}

/** Parses a configuration into its top-level directives; throws on unbalanced braces. */
export function parseNginxConf(text: string): Directive[] {
  const toks = tokens(text);
  let pos = 0;
  const block = (nested: boolean): Directive[] => {
    const out: Directive[] = [];
    let words: string[] = [];
    while (pos < toks.length) {
      const t = toks[pos++]!;
      if (t === ';') {
        out.push({ name: words[0]!, args: words.slice(1) });
        words = [];
      } else if (t === '{') {
        out.push({ name: words[0]!, args: words.slice(1), block: block(true) });
        words = [];
      } else if (t === '}') {
        if (!nested) throw new Error('unbalanced }');
        return out;
      } else words.push(t.startsWith('\u0000') ? t.slice(1) : t);
    }
    if (nested || words.length) throw new Error('unterminated block or directive');
    return out;
  };
  return block(false);
}

/** The directives named `name` in `dirs` (one level). */
export const all = (dirs: Directive[], name: string): Directive[] => dirs.filter((d) => d.name === name);

/** The one directive named `name` (and with these first arguments) in `dirs`; throws if absent. */
export function one(dirs: Directive[], name: string, ...args: string[]): Directive {
  const d = dirs.find((x) => x.name === name && args.every((a, i) => x.args[i] === a));
  if (!d) throw new Error(`no ${[name, ...args].join(' ')}`);
  return d;
}

/** The `http` block and its (only) `server` block. */
export function httpAndServer(conf: Directive[]): { http: Directive[]; server: Directive[] } {
  const http = one(conf, 'http').block!;
  return { http, server: one(http, 'server').block! };
}

/**
 * A directive's arguments as it applies in `location` (inherited from the server and http levels
 * when the location does not set it; nginx's rule for proxy_* directives), joined by spaces.
 */
export function effective(levels: Directive[][], name: string): string | undefined {
  for (const level of levels) {
    const d = level.find((x) => x.name === name);
    if (d) return d.args.join(' ');
  }
  return undefined;
}

/** Seconds of an nginx time like `35s` (bare numbers are seconds too). */
export function seconds(v: string | undefined): number {
  const m = /^(\d+)(s?)$/.exec(v ?? '');
  if (!m) throw new Error(`not a time in seconds: ${v}`);
  return Number(m[1]);
}
