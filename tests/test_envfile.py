"""``.env`` files as python-dotenv (uvicorn's ``--env-file``) reads them."""

from __future__ import annotations

from pathlib import Path

from ferry._envfile import load_env_file, parse_env


def test_assignments_comments_and_export() -> None:
    text = (
        "# a comment\n"
        "\n"
        "export PLAIN=value\n"
        "SPACED = with spaces inside   # and a comment\n"
        "HASH=a#b\n"
        "EMPTY=\n"
        "  INDENTED=yes\r\n"
        "no assignment here\n"
        "LAST=no newline at the end"
    )
    assert parse_env(text, {}) == {
        "PLAIN": "value",
        "SPACED": "with spaces inside",
        "HASH": "a#b",
        "EMPTY": "",
        "INDENTED": "yes",
        "LAST": "no newline at the end",
    }


def test_quotes() -> None:
    text = (
        "SINGLE='kept as ${WRITTEN} \\n # not a comment'\n"
        'DOUBLE="tab\\tnewline\\nquote\\" backslash\\\\ other\\q"  # comment\n'
        'MULTI="two\nlines"\n'
        "MULTI_SINGLE='a\nb'\n"
        "ESCAPED_SINGLE='it\\'s \\\\ \\n'\n"
    )
    assert parse_env(text, {}) == {
        "SINGLE": "kept as ${WRITTEN} \\n # not a comment",
        "DOUBLE": 'tab\tnewline\nquote" backslash\\ other\\q',
        "MULTI": "two\nlines",
        "MULTI_SINGLE": "a\nb",
        "ESCAPED_SINGLE": "it's \\ \\n",
    }


def test_expansion_from_the_file_then_the_environment() -> None:
    text = (
        "HOST=db.local\n"
        "URL=postgres://${HOST}:${PORT}/${NAME:-app}\n"
        'QUOTED="${HOST}"\n'
        "MISSING=[${NOWHERE}]\n"
    )
    assert parse_env(text, {"PORT": "5432", "HOST": "ignored"}) == {
        "HOST": "db.local",
        "URL": "postgres://db.local:5432/app",
        "QUOTED": "db.local",
        "MISSING": "[]",
    }


def test_load_keeps_variables_already_set(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("SET=from file\nNEW=from file\n", encoding="utf-8")
    environ = {"SET": "from environment"}
    load_env_file(str(path), environ)
    assert environ == {"SET": "from environment", "NEW": "from file"}
