"""Events and text turned into Markdown/HTML for the page and the CLI. Nothing here imports
Gradio; nothing here runs a search or a model.

    markdown.py   the one place untrusted text becomes page markup: safe_markdown (Markdown
                  -> one line of safe HTML through markdown-it, what gr.Markdown shows for
                  answers, notes and the Batch report), markdown_text (Markdown -> words),
                  plain_text (a short field inside our own Markdown), link helpers
    events.py     the engine's events in words: stage words, sources, trace, stats, prompts
    live.py       a comparison as it streams: events folded into the page's column outputs
    grounding.py  the judge's verdict: tinted sentences, summary line, legend, evidence panel
    record.py     a stored comparison (permalink, history, reveal, Copy as Markdown)
    results.py    the vote statistics as text and charts (Results tab, `results`)
    words.py      counts in words ("1 vote", "2 votes"), for every count printed or shown

The modules import down this list's dependencies only (markdown <- events <- grounding <-
live; markdown <- record), and none of them imports the engine or the page. Whatever shows
text from a model, a page or a file calls markdown.py; nothing else escapes or sanitizes.
"""
