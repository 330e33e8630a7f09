"""The app on a backend double whose answer is hostile markup aimed at a spy server.

    python tests/markup_app.py PORT SPY_PORT DATA_DIR

Both columns answer hostile_answer(SPY_PORT) (a sentence the judge finds in the shipped
offline corpus, so the answers are tinted, around markup that would load, ask for a password
or play something if the page rendered it); comparisons are stored in DATA_DIR, so a
permalink shows the same answers; the Batch tab runs one question. Ready at once.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src"), str(HERE)]

from fakes import GROUNDED_ANSWER, ScriptedBackend  # noqa: E402
from searchduel import ui  # noqa: E402
from searchduel.config import DEFAULT_CORPUS, Settings  # noqa: E402
from searchduel.loader import BackendLoader  # noqa: E402


def hostile_answer(port: int) -> str:
    spy = f"http://127.0.0.1:{port}"
    return (
        f"{GROUNDED_ANSWER.split(' [1]')[0]} [1]. "
        f"``<img src={spy}/code-span>``` "
        f"<form action={spy}/form><input type=password name=p><button>Sign in</button></form> "
        f"<video autoplay src={spy}/video></video> <audio autoplay src={spy}/audio></audio> "
        f"<iframe src={spy}/iframe></iframe> <svg><image href={spy}/svg /></svg> "
        f"![chart]({spy}/image) ![ref][r] $$\\href{{{spy}/latex}}{{x}}$$ "
        f"[click](javascript:alert(1)) <{spy}/autolink> &#60;img src={spy}/entity&#62;\n\n"
        f"```\n<img src={spy}/fence>\n\n![x]({spy}/fence-md)\n```\n\n"
        f"| a | b |\n|---|---|\n| <img src={spy}/cell> | ``<video autoplay src={spy}/cell>``` |\n\n"
        f"[r]: {spy}/ref\n"
    )


class HostileBackend(ScriptedBackend):
    """Answers `answer`, a few characters a piece, so the page renders it half-written too."""

    name = "hostile"
    precision = ""

    def __init__(self, answer: str):
        super().__init__()
        self.answer = answer

    def stream(self, messages, *, max_new_tokens, temperature=0.0, seed=0, stop=None):
        from searchduel.llm.base import Piece

        with self._lock:
            self.history.append([dict(m) for m in messages])
        for i in range(0, len(self.answer), 24):
            if stop is not None and stop.is_set():
                return
            yield Piece(self.answer[i : i + 24], tokens=1)


def main() -> None:
    port, spy, data = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    settings = Settings(
        model="microsoft/Phi-3-mini-4k-instruct",
        search="local",
        corpus=str(DEFAULT_CORPUS),
        dense=False,
        max_new_tokens=256,
        batch_questions=1,
        data_dir=data,
        port=port,
    )
    answer = hostile_answer(spy)
    loader = BackendLoader(settings, factory=lambda s, progress: HostileBackend(answer)).start()
    demo = ui.build(loader, settings)
    demo.launch(**ui.launch_kwargs(settings))


if __name__ == "__main__":
    main()
