// A small render helper: elements built from data with text nodes only, never from HTML strings,
// so nothing the API returns can become markup. Styling is by class (the CSP forbids inline styles).

export type Child = Node | string | number | null | undefined | false | readonly Child[];

export interface Attrs {
  class?: string | undefined;
  /** `data-*` attributes. */
  data?: Record<string, string>;
  /** Event listeners, by event name. */
  on?: { [K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void };
  [attribute: string]: unknown;
}

function append(parent: Node, child: Child): void {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const item of child as readonly Child[]) append(parent, item);
  } else if (child instanceof Node) {
    parent.appendChild(child);
  } else {
    parent.appendChild(document.createTextNode(String(child)));
  }
}

function applyAttrs(element: Element, attrs: Attrs | null | undefined): void {
  if (!attrs) return;
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'data') {
      for (const [key, item] of Object.entries(value as Record<string, string>)) {
        element.setAttribute(`data-${key}`, item);
      }
    } else if (name === 'on') {
      for (const [event, listener] of Object.entries(value as Record<string, EventListener>)) {
        element.addEventListener(event, listener);
      }
    } else if (name === 'value' && element instanceof HTMLInputElement) {
      element.value = String(value);
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
}

/** An HTML element with attributes and children (strings become text nodes). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  applyAttrs(element, attrs);
  append(element, children);
  return element;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element, for the charts. */
export function s<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs?: Record<string, string | number | undefined> | null,
  ...children: Child[]
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value !== undefined) element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

/** Replaces an element's children. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A status chip: `chip chip-<kind>`; the stylesheet colours each kind. */
export function chip(text: string, kind: string = text): HTMLSpanElement {
  return h('span', { class: `chip chip-${kind.replace(/[^a-z0-9_-]/gi, '_')}` }, text);
}

/** A table with a header row; `empty` is shown as one row when there are no rows. */
export function table(
  headers: readonly string[],
  rows: readonly HTMLTableRowElement[],
  empty: string,
): HTMLTableElement {
  return h(
    'table',
    { class: 'data' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        headers.map((header) => h('th', null, header)),
      ),
    ),
    h(
      'tbody',
      null,
      rows.length > 0 ? rows : h('tr', { class: 'empty' }, h('td', { colspan: headers.length }, empty)),
    ),
  );
}

/** A time as the user reads it (local time, to the second), with the ISO value as a tooltip. */
export function time(iso: string | undefined): HTMLTimeElement | string {
  if (!iso) return '-';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const text = date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  return h('time', { datetime: iso, title: iso }, text);
}
