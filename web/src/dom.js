// Building DOM nodes: el("li", {class: "x", text: "…", hidden: true}, child, …). Attribute values
// true set a bare attribute, false/null/undefined leave it out; children may come as arrays.
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (value === true) node.setAttribute(name, "");
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, value);
  }
  node.append(...children.flat());
  return node;
}
