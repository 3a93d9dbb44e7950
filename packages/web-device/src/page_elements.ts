/** The page's elements by id (static/index.html); a missing one is a build mistake, reported at once. */
export function element<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`the page has no ${type.name} #${id}`);
  return found;
}

export function show(section: HTMLElement, visible: boolean): void {
  section.hidden = !visible;
}
