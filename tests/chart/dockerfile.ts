/**
 * Just enough of a Dockerfile and .dockerignore reader to replay the image
 * build without Docker (tests/chart/image-build.test.ts). Anything it does not
 * understand is an error, so the replay cannot silently drift from the file.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, posix, relative } from 'node:path';

export type Instruction =
  | { op: 'RUN'; command: string }
  | { op: 'COPY'; from?: string; sources: string[]; dest: string }
  | { op: 'WORKDIR'; path: string }
  | { op: 'ENV'; vars: Record<string, string> }
  | { op: 'USER'; user: string }
  | { op: 'ENTRYPOINT'; exec: string[] | null; shell: string }
  | { op: 'CMD'; exec: string[] | null; shell: string }
  | { op: 'EXPOSE' | 'STOPSIGNAL' | 'LABEL' | 'ARG'; raw: string };

export interface Stage {
  base: string;
  name?: string;
  instructions: Instruction[];
}

/** Logical lines: parser directives and comments dropped (inside continuations too, as BuildKit does), continuations joined. */
function logicalLines(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    if (raw.trim() === '' && cur === '') continue;
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      cur += line.slice(0, -1) + ' ';
      continue;
    }
    cur += line;
    if (cur.trim() !== '') out.push(cur.trim());
    cur = '';
  }
  if (cur.trim() !== '') out.push(cur.trim());
  return out;
}

function execForm(rest: string): string[] | null {
  if (!rest.startsWith('[')) return null;
  const v = JSON.parse(rest) as unknown;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error(`bad exec form: ${rest}`);
  return v as string[];
}

export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const line of logicalLines(text)) {
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`cannot parse Dockerfile line: ${line}`);
    const op = m[1]!.toUpperCase();
    const rest = m[2]!;
    if (op === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!f) throw new Error(`cannot parse FROM: ${rest}`);
      stages.push({ base: f[1]!, ...(f[2] ? { name: f[2] } : {}), instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`${op} before FROM`);
    const ins = stage.instructions;
    switch (op) {
      case 'RUN':
        if (rest.startsWith('[') || rest.startsWith('--')) throw new Error(`RUN must be a plain shell command here: ${rest}`);
        ins.push({ op, command: rest });
        break;
      case 'COPY': {
        const words = rest.split(/\s+/);
        let from: string | undefined;
        while (words[0]?.startsWith('--')) {
          const flag = words.shift()!;
          if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
          else if (!/^--(chown|chmod|link)(=|$)/.test(flag)) throw new Error(`unsupported COPY flag ${flag}`);
        }
        if (words.length < 2) throw new Error(`COPY needs a source and a destination: ${rest}`);
        ins.push({ op, ...(from ? { from } : {}), sources: words.slice(0, -1), dest: words.at(-1)! });
        break;
      }
      case 'WORKDIR':
        ins.push({ op, path: rest });
        break;
      case 'ENV': {
        const vars: Record<string, string> = {};
        for (const kv of rest.match(/\S+=("[^"]*"|\S*)/g) ?? []) {
          const i = kv.indexOf('=');
          vars[kv.slice(0, i)] = kv.slice(i + 1).replace(/^"(.*)"$/, '$1');
        }
        if (Object.keys(vars).length === 0) throw new Error(`use ENV key=value: ${rest}`);
        ins.push({ op, vars });
        break;
      }
      case 'USER':
        ins.push({ op, user: rest });
        break;
      case 'ENTRYPOINT':
      case 'CMD':
        ins.push({ op, exec: execForm(rest), shell: rest });
        break;
      case 'EXPOSE':
      case 'STOPSIGNAL':
      case 'LABEL':
      case 'ARG':
        ins.push({ op, raw: rest });
        break;
      default:
        throw new Error(`the build replay does not understand ${op} (${line}); teach tests/chart/dockerfile.ts`);
    }
  }
  return stages;
}

// ---- .dockerignore ----

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
      if (glob[i + 1] === '/') i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}(/.*)?$`);
}

/** A .dockerignore: the last matching pattern wins; `!` re-includes. */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).map((l) => {
    const negate = l.startsWith('!');
    const pattern = posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, ''));
    return { negate, re: globToRegExp(pattern) };
  });
  return (path: string): boolean => {
    let excluded = false;
    for (const r of rules) if (r.re.test(path)) excluded = !r.negate;
    return excluded;
  };
}

/**
 * COPY semantics: a directory's contents go into `dest`; a file goes to
 * `dest`, or into it when `destIsDir` (a trailing slash or several sources).
 * Leaves out what `excluded` matches (paths relative to root).
 */
export function copyContext(root: string, src: string, dest: string, destIsDir: boolean, excluded: (rel: string) => boolean = () => false): number {
  const abs = join(root, src);
  if (!existsSync(abs)) throw new Error(`COPY source ${src} does not exist`);
  let files = 0;
  const visit = (p: string): void => {
    const rel = relative(root, p).split('\\').join('/');
    if (excluded(rel)) return;
    if (statSync(p).isDirectory()) {
      for (const name of readdirSync(p)) visit(join(p, name));
      return;
    }
    const target = p === abs ? (destIsDir ? join(dest, basename(p)) : dest) : join(dest, relative(abs, p));
    mkdirSync(dirname(target), { recursive: true });
    cpSync(p, target);
    files++;
  };
  visit(abs);
  return files;
}
