// The page's client-side actions (ui/page.py puts this file in the page's head).

// Enter in the prompt asks; Shift+Enter makes a new line.
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

// A click (or Enter / Space) on a sentence the judge marked fills its column's evidence
// panel (render/grounding.py). Text goes in through textContent only: pages are untrusted.
(() => {
  const show = (span) => {
    const box = span.closest("#answer-plain, #answer-search") || document;
    const panel = box.querySelector(".evidence-panel");
    if (!panel) return;
    box.querySelectorAll(".gs.gs-active").forEach((s) => s.classList.remove("gs-active"));
    span.classList.add("gs-active");
    const title = span.getAttribute("title") || "";
    const cut = title.indexOf("\n");
    const head = document.createElement("strong");
    head.textContent = cut < 0 ? title : title.slice(0, cut);
    const quote = document.createElement("blockquote");
    quote.textContent = cut < 0 ? "The sources hold no passage like this sentence." : title.slice(cut + 1);
    panel.replaceChildren(head, quote);
  };
  const target = (e) => e.target && e.target.closest && e.target.closest(".gs[title]");
  document.addEventListener("click", (e) => {
    const span = target(e);
    if (span && !e.target.closest("a")) show(span);
  });
  document.addEventListener("keydown", (e) => {
    const span = target(e);
    if (span && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      show(span);
    }
  });
})();

// The buttons that copy or share: Copy (one answer, without the judge's glyphs, which CSS
// draws), Copy as Markdown and Share (stored.py fills the hidden fields they read).
// Each says on its button that it worked ("Copied", "Link copied") or that it could not.
window.searchDuel = {
  _copy(text, buttonId, done) {
    const button = document.querySelector(`#${buttonId}`);
    const say = (words) => {
      if (!button) return;
      clearTimeout(button._sdTimer);
      if (!button._sdLabel) button._sdLabel = button.innerText;
      button.innerText = words;
      button._sdTimer = setTimeout(() => { button.innerText = button._sdLabel; }, 2000);
    };
    if (!text) return say("Nothing to copy");
    navigator.clipboard.writeText(text).then(() => say(done), () => say("Copy failed"));
  },
  copyAnswer(target, buttonId) {
    const el = document.querySelector(`#${target} .answer-text`) || document.querySelector(`#${target}`);
    this._copy(el ? el.innerText.trim() : "", buttonId, "Copied");
  },
  copyMarkdown() {
    const box = document.querySelector("#comparison-md textarea");
    this._copy(box ? box.value : "", "copy-markdown", "Copied");
  },
  share() {
    const id = document.querySelector("#comparison-id textarea, #comparison-id input");
    const link = id && id.value
      ? location.origin + location.pathname + "?c=" + encodeURIComponent(id.value) : "";
    this._copy(link, "share", "Link copied");
  },
};
