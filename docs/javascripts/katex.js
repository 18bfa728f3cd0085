// Typeset the page's math with the KaTeX served from this site (assets/katex/).
// Material swaps pages without reloading ("instant" navigation is off here, but
// document$ also fires on the first load), so render on every page it emits.
function renderMath(root) {
  renderMathInElement(root, {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "$", right: "$", display: false },
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    ignoredTags: ["script", "noscript", "style", "textarea", "pre", "code", "option"],
    throwOnError: false,
  });
}
document$.subscribe(({ body }) => renderMath(body));
