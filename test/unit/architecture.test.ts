/**
 * The layering rules of docs/architecture.md, checked on the source itself: folders of src/
 * import each other in one direction only, and src/core imports nothing but itself.
 */
import fs from 'node:fs';
import path from 'node:path';

const SRC = path.join(__dirname, '..', '..', 'src');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Specifiers of static imports and re-exports, type-only ones included (they still couple folders). */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'/gms)) found.push(m[1]);
  for (const m of text.matchAll(/require\('([^']+)'\)/g)) found.push(m[1]);
  for (const m of text.matchAll(/import\('([^']+)'\)/g)) found.push(m[1]);
  return found;
}

/** Top-level folder of src/ a file belongs to ('' for src/index.ts). */
function folderOf(file: string): string {
  const rel = path.relative(SRC, file);
  return rel.includes(path.sep) ? rel.split(path.sep)[0] : '';
}

function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sourceFiles(SRC)) {
    const from = folderOf(file);
    if (from === '') continue;
    const edges = graph.get(from) ?? new Set<string>();
    graph.set(from, edges);
    for (const spec of importsOf(file)) {
      if (!spec.startsWith('.')) continue;
      const target = path.resolve(path.dirname(file), spec);
      if (!target.startsWith(SRC + path.sep)) continue;
      const to = folderOf(target.endsWith('.ts') ? target : `${target}.ts`);
      if (to !== from && to !== '') edges.add(to);
    }
  }
  return graph;
}

function findCycle(graph: Map<string, Set<string>>): string[] | null {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | null => {
    if (state.get(node) === 'done') return null;
    if (state.get(node) === 'visiting') return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, 'visiting');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return null;
}

describe('architecture', () => {
  const graph = folderGraph();

  test('the folders of src/ import each other without a cycle', () => {
    expect(graph.size).toBeGreaterThan(5);
    expect(findCycle(graph)).toBeNull();
  });

  test('the cycle check finds a cycle when there is one', () => {
    const withCycle = new Map([
      ['a', new Set(['b'])],
      ['b', new Set(['c'])],
      ['c', new Set(['a'])],
    ]);
    expect(findCycle(withCycle)).toEqual(['a', 'b', 'c', 'a']);
  });

  test('src/core imports no other folder, no package and no Node built-in', () => {
    expect([...(graph.get('core') ?? [])]).toEqual([]);
    const outside = sourceFiles(path.join(SRC, 'core')).flatMap((file) =>
      importsOf(file)
        .filter((spec) => !spec.startsWith('.'))
        .map((spec) => `${path.relative(SRC, file)} imports ${spec}`),
    );
    expect(outside).toEqual([]);
  });
});
