// Enter in the prompt asks; Shift+Enter makes a new line (see ui.py's decisions).
// Listening on the document in the capture phase runs before the textbox's own handlers,
// so Gradio's own Shift+Enter submit never fires and Enter never inserts a newline.
(() => {
  const inPrompt = (e) => e.target && e.target.closest && e.target.closest("#prompt");
  const onKey = (e) => {
    if (e.key !== "Enter" || e.isComposing || !inPrompt(e)) return;
    e.stopImmediatePropagation();
    if (e.shiftKey) return; // the default action: a new line
    e.preventDefault();
    if (e.type !== "keydown") return;
    const ask = document.querySelector("#ask");
    if (ask && !ask.disabled) ask.click();
  };
  document.addEventListener("keydown", onKey, true);
  document.addEventListener("keypress", onKey, true);
})();
