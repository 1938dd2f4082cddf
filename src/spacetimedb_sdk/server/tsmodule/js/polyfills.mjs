// What SpacetimeDB's V8 host offers a module and Node 20 lacks: the ES2024/2025 `Set` methods,
// iterator helpers and `Iterator.from`, `Object.groupBy`, `Map.groupBy` and
// `Promise.withResolvers`.  Installed (where missing) before the module bundle is imported.  Also,
// as that host does, `Math.random` is taken away: modules get their randomness from ctx.random.

function define(target, name, value) {
  if (!(name in target)) {
    Object.defineProperty(target, name, { value, writable: true, configurable: true });
  }
}

export function installPolyfills() {
  const setProto = Set.prototype;
  const keysOf = other => other.keys();
  define(setProto, 'union', function (other) {
    const out = new Set(this);
    for (const v of keysOf(other)) out.add(v);
    return out;
  });
  define(setProto, 'intersection', function (other) {
    const out = new Set();
    for (const v of this) if (other.has(v)) out.add(v);
    return out;
  });
  define(setProto, 'difference', function (other) {
    const out = new Set();
    for (const v of this) if (!other.has(v)) out.add(v);
    return out;
  });
  define(setProto, 'symmetricDifference', function (other) {
    const out = new Set(this);
    for (const v of keysOf(other)) {
      if (this.has(v)) out.delete(v);
      else out.add(v);
    }
    return out;
  });
  define(setProto, 'isSubsetOf', function (other) {
    for (const v of this) if (!other.has(v)) return false;
    return true;
  });
  define(setProto, 'isSupersetOf', function (other) {
    for (const v of keysOf(other)) if (!this.has(v)) return false;
    return true;
  });
  define(setProto, 'isDisjointFrom', function (other) {
    for (const v of this) if (other.has(v)) return false;
    return true;
  });

  // Iterator helpers (ES2025) on %IteratorPrototype%, which generators and the built-in
  // iterators inherit from; and the `Iterator` global with `Iterator.from`.
  const IteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));
  function* map(fn) {
    let i = 0;
    for (const v of iterate(this)) yield fn(v, i++);
  }
  function* filter(fn) {
    let i = 0;
    for (const v of iterate(this)) if (fn(v, i++)) yield v;
  }
  function* take(n) {
    if (n <= 0) return;
    let i = 0;
    for (const v of iterate(this)) {
      yield v;
      if (++i >= n) return;
    }
  }
  function* drop(n) {
    let i = 0;
    for (const v of iterate(this)) if (i++ >= n) yield v;
  }
  function* flatMap(fn) {
    let i = 0;
    for (const v of iterate(this)) yield* fn(v, i++);
  }
  // A helper consumes `this` through its own `next` (it may be an iterator without
  // [Symbol.iterator]).
  function iterate(it) {
    return { [Symbol.iterator]: () => ({ next: () => it.next(), return: v => (it.return ? it.return(v) : { done: true, value: v }) }) };
  }
  const helpers = {
    map,
    filter,
    take,
    drop,
    flatMap,
    toArray() {
      return Array.from(iterate(this));
    },
    forEach(fn) {
      let i = 0;
      for (const v of iterate(this)) fn(v, i++);
    },
    some(fn) {
      let i = 0;
      for (const v of iterate(this)) if (fn(v, i++)) return true;
      return false;
    },
    every(fn) {
      let i = 0;
      for (const v of iterate(this)) if (!fn(v, i++)) return false;
      return true;
    },
    find(fn) {
      let i = 0;
      for (const v of iterate(this)) if (fn(v, i++)) return v;
      return undefined;
    },
    reduce(fn, ...init) {
      let i = 0;
      let acc;
      let first = init.length === 0;
      if (!first) acc = init[0];
      for (const v of iterate(this)) {
        if (first) {
          acc = v;
          first = false;
        } else acc = fn(acc, v, i);
        i++;
      }
      if (first) throw new TypeError('Reduce of empty iterator with no initial value');
      return acc;
    },
  };
  for (const [name, fn] of Object.entries(helpers)) define(IteratorPrototype, name, fn);
  if (typeof globalThis.Iterator === 'undefined') {
    function Iterator() {
      if (new.target === undefined || new.target === Iterator) {
        throw new TypeError('Iterator is an abstract class');
      }
    }
    Iterator.prototype = IteratorPrototype;
    Iterator.from = function from(obj) {
      const it = typeof obj[Symbol.iterator] === 'function' ? obj[Symbol.iterator]() : obj;
      if (it instanceof Iterator) return it;
      return (function* () {
        yield* iterate(it);
      })();
    };
    Object.defineProperty(globalThis, 'Iterator', { value: Iterator, writable: true, configurable: true });
  }

  const groupBy = (items, fn, make, add) => {
    const out = make();
    let i = 0;
    for (const v of items) add(out, fn(v, i++), v);
    return out;
  };
  define(Object, 'groupBy', (items, fn) =>
    groupBy(items, fn, () => Object.create(null), (o, k, v) => (o[k] ??= []).push(v))
  );
  define(Map, 'groupBy', (items, fn) =>
    groupBy(items, fn, () => new Map(), (m, k, v) => (m.get(k) ?? m.set(k, []).get(k)).push(v))
  );
  define(Promise, 'withResolvers', function () {
    let resolve, reject;
    const promise = new this((a, b) => ((resolve = a), (reject = b)));
    return { promise, resolve, reject };
  });

  // As SpacetimeDB's host: modules get their randomness from ctx.random.
  delete Math.random;
  Object.defineProperty(Math, 'random', {
    enumerable: false,
    configurable: true,
    get() {
      throw new TypeError('Math.random is not available in SpacetimeDB modules. Use ctx.random instead.');
    },
  });
}
