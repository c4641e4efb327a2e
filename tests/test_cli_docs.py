"""docs/cli.md is generated from the argparse parser; the committed file must be what the generator prints."""
from pathlib import Path

from neuro_llm.cli import main as cli
from neuro_llm.cli.docs import render

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def test_committed_cli_reference_is_up_to_date():
    assert DOC.read_text(encoding="utf-8") == render(), \
        "docs/cli.md is stale: run `python -m neuro_llm.cli.docs > docs/cli.md`"


def test_reference_documents_every_command_and_option():
    text = render()
    for name, parser in cli.build_parser().commands.items():
        assert f"## `neuro-llm {name}`" in text
        for action in parser._actions:
            if action.dest == "help":
                continue
            for flag in action.option_strings:
                assert f"`{flag}`" in text, flag


def test_links_between_docs_resolve():
    """Every relative link of the README and docs/*.md points at a file of the repository."""
    import re

    root = DOC.parent.parent
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"
