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
window.searchDuel = {
  copyAnswer(target) {
    const el = document.querySelector(`#${target} .answer-text`) || document.querySelector(`#${target}`);
    if (el) navigator.clipboard.writeText(el.innerText.trim());
  },
  copyMarkdown() {
    const box = document.querySelector("#comparison-md textarea");
    if (box) navigator.clipboard.writeText(box.value);
  },
  share() {
    const id = document.querySelector("#comparison-id textarea, #comparison-id input");
    if (!id || !id.value) return;
    const link = location.origin + location.pathname + "?c=" + encodeURIComponent(id.value);
    navigator.clipboard.writeText(link);
    const button = document.querySelector("#share");
    if (button) {
      const was = button.innerText;
      button.innerText = "Link copied";
      setTimeout(() => { button.innerText = was; }, 2000);
    }
  },
};
