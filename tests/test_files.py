"""ui/files.py: temporary downloads that go away, and corpus documents served as text."""

from __future__ import annotations

import os
import time

from searchduel.ui.files import TempFolder, corpus_file


def test_temporary_files_are_removed_once_old_and_new_ones_stay(tmp_path):
    folder = TempFolder("sd-test-", ttl=60)
    old = folder.write("old.json", "{}")
    old_dir = folder.folder("batch-")
    (old_dir / "report.md").write_text("r")
    past = time.time() - 120
    for path in (old, old_dir):
        os.utime(path, (past, past))
    new = folder.write("new.json", "{}")
    assert new.exists() and not old.exists() and not old_dir.exists()
    assert sorted(p.name for p in folder.path.iterdir()) == ["new.json"]


def test_a_corpus_name_must_stay_in_the_folder_and_be_a_document(tmp_path):
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "a page.html").write_text("<p>x</p>")
    (root / "notes.md").write_text("x")
    (tmp_path / "secret.md").write_text("no")
    (root / "link.md").symlink_to(tmp_path / "secret.md")
    (root / "app.py").write_text("x")
    assert corpus_file(root, "a page.html") == root / "a page.html"
    assert corpus_file(root, "notes.md") == root / "notes.md"
    for bad in ("../secret.md", "link.md", "app.py", "missing.md", "", "/etc/passwd", "a\x00.md"):
        assert corpus_file(root, bad) is None, bad
